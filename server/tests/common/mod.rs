//! What the end-to-end tests of the binary share: running `segdb`, and a
//! generated data set imported into a store.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Runs `segdb` with `args`: (success, stdout, stderr).
pub fn segdb(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Spawns `cmd`, a `segdb serve …` with its stdout piped, and waits for
/// the line it prints once listening: the child and its URL
/// (`http://…` or `https://…`). Its stdout is drained from then on, so
/// the server never blocks on it; the caller waits on the child.
#[allow(clippy::zombie_processes)]
pub fn listening(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "serve exited before listening"
        );
        if let Some(url) = line.trim().strip_prefix("segdb listening on ") {
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return (child, url.to_owned());
        }
    }
}

/// A server process, killed when dropped unless taken: a test that fails
/// before stopping its server leaves none behind.
pub struct KillOnDrop(pub Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `segdb serve` on the store in `data`, on a free port of 127.0.0.1,
/// logging warnings only: the process and its URL.
pub fn serve_store(data: &Path) -> (KillOnDrop, String) {
    let (child, url) = listening(
        Command::new(env!("CARGO_BIN_EXE_segdb"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("SEGDB_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
    );
    (KillOnDrop(Some(child)), url)
}

/// Kills the server with SIGKILL and reaps it.
pub fn kill9(mut server: KillOnDrop) {
    let mut child = server.0.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The field `key` (`VmHWM:`, `VmRSS:`) of a process's `/proc` status,
/// in KiB.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A path as an argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A store of the standard data set with `rows` users from `seed`, made by
/// `segdb gen` and `segdb import` in a temporary directory: (the directory,
/// the store, the CSV directory, what the users import printed).
pub fn generated_store(rows: u64, seed: u64) -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let store = dir.path().join("store");
    let (ok, _, err) = segdb(&[
        "gen",
        "--scale",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        p(&csv),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "users",
        "--schema",
        p(&csv.join("schema.sql")),
        "--events",
        p(&csv.join("events.csv")),
        p(&csv.join("users.csv")),
    ]);
    assert!(ok, "{err}");
    (dir, store, csv, out)
}

/// Per user, the message ids a webhook receiver got for it, each with the
/// `tag` of the request that carried it (when it arrived, say), counting
/// each distinct batch once (by its Idempotency-Key); asserts that a batch
/// sent again is the same body. Returns them and how many batches came
/// again.
pub fn messages_by_user<'a, T: Copy>(
    requests: impl IntoIterator<Item = (&'a segdb_campaigns::deliver::receiver::Request, T)>,
) -> (std::collections::HashMap<String, Vec<(String, T)>>, u32) {
    use std::collections::HashMap;
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out: HashMap<String, Vec<(String, T)>> = HashMap::new();
    let mut twice = 0;
    for (r, tag) in requests {
        let key = r.key.clone().expect("an Idempotency-Key");
        if let Some(first) = bodies.get(&key) {
            assert_eq!(first, &r.body, "a batch sent again differs");
            twice += 1;
            continue;
        }
        bodies.insert(key, r.body.clone());
        let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for m in b["messages"].as_array().unwrap() {
            out.entry(m["user_id"].as_str().unwrap().to_owned())
                .or_default()
                .push((m["message_id"].as_str().unwrap().to_owned(), tag));
        }
    }
    (out, twice)
}

/// A gate a webhook receiver's handler waits at, so that a test can hold
/// a delivery in flight (sent, unanswered) while it kills the server.
/// Waits are bounded (60 s), so a test that forgets to open it fails
/// rather than hangs.
#[derive(Clone)]
pub struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    /// A gate, closed (holding) or open.
    pub fn new(closed: bool) -> Gate {
        Gate(std::sync::Arc::new((
            std::sync::Mutex::new(closed),
            std::sync::Condvar::new(),
        )))
    }

    /// Waits while the gate is closed (at most 60 s).
    pub fn pass(&self) {
        let (lock, cv) = &*self.0;
        let _held = cv
            .wait_timeout_while(
                lock.lock().unwrap(),
                std::time::Duration::from_secs(60),
                |closed| *closed,
            )
            .unwrap();
    }

    /// Closes the gate: handlers arriving from now on wait.
    pub fn close(&self) {
        *self.0 .0.lock().unwrap() = true;
    }

    /// Opens the gate and lets every waiting handler go.
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = false;
        self.0 .1.notify_all();
    }
}
