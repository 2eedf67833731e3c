//! The Postgres wire protocol end to end: `segdb serve --pg-listen
//! 127.0.0.1:0` on a generated store, and real clients (psql, psycopg 3,
//! tokio-postgres) whose answers are checked against the HTTP API's.
//! psql and Python's venv are installed (as root, under a lock) when
//! missing; without root the tests fail saying so, never skip.

mod answers;
mod auth;
mod cancel;
mod catalog;
#[path = "../common/mod.rs"]
mod common;
mod hostile;
mod jdbc;
mod params;
mod psycopg;
mod stream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::KillOnDrop;
use segdb_server::client::Client;

/// The tokens of the test servers: `NAME:ROLE:SECRET`.
pub const READER: (&str, &str) = ("ana", "reader-secret-1");
pub const ADMIN: (&str, &str) = ("root", "admin-secret-2");

/// A `segdb serve` with the Postgres protocol on.
pub struct Pg {
    pub server: KillOnDrop,
    pub pid: u32,
    pub pg: SocketAddr,
    pub http: String,
    /// The server's log (warnings and worse).
    pub log: std::path::PathBuf,
}

impl Pg {
    /// `segdb serve` on `data` with the reader and admin tokens, and
    /// `extra` flags.
    pub fn start(data: &Path, extra: &[&str]) -> Pg {
        let reader = format!("{}:read:{}", READER.0, READER.1);
        let admin = format!("{}:admin:{}", ADMIN.0, ADMIN.1);
        let mut args = vec!["--token", &reader, "--token", &admin];
        args.extend_from_slice(extra);
        Pg::start_with(data, &args)
    }

    /// `segdb serve` on `data` with `args` alone.
    pub fn start_with(data: &Path, args: &[&str]) -> Pg {
        let log = data.with_extension("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_segdb"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--pg-listen",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(data)
            .args(args)
            .env("SEGDB_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut pg = None;
        let mut line = String::new();
        let http = loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "serve exited before listening"
            );
            if let Some(a) = line.trim().strip_prefix("segdb postgres listening on ") {
                pg = Some(a.parse().unwrap());
            }
            if let Some(url) = line.trim().strip_prefix("segdb listening on ") {
                break url.to_owned();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Pg {
            server: KillOnDrop(Some(child)),
            pid,
            pg: pg.expect("serve printed its Postgres address first"),
            http,
            log,
        }
    }

    /// An HTTP client with the admin token.
    pub fn http(&self) -> Client {
        Client::new(&self.http, Some(ADMIN.1.to_owned()))
    }

    /// A connection string for tokio-postgres.
    pub fn conninfo(&self, user: &str, password: &str) -> String {
        format!(
            "host={} port={} user={user} password={password} dbname=segdb",
            self.pg.ip(),
            self.pg.port()
        )
    }

    /// psql with `args` as `user`: (success, stdout, stderr).
    pub fn psql(&self, user: (&str, &str), args: &[&str]) -> (bool, String, String) {
        ensure_installed("psql", "postgresql-client");
        let out = Command::new("psql")
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.pg.ip().to_string())
            .arg("-p")
            .arg(self.pg.port().to_string())
            .args(["-U", user.0, "-d", "segdb"])
            .args(args)
            .env("PGPASSWORD", user.1)
            .env("PGCONNECT_TIMEOUT", "60")
            .env_remove("PGSSLMODE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// psql's unaligned, tuples-only answer to `sql` (fields split by `|`).
    pub fn psql_rows(&self, sql: &str) -> Vec<Vec<String>> {
        let (ok, out, err) = self.psql(READER, &["-A", "-t", "-c", sql]);
        assert!(ok, "{sql}: {err}");
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_owned).collect())
            .collect()
    }

    /// A tokio-postgres client as `user` on a runtime of its own.
    pub fn connect(&self, user: (&str, &str)) -> (tokio::runtime::Runtime, tokio_postgres::Client) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(connect(&self.conninfo(user.0, user.1)))
            .unwrap();
        (rt, client)
    }
}

/// Connects and drives the connection in the background.
pub async fn connect(conninfo: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Makes sure `tool` runs: installs Debian's `package` when missing (as
/// root, one installer at a time), else fails saying what to install.
pub fn ensure_installed(tool: &str, package: &str) {
    let found = || {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ensure(found, tool, package);
}

/// Installs Debian's `package` unless `present` says it is there (as
/// root, one installer at a time), else fails saying what to install.
pub fn ensure(present: impl Fn() -> bool, what: &str, package: &str) {
    if present() {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(
        root,
        "`{what}` is missing and these tests are not root: install Debian's `{package}` \
         (apt-get install {package}) and run them again"
    );
    let status = Command::new("flock")
        .args(["/tmp/segdb-test-apt.lock", "sh", "-c"])
        .arg(format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"
        ))
        .status()
        .unwrap();
    assert!(status.success() && present(), "installing {package} failed");
}

/// A store of `rows` generated users (seed 5): (its directory, the store).
pub fn store(rows: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, store, _, _) = common::generated_store(rows, 5);
    (dir, store)
}
