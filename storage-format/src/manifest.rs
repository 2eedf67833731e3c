//! The manifest: the schema of every table and the files that are live.
//! Replaced atomically (temporary file, fsync, rename, fsync of the
//! directory), so a store is always at one committed state.
//!
//! Bytes: `SEGDBMAN`, `u32` version, `u32` reserved, `u64` payload length,
//! `u32` CRC32C of the payload, `u32` reserved, then the payload (JSON).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Result};
use crate::fsutil::{read_file, replace_file};

/// Magic number of the manifest.
pub const MANIFEST_MAGIC: &[u8; 8] = b"SEGDBMAN";
/// Current manifest version: 4 when the manifest holds derived tags, a
/// table's tallies or a field's catalog entries (description, owner,
/// source); else 3 when the manifest records real-time writes
/// (a flushed WAL sequence number, or a shard with more than one part);
/// else 2 when it names segments; else 1, byte for byte what builds before
/// segments wrote and read. A build that knows an older version refuses a
/// newer manifest rather than rewriting it without what it cannot see.
pub const MANIFEST_VERSION: u32 = 4;
/// The manifest version that added derived tags (written only when the
/// store has one, so that a store without tags stays readable by builds
/// that know version 3).
pub const MANIFEST_VERSION_4: u32 = 4;
/// The manifest version that added real-time writes.
pub const MANIFEST_VERSION_3: u32 = 3;
/// The manifest version that added segments.
pub const MANIFEST_VERSION_2: u32 = 2;
/// The first manifest version, still read and written (without segments).
pub const MANIFEST_VERSION_1: u32 = 1;
/// The manifest's file name in a store directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
const HEADER_LEN: usize = 32;

/// The whole committed state of a store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Increases by one at every commit.
    pub generation: u64,
    /// The next number to use in a new file's name.
    pub next_file_id: u64,
    /// Tables by name.
    pub tables: BTreeMap<String, TableManifest>,
    /// Named segments by name (absent from manifests written before
    /// segments existed, and left out when there are none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, SegmentManifest>,
    /// Every WAL record with a sequence number up to this one is in the
    /// parts (0: none yet); recovery replays the records after it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wal_flushed_seq: u64,
    /// Derived tags by name (absent from manifests written before tags
    /// existed, and left out when there are none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, TagManifest>,
}

/// A derived tag: an expression over its table (`CASE WHEN … THEN 'v' …
/// END` or a condition), evaluated at every use; nothing is stored per row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagManifest {
    /// The table whose rows it describes.
    pub table: String,
    /// The definition's canonical text (what follows `AS`).
    pub text: String,
    /// The tags its definition names, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// The directory of a store that holds the snapshot segment files.
pub const SEGMENTS_DIR: &str = "segments";

/// A named segment: a dynamic one is its definition's text, re-planned on
/// every use; a snapshot one is a file of row ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentManifest {
    /// The table whose rows it holds.
    pub table: String,
    /// `dynamic` or `snapshot`.
    pub kind: String,
    /// The WHERE expression that defines it (always for a dynamic segment;
    /// for a snapshot, the expression it was evaluated from, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Dynamic only: the segments its text names (`IN SEGMENT x`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
    /// Snapshot only: its file, relative to [`SEGMENTS_DIR`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Snapshot only: its number of rows.
    #[serde(default)]
    pub rows: u64,
    /// Snapshot only: the file's length in bytes.
    #[serde(default)]
    pub bytes: u64,
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Fields in declaration order.
    pub fields: Vec<FieldManifest>,
    /// Rows (external ids) allocated: row ids are `0..num_rows`.
    pub num_rows: u64,
    /// The live parts, sorted by shard; a shard with several (after
    /// real-time writes) lists them oldest first, each later one replacing
    /// the blocks of the same key (an empty bitmap hides one).
    pub parts: Vec<PartManifest>,
    /// The id dictionary's parts, sorted by first row id.
    pub dictionary: Vec<DictionaryPartManifest>,
    /// Named per-day counters kept with the table (a campaign's effects per
    /// run, variant and day): by key, `(day, count)` pairs sorted by day,
    /// the day in days since 1970-01-01. Left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tallies: BTreeMap<String, Vec<(i32, u64)>>,
}

/// One field and, for ENUM and SET, its values: value id `i` is `values[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldManifest {
    /// Name.
    pub name: String,
    /// Kind keyword (`ENUM`, `SET`, `BOOL`, `INT`, `EVENT`, `TEXT`).
    pub kind: String,
    /// Usable only by principals allowed it by name or category (and
    /// admins); redacted in profiles for the others.
    #[serde(default)]
    pub sensitive: bool,
    /// The catalog category it belongs to (`finance`, `contact`, …), which
    /// a limited API key may be allowed; absent in stores written before
    /// categories existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// ENUM or SET only: no value beyond `values` may be written (an
    /// ingest or import of another is refused). Left out when false, so
    /// older builds' manifests read unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    /// Known values of an ENUM or SET field, by value id.
    #[serde(default)]
    pub values: Vec<String>,
    /// The catalog: what the field means, in words…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// …who answers for it…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// …where its values come from (`imported`, `realtime`, `derived`,
    /// `manual`, `predictive`; absent: `imported`)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// …and when a committed write last touched it, in milliseconds since
    /// the Unix epoch (absent: not since the catalog existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_written_ms: Option<u64>,
}

/// A live part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartManifest {
    /// The shard it holds.
    pub shard: u32,
    /// File name, relative to the table's directory.
    pub file: String,
    /// Length in bytes.
    pub bytes: u64,
}

/// A live dictionary part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DictionaryPartManifest {
    /// File name, relative to the table's directory.
    pub file: String,
    /// The row id of its first external id.
    pub first_row: u64,
    /// Number of external ids.
    pub num_ids: u64,
    /// Length in bytes.
    pub bytes: u64,
}

impl Manifest {
    /// Encodes the manifest's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MANIFEST_MAGIC);
        let layered = self.tables.values().any(|t| {
            let mut shards: Vec<u32> = t.parts.iter().map(|p| p.shard).collect();
            shards.sort_unstable();
            shards.windows(2).any(|w| w[0] == w[1])
        });
        // What a build of version 3 would drop on rewrite: derived tags,
        // tallies, and the catalog entries users set (a field's
        // last-written time, derived, is not worth refusing it for).
        let catalogued = self.tables.values().any(|t| {
            !t.tallies.is_empty()
                || t.fields
                    .iter()
                    .any(|f| f.description.is_some() || f.owner.is_some() || f.source.is_some())
        });
        let version = if !self.tags.is_empty() || catalogued {
            MANIFEST_VERSION_4
        } else if self.wal_flushed_seq > 0 || layered {
            MANIFEST_VERSION_3
        } else if !self.segments.is_empty() {
            MANIFEST_VERSION_2
        } else {
            MANIFEST_VERSION_1
        };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes the bytes of the manifest file at `path`.
    pub fn decode(path: &Path, b: &[u8]) -> Result<Manifest> {
        if b.len() < HEADER_LEN {
            return Err(FormatError::corrupt(
                path,
                b.len() as u64,
                "manifest truncated in its header",
            ));
        }
        if &b[..8] != MANIFEST_MAGIC {
            return Err(FormatError::corrupt(
                path,
                0,
                "bad magic number: not a segdb manifest",
            ));
        }
        let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if !(MANIFEST_VERSION_1..=MANIFEST_VERSION).contains(&version) {
            return Err(FormatError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
                supported: MANIFEST_VERSION,
            });
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&b[16..24]);
        let len = u64::from_le_bytes(len);
        let crc = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
        let payload = &b[HEADER_LEN..];
        if payload.len() as u64 != len {
            return Err(FormatError::corrupt(
                path,
                b.len() as u64,
                format!(
                    "manifest payload is {} bytes, header says {len}",
                    payload.len()
                ),
            ));
        }
        if !crate::checksum_ok(crc32c::crc32c(payload), crc) {
            return Err(FormatError::corrupt(
                path,
                HEADER_LEN as u64,
                "manifest checksum mismatch",
            ));
        }
        serde_json::from_slice(payload).map_err(|e| {
            FormatError::corrupt(
                path,
                HEADER_LEN as u64 + e.column() as u64,
                format!("manifest payload is not valid: {e}"),
            )
        })
    }

    /// Reads the manifest of the store in `dir`; `None` if the store has none yet.
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Manifest::decode(&path, &read_file(&path)?).map(Some)
    }

    /// Replaces the manifest of the store in `dir` atomically.
    pub fn store(&self, dir: &Path) -> Result<()> {
        replace_file(&dir.join(MANIFEST_FILE), &self.encode())
    }

    /// [`Manifest::store`] through `fs` (tests inject faults).
    pub fn store_with(&self, fs: &dyn crate::wal::WalFs, dir: &Path) -> Result<()> {
        crate::fsutil::replace_file_with(fs, &dir.join(MANIFEST_FILE), &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest {
            generation: 3,
            next_file_id: 17,
            ..Manifest::default()
        };
        m.tables.insert(
            "users".into(),
            TableManifest {
                fields: vec![FieldManifest {
                    name: "city".into(),
                    kind: "ENUM".into(),
                    sensitive: false,
                    category: None,
                    closed: true,
                    values: vec!["c000".into(), "c001".into()],
                    description: None,
                    owner: None,
                    source: None,
                    last_written_ms: Some(1_764_000_000_000),
                }],
                num_rows: 5,
                parts: vec![PartManifest {
                    shard: 0,
                    file: "part-000016.seg".into(),
                    bytes: 1234,
                }],
                dictionary: vec![DictionaryPartManifest {
                    file: "ids-000015.seg".into(),
                    first_row: 0,
                    num_ids: 5,
                    bytes: 300,
                }],
                tallies: BTreeMap::new(),
            },
        );
        m.segments.insert(
            "bj".into(),
            SegmentManifest {
                table: "users".into(),
                kind: "snapshot".into(),
                text: Some("city = 'c000'".into()),
                uses: Vec::new(),
                file: Some("snap-000018.seg".into()),
                rows: 2,
                bytes: 120,
            },
        );
        m
    }

    #[test]
    fn a_manifest_without_segments_reads_and_writes_as_before() {
        let mut m = sample();
        m.segments.clear();
        let bytes = m.encode();
        assert_eq!(bytes[8..12], 1u32.to_le_bytes());
        let json = String::from_utf8(bytes[HEADER_LEN..].to_vec()).unwrap();
        assert!(!json.contains("segments"), "{json}");
        assert_eq!(sample().encode()[8..12], 2u32.to_le_bytes());
        let decoded: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(decoded, m);
    }

    #[test]
    fn a_field_written_before_the_catalog_reads_with_no_catalog_entries() {
        let old = r#"{"name":"city","kind":"ENUM","sensitive":false,"values":["a"]}"#;
        let f: FieldManifest = serde_json::from_str(old).unwrap();
        assert_eq!(f.description, None);
        assert_eq!(f.owner, None);
        assert_eq!(f.source, None);
        assert_eq!(f.last_written_ms, None);
        // And one without catalog entries is written as before.
        let again = serde_json::to_string(&f).unwrap();
        assert!(
            !again.contains("description") && !again.contains("source"),
            "{again}"
        );
    }

    #[test]
    fn tags_round_trip_and_mark_version_4() {
        let mut m = sample();
        assert!(!String::from_utf8_lossy(&m.encode()).contains("\"tags\""));
        m.tags.insert(
            "high_value".into(),
            TagManifest {
                table: "users".into(),
                text: "ltv >= 5000".into(),
                uses: vec!["vip".into()],
            },
        );
        let bytes = m.encode();
        assert_eq!(bytes[8..12], MANIFEST_VERSION_4.to_le_bytes());
        assert_eq!(Manifest::decode(Path::new("/m"), &bytes).unwrap(), m);
    }

    #[test]
    fn tallies_and_catalog_entries_mark_version_4_a_last_write_alone_not() {
        let mut m = sample();
        assert_eq!(m.encode()[8..12], 2u32.to_le_bytes());
        m.tables.get_mut("users").unwrap().fields[0].last_written_ms = Some(5);
        assert_eq!(m.encode()[8..12], 2u32.to_le_bytes());
        let f = &mut m.tables.get_mut("users").unwrap().fields[0];
        f.description = Some("Where the user lives".into());
        f.owner = Some("crm-team".into());
        f.source = Some("predictive".into());
        let bytes = m.encode();
        assert_eq!(bytes[8..12], MANIFEST_VERSION_4.to_le_bytes());
        assert_eq!(Manifest::decode(Path::new("/m"), &bytes).unwrap(), m);
        let mut m = sample();
        m.tables
            .get_mut("users")
            .unwrap()
            .tallies
            .insert("7/1/v0/clicked".into(), vec![(20_000, 2)]);
        let bytes = m.encode();
        assert_eq!(bytes[8..12], MANIFEST_VERSION_4.to_le_bytes());
        assert_eq!(Manifest::decode(Path::new("/m"), &bytes).unwrap(), m);
    }

    #[test]
    fn round_trip_through_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), None);
        sample().store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Some(sample()));
        assert!(!dir.path().join("MANIFEST.tmp").exists());
    }

    #[test]
    fn damage_is_a_clear_error() {
        let p = Path::new("/store/MANIFEST");
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            let err = Manifest::decode(p, &bytes[..cut]).unwrap_err().to_string();
            assert!(err.contains("/store/MANIFEST"), "{err}");
        }
        for i in (0..bytes.len()).filter(|&i| !(12..16).contains(&i) && !(28..32).contains(&i)) {
            let mut b = bytes.clone();
            b[i] ^= 1;
            if i == 8 && (MANIFEST_VERSION_1..=MANIFEST_VERSION).contains(&u32::from(b[8])) {
                // Another version this build reads (2 -> 3): every version
                // is a superset of the one before, so the payload still
                // reads as what it is.
                assert_eq!(Manifest::decode(p, &b).unwrap(), sample());
                continue;
            }
            assert!(Manifest::decode(p, &b).is_err(), "flip at {i} not detected");
        }
        let mut b = bytes.clone();
        b[8] = 9;
        assert!(matches!(
            Manifest::decode(p, &b),
            Err(FormatError::UnsupportedVersion { found: 9, .. })
        ));
    }
}
