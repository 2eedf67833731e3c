//! TLS for the server: the certificate chain and private key read from PEM
//! files (`tls_cert`, `tls_key`) into a rustls acceptor, on rustls's `ring`
//! provider (no OpenSSL), offering HTTP/1.1 by ALPN. Loaded once at start,
//! so a missing file or a bad PEM stops the start with the file's name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::config::Settings;

/// The PEM files of a TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (`tls_cert`).
    pub cert: PathBuf,
    /// The leaf's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC)
    /// (`tls_key`).
    pub key: PathBuf,
}

/// The TLS files and the plain-HTTP address of `s`: both files or
/// neither, and a plain-HTTP address only beside TLS, elsewhere than
/// `listen`.
pub(super) fn resolve(
    s: &Settings,
    listen: SocketAddr,
) -> Result<(Option<TlsFiles>, Option<SocketAddr>), String> {
    let tls = match (&s.tls_cert, &s.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err("tls_cert is set but tls_key is not: HTTPS needs both \
                        (--tls-key, SEGDB_TLS_KEY or tls_key in the config)"
                .into())
        }
        (None, Some(_)) => {
            return Err("tls_key is set but tls_cert is not: HTTPS needs both \
                        (--tls-cert, SEGDB_TLS_CERT or tls_cert in the config)"
                .into())
        }
    };
    let plain = match &s.plain_http_listen {
        None => None,
        Some(_) if tls.is_none() => {
            return Err("plain_http_listen is set without TLS: it adds plain HTTP \
                        beside HTTPS; without tls_cert and tls_key, `listen` \
                        serves plain HTTP already"
                .into())
        }
        Some(text) => {
            let addr: SocketAddr = text
                .parse()
                .map_err(|_| format!("plain_http_listen address `{text}` is not IP:PORT"))?;
            if addr == listen && addr.port() != 0 {
                return Err(format!(
                    "plain_http_listen {addr} is the HTTPS address (listen) too: \
                     give it another port"
                ));
            }
            Some(addr)
        }
    };
    Ok((tls, plain))
}

/// The acceptor of connections for `files`: reads and checks both files
/// (the key must belong to the first certificate). The error names the
/// setting and the file, and never shows a byte of the key.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    acceptor_for(files, b"http/1.1")
}

/// As [`acceptor`], for the application protocol `alpn` (`postgresql`
/// for the Postgres listener).
pub fn acceptor_for(files: &TlsFiles, alpn: &[u8]) -> Result<TlsAcceptor, String> {
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
    config.alpn_protocols = vec![alpn.to_vec()];
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

    #[test]
    fn tls_takes_both_files_and_plain_http_only_beside_it() {
        let base = || Settings {
            data: Some("/a".into()),
            ..Settings::default()
        };
        let c = base().resolve().unwrap();
        assert_eq!((c.tls, c.plain_http_listen), (None, None));
        let file: Settings = toml::from_str(
            "tls_cert = \"/f/cert.pem\"\ntls_key = \"/f/key.pem\"\n\
             plain_http_listen = \"127.0.0.1:9\"\n",
        )
        .unwrap();
        let env = Settings::from_env(|k| match k {
            "SEGDB_TLS_KEY" => Some("/e/key.pem".into()),
            "SEGDB_PLAIN_HTTP_LISTEN" => Some("127.0.0.1:8".into()),
            _ => None,
        })
        .unwrap();
        let flags = Settings {
            tls_cert: Some("/c/cert.pem".into()),
            ..Settings::default()
        };
        let c = base()
            .overridden_by(file)
            .overridden_by(env)
            .overridden_by(flags)
            .resolve()
            .unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "/c/cert.pem".into(),
                key: "/e/key.pem".into()
            })
        );
        assert_eq!(c.plain_http_listen, Some("127.0.0.1:8".parse().unwrap()));
        let resolve = |toml_text: &str| {
            base()
                .overridden_by(toml::from_str(toml_text).unwrap())
                .resolve()
        };
        for (bad, says) in [
            ("tls_cert = \"/c\"", "tls_key is not"),
            ("tls_key = \"/k\"", "tls_cert is not"),
            ("plain_http_listen = \"127.0.0.1:9\"", "without TLS"),
            (
                "tls_cert = \"/c\"\ntls_key = \"/k\"\nplain_http_listen = \"nowhere\"",
                "nowhere",
            ),
            (
                "listen = \"127.0.0.1:9\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n\
                 plain_http_listen = \"127.0.0.1:9\"",
                "another port",
            ),
        ] {
            let e = resolve(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

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
