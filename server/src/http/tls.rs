//! TLS for the server: the certificate chain and private key read from PEM
//! files (`tls_cert`, `tls_key`) into a rustls acceptor, on rustls's `ring`
//! provider (no OpenSSL), offering HTTP/1.1 by ALPN. Loaded once at start,
//! so a missing file or a bad PEM stops the start with the file's name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The PEM files of a TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (`tls_cert`).
    pub cert: PathBuf,
    /// The leaf's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC)
    /// (`tls_key`).
    pub key: PathBuf,
}

/// The acceptor of connections for `files`: reads and checks both files
/// (the key must belong to the first certificate). The error names the
/// setting and the file, and never shows a byte of the key.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    // ring rather than aws-lc-rs: no C library build (cmake) on the way.
    // rustls 0.23.48 deprecates it for lacking post-quantum key exchange
    // (X25519MLKEM768); the classical suites it offers are rustls's
    // defaults otherwise.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "tls_cert {} and tls_key {} do not make a TLS identity: {e} \
                 (is the key the certificate's?)",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate of a PEM file, in order.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read("tls_cert", path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem("tls_cert", path, &e))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_cert {} holds no certificate (a PEM `-----BEGIN CERTIFICATE-----` section)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = read("tls_key", path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "tls_key {} holds no private key (a PEM `-----BEGIN PRIVATE KEY-----`, \
             `RSA PRIVATE KEY` or `EC PRIVATE KEY` section)",
            path.display()
        ),
        e => bad_pem("tls_key", path, &e),
    })
}

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {setting} {}: {e}", path.display()))
}

/// What is wrong with a PEM file, without its bytes (a key's base64 is
/// secret).
fn bad_pem(setting: &str, path: &Path, e: &pem::Error) -> String {
    let what = match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no `-----END …-----` line",
        pem::Error::IllegalSectionStart { .. } => "a `-----BEGIN …-----` line is malformed",
        pem::Error::Base64Decode(_) => "a section's base64 does not decode",
        pem::Error::SectionTooLarge => "a section is larger than 256 MB",
        _ => "it cannot be read as PEM",
    };
    format!("{setting} {} is not valid PEM: {what}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn a_pair_of_pem_files_makes_an_acceptor() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        std::fs::write(&files.cert, &cert).unwrap();
        std::fs::write(&files.key, &key).unwrap();
        acceptor(&files).unwrap();
    }

    #[test]
    fn bad_files_are_named_and_the_key_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let good_cert = write("cert.pem", &cert);
        let good_key = write("key.pem", &key);
        let key_body: String = key.lines().nth(1).unwrap().to_owned();
        let cases = [
            (
                dir.path().join("missing.pem"),
                good_key.clone(),
                "reading tls_cert",
                "missing.pem",
            ),
            (
                good_cert.clone(),
                dir.path().join("nokey.pem"),
                "reading tls_key",
                "nokey.pem",
            ),
            (
                write("text.pem", "not a certificate\n"),
                good_key.clone(),
                "holds no certificate",
                "text.pem",
            ),
            (
                good_cert.clone(),
                write("certaskey.pem", &cert),
                "holds no private key",
                "certaskey.pem",
            ),
            (
                write("cut.pem", &cert[..cert.len() / 2]),
                good_key.clone(),
                "no `-----END",
                "cut.pem",
            ),
            (
                good_cert.clone(),
                write("garbled.pem", &key.replace(&key_body, "!!!not base64!!!")),
                "base64",
                "garbled.pem",
            ),
            (
                good_cert.clone(),
                write("other.pem", &other_key),
                "is the key the certificate's",
                "other.pem",
            ),
        ];
        for (cert, key, says, names) in cases {
            let e = acceptor(&TlsFiles { cert, key }).err().unwrap();
            assert!(e.contains(says), "{says}: {e}");
            assert!(e.contains(names), "{names}: {e}");
            assert!(!e.contains(&key_body), "the key leaks: {e}");
        }
    }
}
