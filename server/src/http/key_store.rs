//! API keys made over HTTP (`/v1/keys`): named principals with a role and
//! an optional expiry, kept in `DATA/KEYS` (JSON holding only salted
//! hashes of their secrets), replaced atomically (temporary file, fsync,
//! rename, fsync of the directory) on every change. Readers (every
//! request's authentication) take a snapshot without waiting for writers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use segdb_storage_format::date;
use serde::{Deserialize, Serialize};

use super::auth::Role;
use super::secret_hash::{new_secret, SecretHash};
use crate::permissions::Limits;

/// The file of a store's API keys.
pub const KEYS_FILE: &str = "KEYS";

/// The version of the file's layout.
const VERSION: u32 = 1;

/// An API key as stored: never its secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The principal's name (unique among keys and configured tokens).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The salted hash of its secret.
    pub secret_hash: SecretHash,
    /// When it was made (seconds since 1970, UTC).
    pub created_at: u64,
    /// The principal who made it.
    pub created_by: String,
    /// From this instant on (seconds since 1970, UTC) it is refused.
    pub expires_at: Option<u64>,
    /// The secret's last four characters, to tell keys apart.
    pub secret_hint: String,
    /// The fields and categories it is limited to, if any.
    pub limits: Limits,
    /// Its SCRAM-SHA-256 verifier, for Postgres clients (made with the
    /// key; none for keys made before the Postgres protocol).
    pub scram: Option<crate::pg::scram::ScramVerifier>,
}

/// Why a change of keys failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The name is taken (by a key, a configured token, or reserved).
    #[error("{0}")]
    NameTaken(String),
    /// No key has this name.
    #[error("no API key is named `{0}`")]
    Unknown(String),
    /// The file could not be written; nothing changed.
    #[error("writing the API keys: {0}")]
    Io(String),
}

/// The keys of a store.
pub struct KeyStore {
    path: PathBuf,
    keys: RwLock<Arc<Vec<ApiKey>>>,
    /// Held while a change is written, so changes apply one at a time.
    writer: Mutex<()>,
    /// Seconds since 1970 that tests set; 0 is the system clock.
    clock_for_tests: AtomicU64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    version: u32,
    keys: Vec<KeyRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRecord {
    name: String,
    role: Role,
    secret_hash: String,
    created_at: String,
    created_by: String,
    expires_at: Option<String>,
    secret_hint: String,
    /// Absent in files written before keys could be limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_categories: Option<Vec<String>>,
    /// Absent in files written before the Postgres protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scram_verifier: Option<String>,
}

impl KeyStore {
    /// The keys of the store in `dir` (none if it has no `KEYS` file). A
    /// damaged file is an error naming it.
    pub fn open(dir: &Path) -> Result<KeyStore, String> {
        let path = dir.join(KEYS_FILE);
        let keys = match std::fs::read(&path) {
            Ok(bytes) => parse_file(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(KeyStore {
            path,
            keys: RwLock::new(Arc::new(keys)),
            writer: Mutex::new(()),
            clock_for_tests: AtomicU64::new(0),
        })
    }

    /// Now, in seconds since 1970 (UTC).
    pub fn now(&self) -> u64 {
        match self.clock_for_tests.load(Ordering::Relaxed) {
            0 => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            t => t,
        }
    }

    /// Sets the clock that expiry is judged by (seconds since 1970; 0 for
    /// the system clock again).
    #[doc(hidden)]
    pub fn set_clock_for_tests(&self, unix_secs: u64) {
        self.clock_for_tests.store(unix_secs, Ordering::Relaxed);
    }

    /// The keys now.
    pub fn snapshot(&self) -> Arc<Vec<ApiKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key named `name`.
    pub fn get(&self, name: &str) -> Option<ApiKey> {
        self.snapshot().iter().find(|k| k.name == name).cloned()
    }

    /// Makes a key, writes the file, and returns it with its secret (the
    /// only time the secret exists outside the client). `taken` tells
    /// whether a name is used by something else (a configured token).
    /// Blocks on the disk.
    pub fn create(
        &self,
        name: &str,
        role: Role,
        expires_at: Option<u64>,
        limits: Limits,
        created_by: &str,
        taken: impl Fn(&str) -> Option<String>,
    ) -> Result<(ApiKey, String), KeyError> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        if old.iter().any(|k| k.name == name) {
            return Err(KeyError::NameTaken(format!(
                "an API key named `{name}` exists; revoke it first or pick another name"
            )));
        }
        if let Some(why) = taken(name) {
            return Err(KeyError::NameTaken(why));
        }
        let secret = new_secret();
        let key = ApiKey {
            name: name.to_owned(),
            role,
            secret_hash: SecretHash::new(&secret),
            created_at: self.now(),
            created_by: created_by.to_owned(),
            expires_at,
            secret_hint: secret[secret.len() - 4..].to_owned(),
            limits,
            scram: Some(crate::pg::scram::ScramVerifier::new(&secret)),
        };
        let mut keys = old.as_ref().clone();
        keys.push(key.clone());
        self.replace(keys)?;
        Ok((key, secret))
    }

    /// Revokes the key named `name`: from the moment this returns, its
    /// secret is refused. Blocks on the disk.
    pub fn revoke(&self, name: &str) -> Result<ApiKey, KeyError> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys = self.snapshot().as_ref().clone();
        let i = keys
            .iter()
            .position(|k| k.name == name)
            .ok_or_else(|| KeyError::Unknown(name.to_owned()))?;
        let key = keys.remove(i);
        self.replace(keys)?;
        Ok(key)
    }

    /// Writes `keys` durably, then makes them the ones in effect.
    fn replace(&self, keys: Vec<ApiKey>) -> Result<(), KeyError> {
        let file = KeysFile {
            version: VERSION,
            keys: keys.iter().map(record).collect(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| KeyError::Io(e.to_string()))?;
        bytes.push(b'\n');
        segdb_storage_format::fsutil::replace_file(&self.path, &bytes)
            .map_err(|e| KeyError::Io(e.to_string()))?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }
}

fn record(k: &ApiKey) -> KeyRecord {
    KeyRecord {
        name: k.name.clone(),
        role: k.role,
        secret_hash: k.secret_hash.to_string(),
        created_at: format_timestamp(k.created_at),
        created_by: k.created_by.clone(),
        expires_at: k.expires_at.map(format_timestamp),
        secret_hint: k.secret_hint.clone(),
        allowed_fields: k.limits.allowed_fields.clone(),
        allowed_categories: k.limits.allowed_categories.clone(),
        scram_verifier: k.scram.as_ref().map(ToString::to_string),
    }
}

fn parse_file(bytes: &[u8]) -> Result<Vec<ApiKey>, String> {
    let file: KeysFile = serde_json::from_slice(bytes).map_err(|e| format!("damaged: {e}"))?;
    if file.version != VERSION {
        return Err(format!(
            "version {} is not the one this segdb reads ({VERSION})",
            file.version
        ));
    }
    file.keys
        .into_iter()
        .map(|r| {
            let at = |what: &str, t: &str| {
                parse_timestamp(t).map_err(|e| format!("key `{}`: {what}: {e}", r.name))
            };
            Ok(ApiKey {
                scram: r
                    .scram_verifier
                    .as_deref()
                    .map(crate::pg::scram::ScramVerifier::parse)
                    .transpose()
                    .map_err(|e| format!("key `{}`: {e}", r.name))?,
                secret_hash: SecretHash::parse(&r.secret_hash)
                    .map_err(|e| format!("key `{}`: {e}", r.name))?,
                created_at: at("created_at", &r.created_at)?,
                expires_at: r
                    .expires_at
                    .as_deref()
                    .map(|t| at("expires_at", t))
                    .transpose()?,
                name: r.name,
                role: r.role,
                created_by: r.created_by,
                secret_hint: r.secret_hint,
                limits: Limits {
                    allowed_fields: r.allowed_fields,
                    allowed_categories: r.allowed_categories,
                },
            })
        })
        .collect()
}

/// `2026-12-31T00:00:00Z`.
pub fn format_timestamp(unix_secs: u64) -> String {
    let day = (unix_secs / 86_400) as date::Day;
    let s = unix_secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date::format_iso_day(day),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses an RFC 3339 instant in UTC (`2026-12-31T00:00:00Z`, optionally
/// with fractions of a second, dropped; `+00:00` for `Z` too) into seconds
/// since 1970.
pub fn parse_timestamp(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{}` is not an RFC 3339 UTC time like 2026-12-31T00:00:00Z",
            text.chars().take(64).collect::<String>()
        )
    };
    let b = text.as_bytes();
    if b.len() < 20 || !text.is_ascii() || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    let day = date::parse_iso_day(&text[..10]).ok_or_else(bad)?;
    let rest = &text[11..];
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => return Err(bad()),
    };
    if !matches!(zone, "Z" | "z" | "+00:00" | "-00:00") {
        return Err(format!(
            "{}: give the time in UTC (ending in Z)",
            bad().trim_end_matches(" like 2026-12-31T00:00:00Z")
        ));
    }
    let clock = match clock.split_once('.') {
        Some((c, frac)) if !frac.is_empty() && frac.bytes().all(|d| d.is_ascii_digit()) => c,
        Some(_) => return Err(bad()),
        None => clock,
    };
    let cb = clock.as_bytes();
    if cb.len() != 8 || cb[2] != b':' || cb[5] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u64, String> {
        clock[r].parse::<u64>().map_err(|_| bad())
    };
    let (h, m, s) = (num(0..2)?, num(3..5)?, num(6..8)?);
    if h > 23 || m > 59 || s > 60 || day < 0 {
        return Err(bad());
    }
    Ok(day as u64 * 86_400 + h * 3600 + m * 60 + s.min(59))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("2026-12-31T23:59:58Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-12-31T23:59:58Z");
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_timestamp("1970-01-02T00:00:01.250Z"), Ok(86_401));
        assert_eq!(parse_timestamp("1970-01-01T00:01:00+00:00"), Ok(60));
        for bad in [
            "2026-12-31",
            "2026-12-31T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-12-31T24:00:00Z",
            "2026-12-31 00:00:00Z",
            "2026-12-31T00:00:00.Z",
            "2026-12-31T00:00Z",
            "soon",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
        let e = parse_timestamp("2026-12-31T00:00:00+02:00").unwrap_err();
        assert!(e.contains("UTC"), "{e}");
    }

    #[test]
    fn keys_persist_and_a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path()).unwrap();
        assert!(ks.is_empty());
        let (k, secret) = ks
            .create(
                "ana",
                Role::Read,
                Some(2_000_000_000),
                Limits::default(),
                "root",
                |_| None,
            )
            .unwrap();
        assert!(k.secret_hash.matches(&secret));
        assert!(matches!(
            ks.create("ana", Role::Admin, None, Limits::default(), "root", |_| {
                None
            }),
            Err(KeyError::NameTaken(_))
        ));
        assert!(matches!(
            ks.create("cfg", Role::Admin, None, Limits::default(), "root", |_| {
                Some("taken".into())
            }),
            Err(KeyError::NameTaken(_))
        ));
        let limits = Limits {
            allowed_fields: Some(vec!["age".into(), "users.income".into()]),
            allowed_categories: Some(vec!["geo".into()]),
        };
        ks.create("bo", Role::Write, None, limits.clone(), "ana", |_| None)
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(!text.contains(&secret), "{text}");
        // An unlimited key's record has no lists (as files before them).
        assert_eq!(text.matches("allowed_fields").count(), 1, "{text}");
        let again = KeyStore::open(dir.path()).unwrap();
        let ana = again.get("ana").unwrap();
        assert!(ana.secret_hash.matches(&secret));
        assert_eq!(
            (ana.role, ana.expires_at, ana.created_by.as_str()),
            (Role::Read, Some(2_000_000_000), "root")
        );
        assert_eq!(ana.limits, Limits::default());
        assert_eq!(again.get("bo").unwrap().limits, limits);
        assert_eq!(again.revoke("ana").unwrap().name, "ana");
        assert!(matches!(again.revoke("ana"), Err(KeyError::Unknown(_))));
        assert_eq!(KeyStore::open(dir.path()).unwrap().len(), 1);
        std::fs::write(dir.path().join(KEYS_FILE), "{\"version\": 1, \"keys\": [").unwrap();
        let e = KeyStore::open(dir.path()).err().unwrap();
        assert!(e.contains("KEYS"), "{e}");
    }
}
