//! Token secrets as salted hashes: `sha256$<salt hex>$<digest hex>`, the
//! SHA-256 of a random 16-byte salt followed by the secret. Secrets are
//! long random strings (API keys carry 256 random bits), so one salted
//! SHA-256 is enough: a slow password hash protects guessable passwords,
//! which these are not. Digests are compared in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The scheme's name, the first part of the text form.
const SCHEME: &str = "sha256";

/// A secret's salted digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    salt: [u8; 16],
    digest: [u8; 32],
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(<hidden>)")
    }
}

impl SecretHash {
    /// The hash of `secret` under a fresh random salt.
    pub fn new(secret: &str) -> SecretHash {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        SecretHash {
            salt,
            digest: digest(&salt, secret),
        }
    }

    /// Parses `sha256$<32 hex digits>$<64 hex digits>`.
    pub fn parse(text: &str) -> Result<SecretHash, String> {
        let bad = || {
            "a secret hash is `sha256$<salt: 32 hex digits>$<digest: 64 hex digits>`, as `segdb token hash` prints it".to_owned()
        };
        let mut parts = text.trim().split('$');
        let (Some(SCHEME), Some(salt), Some(digest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(SecretHash {
            salt: from_hex(salt).ok_or_else(bad)?,
            digest: from_hex(digest).ok_or_else(bad)?,
        })
    }

    /// Whether `secret` hashes to this digest. Every byte is compared,
    /// whatever differs, so the time taken tells nothing of the digest.
    pub fn matches(&self, secret: &str) -> bool {
        let d = digest(&self.salt, secret);
        d.iter()
            .zip(&self.digest)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}${}${}", hex(&self.salt), hex(&self.digest))
    }
}

fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A new random secret for an API key: `segdb_` and 64 hex digits (256
/// random bits from the operating system).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("segdb_{}", hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_and_match_only_their_secret() {
        let h = SecretHash::new("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cre"));
        assert!(!h.matches("s3cret "));
        let text = h.to_string();
        assert!(text.starts_with("sha256$"), "{text}");
        assert_eq!(text.len(), 7 + 32 + 1 + 64);
        let back = SecretHash::parse(&text).unwrap();
        assert_eq!(back, h);
        assert!(back.matches("s3cret"));
        // Salted: the same secret hashes differently each time.
        assert_ne!(SecretHash::new("s3cret").to_string(), text);
        assert!(!format!("{h:?}").contains(&hex(&h.digest)));
        for bad in [
            "",
            "s3cret",
            "md5$00$00",
            &text[..text.len() - 1],
            &format!("{text}$"),
            &text.replace("sha256", "SHA256"),
            &format!("sha256${}${}", "zz".repeat(16), "00".repeat(32)),
        ] {
            let e = SecretHash::parse(bad).unwrap_err();
            assert!(e.contains("segdb token hash"), "{bad}: {e}");
        }
        let k = new_secret();
        assert_eq!(k.len(), 6 + 64);
        assert_ne!(k, new_secret());
    }
}
