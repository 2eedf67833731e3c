//! One error shape everywhere (issue 19, item 3): the answers of
//! `golden/errors.txt`'s bad requests, as a client sees them, against
//! `golden/errors.out`. `SEGDB_BLESS=1` rewrites the `.out` file.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::*;

/// A case: its name and its lines (request line, then the body).
fn cases(text: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- case: ") {
            out.push((name.to_owned(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

/// The error object's fields in a fixed order, one per line.
fn show_error(body: &str) -> String {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return format!("not JSON: {body}\n"),
    };
    let e = &v["error"];
    let mut out = String::new();
    for key in ["code", "message", "line", "column", "hint"] {
        writeln!(out, "{key}: {}", e[key]).unwrap();
    }
    let extra: Vec<&String> = e
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !["code", "message", "line", "column", "hint"].contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        extra.is_empty(),
        "fields beyond the error shape: {extra:?} in {body}"
    );
    out
}

#[test]
fn error_answers_have_one_shape() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/http/golden");
    let text = std::fs::read_to_string(dir.join("errors.txt")).unwrap();
    let (_tmp, store, _data) = generated(200);
    let server = Server::start(&store, Settings::default());
    let url = format!("http://{}", server.addr);
    let mut out = String::new();
    for (name, lines) in cases(&text) {
        let (request, body) = lines.split_first().expect("a request line");
        writeln!(out, "-- case: {name}").unwrap();
        if *request == "CONSOLE" {
            let statements = body.join("\n");
            let run = Command::new(env!("CARGO_BIN_EXE_segdb"))
                .args(["console", "--url", &url, "-e", &statements])
                .output()
                .unwrap();
            writeln!(out, "{statements}\n--").unwrap();
            writeln!(out, "exit: {}", run.status.code().unwrap_or(-1)).unwrap();
            out.push_str(&String::from_utf8_lossy(&run.stderr));
            out.push('\n');
            continue;
        }
        let mut words = request.split_whitespace();
        let (method, path) = (words.next().unwrap(), words.next().unwrap());
        let content_type = words.next();
        let body = body.join("\n") + "\n";
        let has_body = method != "GET" && method != "DELETE";
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            server.addr
        );
        if let Some(t) = content_type {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        if has_body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        let request_bytes = format!("{head}\r\n{}", if has_body { body.as_str() } else { "" });
        let (status, answer) = exchange(server.addr, request_bytes.as_bytes());
        let (headers, text) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        writeln!(out, "{request}\n{body}--").unwrap();
        writeln!(out, "status: {status}").unwrap();
        for h in headers.lines() {
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("allow") {
                    writeln!(out, "allow: {}", v.trim()).unwrap();
                }
            }
        }
        out.push_str(&show_error(text));
        out.push('\n');
        assert!(
            (400..500).contains(&status),
            "{name}: a client's mistake answered {status}: {text}"
        );
        assert!(
            !text.contains("usize") && !text.contains("invalid type"),
            "{name}: Rust's words in an answer: {text}"
        );
    }
    let path = dir.join("errors.out");
    if std::env::var_os("SEGDB_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != out {
        let first = want
            .lines()
            .zip(out.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(out.lines().count()));
        panic!(
            "{} differs from the answers (SEGDB_BLESS=1 rewrites it); first at line {}:\nwant: {:?}\nhave: {:?}\n\nall:\n{out}",
            path.display(),
            first + 1,
            want.lines().nth(first),
            out.lines().nth(first)
        );
    }
}
