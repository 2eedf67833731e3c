//! A hostile load on the real `segdb serve` process, bounded in time: many
//! concurrent heavy streamed queries whose clients hang up early, a flood
//! of requests with made-up methods (some of 200 KB) and paths, and an
//! import whose client stalls halfway through its body for the whole
//! attack, while a client asks the W1 count in a loop and ingests a batch
//! into another table every few counts. Every W1 and every ingest must
//! answer 200 within its client timeout, and the server's peak resident
//! memory must stay under [`MAX_HWM_KIB`]. Then SIGTERM must stop it
//! cleanly, within its grace period although the import never finishes.

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segdb_server::workload::COUNT_WORKLOADS;

/// How long the attack lasts.
const ATTACK: Duration = Duration::from_secs(15);

/// The W1 client's timeout: a W1 slower than this is a failure (a hang),
/// not a measure of speed.
const W1_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound on the server's peak resident memory (VmHWM) over the test.
/// A 20,000-user store maps a few MB; without label hygiene the 200 KB
/// methods alone would add ~40 MB, and unbounded streams far more.
const MAX_HWM_KIB: u64 = 256 * 1024;

/// Threads that start heavy streamed queries and hang up.
const STREAMERS: usize = 6;

/// Starts `segdb serve` on `store`; the caller waits on the child.
fn serve(store: &std::path::Path) -> (Child, SocketAddr) {
    let (child, url) = common::listening(
        Command::new(env!("CARGO_BIN_EXE_segdb"))
            .args([
                "serve",
                "--data",
                common::p(store),
                "--listen",
                "127.0.0.1:0",
            ])
            // Two slots on a two-core machine: a W1 with a slot competes with
            // one heavy query for the rayon workers, not with four.
            .args([
                "--max-concurrent-queries",
                "2",
                "--query-timeout-ms",
                "3000",
            ])
            .env("SEGDB_QUEUE_WAIT_MS", "8000")
            // The stalled import is still open at SIGTERM: it is dropped
            // after this grace period.
            .env("SEGDB_SHUTDOWN_GRACE_MS", "2000")
            .env("SEGDB_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let addr = url.strip_prefix("http://").unwrap().parse().unwrap();
    (child, addr)
}

/// A request with a text body and `Connection: close`.
fn request(method: &str, path: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `req` and reads the answer to its end, for at most `timeout`:
/// the status (0 if none came).
fn exchange(addr: SocketAddr, req: &[u8], timeout: Duration) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// A WHERE of `n` OR'ed ranges: seconds of evaluation without a timeout.
fn heavy_where(n: u32) -> String {
    (0..n)
        .map(|i| {
            format!(
                "(age BETWEEN {} AND {} AND income > {})",
                i % 50,
                i % 50 + i % 13 + 1,
                i * 3
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[test]
fn w1_answers_throughout_a_hostile_load() {
    let (_dir, store, _, _) = common::generated_store(20_000, 7);
    let (child, addr) = serve(&store);
    let pid = child.id();
    let mut serving = common::KillOnDrop(Some(child));
    let w1 = COUNT_WORKLOADS[0].1;
    let want = exchange(addr, &request("POST", "/v1/query", "", w1), W1_TIMEOUT);
    assert_eq!(want.0, 200, "{}", want.1);
    let want_body = want.1.split_once("\"rows\":").unwrap().1.to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let streams = Arc::new(AtomicU64::new(0));
    let spam = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    let heavy = Arc::new(format!(
        "SELECT user_id FROM users WHERE {}",
        heavy_where(1500)
    ));
    for t in 0..STREAMERS {
        let (stop, streams, heavy) = (stop.clone(), streams.clone(), heavy.clone());
        attackers.push(std::thread::spawn(move || {
            let req = request("POST", "/v1/query", "Accept: text/csv\r\n", &heavy);
            let segment = request("GET", "/v1/segments/heavy/ids", "", "");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let Ok(mut s) = TcpStream::connect(addr) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.write_all(if (t as u64 + i).is_multiple_of(3) {
                    &segment
                } else {
                    &req
                });
                // Read a little (the head, perhaps a chunk), then hang up.
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                drop(s);
                streams.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        let (stop, spam) = (stop.clone(), spam.clone());
        attackers.push(std::thread::spawn(move || {
            let big = format!("ZQ{}", "M".repeat(200_000));
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let method = if i.is_multiple_of(50) {
                    big.clone()
                } else {
                    format!("ZQ{i}")
                };
                let path = format!("/zq/{i}/{}", "p".repeat((i % 97) as usize));
                exchange(addr, &request(&method, &path, "", ""), W1_TIMEOUT);
                spam.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // The segment the streamers export (its definition is the heavy WHERE).
    let def = format!(
        "CREATE SEGMENT heavy AS SELECT FROM users WHERE {}",
        heavy_where(1500)
    );
    let r = exchange(addr, &request("POST", "/v1/query", "", &def), W1_TIMEOUT);
    assert_eq!(r.0, 200, "{}", r.1);

    // An import into `users` whose client sends half its body and then
    // holds the connection for the whole attack (the body timeout, 30 s,
    // is longer than the attack).
    let r = exchange(
        addr,
        &request("POST", "/v1/query", "", "CREATE TABLE side (tag ENUM)"),
        W1_TIMEOUT,
    );
    assert_eq!(r.0, 200, "{}", r.1);
    let import_body = "user_id,city\nz1,c001\nz2,c002\n";
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(
            format!(
                "POST /v1/tables/users/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n\
                 Content-Length: {}\r\n\r\n{}",
                import_body.len(),
                &import_body[..import_body.len() / 2]
            )
            .as_bytes(),
        )
        .unwrap();

    let start = Instant::now();
    let mut w1s = 0u32;
    let mut ingests = 0u32;
    let mut failure = None;
    while start.elapsed() < ATTACK {
        let (status, body) = exchange(addr, &request("POST", "/v1/query", "", w1), W1_TIMEOUT);
        w1s += 1;
        if status != 200 || !body.ends_with(&want_body) {
            failure = Some(format!(
                "W1 #{w1s} after {:?}: {status}\n{body}",
                start.elapsed()
            ));
            break;
        }
        if w1s.is_multiple_of(4) {
            let line = format!("{{\"id\":\"s{w1s}\",\"set\":{{\"tag\":\"t1\"}}}}\n");
            let (status, body) = exchange(
                addr,
                &request("POST", "/v1/tables/side/ingest", "", &line),
                W1_TIMEOUT,
            );
            ingests += 1;
            if status != 200 {
                failure = Some(format!(
                    "ingest #{ingests} beside the stalled import, after {:?}: {status}\n{body}",
                    start.elapsed()
                ));
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    let hwm = common::proc_status_kib(pid, "VmHWM:");
    let rss = common::proc_status_kib(pid, "VmRSS:");
    let metrics = exchange(addr, &request("GET", "/metrics", "", ""), W1_TIMEOUT).1;
    eprintln!(
        "{w1s} W1 answers, {ingests} ingests beside a stalled import, {} streams hung up, {} spam requests; VmHWM {hwm} KiB, VmRSS {rss} KiB",
        streams.load(Ordering::Relaxed),
        spam.load(Ordering::Relaxed)
    );
    let figure = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_owned()
    };
    eprintln!(
        "{}\n{}\n{}",
        figure("segdb_queries_cancelled_total"),
        figure("segdb_queries_timed_out_total"),
        figure("segdb_queries_rejected_total")
    );

    // Every acknowledged ingest is there; the stalled import changed nothing.
    let side = exchange(
        addr,
        &request("POST", "/v1/query", "", "SELECT COUNT(*) FROM side"),
        W1_TIMEOUT,
    );
    let still = exchange(
        addr,
        &request(
            "POST",
            "/v1/query",
            "",
            "SELECT COUNT(*) FROM users WHERE user_id IN ('z1', 'z2')",
        ),
        W1_TIMEOUT,
    );

    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = serving.0.take().unwrap().wait().unwrap();
    drop(stalled);
    assert!(failure.is_none(), "{}", failure.unwrap());
    assert!(ingests > 0);
    assert!(
        side.1.ends_with(&format!("\"rows\":[[{ingests}]]}}")),
        "{ingests} ingests acknowledged: {}",
        side.1
    );
    assert!(still.1.contains("\"rows\":[[0]]"), "{}", still.1);
    assert!(w1s > 0);
    assert!(streams.load(Ordering::Relaxed) > 0);
    assert!(status.success(), "exit {status:?}");
    assert!(
        hwm < MAX_HWM_KIB,
        "peak resident memory {hwm} KiB is past the bound of {MAX_HWM_KIB} KiB"
    );
    assert!(!metrics.contains("ZQ"), "a made-up method became a label");
}
