//! Slow and silent clients: a stalled import blocks no other write, gets
//! 408 after the body timeout and changes nothing; connections that send
//! partial headers or nothing are closed after the header timeout; and
//! shutdown ends within its grace period whatever the clients do.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;

/// How long a test waits for something that should happen at once (far
/// above the timeouts under test, so a busy machine does not fail it).
const PATIENCE: Duration = Duration::from_secs(30);

fn slow_settings() -> Settings {
    Settings {
        header_read_timeout_ms: Some(1_000),
        body_read_timeout_ms: Some(1_500),
        shutdown_grace_ms: Some(1_000),
        ..Settings::default()
    }
}

/// Connects and sends `bytes`, leaving the socket open.
fn send_partial(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// Reads until the server closes the connection (or `PATIENCE` passes:
/// then panics); returns what it sent.
fn read_until_closed(s: &mut TcpStream, what: &str) -> String {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "{what}: the server did not close the connection within {:?}: {e}",
                start.elapsed()
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits (bounded) until `cond` holds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// An import whose client sent its headers and half its body, then holds
/// the socket open.
fn stalled_import(addr: SocketAddr, table: &str) -> TcpStream {
    let body = "user_id,city\nz1,c001\nz2,c002\n";
    let head = format!(
        "POST /v1/tables/{table}/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body.as_bytes()[..body.len() / 2]);
    send_partial(addr, &bytes)
}

#[test]
fn a_stalled_import_blocks_no_other_write_and_gets_408() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(&store, slow_settings());
    let c = Client::with_timeout(&server.url(), None, Some(PATIENCE));
    c.query("CREATE TABLE imp (city ENUM); CREATE TABLE other (city ENUM)")
        .unwrap();

    let mut stalled = stalled_import(server.addr, "imp");
    wait_for("the stalled import to start", || {
        server.state.metrics.imports_running.load(Ordering::Relaxed) == 1
    });

    // Every other kind of write goes through while it waits.
    let r = post(
        &c,
        "/v1/tables/users/ingest",
        "application/x-ndjson",
        "{\"id\":\"u000000001\",\"set\":{\"city\":\"c042\"}}\n",
    );
    assert_eq!(r.status, 200, "ingest into another table: {}", r.text());
    let r = post(
        &c,
        "/v1/tables/other/import",
        "text/csv",
        "user_id,city\no1,c001\n",
    );
    assert_eq!(r.status, 200, "import into another table: {}", r.text());
    c.query("ALTER TABLE users ADD nickname TEXT").unwrap();
    c.query("CREATE SEGMENT c042 AS SELECT FROM users WHERE city = 'c042'")
        .unwrap();
    assert!(count(&c, "SELECT COUNT(*) FROM users WHERE IN SEGMENT c042") > 0);

    // The stalled import is answered 408 once the body stops coming, and
    // nothing of it is applied.
    let answer = read_until_closed(&mut stalled, "the stalled import");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM imp"), 0);
    wait_for("the import to be counted as ended", || {
        server.state.metrics.imports_running.load(Ordering::Relaxed) == 0
    });
    // The same import sent whole works.
    let r = post(
        &c,
        "/v1/tables/imp/import",
        "text/csv",
        "user_id,city\nz1,c001\nz2,c002\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count(&c, "SELECT COUNT(*) FROM imp"), 2);
}

#[test]
fn partial_headers_and_silent_connections_are_closed() {
    let (_dir, store, _data) = generated(50);
    let server = Server::start(&store, slow_settings());
    let mut silent = send_partial(server.addr, b"");
    let mut partial = send_partial(server.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    let mut stalled_query = send_partial(
        server.addr,
        b"POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nSELECT",
    );
    read_until_closed(&mut silent, "a connection that sent nothing");
    read_until_closed(&mut partial, "a connection that sent half its headers");
    let answer = read_until_closed(&mut stalled_query, "a query whose body stalled");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let m = &server.state.metrics;
    assert_eq!(m.header_timeouts.load(Ordering::Relaxed), 2);
    // The server still answers.
    let c = Client::with_timeout(&server.url(), None, Some(PATIENCE));
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 50);
}

#[test]
fn shutdown_ends_within_the_grace_period_whatever_the_clients_do() {
    let (_dir, store, _data) = generated(50);
    let mut server = Server::start(
        &store,
        Settings {
            // Longer than the grace period: shutdown must not wait for them.
            header_read_timeout_ms: Some(600_000),
            body_read_timeout_ms: Some(600_000),
            shutdown_grace_ms: Some(500),
            ..Settings::default()
        },
    );
    let c = Client::with_timeout(&server.url(), None, Some(PATIENCE));
    c.query("CREATE TABLE imp (city ENUM)").unwrap();
    let _silent = send_partial(server.addr, b"");
    let _partial = send_partial(server.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    let stalled = stalled_import(server.addr, "imp");
    wait_for("the stalled import to start", || {
        server.state.metrics.imports_running.load(Ordering::Relaxed) == 1
    });
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let thread = server.thread.take().unwrap();
    let stop = server.stop.take().unwrap();
    let waiter = std::thread::spawn(move || {
        let _ = thread.join();
        let _ = done_tx.send(());
    });
    let _ = stop.send(());
    assert!(
        done_rx.recv_timeout(PATIENCE).is_ok(),
        "serve did not return within {PATIENCE:?} of the shutdown (grace 500 ms)"
    );
    waiter.join().unwrap();
    // The import was not applied: the store, opened again, has no row of it.
    drop(stalled);
    let state = server.state.clone();
    drop(server);
    let t = state.store.table("imp").unwrap();
    assert_eq!(t.num_rows(), 0);
    // The stalled import's connection was still open: dropped.
    assert!(state.metrics.connections_dropped.load(Ordering::Relaxed) >= 1);
    assert_eq!(state.metrics.connections_open.load(Ordering::Relaxed), 0);
}
