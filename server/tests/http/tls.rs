//! HTTPS: each test makes a self-signed certificate, serves it, and speaks
//! TLS to the server with clients that trust it, trust another one, or do
//! not speak TLS at all.

use std::net::Shutdown;
use std::sync::Arc;

use segdb_server::http::config::Settings;
use segdb_server::http::Listeners;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore};

use super::*;

/// A self-signed certificate for 127.0.0.1 and localhost, and its key,
/// written to PEM files.
struct Identity {
    pem: String,
    der: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn identity(dir: &Path, name: &str) -> Identity {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    Identity {
        pem: c.cert.pem(),
        der: c.cert.der().clone(),
        cert,
        key,
    }
}

fn tls_settings(id: &Identity) -> Settings {
    Settings {
        tls_cert: Some(id.cert.clone()),
        tls_key: Some(id.key.clone()),
        ..Settings::default()
    }
}

/// A client of the HTTPS server trusting `id`'s certificate only.
fn https_client(server: &Server, id: &Identity) -> Client {
    assert!(server.url().starts_with("https://"));
    Client::new(&server.url(), None)
        .with_ca_cert(id.pem.as_bytes())
        .unwrap()
}

/// A rustls client trusting only `trusted`, offering HTTP/1.1 by ALPN: the
/// handshake's outcome, the connection and its socket (reads time out
/// after 10 s, so that a server that never answers fails the test).
fn handshake(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
) -> (Result<(), std::io::Error>, ClientConnection, TcpStream) {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut outcome = Ok(());
    // A handshake is a few round trips; each step makes progress or fails.
    for _ in 0..16 {
        if !conn.is_handshaking() {
            break;
        }
        if let Err(e) = conn.complete_io(&mut tcp) {
            outcome = Err(e);
            break;
        }
    }
    if outcome.is_ok() {
        assert!(!conn.is_handshaking(), "the handshake did not end");
    }
    (outcome, conn, tcp)
}

/// Reads `tcp` until the server closes it: what it sent. A read timing
/// out (the server kept the connection) fails the test.
fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // Closed with bytes of ours unread: a reset, closed all the same.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

/// The value of `segdb_tls_handshake_failures_total{reason=…}`.
fn handshake_failures(c: &Client, reason: &str) -> u64 {
    let text = get(c, "/metrics").text();
    let series = format!("segdb_tls_handshake_failures_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn tls_queries_answer_over_https_with_http11_by_alpn() {
    let (dir, store, data) = generated(300);
    let id = identity(dir.path(), "server");
    let server = Server::start(&store, tls_settings(&id));
    let c = https_client(&server, &id);
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users"),
        data.rows.len() as u64
    );
    let r = get(&c, "/v1/tables/users");
    assert_eq!(r.status, 200, "{}", r.text());

    // A plain rustls client: ALPN picks HTTP/1.1, and HTTP/1.1 runs on it.
    let (outcome, mut conn, mut tcp) = handshake(server.addr, &id.der);
    outcome.unwrap();
    assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    // The server ends with close_notify; an abrupt end would be an error.
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    assert_eq!(handshake_failures(&c, "error"), 0);
    assert_eq!(handshake_failures(&c, "timeout"), 0);
}

#[test]
fn tls_port_gives_plain_http_no_http_answer() {
    let (dir, store, _data) = generated(100);
    let id = identity(dir.path(), "server");
    let server = Server::start(&store, tls_settings(&id));
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut tcp);
    // At most a TLS alert record (content type 21), never HTTP.
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");
    let c = https_client(&server, &id);
    assert_eq!(handshake_failures(&c, "error"), 1);
    // The segdb client with an http:// URL gets no answer either.
    let e = Client::new(&format!("http://{}", server.addr), None)
        .request("GET", "/healthz", &[], None)
        .unwrap_err();
    assert!(
        matches!(e, segdb_server::client::ClientError::Transport(_)),
        "{e:?}"
    );
}

#[test]
fn tls_client_that_does_not_trust_the_certificate_fails_the_handshake() {
    let (dir, store, _data) = generated(100);
    let id = identity(dir.path(), "server");
    let stranger = identity(dir.path(), "stranger");
    let server = Server::start(&store, tls_settings(&id));
    // Trusting another self-signed certificate: the client refuses the
    // server's, tells it so, and the server closes and counts it.
    let (outcome, _conn, mut tcp) = handshake(server.addr, &stranger.der);
    let e = outcome.unwrap_err().to_string();
    assert!(e.contains("invalid peer certificate"), "{e}");
    read_until_closed(&mut tcp);
    let c = https_client(&server, &id);
    assert_eq!(handshake_failures(&c, "error"), 1);
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 100);
    // The segdb client trusting the Mozilla roots only, or the stranger.
    for client in [
        Client::new(&server.url(), None),
        Client::new(&server.url(), None)
            .with_ca_cert(stranger.pem.as_bytes())
            .unwrap(),
    ] {
        let e = client.query("SELECT COUNT(*) FROM users").unwrap_err();
        assert!(
            matches!(&e, segdb_server::client::ClientError::Transport(m) if m.contains("certificate")),
            "{e:?}"
        );
    }
    // A CA file that holds no certificate is refused, saying so.
    let e = Client::new(&server.url(), None)
        .with_ca_cert(b"not a certificate\n")
        .unwrap_err();
    assert!(e.contains("no certificate"), "{e}");
}

#[test]
fn tls_with_plain_http_listen_serves_plain_http_there_only() {
    let (dir, store, _data) = generated(100);
    let id = identity(dir.path(), "server");
    let server = Server::start(
        &store,
        Settings {
            plain_http_listen: Some("127.0.0.1:0".into()),
            ..tls_settings(&id)
        },
    );
    let plain_addr = server.plain_addr.unwrap();
    assert_ne!(plain_addr, server.addr);
    let plain = Client::new(&format!("http://{plain_addr}"), None);
    assert_eq!(count(&plain, "SELECT COUNT(*) FROM users"), 100);
    let (code, answer) = exchange(
        plain_addr,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200, "{answer}");
    // The main port stays HTTPS only.
    let c = https_client(&server, &id);
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 100);
    assert!(Client::new(&format!("http://{}", server.addr), None)
        .query("SELECT COUNT(*) FROM users")
        .is_err());
}

#[test]
fn tls_stalled_handshake_is_closed_after_the_header_read_timeout() {
    let (dir, store, _data) = generated(100);
    let id = identity(dir.path(), "server");
    let server = Server::start(
        &store,
        Settings {
            header_read_timeout_ms: Some(200),
            ..tls_settings(&id)
        },
    );
    // One client sends nothing; another the first 5 bytes of a TLS record
    // announcing 255 bytes that never come.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let mut partial = TcpStream::connect(server.addr).unwrap();
    partial.write_all(&[22, 3, 1, 0, 255]).unwrap();
    for tcp in [&mut silent, &mut partial] {
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        assert!(read_until_closed(tcp).is_empty());
    }
    let c = https_client(&server, &id);
    assert_eq!(handshake_failures(&c, "timeout"), 2);
    assert_eq!(handshake_failures(&c, "error"), 0);
    // The server serves on.
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 100);
    let _ = partial.shutdown(Shutdown::Both);
}

#[test]
fn tls_bad_files_stop_the_start_naming_the_file() {
    let (dir, store, _data) = generated(100);
    let id = identity(dir.path(), "server");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = dir.path().join("missing.crt");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = |cert: &Path, key: &Path| {
        Settings {
            data: Some(store.clone()),
            listen: Some("127.0.0.1:0".into()),
            tls_cert: Some(cert.to_path_buf()),
            tls_key: Some(key.to_path_buf()),
            ..Settings::default()
        }
        .resolve()
        .unwrap()
    };
    for (cert, key, says) in [
        (&missing, &id.key, "reading tls_cert"),
        (&not_pem, &id.key, "holds no certificate"),
        (&id.cert, &not_pem, "holds no private key"),
    ] {
        let e = rt
            .block_on(Listeners::bind(&config(cert, key)))
            .err()
            .unwrap();
        assert!(e.contains(says), "{e}");
        let file = if says.contains("key") { key } else { cert };
        assert!(e.contains(&file.display().to_string()), "{e}");
    }
    // Good files: HTTPS.
    let listeners = rt
        .block_on(Listeners::bind(&config(&id.cert, &id.key)))
        .unwrap();
    assert!(listeners.url().unwrap().starts_with("https://127.0.0.1:"));
    // With TLS configured, `serve` will not serve plain HTTP on a bare
    // listener.
    let cfg = config(&id.cert, &id.key);
    let state = AppState::new(http::ingest::open_store(&cfg, false).unwrap(), cfg).unwrap();
    let e = rt
        .block_on(http::serve(state, listeners.main, async {}))
        .unwrap_err();
    assert!(e.to_string().contains("no TLS acceptor"), "{e}");
}
