//! Streamed answers over real HTTP on 127.0.0.1: a CSV `SELECT user_id`
//! and `GET /v1/segments/{name}/ids` obey the query timeout, stop when
//! their client hangs up, and a shutdown cancels them; each time the query
//! slot is free again.
//!
//! The store is small (3,000 users, one chunk); the engine's test hook makes
//! the evaluation of every chunk take a minute, as a heavy WHERE on a big
//! store would, while still obeying cancellation. The hook is global, so
//! these tests have their own binary.

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use segdb_server::http::config::Settings;
use segdb_server::http::{self, AppState, Shared};

/// How long each chunk's evaluation takes unless cancelled: far longer than
/// any bounded wait below, so only cancellation can make them pass.
const PAUSE: Duration = Duration::from_secs(60);

/// The longest wait for anything that should happen at once.
const WAIT: Duration = Duration::from_secs(15);

fn slow_chunks(on: bool) {
    segdb_engine::cancel::pause_each_chunk_for_tests(if on { PAUSE } else { Duration::ZERO });
}

/// A server running in this process on 127.0.0.1.
struct Server {
    addr: SocketAddr,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: mpsc::Receiver<()>,
}

impl Server {
    fn start(store: &Path, settings: Settings) -> Server {
        let config = Settings {
            data: Some(store.to_path_buf()),
            listen: Some("127.0.0.1:0".into()),
            ..Settings::default()
        }
        .overridden_by(settings)
        .resolve()
        .unwrap();
        let listener = std::net::TcpListener::bind(config.listen).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let store = http::ingest::open_store(&config, false).unwrap();
        let state = AppState::new(store, config).unwrap();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped) = mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            // As `segdb serve` does: the runtime (and its blocking pool) is
            // dropped once `serve` returns, before the thread says so.
            {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    http::serve(st, listener, async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
                });
            }
            let _ = stopped_tx.send(());
        });
        Server {
            addr,
            state,
            stop: Some(stop),
            stopped,
        }
    }

    /// Asks the server to shut down; whether it stopped within `within`.
    fn shut_down_within(&mut self, within: Duration) -> bool {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.stopped.recv_timeout(within).is_ok()
    }

    fn metrics(&self) -> String {
        self.state.metrics.render(&self.state.store)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        slow_chunks(false);
        self.shut_down_within(PAUSE * 2);
    }
}

/// Sends `request` on a new connection (`Connection: close`) and reads up
/// to the end of the response's head: (the connection, the status).
fn open(addr: SocketAddr, request: &str) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("the answer's head did not come");
        assert!(n == 1, "the connection closed before the head: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (s, status)
}

/// Reads the rest of a chunked body until the connection ends, at most
/// `within`: (the bytes, whether the body ended with its last chunk).
fn read_rest(mut s: TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut body = Vec::new();
    let mut buf = [0u8; 1 << 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the streamed answer did not end within {within:?}"
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) | Err(_) if Instant::now() < deadline => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the streamed answer did not end within {within:?}: {e}"),
        }
    }
    let complete = body.ends_with(b"0\r\n\r\n");
    (body, complete)
}

fn csv_export(addr: SocketAddr) -> String {
    let q = "SELECT user_id FROM users WHERE age > 30";
    format!(
        "POST /v1/query HTTP/1.1\r\nHost: {addr}\r\nAccept: text/csv\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{q}",
        q.len()
    )
}

fn segment_export(addr: SocketAddr) -> String {
    format!("GET /v1/segments/older/ids HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

fn post_query(addr: SocketAddr, q: &str) -> (u16, String) {
    let req = format!(
        "POST /v1/query HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{q}",
        q.len()
    );
    let (s, status) = open(addr, &req);
    let mut body = String::new();
    let _ = (&s).take(1 << 20).read_to_string(&mut body);
    (status, body)
}

/// Polls `f` until it is true, for at most `within`.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::yield_now();
    }
    f()
}

fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, store, _, _) = common::generated_store(3000, 5);
    (dir, store)
}

#[test]
fn a_streamed_export_past_the_timeout_breaks_off_and_frees_its_slot() {
    let (_dir, store) = store();
    let server = Server::start(
        &store,
        Settings {
            query_timeout_ms: Some(300),
            max_concurrent_queries: Some(1),
            queue_wait_ms: Some(WAIT.as_millis() as u64),
            ..Settings::default()
        },
    );
    slow_chunks(true);
    let (s, status) = open(server.addr, &csv_export(server.addr));
    // The head was sent before the evaluation: the status is 200 and only
    // the body can say that the answer failed.
    assert_eq!(status, 200);
    let (body, complete) = read_rest(s, WAIT);
    assert!(
        !complete,
        "a timed-out export must not end like a complete one: {:?}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        server.metrics().contains("segdb_queries_timed_out_total 1"),
        "{}",
        server.metrics()
    );
    // The only slot is free again: a query waits for it and succeeds.
    slow_chunks(false);
    let (status, body) = post_query(server.addr, "SELECT COUNT(*) FROM users");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("3000"), "{body}");
}

/// Two streams take both slots; their clients hang up; the slots free up
/// (a query gets 200, not 503) without waiting for the evaluation.
fn hung_up_streams_free_their_slots(request: fn(SocketAddr) -> String) {
    hung_up_queries_free_their_slots(request, true);
}

/// As [`hung_up_streams_free_their_slots`]; with `head` false, the clients
/// hang up before any answer (a JSON query sends nothing until it ends).
fn hung_up_queries_free_their_slots(request: fn(SocketAddr) -> String, head: bool) {
    let (_dir, store) = store();
    let server = Server::start(
        &store,
        Settings {
            query_timeout_ms: Some(600_000),
            max_concurrent_queries: Some(2),
            queue_wait_ms: Some(100),
            ..Settings::default()
        },
    );
    let (status, body) = post_query(
        server.addr,
        "CREATE SEGMENT older AS SELECT FROM users WHERE age > 30",
    );
    assert_eq!(status, 200, "{body}");
    slow_chunks(true);
    let clients = if head {
        let (a, status_a) = open(server.addr, &request(server.addr));
        let (b, status_b) = open(server.addr, &request(server.addr));
        assert_eq!((status_a, status_b), (200, 200));
        vec![a, b]
    } else {
        let send = || {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(request(server.addr).as_bytes()).unwrap();
            s
        };
        let clients = vec![send(), send()];
        assert!(
            eventually(WAIT, || server
                .metrics()
                .contains("segdb_queries_running 2")),
            "{}",
            server.metrics()
        );
        clients
    };
    assert!(
        server.state.try_take_query_slot().is_none(),
        "both slots are held by the queries"
    );
    drop(clients);
    // The evaluations stay slow until both are seen cancelled: were the
    // pause lifted first, a query could finish before its hang-up is seen,
    // and the test would race the server instead of checking it.
    assert!(
        eventually(WAIT, || server
            .metrics()
            .contains("segdb_queries_cancelled_total 2")),
        "{}",
        server.metrics()
    );
    slow_chunks(false);
    let mut last = (0, String::new());
    let freed = eventually(WAIT, || {
        last = post_query(server.addr, "SELECT COUNT(*) FROM users");
        last.0 == 200
    });
    assert!(
        freed,
        "the slots of hung-up streams were not freed within {WAIT:?}: {last:?}"
    );
}

#[test]
fn json_queries_whose_clients_hang_up_free_their_slots() {
    hung_up_queries_free_their_slots(
        |addr| {
            let q = "SELECT COUNT(*) FROM users WHERE age > 30";
            format!(
                "POST /v1/query HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{q}",
                q.len()
            )
        },
        false,
    );
}

#[test]
fn csv_exports_whose_clients_hang_up_free_their_slots() {
    hung_up_streams_free_their_slots(csv_export);
}

#[test]
fn segment_exports_whose_clients_hang_up_free_their_slots() {
    hung_up_streams_free_their_slots(segment_export);
}

#[test]
fn shutdown_cancels_running_queries_within_the_grace_period() {
    let (_dir, store) = store();
    let mut server = Server::start(
        &store,
        Settings {
            query_timeout_ms: Some(600_000),
            max_concurrent_queries: Some(4),
            shutdown_grace_ms: Some(WAIT.as_millis() as u64 * 2),
            ..Settings::default()
        },
    );
    slow_chunks(true);
    let (stream, status) = open(server.addr, &csv_export(server.addr));
    assert_eq!(status, 200);
    // A JSON query in flight too: its answer is not sent until it ends.
    let addr = server.addr;
    let json = std::thread::spawn(move || post_query(addr, "SELECT COUNT(*) FROM users"));
    assert!(
        eventually(WAIT, || server
            .metrics()
            .contains("segdb_queries_running 2")),
        "{}",
        server.metrics()
    );
    assert!(
        server.shut_down_within(WAIT),
        "the server did not stop within {WAIT:?} with queries running"
    );
    let (_, complete) = read_rest(stream, WAIT);
    assert!(!complete, "a cancelled export must not look complete");
    let (status, body) = json.join().unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"cancelled\""), "{body}");
    assert!(
        server.metrics().contains("segdb_queries_cancelled_total 2"),
        "{}",
        server.metrics()
    );
}
