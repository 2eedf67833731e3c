//! Garbled and random protocol messages, before and after startup: no
//! code of ours panics (pgwire's decoder does on two kinds of frame, in
//! the connection's own task: logged as a warning), the connection ends
//! (or answers an error) rather than hanging the server, and a good client
//! is answered right after.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proptest::prelude::*;

use super::{store, Pg};

/// A startup message for `user` (protocol 3.0).
fn startup(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "segdb")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

/// A frame: a type byte, a length (true or not), a payload.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(b'Q'),
            Just(b'P'),
            Just(b'B'),
            Just(b'E'),
            Just(b'D'),
            Just(b'S'),
            Just(b'C'),
            Just(b'p'),
            any::<u8>()
        ],
        prop::collection::vec(any::<u8>(), 0..64),
        prop_oneof![
            Just(None),
            Just(Some(-1i32)),
            Just(Some(0)),
            Just(Some(3)),
            any::<i32>().prop_map(Some)
        ],
    )
        .prop_map(|(t, payload, len)| {
            let mut f = vec![t];
            let len = len.unwrap_or(payload.len() as i32 + 4);
            f.extend_from_slice(&len.to_be_bytes());
            f.extend(payload);
            f
        })
}

#[derive(Debug, Clone)]
enum Opening {
    /// Raw bytes from the first one.
    Raw(Vec<u8>),
    /// A good startup (loopback trust), then frames.
    LoggedIn(Vec<Vec<u8>>),
    /// An SSL request, then bytes.
    Ssl(Vec<u8>),
}

fn opening() -> impl Strategy<Value = Opening> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Opening::Raw),
        prop::collection::vec(frame(), 1..6).prop_map(Opening::LoggedIn),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(Opening::Ssl),
    ]
}

/// Sends `o`, then reads what comes until the server closes, a pause of
/// a quarter second, or 1 MiB: whatever it is, the server must not be harmed.
fn send(addr: std::net::SocketAddr, o: &Opening) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let bytes: Vec<u8> = match o {
        Opening::Raw(b) => b.clone(),
        Opening::LoggedIn(frames) => {
            let mut b = startup("fuzz");
            for f in frames {
                b.extend(f);
            }
            b
        }
        Opening::Ssl(rest) => {
            let mut b = vec![0, 0, 0, 8, 4, 210, 22, 47];
            b.extend(rest);
            b
        }
    };
    // The server may close before taking everything.
    let _ = s.write_all(&bytes);
    let mut buf = [0u8; 8192];
    let mut total = 0;
    while total < (1 << 20) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

fn count(pg: &Pg) -> String {
    let (ok, out, err) = pg.psql(
        ("good", ""),
        &["-A", "-t", "-c", "SELECT COUNT(*) FROM users"],
    );
    assert!(ok, "{err}");
    out.trim().to_owned()
}

#[test]
fn garbled_messages_never_harm_the_server() {
    let (_dir, data) = store(500);
    // No tokens: loopback clients are trusted, so frames reach the
    // query handlers.
    let pg = Pg::start_with(&data, &[]);
    assert_eq!(count(&pg), "500");
    // What the property test found in pgwire: a frame length below 4, and
    // a Bind whose parameter length passes the end of its frame.
    let mut bind = vec![b'B'];
    let body: Vec<u8> = [
        &b"\0\0"[..],
        &0u16.to_be_bytes(),
        &1u16.to_be_bytes(),
        &1_000_000i32.to_be_bytes(),
        b"x",
    ]
    .concat();
    bind.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    bind.extend(body);
    for frames in [vec![vec![b'Q', 0, 0, 0, 0]], vec![bind]] {
        send(pg.pg, &Opening::LoggedIn(frames));
        assert_eq!(count(&pg), "500");
    }
    // pgwire's decoder panics on the Bind (0.42.1): the connection's task
    // unwinds, and the report is an error naming the place, in pgwire's
    // code or what it calls, never in ours.
    let failed = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("failed on a malformed message"))
            .map(str::to_owned)
            .collect()
    };
    let log = std::fs::read_to_string(&pg.log).unwrap();
    assert!(!failed(&log).is_empty(), "{log}");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&opening(), |o| {
            send(pg.pg, &o);
            Ok(())
        })
        .unwrap();
    assert_eq!(count(&pg), "500");
    // No panic but pgwire's decoder's (the default hook's report says
    // "panicked at").
    let log = std::fs::read_to_string(&pg.log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    for line in failed(&log) {
        assert!(
            line.contains("/pgwire-") || line.contains("/bytes-"),
            "a connection failed outside pgwire's decoder: {line}"
        );
    }
}
