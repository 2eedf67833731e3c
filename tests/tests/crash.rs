//! Crash test of real-time ingest through the real `segdb` binary.
//!
//! A server runs on a temporary store with small flush thresholds (so that
//! flushes and compactions happen all the time). Client threads stream
//! `POST /v1/tables/t/ingest` batches, each with its own `Idempotency-Key`,
//! and record every batch answered 200 with the `seq` it got. The server is
//! killed with SIGKILL (`Child::kill`) at random moments, some of them
//! right after a flush wrote the key file or the manifest, and started
//! again on the same directory. After each restart:
//!
//! 1. every batch that was in flight at the kill (sent, no answer) is sent
//!    again with its key: it must be answered 200, `duplicate: true` with
//!    its old `seq` if it had landed, or applied now (a new `seq`);
//! 2. a model rebuilt from the acknowledged batches in `seq` order must
//!    agree with the server: COUNT(*), counts per city, per interest, age
//!    ranges, vip true/false/null, EVENT count thresholds over windows, a
//!    few combinations, and the profile of a sample of rows (every field,
//!    event counts per day: exact sums).
//!
//! A batch half applied, an acknowledged batch lost, or a retry applied
//! twice shows up as a disagreement (events add up, so a lost or doubled
//! batch changes a count).
//!
//! The binary: `SEGDB_BIN` if set; else `target/<profile>/segdb` next to
//! this test's executable (the parent of `deps/`), first brought up to date
//! with `$CARGO build -p segdb-server --bin segdb` (a no-op when it is
//! fresh; skipped if cargo cannot be run, when the binary must exist).
//!
//! Found by this test (2026-11-23), fixed: a flush saved only the
//! idempotency keys of batches whose `Store::ingest` call had finished,
//! though it flushed every *published* batch; a batch killed between its
//! publish and its answer lost its key, and its retry after the restart was
//! applied a second time. Keys now become done when their batch is applied.
//!
//! Knobs: `SEGDB_CRASH_KILLS` (kills, 24 by default; e.g. 500 for a long
//! run), `SEGDB_CRASH_SEED` (the random seed; printed at the start, so a
//! failure can be replayed as far as timing allows), `SEGDB_CRASH_CLIENTS`
//! (ingest threads, 4), `SEGDB_CRASH_KEEP=1` (keep the store directory and
//! print its path).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use segdb_server::client::{Client, ClientError};
use serde_json::{json, Value};

const TABLE: &str = "t";
const CITIES: usize = 10;
const INTERESTS: usize = 10;
/// Ids `u0000`… picked at random from this many; fresh ids `n…` are new.
const BASE_IDS: u64 = 300;
/// The EVENT days: the 30 days ending 2026-11-22.
const LAST_DAY: &str = "2026-11-22";

fn days() -> Vec<String> {
    let mut d: Vec<String> = (24..=31).map(|i| format!("2026-10-{i:02}")).collect();
    d.extend((1..=22).map(|i| format!("2026-11-{i:02}")));
    d
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{v}` is not a number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------- the binary

/// The `segdb` binary (see the module documentation).
fn segdb_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SEGDB_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("segdb{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    // `target/<profile>`: build in that profile (`debug` is `dev`).
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let profile = if profile == "debug" { "dev" } else { profile };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let built = Command::new(&cargo)
        .args(["build", "-p", "segdb-server", "--bin", "segdb", "--profile"])
        .arg(profile)
        .arg("--manifest-path")
        .arg(&manifest)
        .status();
    match built {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`cargo build --bin segdb` failed ({s})"),
        Err(e) => eprintln!("could not run {cargo:?} ({e}); using {}", bin.display()),
    }
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --bin segdb` or set SEGDB_BIN",
        bin.display()
    );
    bin
}

/// A running `segdb serve`.
struct Server {
    child: Child,
    url: String,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Server {
    /// A failing test leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    // The child is waited for by `kill`, `terminate` or `drop`.
    #[allow(clippy::zombie_processes)]
    fn start(bin: &Path, data: &Path) -> Server {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            // Flush often (small deltas, every 300 ms at the latest) and
            // compact often, so that kills land around flushes.
            .env("SEGDB_FLUSH_BYTES", "65536")
            .env("SEGDB_FLUSH_AGE_MS", "300")
            .env("SEGDB_COMPACT_LAYERS", "3")
            .env("SEGDB_MAX_DELTA_BYTES", "4194304")
            .env("SEGDB_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let mut err = child.stderr.take().unwrap();
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "segdb serve exited ({status}) before listening:\n{}",
                    String::from_utf8_lossy(&stderr.lock().unwrap())
                );
            }
            if let Some(url) = line.trim().strip_prefix("segdb listening on ") {
                let url = url.to_owned();
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
                return Server { child, url, stderr };
            }
        }
    }

    /// SIGKILL, then reap.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM (graceful), then reap; panics if it did not exit cleanly.
    fn terminate(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit {status:?}\n{}", self.log());
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }
}

// ------------------------------------------------------------ batches, model

#[derive(Debug, Clone)]
enum TOp {
    Set {
        id: String,
        city: Option<String>,
        age: Option<i64>,
        vip: Option<bool>,
    },
    Add {
        id: String,
        values: Vec<String>,
    },
    Remove {
        id: String,
        values: Vec<String>,
    },
    Clear {
        id: String,
        fields: Vec<&'static str>,
    },
    Event {
        id: String,
        day: String,
        count: Option<u64>,
    },
    Delete {
        id: String,
    },
}

impl TOp {
    fn id(&self) -> &str {
        match self {
            TOp::Set { id, .. }
            | TOp::Add { id, .. }
            | TOp::Remove { id, .. }
            | TOp::Clear { id, .. }
            | TOp::Event { id, .. }
            | TOp::Delete { id } => id,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            TOp::Set { id, city, age, vip } => {
                let mut set = serde_json::Map::new();
                if let Some(c) = city {
                    set.insert("city".into(), json!(c));
                }
                if let Some(a) = age {
                    set.insert("age".into(), json!(a));
                }
                if let Some(v) = vip {
                    set.insert("vip".into(), json!(v));
                }
                json!({"id": id, "set": set})
            }
            TOp::Add { id, values } => json!({"id": id, "add": {"interests": values}}),
            TOp::Remove { id, values } => json!({"id": id, "remove": {"interests": values}}),
            TOp::Clear { id, fields } => json!({"id": id, "clear": fields}),
            TOp::Event { id, day, count } => match count {
                Some(c) => json!({"id": id, "event": "search", "day": day, "count": c}),
                None => json!({"id": id, "event": "search", "day": day}),
            },
            TOp::Delete { id } => json!({"id": id, "delete": true}),
        }
    }
}

#[derive(Debug, Clone)]
struct Batch {
    key: String,
    ops: Vec<TOp>,
    body: String,
}

/// One row of the model.
#[derive(Debug, Clone, Default, PartialEq)]
struct Row {
    city: Option<String>,
    interests: Option<BTreeSet<String>>,
    age: Option<i64>,
    vip: Option<bool>,
    search: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Model {
    rows: HashMap<String, Row>,
}

impl Model {
    fn apply(&mut self, op: &TOp) {
        // Any operation creates the row.
        let row = self.rows.entry(op.id().to_owned()).or_default();
        match op {
            TOp::Set { city, age, vip, .. } => {
                if let Some(c) = city {
                    row.city = Some(c.clone());
                }
                if let Some(a) = age {
                    row.age = Some(*a);
                }
                if let Some(v) = vip {
                    row.vip = Some(*v);
                }
            }
            TOp::Add { values, .. } => {
                let s = row.interests.get_or_insert_with(BTreeSet::new);
                s.extend(values.iter().cloned());
            }
            TOp::Remove { values, .. } => {
                if let Some(s) = &mut row.interests {
                    for v in values {
                        s.remove(v);
                    }
                    if s.is_empty() {
                        row.interests = None;
                    }
                }
            }
            TOp::Clear { fields, .. } => {
                for f in fields {
                    match *f {
                        "city" => row.city = None,
                        "interests" => row.interests = None,
                        "age" => row.age = None,
                        "vip" => row.vip = None,
                        "search" => row.search.clear(),
                        _ => unreachable!(),
                    }
                }
            }
            TOp::Event { day, count, .. } => {
                *row.search.entry(day.clone()).or_default() += count.unwrap_or(1);
            }
            TOp::Delete { .. } => *row = Row::default(),
        }
    }

    fn count(&self, f: impl Fn(&Row) -> bool) -> u64 {
        self.rows.values().filter(|r| f(r)).count() as u64
    }
}

fn events_in(r: &Row, first: &str, last: &str) -> u64 {
    r.search
        .range(first.to_owned()..=last.to_owned())
        .map(|(_, c)| c)
        .sum()
}

/// Random batches over a few hundred ids and some fresh ones.
struct Gen {
    rng: Pcg64,
    thread: usize,
    n: u64,
    run: u64,
    fresh: Arc<AtomicU64>,
    days: Vec<String>,
}

impl Gen {
    fn id(&mut self) -> String {
        if self.rng.gen_bool(0.01) {
            format!("n{:05}", self.fresh.fetch_add(1, Ordering::Relaxed))
        } else {
            format!("u{:04}", self.rng.gen_range(0..BASE_IDS))
        }
    }

    fn interests(&mut self) -> Vec<String> {
        let k = self.rng.gen_range(1..=3);
        (0..k)
            .map(|_| format!("i{:02}", self.rng.gen_range(0..INTERESTS)))
            .collect()
    }

    fn op(&mut self) -> TOp {
        let id = self.id();
        match self.rng.gen_range(0..100) {
            0..=39 => TOp::Event {
                id,
                day: self.days[self.rng.gen_range(0..self.days.len())].clone(),
                count: if self.rng.gen_bool(0.2) {
                    None
                } else {
                    Some(self.rng.gen_range(1..=5))
                },
            },
            40..=64 => {
                let mut city = None;
                let mut age = None;
                let mut vip = None;
                while city.is_none() && age.is_none() && vip.is_none() {
                    if self.rng.gen_bool(0.5) {
                        city = Some(format!("c{:03}", self.rng.gen_range(0..CITIES)));
                    }
                    if self.rng.gen_bool(0.5) {
                        age = Some(self.rng.gen_range(0..100));
                    }
                    if self.rng.gen_bool(0.4) {
                        vip = Some(self.rng.gen_bool(0.5));
                    }
                }
                TOp::Set { id, city, age, vip }
            }
            65..=79 => TOp::Add {
                id,
                values: self.interests(),
            },
            80..=91 => TOp::Remove {
                id,
                values: self.interests(),
            },
            92..=97 => {
                let all = ["city", "interests", "age", "vip", "search"];
                let k = self.rng.gen_range(1..=2);
                let fields = (0..k)
                    .map(|_| all[self.rng.gen_range(0..all.len())])
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                TOp::Clear { id, fields }
            }
            _ => TOp::Delete { id },
        }
    }

    fn batch(&mut self) -> Batch {
        let len = if self.rng.gen_bool(0.1) {
            self.rng.gen_range(50..=200)
        } else {
            self.rng.gen_range(1..=30)
        };
        let ops: Vec<TOp> = (0..len).map(|_| self.op()).collect();
        let mut body = String::new();
        for op in &ops {
            body.push_str(&op.to_json().to_string());
            body.push('\n');
        }
        self.n += 1;
        Batch {
            key: format!("crash-{}-{}-{}", self.run, self.thread, self.n),
            ops,
            body,
        }
    }
}

// ------------------------------------------------------------------ clients

/// How sending one batch ended.
enum Sent {
    /// 200: (seq, duplicate).
    Acked(u64, bool),
    /// No answer: the server went away.
    Lost,
}

/// Sends a batch until it is answered 200 or the server is gone; 503 is
/// waited out and retried with the same key. Anything else fails the test.
fn send(client: &Client, b: &Batch) -> Sent {
    let path = format!("/v1/tables/{TABLE}/ingest");
    loop {
        let r = client.request(
            "POST",
            &path,
            &[
                ("content-type", "application/x-ndjson"),
                ("idempotency-key", &b.key),
            ],
            Some(b.body.as_bytes()),
        );
        let r = match r {
            Ok(r) => r,
            Err(ClientError::Transport(_)) => return Sent::Lost,
            Err(e) => panic!("{e}"),
        };
        match r.status {
            200 => {
                let v = r.json();
                assert_eq!(v["table"], TABLE, "{v}");
                assert_eq!(v["operations"], b.ops.len() as u64, "{v}");
                let seq = v["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {v}"));
                let dup = v["duplicate"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("no duplicate: {v}"));
                return Sent::Acked(seq, dup);
            }
            503 => {
                let ms = r
                    .retry_after
                    .as_deref()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map_or(100, |s| (s * 1000).min(200));
                std::thread::sleep(Duration::from_millis(ms.max(20)));
            }
            s => panic!(
                "batch {} answered {s}: {}\nbody:\n{}",
                b.key,
                r.text(),
                b.body
            ),
        }
    }
}

/// What one client thread did during one server's life.
#[derive(Default)]
struct ThreadLog {
    acked: Vec<(u64, Batch)>,
    lost: Option<Batch>,
}

fn client_thread(url: &str, gen: &mut Gen, stop: &AtomicBool) -> ThreadLog {
    let client = Client::new(url, None);
    let mut log = ThreadLog::default();
    while !stop.load(Ordering::Relaxed) {
        let b = gen.batch();
        match send(&client, &b) {
            Sent::Acked(seq, dup) => {
                assert!(!dup, "a fresh batch {} was answered as a duplicate", b.key);
                log.acked.push((seq, b));
            }
            Sent::Lost => {
                log.lost = Some(b);
                break;
            }
        }
    }
    log
}

// ----------------------------------------------------------------- checking

fn count_query(client: &Client, filter: &str) -> u64 {
    let q = if filter.is_empty() {
        format!("SELECT COUNT(*) FROM {TABLE}")
    } else {
        format!("SELECT COUNT(*) FROM {TABLE} WHERE {filter}")
    };
    let v = client.query(&q).unwrap_or_else(|e| panic!("`{q}`: {e}"));
    v["rows"][0][0]
        .as_u64()
        .unwrap_or_else(|| panic!("`{q}` answered {v}"))
}

type Pred = Box<dyn Fn(&Row) -> bool>;

fn checks() -> Vec<(String, Pred)> {
    let mut c: Vec<(String, Pred)> = vec![("".into(), Box::new(|_| true))];
    for i in 0..CITIES {
        let v = format!("c{i:03}");
        c.push((
            format!("city = '{v}'"),
            Box::new(move |r| r.city.as_deref() == Some(&v)),
        ));
    }
    c.push(("city IS NULL".into(), Box::new(|r| r.city.is_none())));
    for i in 0..INTERESTS {
        let v = format!("i{i:02}");
        c.push((
            format!("interests HAS '{v}'"),
            Box::new(move |r| r.interests.as_ref().is_some_and(|s| s.contains(&v))),
        ));
    }
    c.push((
        "interests IS NULL".into(),
        Box::new(|r| r.interests.is_none()),
    ));
    c.push((
        "interests HAS ALL ('i01', 'i02')".into(),
        Box::new(|r| {
            r.interests
                .as_ref()
                .is_some_and(|s| s.contains("i01") && s.contains("i02"))
        }),
    ));
    for (lo, hi) in [(0, 19), (20, 39), (40, 59), (60, 99), (25, 35)] {
        c.push((
            format!("age BETWEEN {lo} AND {hi}"),
            Box::new(move |r| r.age.is_some_and(|a| (lo..=hi).contains(&a))),
        ));
    }
    c.push((
        "age >= 50".into(),
        Box::new(|r| r.age.is_some_and(|a| a >= 50)),
    ));
    c.push(("age IS NULL".into(), Box::new(|r| r.age.is_none())));
    c.push(("vip = true".into(), Box::new(|r| r.vip == Some(true))));
    c.push(("vip = false".into(), Box::new(|r| r.vip == Some(false))));
    c.push(("vip IS NULL".into(), Box::new(|r| r.vip.is_none())));
    let windows = [
        ("2026-10-24", LAST_DAY),
        ("2026-11-01", LAST_DAY),
        ("2026-11-16", LAST_DAY),
        ("2026-11-05", "2026-11-05"),
    ];
    for (first, last) in windows {
        for (op, n) in [
            (">", 0u64),
            (">", 3),
            (">=", 10),
            ("=", 0),
            ("<", 5),
            ("=", 4),
        ] {
            let name = format!("count(search, '{first}'..'{last}') {op} {n}");
            c.push((
                name,
                Box::new(move |r| {
                    let e = events_in(r, first, last);
                    match op {
                        ">" => e > n,
                        ">=" => e >= n,
                        "=" => e == n,
                        "<" => e < n,
                        _ => unreachable!(),
                    }
                }),
            ));
        }
        c.push((
            format!("did(search, '{first}'..'{last}')"),
            Box::new(move |r| events_in(r, first, last) > 0),
        ));
    }
    c.push((
        "city = 'c001' AND count(search, '2026-11-01'..'2026-11-22') > 3".into(),
        Box::new(|r| r.city.as_deref() == Some("c001") && events_in(r, "2026-11-01", LAST_DAY) > 3),
    ));
    c.push((
        "(vip = true OR age < 30) AND NOT interests HAS 'i05'".into(),
        Box::new(|r| {
            (r.vip == Some(true) || r.age.is_some_and(|a| a < 30))
                && !r.interests.as_ref().is_some_and(|s| s.contains("i05"))
        }),
    ));
    c
}

/// A row as its profile shows it.
fn profile_row(client: &Client, id: &str) -> Option<Row> {
    let path = format!("/v1/tables/{TABLE}/profiles/{id}?days=30&as_of={LAST_DAY}");
    let r = client
        .request("GET", &path, &[], None)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    if r.status == 404 {
        return None;
    }
    let v = r.into_result().unwrap_or_else(|e| panic!("{path}: {e}"));
    let f = &v["fields"];
    let interests = match &f["interests"] {
        Value::Null => None,
        Value::Array(a) => Some(
            a.iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>(),
        ),
        x => panic!("{id}: interests {x}"),
    }
    .filter(|s| !s.is_empty());
    let mut search = BTreeMap::new();
    if let Some(d) = f["search"]["days"].as_object() {
        for (day, c) in d {
            let c = c.as_u64().unwrap();
            if c > 0 {
                search.insert(day.clone(), c);
            }
        }
    }
    Some(Row {
        city: f["city"].as_str().map(str::to_owned),
        interests,
        age: f["age"].as_i64(),
        vip: f["vip"].as_bool(),
        search,
    })
}

/// Compares the server with the model; `ids` are profiled one by one.
/// Compares the server with the model; `ids` are profiled one by one.
/// `retried` are the batches re-sent after the last restart, with their
/// answers (seq, duplicate): a failure says whether the difference in
/// event counts is exactly some of them applied twice.
fn check(
    client: &Client,
    model: &Model,
    ids: &[String],
    retried: &[(u64, bool, &Batch)],
    when: &str,
) {
    let mut bad = Vec::new();
    for (filter, pred) in checks() {
        let got = count_query(client, &filter);
        let want = model.count(pred);
        if got != want {
            bad.push(format!("  `{filter}`: server {got}, model {want}"));
        }
    }
    // (id, day) -> server count - model count, over the profiled rows.
    let mut diff: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut other_fields = 0;
    for id in ids {
        let got = profile_row(client, id);
        let want = model.rows.get(id);
        if got.as_ref() != want {
            bad.push(format!("  profile {id}: server {got:?}, model {want:?}"));
            let empty = Row::default();
            let (g, w) = (got.as_ref().unwrap_or(&empty), want.unwrap_or(&empty));
            if (&g.city, &g.interests, g.age, g.vip) != (&w.city, &w.interests, w.age, w.vip) {
                other_fields += 1;
            }
            for day in g.search.keys().chain(w.search.keys()) {
                let d = *g.search.get(day).unwrap_or(&0) as i64
                    - *w.search.get(day).unwrap_or(&0) as i64;
                if d != 0 {
                    diff.insert((id.clone(), day.clone()), d);
                }
            }
        }
    }
    if bad.is_empty() {
        return;
    }
    // Which re-sent batches would explain the event difference if applied twice?
    let profiled: BTreeSet<&String> = ids.iter().collect();
    let events_of = |b: &Batch| {
        let mut e: BTreeMap<(String, String), i64> = BTreeMap::new();
        for op in &b.ops {
            if let TOp::Event { id, day, count } = op {
                if profiled.contains(id) {
                    *e.entry((id.clone(), day.clone())).or_default() += count.unwrap_or(1) as i64;
                }
            }
        }
        e
    };
    let mut notes = vec![format!(
        "  event differences on {} (row, day) pairs, {other_fields} rows differing in other fields; \
         batches re-sent after the restart: {}",
        diff.len(),
        retried.len()
    )];
    let mut sum: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (seq, dup, b) in retried {
        let e = events_of(b);
        if !dup {
            for (k, v) in &e {
                *sum.entry(k.clone()).or_default() += v;
            }
        }
        notes.push(format!(
            "  re-sent {} ({} ops): answered seq {seq} duplicate {dup}; its events == the difference: {}",
            b.key,
            b.ops.len(),
            e == diff
        ));
    }
    if !diff.is_empty() && sum == diff {
        notes.push(
            "  => the event difference is exactly the re-sent batches answered `duplicate: false` \
             applied a second time: they had landed before the kill, but their Idempotency-Keys \
             were not known after the restart"
                .into(),
        );
    }
    panic!(
        "{when}: the server disagrees with the acknowledged batches:\n{}\n{}",
        notes.join("\n"),
        bad.join("\n")
    );
}

// --------------------------------------------------------------------- test

/// How a kill is timed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After a random time.
    Random,
    /// Right after a flush saved the idempotency keys (before or just after
    /// its manifest).
    KeysSaved,
    /// Right after a new manifest (a flush or a compaction committed).
    Manifest,
}

fn mtime(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.ino_or_len()))
}

trait InoOrLen {
    fn ino_or_len(&self) -> u64;
}

impl InoOrLen for std::fs::Metadata {
    #[cfg(unix)]
    fn ino_or_len(&self) -> u64 {
        std::os::unix::fs::MetadataExt::ino(self)
    }
    #[cfg(not(unix))]
    fn ino_or_len(&self) -> u64 {
        self.len()
    }
}

/// Waits until `file` is replaced (new inode or mtime), at most `limit`.
fn wait_for_change(file: &Path, limit: Duration) -> bool {
    let before = mtime(file);
    let start = Instant::now();
    while start.elapsed() < limit {
        if mtime(file) != before {
            return true;
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    false
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let kills = env_num("SEGDB_CRASH_KILLS", 24) as usize;
    let clients = env_num("SEGDB_CRASH_CLIENTS", 4) as usize;
    let seed = env_num(
        "SEGDB_CRASH_SEED",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    eprintln!("crash test: {kills} kills, {clients} clients, SEGDB_CRASH_SEED={seed}");
    let bin = segdb_bin();
    let tmp = tempfile::tempdir().unwrap();
    let data = if std::env::var_os("SEGDB_CRASH_KEEP").is_some() {
        let d = std::env::temp_dir().join(format!("segdb-crash-{seed}"));
        eprintln!("store (kept): {}", d.display());
        d
    } else {
        tmp.path().join("store")
    };
    let mut rng = Pcg64::seed_from_u64(seed);
    let started = Instant::now();

    let mut server = Some(Server::start(&bin, &data));
    {
        let c = Client::new(&server.as_ref().unwrap().url, None);
        c.query(&format!(
            "CREATE TABLE {TABLE} (city ENUM, interests SET, age INT, vip BOOL, search EVENT)"
        ))
        .unwrap();
    }
    let fresh = Arc::new(AtomicU64::new(0));
    let mut gens: Vec<Gen> = (0..clients)
        .map(|t| Gen {
            rng: Pcg64::seed_from_u64(seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            thread: t,
            n: 0,
            run: seed,
            fresh: fresh.clone(),
            days: days(),
        })
        .collect();
    // Every acknowledged batch by seq; a seq is never given twice.
    let mut acked: BTreeMap<u64, Batch> = BTreeMap::new();
    let (mut retried_dup, mut retried_new, mut flush_kills) = (0, 0, 0);
    let mut last_check = Duration::ZERO;

    for k in 0..kills {
        let at = match k % 3 {
            0 => KillAt::Random,
            1 => KillAt::KeysSaved,
            _ => KillAt::Manifest,
        };
        let stop = AtomicBool::new(false);
        let url = server.as_ref().unwrap().url.clone();
        let logs: Vec<ThreadLog> = std::thread::scope(|s| {
            let handles: Vec<_> = gens
                .iter_mut()
                .map(|g| {
                    let (url, stop) = (&url, &stop);
                    s.spawn(move || client_thread(url, g, stop))
                })
                .collect();
            // Let the load run, then kill at the chosen moment.
            let warm = Duration::from_millis(rng.gen_range(100..900));
            std::thread::sleep(warm);
            let hit = match at {
                KillAt::Random => false,
                KillAt::KeysSaved => {
                    wait_for_change(&data.join("IDEMPOTENCY"), Duration::from_secs(3))
                }
                KillAt::Manifest => wait_for_change(&data.join("MANIFEST"), Duration::from_secs(3)),
            };
            if hit {
                flush_kills += 1;
                // Sometimes a little later: inside the manifest write or
                // the WAL cleanup after it.
                if rng.gen_bool(0.5) {
                    std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
                }
            }
            server.take().unwrap().kill();
            stop.store(true, Ordering::Relaxed);
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let restarted = Server::start(&bin, &data);
        let client = Client::new(&restarted.url, None);
        server = Some(restarted);
        let mut lost = Vec::new();
        for log in logs {
            for (seq, b) in log.acked {
                if let Some(old) = acked.insert(seq, b) {
                    panic!("seq {seq} was acknowledged twice (batch {})", old.key);
                }
            }
            lost.extend(log.lost);
        }
        // Batches without an answer: send them again with their keys.
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut retried: Vec<(u64, bool, Batch)> = Vec::new();
        for b in lost {
            touched.extend(b.ops.iter().map(|o| o.id().to_owned()));
            match send(&client, &b) {
                Sent::Acked(seq, dup) => {
                    if dup {
                        retried_dup += 1;
                        // Its old seq: it must not be one we know already.
                        assert!(
                            !acked.contains_key(&seq),
                            "retry of {} answered duplicate with seq {seq} of batch {}",
                            b.key,
                            acked[&seq].key
                        );
                    } else {
                        retried_new += 1;
                    }
                    retried.push((seq, dup, b.clone()));
                    if let Some(old) = acked.insert(seq, b) {
                        panic!("seq {seq} given to two batches ({})", old.key);
                    }
                }
                Sent::Lost => panic!("the restarted server went away"),
            }
        }
        // The model, rebuilt from every acknowledged batch in seq order.
        let t = Instant::now();
        let mut model = Model::default();
        for b in acked.values() {
            for op in &b.ops {
                model.apply(op);
            }
        }
        let mut ids: Vec<String> = touched.into_iter().collect();
        let all: Vec<&String> = model.rows.keys().collect();
        for _ in 0..60.min(all.len()) {
            ids.push(all[rng.gen_range(0..all.len())].clone());
        }
        ids.push("never-written".into());
        let retried: Vec<(u64, bool, &Batch)> =
            retried.iter().map(|(s, d, b)| (*s, *d, b)).collect();
        check(
            &client,
            &model,
            &ids,
            &retried,
            &format!("after kill {} ({at:?}, seed {seed})", k + 1),
        );
        last_check = t.elapsed();
        eprintln!(
            "kill {:>3} {:<9} {:>6} batches acknowledged, {} rows, check {:.0} ms",
            k + 1,
            format!("{at:?}"),
            acked.len(),
            model.rows.len(),
            last_check.as_secs_f64() * 1e3
        );
    }

    // A clean stop and start at the end: every row checked.
    let mut model = Model::default();
    for b in acked.values() {
        for op in &b.ops {
            model.apply(op);
        }
    }
    server.take().unwrap().terminate();
    let server = Server::start(&bin, &data);
    let client = Client::new(&server.url, None);
    let ids: Vec<String> = model.rows.keys().cloned().collect();
    check(&client, &model, &ids, &[], "after a clean restart");
    server.terminate();
    let ops: usize = acked.values().map(|b| b.ops.len()).sum();
    eprintln!(
        "crash test: {kills} kills ({flush_kills} right after a flush wrote), {} batches ({ops} operations) acknowledged, \
         {retried_dup} retries found applied, {retried_new} applied on retry, {} rows, {:.1} s (last check {:.0} ms)",
        acked.len(),
        model.rows.len(),
        started.elapsed().as_secs_f64(),
        last_check.as_secs_f64() * 1e3
    );
    assert!(
        acked.len() > kills,
        "too few batches were acknowledged: {}",
        acked.len()
    );
}
