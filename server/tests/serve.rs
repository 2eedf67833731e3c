//! `segdb serve`, `segdb console` and `segdb bench --url` as a user runs
//! them: the real binary, a real port, signals.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_segdb"))
}

/// Starts `segdb serve` with `args`; returns the child and its URL (read
/// from the line it prints once listening). The caller waits on the child.
#[allow(clippy::zombie_processes)]
fn serve(args: &[&str]) -> (Child, String) {
    let mut child = bin()
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "serve exited before listening"
        );
        if let Some(url) = line.trim().strip_prefix("segdb listening on ") {
            // Keep draining stdout so that the server never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return (child, url.to_owned());
        }
    }
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
    assert!(out.starts_with("city,count\n"), "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
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
    // W10's answer is the number of fields of the profile: 29 in the data set.
    let w10 = text.lines().find(|l| l.starts_with("W10 ")).unwrap();
    assert_eq!(w10.split_whitespace().nth(1), Some("29"), "{text}");

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
    let out = bin()
        .args([
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--token",
            "boss:x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role `boss`"));
}
