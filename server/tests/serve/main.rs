//! `segdb serve`, `segdb console` and `segdb bench --url` as a user runs
//! them: the real binary, a real port, signals. `security.rs`: principals
//! in the log, hashed secrets and keys, TLS.

#[path = "../common/mod.rs"]
mod common;
mod security;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_segdb"))
}

/// Starts `segdb serve` with `args`; returns the child and its URL (read
/// from the line it prints once listening). The caller waits on the child.
#[allow(clippy::zombie_processes)]
fn serve(args: &[&str]) -> (Child, String) {
    serve_with(bin(), args)
}

/// As [`serve`], from `cmd` (for its environment).
fn serve_with(mut cmd: Command, args: &[&str]) -> (Child, String) {
    common::listening(
        cmd.arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

fn terminate(mut child: Child) -> String {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit {status:?}\n{err}");
    err
}

fn console(url: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = bin()
        .args(["console", "--url", url])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_server_console_bench_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let demo = demo.to_str().unwrap();
    let (child, url) = serve(&["--demo", "--demo-dir", demo, "--demo-rows", "4000"]);

    // The console: -e, then a script on stdin with a backslash command.
    let (ok, out, err) = console(
        &url,
        &["-e", "SELECT COUNT(*) FROM users; SHOW TABLES;"],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("| 4000"), "{out}");
    assert!(out.contains("users"), "{out}");
    let (ok, out, err) = console(
        &url,
        &[],
        Some("\\format csv\nSELECT city, COUNT(*) FROM users\n  GROUP BY city ORDER BY COUNT(*) DESC LIMIT 2;\n"),
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("output format is csv\ncity,count\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");
    // As in psql: `help`, `quit` and `exit` alone on a line are commands
    // (with or without `;`), `\format` confirms, and a statement may span
    // lines; `help` no longer swallows the statement after it, and nothing
    // after `quit` runs.
    let (ok, out, err) = console(
        &url,
        &[],
        Some(
            "help\nSELECT COUNT(*)\n  FROM users\n  WHERE is_owner OR NOT is_owner;\n\\format csv\nhelp;\n\
             SELECT COUNT(*) FROM users;\nquit\nSELECT 'never' FROM users;\n",
        ),
    );
    assert!(ok, "{err}");
    assert_eq!(out.matches("Statements end with `;`").count(), 2, "{out}");
    assert!(out.contains("count\n-----\n 4000\n(1 row)\n"), "{out}");
    assert!(out.contains("output format is csv\n"), "{out}");
    assert!(out.ends_with("count\n4000\n"), "{out}");
    let (ok, out, err) = console(
        &url,
        &[],
        Some("\\format json\nexit;\nSELECT COUNT(*) FROM users;\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(out, "output format is json\n");
    // Floats are rounded in tables, numbers right-aligned.
    let (ok, out, err) = console(&url, &["-e", "SELECT AVG(age), COUNT(*) FROM users;"], None);
    assert!(ok, "{err}");
    let row = out.lines().nth(2).unwrap();
    let avg = row.split('|').next().unwrap();
    assert!(avg.starts_with(' ') && avg.trim().len() <= 7, "{out}");
    // The demo's events end today: `last 7 days` needs no AS OF, and the
    // demo table has a SENSITIVE phone.
    let (ok, out, err) = console(
        &url,
        &[
            "--format",
            "json",
            "-e",
            "SELECT COUNT(*) FROM users WHERE did(search, last 7 days);",
        ],
        None,
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let n = v["rows"][0][0].as_u64().unwrap();
    assert!(n > 0 && n < 4000, "{out}");
    assert!(v.get("warnings").is_none(), "{out}");
    let (ok, out, err) = console(&url, &["-e", "SHOW FIELDS FROM users;"], None);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("phone ") && l.contains("| TEXT ") && l.contains("| true")),
        "{out}"
    );
    // An error shows the line with a caret, and the exit status says so.
    let (ok, _, err) = console(
        &url,
        &["-e", "SELECT COUNT(*) FROM users WHERE cty = 'x';"],
        None,
    );
    assert!(!ok);
    assert!(err.contains("unknown field `cty`"), "{err}");
    assert!(
        err.contains("1 | SELECT COUNT(*) FROM users WHERE cty = 'x';"),
        "{err}"
    );
    assert!(err.contains(&format!("{}^", " ".repeat(33))), "{err}");
    assert!(err.contains("did you mean `city`?"), "{err}");

    // The load tool over HTTP.
    let out = bin()
        .args([
            "bench",
            "--url",
            &url,
            "--runs",
            "4",
            "--only",
            "W1,W5,W7,W8,W9,W10",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.lines().any(|l| l.starts_with("W1 ")), "{text}");
    for id in ["W5", "W7", "W8", "W9", "W10"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{text}"
        );
    }
    // W10's answer is the number of fields of the profile: 29 in the data
    // set, and the demo's phone.
    let w10 = text.lines().find(|l| l.starts_with("W10 ")).unwrap();
    assert_eq!(w10.split_whitespace().nth(1), Some("30"), "{text}");

    // SIGTERM: a clean exit, with the request lines logged.
    let err = terminate(child);
    assert!(err.contains("segdb::request"), "{err}");
    assert!(err.contains("stopped"), "{err}");

    // A second start reuses the demo store instead of building it again.
    let (child, url) = serve(&["--demo", "--demo-dir", demo, "--demo-rows", "4000"]);
    let (ok, out, _) = console(
        &url,
        &["--format", "json", "-e", "SELECT COUNT(*) FROM users;"],
        None,
    );
    assert!(ok);
    assert!(out.contains("[[4000]]"), "{out}");
    let err = terminate(child);
    assert!(!err.contains("generating"), "{err}");
}

#[test]
fn a_console_without_a_server_asks_whether_it_runs() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, _, err) = console(&url, &["-e", "SHOW TABLES;"], None);
    assert!(!ok);
    assert!(
        err.contains(&format!("is `segdb serve` running at {url}?")),
        "{err}"
    );
}

#[test]
fn bad_settings_stop_the_start_with_a_clear_error() {
    let out = bin().args(["serve"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("segdb.toml");
    std::fs::write(&cfg, "data = \"x\"\nquery_timeout = 5\n").unwrap();
    let out = bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("query_timeout"), "{err}");
    for (token, says) in [
        ("boss:x", "is not NAME:ROLE:SECRET"),
        ("ana:boss:x", "unknown role `boss`"),
    ] {
        let out = bin()
            .args([
                "serve",
                "--data",
                dir.path().to_str().unwrap(),
                "--token",
                token,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{token}: {err}");
    }
    // A config token's bad hash stops the start too, naming the token.
    std::fs::write(
        &cfg,
        "[[tokens]]\nname = \"ops\"\nrole = \"admin\"\nsecret_hash = \"sha256$00\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["serve", "--data", dir.path().to_str().unwrap()])
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ops") && err.contains("segdb token hash"),
        "{err}"
    );
}

/// Ingests `body` into `table` through the server at `url`: the answer.
fn ingest(url: &str, table: &str, body: &str) -> serde_json::Value {
    let c = segdb_server::client::Client::new(url, None);
    let r = c
        .request(
            "POST",
            &format!("/v1/tables/{table}/ingest"),
            &[],
            Some(body.as_bytes()),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn count(url: &str, text: &str) -> u64 {
    let v = segdb_server::client::Client::new(url, None)
        .query(text)
        .unwrap();
    v["rows"][0][0].as_u64().unwrap()
}

/// Flips a byte in the payload of the WAL record `seq` of `file`
/// (storage-format/FORMAT.md: a 32-byte segment header, then records of a
/// 20-byte header, `len` u32 and `seq` u64 first, and `len` bytes).
fn damage_record(file: &std::path::Path, seq: u64) {
    let mut bytes = std::fs::read(file).unwrap();
    let mut at = 32;
    loop {
        assert!(
            at + 20 <= bytes.len(),
            "no record {seq} in {}",
            file.display()
        );
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let s = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap());
        if s == seq {
            assert!(len > 10);
            bytes[at + 20 + len / 2] ^= 0x55;
            std::fs::write(file, &bytes).unwrap();
            return;
        }
        at += 20 + len;
    }
}

/// Log text without the terminal colours the log lines carry.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn kill(mut child: Child) -> String {
    child.kill().unwrap();
    child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err
}

#[test]
fn ingest_survives_sigterm_and_kill_and_a_damaged_wal_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data = data.to_str().unwrap();
    let (child, url) = serve(&["--data", data, "--wal-sync", "always"]);
    segdb_server::client::Client::new(&url, None)
        .query("CREATE TABLE t (city ENUM)")
        .unwrap();
    ingest(&url, "t", "{\"id\":\"a\",\"set\":{\"city\":\"x\"}}\n");
    // SIGTERM flushes the delta: the next start has nothing to replay.
    let err = terminate(child);
    assert!(err.contains("flushed the live delta at shutdown"), "{err}");
    let (child, url) = serve(&["--data", data, "--wal-sync", "every_ms=5"]);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM t WHERE city = 'x'"), 1);
    let a = ingest(&url, "t", "{\"id\":\"b\",\"set\":{\"city\":\"x\"}}\n");
    assert_eq!(a["seq"], serde_json::json!(2), "{a}");
    // Killed: acknowledged batches come back from the WAL.
    let err = plain(&kill(child));
    assert!(err.contains("replayed_batches=0"), "{err}");
    let (child, url) = serve(&["--data", data]);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM t WHERE city = 'x'"), 2);
    let err = plain(&terminate(child));
    assert!(err.contains("replayed_batches=1"), "{err}");

    // A damaged record (3) followed by another one (4): the start stops, naming
    // the file, the offset and the flag.
    let (child, url) = serve(&["--data", data]);
    let many: String = (0..20)
        .map(|i| format!("{{\"id\":\"n{i}\",\"set\":{{\"city\":\"y\"}}}}\n"))
        .collect();
    assert_eq!(ingest(&url, "t", &many)["seq"], serde_json::json!(3));
    assert_eq!(
        ingest(&url, "t", "{\"id\":\"z\",\"set\":{\"city\":\"y\"}}\n")["seq"],
        serde_json::json!(4)
    );
    kill(child);
    let wal = std::path::Path::new(data).join("wal");
    let mut files: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // The active segment also holds the records already flushed (1, 2).
    let last = files.last().unwrap();
    damage_record(last, 3);
    let out = bin().args(["serve", "--data", data]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--truncate-wal-at-corruption"), "{err}");
    assert!(err.contains("offset"), "{err}");
    assert!(err.contains("wal-"), "{err}");
    let (child, url) = serve(&["--data", data, "--truncate-wal-at-corruption"]);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM t WHERE city = 'y'"), 0);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM t WHERE city = 'x'"), 2);
    let err = terminate(child);
    assert!(
        err.contains("dropped the WAL from a damaged record"),
        "{err}"
    );
}

/// A log written to a pipe (or a file) is plain text: no ANSI colour codes,
/// which only a terminal would turn into colours.
#[test]
fn a_log_on_a_pipe_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (child, url) = serve(&[
        "--demo",
        "--demo-dir",
        demo.to_str().unwrap(),
        "--demo-rows",
        "500",
    ]);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM users"), 500);
    let status = segdb_server::client::Client::new(&url, None)
        .request("GET", "/nowhere", &[], None)
        .unwrap()
        .status;
    assert_eq!(status, 404);
    let err = terminate(child);
    assert!(err.contains("serving"), "{err}");
    assert!(err.contains("/nowhere"), "{err}");
    assert!(
        !err.contains("\x1b["),
        "colour codes in a piped log:\n{err:?}"
    );
}

/// Sends `bytes` on a new connection and keeps it open.
fn hold(url: &str, bytes: &[u8]) -> std::net::TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    s
}

#[test]
fn sigterm_ends_within_the_grace_period_whatever_the_clients_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let mut cmd = bin();
    cmd.env("SEGDB_SHUTDOWN_GRACE_MS", "500");
    let (child, url) = serve_with(cmd, &["--data", data.to_str().unwrap()]);
    let c = segdb_server::client::Client::new(&url, None);
    c.query("CREATE TABLE imp (city ENUM)").unwrap();
    // Nothing, half the headers, and an import stalled halfway in its body.
    let _silent = hold(&url, b"");
    let _partial = hold(&url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    let _stalled = hold(
        &url,
        b"POST /v1/tables/imp/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n\
          Content-Length: 100\r\n\r\nuser_id,city\nz1,c0",
    );
    // The import has begun once the metrics count it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = c.request("GET", "/metrics", &[], None).unwrap().text();
        if m.contains("segdb_imports_running 1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{m}");
        std::thread::yield_now();
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(terminate(child));
    });
    // Far above the grace period; before the fix it never ended.
    let ended = rx.recv_timeout(std::time::Duration::from_secs(30));
    if ended.is_err() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let err = ended.expect("segdb serve did not exit within 30 s of SIGTERM (grace 500 ms)");
    waiter.join().unwrap();
    assert!(err.contains("stopped"), "{err}");
}

/// The console in a terminal (a pseudo-terminal, through `expectrl`): the
/// prompts, `help`, multi-line input, `\format` and `quit` as a user meets
/// them, line editing on.
#[test]
fn the_console_in_a_terminal_feels_like_psql() {
    use expectrl::{Eof, Expect, Session};

    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (child, url) = serve(&[
        "--demo",
        "--demo-dir",
        demo.to_str().unwrap(),
        "--demo-rows",
        "1000",
    ]);
    let mut cmd = bin();
    // Its history file goes to the temporary directory.
    cmd.args(["console", "--url", &url]).env("HOME", dir.path());
    let mut s = Session::spawn(cmd).unwrap();
    // A bound on each wait, not a measure: the test fails, never hangs.
    s.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    s.expect("quit (or \\q) to quit.").unwrap();
    s.expect("segdb> ").unwrap();
    s.send_line("help").unwrap();
    s.expect("Statements end with `;`").unwrap();
    s.expect("segdb> ").unwrap();
    // A statement over two lines: the continuation prompt, then the answer.
    s.send_line("SELECT COUNT(*)").unwrap();
    s.expect("   ..> ").unwrap();
    s.send_line("  FROM users;").unwrap();
    s.expect(" 1000\r\n(1 row)").unwrap();
    s.expect("segdb> ").unwrap();
    s.send_line("\\format csv").unwrap();
    s.expect("output format is csv").unwrap();
    s.send_line("SELECT COUNT(*) FROM users;").unwrap();
    s.expect("count\r\n1000\r\n").unwrap();
    s.expect("segdb> ").unwrap();
    s.send_line("quit;").unwrap();
    s.expect(Eof).unwrap();
    terminate(child);
}
