//! Trigger timers survive `kill -9` (issue 15, item 2), on the real
//! `segdb serve` and the real clock: a campaign `ON EVENT book AND NOT
//! favorite WITHIN 5 SECONDS` over a 3,000-user store. 1,000 users book
//! and half of them favorite inside the window; the server is killed
//! with SIGKILL while every timer is pending and stays down past their
//! deadlines; restarted, it fires them late (the lateness is in
//! `/metrics`), and it is killed again once delivery has begun and
//! restarted. In the end exactly the users who did not favorite got a
//! message, one distinct message id each (a batch in flight at a kill may
//! arrive twice, with the same key and body), never before their
//! deadline.
//!
//! Then, undisturbed, 1,000 other users book, and the test prints how
//! long after its deadline each message arrived (p50, p99, max): the
//! figure the README gives.

#[path = "common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use segdb_server::client::Client;
use serde_json::{json, Value};

static URL: Mutex<Option<String>> = Mutex::new(None);

fn serve(data: &std::path::Path) -> common::KillOnDrop {
    let (server, url) = common::serve_store(data);
    URL.lock().unwrap().replace(url);
    server
}

fn client() -> Client {
    Client::new(URL.lock().unwrap().as_deref().unwrap(), None)
}

fn request(method: &str, path: &str, body: Option<(&str, &str)>) -> Value {
    let headers: Vec<(&str, &str)> = body.iter().map(|(ct, _)| ("content-type", *ct)).collect();
    let r = client()
        .request(method, path, &headers, body.map(|(_, b)| b.as_bytes()))
        .unwrap();
    assert!(r.status < 300, "{path}: {} {}", r.status, r.text());
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

fn metric(name: &str) -> f64 {
    let r = client().request("GET", "/metrics", &[], None).unwrap();
    let m = r.text();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in\n{m}"))
}

/// Ingests `event` for `users` in batches of 100; returns when each user's
/// batch was sent.
fn ingest(users: &[String], event: &str) -> HashMap<String, Instant> {
    let day = segdb_engine::date::format_iso_day(
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 86_400) as i32,
    );
    let mut sent = HashMap::new();
    for chunk in users.chunks(100) {
        let lines: Vec<String> = chunk
            .iter()
            .map(|u| json!({"id": u, "event": event, "day": day}).to_string())
            .collect();
        let at = Instant::now();
        request(
            "POST",
            "/v1/tables/users/ingest",
            Some(("application/x-ndjson", &lines.join("\n"))),
        );
        for u in chunk {
            sent.insert(u.clone(), at);
        }
    }
    sent
}

/// Per user, the message ids and when each first arrived; how many
/// batches came again.
fn messages(accepted: &[(Request, Instant)]) -> (HashMap<String, Vec<(String, Instant)>>, u32) {
    common::messages_by_user(accepted.iter().map(|(r, at)| (r, *at)))
}

/// Waits until `done` holds, looking again at each request the receiver
/// takes (`seen`), for at most `limit`.
#[track_caller]
fn wait_for(
    what: &str,
    seen: &mpsc::Receiver<()>,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            seen.recv_timeout(left).is_ok(),
            "timed out waiting for {what}"
        );
    }
}

const WINDOW: Duration = Duration::from_secs(5);

#[test]
fn trigger_timers_fire_once_after_kill_9_and_late_not_never() {
    let (_dir, store, csv, _) = common::generated_store(3_000, 13);
    let ids: Vec<String> = std::fs::read_to_string(csv.join("users.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    let arrivals: std::sync::Arc<Mutex<Vec<(Request, Instant)>>> = Default::default();
    let (seen_tx, seen) = mpsc::channel::<()>();
    let seen_tx = Mutex::new(seen_tx);
    let log = arrivals.clone();
    // The receiver holds its answers until the test lets them go (after
    // the second kill), so that kill lands mid-delivery: the first
    // batch is in flight, unanswered.
    let held = common::Gate::new(true);
    let gate = held.clone();
    let rx = Receiver::start(move |r| {
        log.lock().unwrap().push((r.clone(), Instant::now()));
        let _ = seen_tx.lock().unwrap().send(());
        gate.pass();
        Answer::Status(200, "ok".into())
    });
    let release = || held.open();
    let mut server = Some(serve(&store));
    let def = json!({
        "name": "remind",
        "table": "users",
        "audience": {"where": "age >= 0 OR age IS NULL"},
        "channel": {"webhook": {"url": rx.url(), "batch_size": 25, "timeout_ms": 10_000}},
        "variants": [{"name": "a", "weight": 1, "template": "Your booking, {city}"}],
        "kind": "transactional",
        "schedule": {"on_event": {"event": "book",
            "and_not": {"event": "favorite", "within_seconds": WINDOW.as_secs()}}},
    });
    request(
        "POST",
        "/v1/campaigns",
        Some(("application/json", &def.to_string())),
    );
    request(
        "POST",
        "/v1/campaigns/remind/start",
        Some(("application/json", "")),
    );

    // 1,000 book, half favorite; then kill -9 with every timer pending.
    let first: Vec<String> = ids[..1000].to_vec();
    let payers: Vec<String> = first.iter().step_by(2).cloned().collect();
    let idle: HashSet<String> = first.iter().skip(1).step_by(2).cloned().collect();
    let booked = ingest(&first, "book");
    ingest(&payers, "favorite");
    assert_eq!(metric("segdb_trigger_timers_pending"), 500.0);
    common::kill9(server.take().unwrap());
    // Down past every deadline (plus a second): the receiver is watched
    // until then, and hears nothing.
    let latest = booked.values().max().copied().unwrap() + WINDOW + Duration::from_secs(1);
    assert!(
        seen.recv_timeout(latest.saturating_duration_since(Instant::now()))
            .is_err(),
        "a message while the server was down"
    );
    assert!(
        arrivals.lock().unwrap().is_empty(),
        "nothing fired while down"
    );
    server = Some(serve(&store));
    // Killed again once delivery has begun, and restarted.
    seen.recv_timeout(Duration::from_secs(60))
        .expect("the late timers fire after the restart");
    let late = metric("segdb_trigger_lateness_max_seconds");
    assert!(
        late >= 1.0,
        "the timers fired {late} s late, after a second down"
    );
    common::kill9(server.take().unwrap());
    release();
    server = Some(serve(&store));
    wait_for(
        "the idle half messaged",
        &seen,
        Duration::from_secs(60),
        || messages(&arrivals.lock().unwrap()).0.len() >= 500,
    );
    let (got, twice) = messages(&arrivals.lock().unwrap());
    assert!(twice <= 2, "{twice} batches twice after 2 kills");
    let have: HashSet<String> = got.keys().cloned().collect();
    assert_eq!(have, idle, "exactly the users who did not favorite");
    let mut distinct = HashSet::new();
    for (u, m) in &got {
        assert_eq!(m.len(), 1, "{u} got {m:?}");
        assert!(distinct.insert(m[0].0.clone()), "a message id twice");
        assert!(
            m[0].1 >= booked[u] + WINDOW,
            "{u} messaged before its deadline"
        );
    }
    assert_eq!(metric("segdb_trigger_timers_pending"), 0.0);

    // Undisturbed: 1,000 other users book; how long after the deadline
    // each message arrives.
    arrivals.lock().unwrap().clear();
    let second: Vec<String> = ids[1000..2000].to_vec();
    let booked = ingest(&second, "book");
    wait_for(
        "the second thousand messaged",
        &seen,
        Duration::from_secs(60),
        || messages(&arrivals.lock().unwrap()).0.len() >= 1000,
    );
    let (got, _) = messages(&arrivals.lock().unwrap());
    let mut lateness: Vec<Duration> = got
        .iter()
        .map(|(u, m)| {
            assert_eq!(m.len(), 1);
            let due = booked[u] + WINDOW;
            assert!(m[0].1 >= due, "{u} messaged before its deadline");
            m[0].1 - due
        })
        .collect();
    lateness.sort_unstable();
    let q = |p: f64| lateness[((lateness.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "trigger delivery after the deadline, 1,000 users: p50 {:?}, p99 {:?}, max {:?} (server lateness histogram count {})",
        q(0.5),
        q(0.99),
        lateness.last().unwrap(),
        metric("segdb_trigger_lateness_seconds_count")
    );
    drop(server);
}
