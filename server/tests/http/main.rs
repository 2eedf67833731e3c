//! The HTTP API end to end over real HTTP on 127.0.0.1: a server runs in
//! this process on a generated store, and a client sends it requests.
//! Answers are checked against a naive scan of the generated CSV files.
//! One test binary; a module per concern.

mod answers;
mod audit;
mod auth;
mod campaign_delivery;
mod campaign_effects;
mod campaign_goals;
mod campaign_permissions;
mod campaign_predicates;
mod campaign_race;
mod campaign_scheduler;
mod campaign_statements;
mod campaign_triggers;
mod campaigns;
mod catalog;
#[path = "../common/mod.rs"]
mod common;
mod console;
mod csv_ids;
mod damage;
mod error_golden;
mod event_limits;
mod event_windows;
mod export_limit;
mod frequency_cap;
mod hostile;
mod imports;
mod ingest;
mod insight;
mod keys;
mod labels;
mod language;
mod limits;
mod new_values;
mod permissions;
mod profile_campaigns;
mod queries;
mod rejections;
mod segments;
mod slow_clients;
mod system_fields;
mod tags;
mod tags_use;
mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use segdb_server::client::{Client, RawResponse};
use segdb_server::http::config::{parse_token, Settings};
use segdb_server::http::{self, AppState, Shared};
use segdb_tests::generated::Data;
use serde_json::{json, Value};

/// A generated store of `rows` users: (temp dir, store dir, naive data).
pub(crate) fn generated(rows: u32) -> (tempfile::TempDir, PathBuf, Data) {
    let (dir, store, csv, _) = common::generated_store(u64::from(rows), 5);
    let data = Data::read(&csv);
    (dir, store, data)
}

/// A server running in this process until dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// `plain_http_listen`'s address, beside TLS.
    pub(crate) plain_addr: Option<SocketAddr>,
    pub(crate) state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(store: &Path, settings: Settings) -> Server {
        let config = Settings {
            data: Some(store.to_path_buf()),
            listen: Some("127.0.0.1:0".into()),
            ..Settings::default()
        }
        .overridden_by(settings)
        .resolve()
        .unwrap();
        let bind = |addr| {
            let listener = std::net::TcpListener::bind(addr).unwrap();
            listener.set_nonblocking(true).unwrap();
            listener
        };
        let listener = bind(config.listen);
        let addr = listener.local_addr().unwrap();
        // As `Listeners::bind` does, with the addresses known here.
        let tls = config.tls.as_ref().map(|f| http::tls::acceptor(f).unwrap());
        let plain = config.plain_http_listen.map(bind);
        let plain_addr = plain.as_ref().map(|l| l.local_addr().unwrap());
        // As `segdb serve` opens it: the WAL settings, then recovery.
        let store = http::ingest::open_store(&config, false).unwrap();
        let state = AppState::new(store, config).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listeners = http::Listeners {
                    main: tokio::net::TcpListener::from_std(listener).unwrap(),
                    tls,
                    plain: plain.map(|l| tokio::net::TcpListener::from_std(l).unwrap()),
                };
                http::serve(st, listeners, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            addr,
            plain_addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        let scheme = if self.state.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub(crate) fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.url(), token.map(String::from))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn post(c: &Client, path: &str, content_type: &str, body: &str) -> RawResponse {
    c.request(
        "POST",
        path,
        &[("content-type", content_type)],
        Some(body.as_bytes()),
    )
    .unwrap()
}

pub(crate) fn get(c: &Client, path: &str) -> RawResponse {
    c.request("GET", path, &[], None).unwrap()
}

pub(crate) fn count(c: &Client, text: &str) -> u64 {
    let v = c.query(text).unwrap();
    assert_eq!(v["columns"], json!(["count"]), "{text}: {v}");
    v["rows"][0][0].as_u64().unwrap()
}

/// Sends raw bytes and returns the status line's code and the whole answer.
pub(crate) fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

/// Sends raw bytes (a request with `Connection: close`) without closing
/// the sending side, and returns the status line's code and the whole
/// answer (read for at most 10 s).
pub(crate) fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // A server may answer (and close) before it has read all of a huge
    // request; the answer is what counts.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

pub(crate) fn put(c: &Client, path: &str, content_type: &str, body: &str) -> RawResponse {
    c.request(
        "PUT",
        path,
        &[("content-type", content_type)],
        Some(body.as_bytes()),
    )
    .unwrap()
}
