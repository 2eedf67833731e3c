//! Malformed and random protocol messages, before and after startup.
//! Every frame is checked before pgwire decodes it (server/src/pg/frames.rs):
//! no panic anywhere (the connection tasks' panic hook records none), a
//! message that is certainly malformed gets an ErrorResponse with SQLSTATE
//! 08P01 and the connection is closed, any other input ends in a closed
//! connection, and a good client is answered right after.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use proptest::prelude::*;

use super::{store, Pg, READER};

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

/// A message: type byte, true length, body.
fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A Bind of `params` (text) to the unnamed statement.
fn bind(params: &[&[u8]]) -> Vec<u8> {
    let mut b = b"\0\0".to_vec();
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(params.len() as u16).to_be_bytes());
    for p in params {
        b.extend_from_slice(&(p.len() as i32).to_be_bytes());
        b.extend_from_slice(p);
    }
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    msg(b'B', &b)
}

/// Good messages whose layout has no slack: any change below breaks it.
fn good_messages() -> Vec<Vec<u8>> {
    vec![
        msg(b'Q', b"SELECT COUNT(*) FROM users\0"),
        msg(
            b'P',
            b"s1\0SELECT COUNT(*) FROM users WHERE user_id > $1\0\0\x01\0\0\0\x14",
        ),
        bind(&[b"42", b"abc"]),
        msg(b'D', b"Ss1\0"),
        msg(b'C', b"Pp1\0"),
        msg(b'E', b"p1\0\0\0\0\x0a"),
        msg(b'f', b"stop\0"),
        msg(b'S', b""),
        msg(b'H', b""),
    ]
}

/// How a good message is broken.
#[derive(Debug, Clone)]
enum Break {
    /// Its length field below 4.
    ShortLength(i32),
    /// Its last `n` bytes cut, the length matching (a body is needed).
    Cut(usize),
    /// `n` junk bytes added inside the frame, the length matching.
    Junk(Vec<u8>),
    /// A Bind's first parameter length past the frame's end.
    LongParameter(i32),
    /// The type byte replaced by one no message has.
    UnknownType(u8),
}

fn broken(m: &[u8], b: &Break) -> Vec<u8> {
    let body = &m[5..];
    match b {
        Break::ShortLength(len) => {
            let mut out = vec![m[0]];
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(body);
            out
        }
        Break::Cut(n) => msg(
            m[0],
            &body[..body.len() - (n % body.len() + 1).min(body.len())],
        ),
        Break::Junk(junk) => {
            let mut b = body.to_vec();
            b.extend_from_slice(junk);
            msg(m[0], &b)
        }
        Break::LongParameter(extra) => {
            // bind(): names (2), one format code (4), count (2), then the
            // first parameter's length.
            let mut out = m.to_vec();
            let at = 5 + 2 + 4 + 2;
            let left = (m.len() - at - 4) as i32;
            out[at..at + 4].copy_from_slice(&(left + 1 + extra).to_be_bytes());
            out
        }
        Break::UnknownType(t) => {
            let mut out = m.to_vec();
            out[0] = *t;
            out
        }
    }
}

fn breakage() -> impl Strategy<Value = (Vec<u8>, Break)> {
    let goods = good_messages();
    (0..goods.len()).prop_flat_map(move |i| {
        let m = goods[i].clone();
        let has_body = m.len() > 5;
        let is_bind = m[0] == b'B';
        let mut ways: Vec<BoxedStrategy<Break>> = vec![
            (i32::MIN..4).prop_map(Break::ShortLength).boxed(),
            prop::collection::vec(any::<u8>(), 1..16)
                .prop_map(Break::Junk)
                .boxed(),
            prop::sample::select(
                (0u8..=255)
                    .filter(|t| !b"QPBDECHSXpdcf".contains(t))
                    .collect::<Vec<_>>(),
            )
            .prop_map(Break::UnknownType)
            .boxed(),
        ];
        if has_body {
            ways.push((0usize..64).prop_map(Break::Cut).boxed());
        }
        if is_bind {
            ways.push((0i32..1_000_000).prop_map(Break::LongParameter).boxed());
        }
        (Just(m), prop::strategy::Union::new(ways))
    })
}

/// Sends `bytes`, ends the sending side, and reads until the server
/// closes the connection (within 60 s, or the test fails).
fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The server may close before taking everything.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
    answer
}

/// The (severity, SQLSTATE, message) of each ErrorResponse in `answer`
/// (backend messages, after `skip` bytes of SSL answers).
fn errors(answer: &[u8], skip: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut at = skip;
    while at + 5 <= answer.len() {
        let kind = answer[at];
        let len = i32::from_be_bytes(answer[at + 1..at + 5].try_into().unwrap()) as usize;
        let Some(body) = answer.get(at + 5..at + 1 + len) else {
            break;
        };
        if kind == b'E' {
            let (mut sev, mut code, mut text) = Default::default();
            for field in body.split(|&b| b == 0).filter(|f| !f.is_empty()) {
                let v = String::from_utf8_lossy(&field[1..]).into_owned();
                match field[0] {
                    b'S' => sev = v,
                    b'C' => code = v,
                    b'M' => text = v,
                    _ => {}
                }
            }
            out.push((sev, code, text));
        }
        at += 1 + len;
    }
    out
}

/// Asserts that `bytes` are answered with a FATAL 08P01 naming `says`.
fn refused(pg: &Pg, bytes: &[u8], skip: usize, says: &str) {
    let answer = exchange(pg.pg, bytes);
    let errs = errors(&answer, skip);
    assert!(
        errs.iter()
            .any(|(s, c, m)| s == "FATAL" && c == "08P01" && m.contains(says)),
        "{bytes:?} answered {errs:?}, expected a FATAL 08P01 saying {says:?}"
    );
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

fn opening() -> impl Strategy<Value = Opening> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Opening::Raw),
        prop::collection::vec(frame(), 1..6).prop_map(Opening::LoggedIn),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(Opening::Ssl),
    ]
}

fn opening_bytes(o: &Opening) -> Vec<u8> {
    match o {
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
    }
}

fn count(pg: &Pg, user: (&str, &str)) -> String {
    let (ok, out, err) = pg.psql(user, &["-A", "-t", "-c", "SELECT COUNT(*) FROM users"]);
    assert!(ok, "{err}");
    out.trim().to_owned()
}

/// No connection task panicked: the hook's report and the default one
/// are both absent from the log.
fn no_panic(pg: &Pg) {
    let log = std::fs::read_to_string(&pg.log).unwrap();
    assert!(
        !log.contains("failed on a malformed message") && !log.contains("panicked"),
        "{log}"
    );
}

#[test]
fn malformed_messages_are_refused_with_08p01() {
    let (_dir, data) = store(500);
    // No tokens: loopback clients are trusted, so frames reach the
    // query handlers.
    let pg = Pg::start_with(&data, &[]);
    assert_eq!(count(&pg, ("good", "")), "500");
    let logged_in = |m: &[u8]| [startup("fuzz"), m.to_vec()].concat();
    // What pgwire 0.42.1's decoder panicked on: a frame length below 4,
    // and a Bind whose parameter length passes the end of its frame.
    refused(&pg, &logged_in(&[b'Q', 0, 0, 0, 0]), 0, "length is 0");
    let mut long = bind(&[b"x"]);
    long[13..17].copy_from_slice(&1_000_000i32.to_be_bytes());
    refused(&pg, &logged_in(&long), 0, "runs past the end");
    // Before startup.
    refused(&pg, &[0, 0, 0, 3, 1, 2, 3, 4], 0, "at least 8");
    let mut unterminated = startup("fuzz");
    unterminated.pop();
    let n = unterminated.len() as i32;
    unterminated[..4].copy_from_slice(&n.to_be_bytes());
    refused(&pg, &unterminated, 0, "no terminating NUL");
    let mut v2 = startup("fuzz");
    v2[4..8].copy_from_slice(&0x0002_0000i32.to_be_bytes());
    refused(&pg, &v2, 0, "protocol 2.0");
    // An SSLRequest refused (no TLS here), then another.
    refused(
        &pg,
        &[[0, 0, 0, 8, 4, 210, 22, 47], [0, 0, 0, 8, 4, 210, 22, 47]].concat(),
        1,
        "SSLRequest",
    );
    // Each good message broken in one of the ways above, after login.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&breakage(), |(m, b)| {
            let bytes = broken(&m, &b);
            let answer = exchange(pg.pg, &logged_in(&bytes));
            let errs = errors(&answer, 0);
            prop_assert!(
                errs.iter().any(|(s, c, _)| s == "FATAL" && c == "08P01"),
                "{m:?} broken by {b:?}: answered {errs:?}"
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(count(&pg, ("good", "")), "500");
    no_panic(&pg);
}

#[test]
fn random_bytes_end_in_a_closed_connection() {
    let (_dir, data) = store(500);
    let pg = Pg::start_with(&data, &[]);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&opening(), |o| {
            // `exchange` fails unless the server closes the connection.
            let answer = exchange(pg.pg, &opening_bytes(&o));
            let skip = usize::from(matches!(o, Opening::Ssl(_)));
            for (sev, code, text) in errors(&answer, skip) {
                // A malformed message is a protocol violation; a good one
                // may be a statement's error.
                prop_assert!(
                    code != "XX000" && !text.contains("panic"),
                    "{o:?}: {sev} {code} {text}"
                );
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(count(&pg, ("good", "")), "500");
    no_panic(&pg);
}

#[test]
fn a_malformed_sasl_initial_response_is_refused() {
    let (_dir, data) = store(100);
    let pg = Pg::start(&data, &[]);
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&1_000i32.to_be_bytes());
    body.extend_from_slice(b"n,,n=,r=abc");
    let bytes = [startup(READER.0), msg(b'p', &body)].concat();
    refused(&pg, &bytes, 0, "SASLInitialResponse");
    assert_eq!(count(&pg, READER), "100");
    no_panic(&pg);
}
