//! SCRAM-SHA-256 verifiers: what a token or API key keeps so that a
//! Postgres client can log in with SCRAM (psql's default) without the
//! server ever holding the secret.
//!
//! A secret is stored as a salted SHA-256 ([`SecretHash`]), from which a
//! SCRAM exchange cannot be checked: SCRAM needs `StoredKey` and
//! `ServerKey`, derived from the secret by PBKDF2. So a verifier is made
//! beside the hash whenever the secret is seen in clear: when an API key
//! is created (kept in the `KEYS` file), and at start for a token given
//! with `secret`. Its text form is Postgres's own
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64).
//! A verifier, like Postgres's, lets nobody log in without the secret
//! (only `StoredKey = H(ClientKey)` is kept), but allows a guess of the
//! secret to be checked offline, 4096 PBKDF2 rounds at a time; secrets
//! are long random strings, so that is no risk.
//!
//! [`SecretHash`]: crate::http::secret_hash::SecretHash

use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramSecret};
use rand::RngCore;

/// The PBKDF2 rounds of a new verifier (Postgres's default).
pub const ITERATIONS: usize = 4096;

const SCHEME: &str = "SCRAM-SHA-256";

/// What SCRAM-SHA-256 checks a client's proof against.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    salt: Vec<u8>,
    iterations: usize,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramVerifier(<hidden>)")
    }
}

impl ScramVerifier {
    /// The verifier of `secret` under a fresh random salt.
    pub fn new(secret: &str) -> ScramVerifier {
        let mut salt = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        ScramVerifier::with_salt(secret, salt, ITERATIONS)
    }

    fn with_salt(secret: &str, salt: Vec<u8>, iterations: usize) -> ScramVerifier {
        let salted = gen_salted_password(secret, &salt, iterations);
        match ScramSecret::verifier_from_salted_password(salt, salted, iterations) {
            ScramSecret::Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            } => ScramVerifier {
                salt,
                iterations,
                stored_key,
                server_key,
            },
            // `verifier_from_salted_password` makes a verifier.
            ScramSecret::SaltedPassword { .. } => unreachable!("a verifier was asked for"),
        }
    }

    /// Parses the text form `SCRAM-SHA-256$<i>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(text: &str) -> Result<ScramVerifier, String> {
        let bad = || {
            format!("a SCRAM verifier is `{SCHEME}$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64)")
        };
        let rest = text.trim().strip_prefix(SCHEME).ok_or_else(bad)?;
        let rest = rest.strip_prefix('$').ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let iterations: usize = iterations.parse().map_err(|_| bad())?;
        let (salt, stored_key, server_key) = (
            base64_decode(salt).ok_or_else(bad)?,
            base64_decode(stored).ok_or_else(bad)?,
            base64_decode(server).ok_or_else(bad)?,
        );
        if iterations == 0 || stored_key.len() != 32 || server_key.len() != 32 {
            return Err(bad());
        }
        Ok(ScramVerifier {
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    /// What pgwire's SCRAM exchange checks against.
    pub fn secret(&self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt.clone(),
            iterations: self.iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }

    /// A verifier no secret matches (random keys), for a user name that is
    /// no token's: the exchange runs as for a real one and fails alike.
    pub fn unmatchable() -> ScramVerifier {
        let mut bytes = [0u8; 80];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        ScramVerifier {
            salt: bytes[..16].to_vec(),
            iterations: ITERATIONS,
            stored_key: bytes[16..48].to_vec(),
            server_key: bytes[48..].to_vec(),
        }
    }
}

impl std::fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SCHEME}${}:{}${}:{}",
            self.iterations,
            base64_encode(&self.salt),
            base64_encode(&self.stored_key),
            base64_encode(&self.server_key)
        )
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let v = ScramVerifier::new("s3cret");
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        assert_eq!(ScramVerifier::parse(&text), Ok(v));
        assert!(ScramVerifier::parse("SCRAM-SHA-256$4096:abc").is_err());
        assert!(ScramVerifier::parse("sha256$00$00").is_err());
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..40 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
        }
    }
}
