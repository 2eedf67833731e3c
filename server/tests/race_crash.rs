//! A copy race survives `kill -9` (issue 14, item 6): the real `segdb
//! serve` races three variants on a test share of a 2,000-user audience
//! (a one-minute window, the shortest there is), the test share is
//! delivered to a webhook receiver in this process and its users' clicks
//! are posted back (variant b clicks most); the server is killed with
//! SIGKILL three times during the window and twice while the rest is
//! delivered, and restarted each time. At the end variant b has won, the
//! run is `done`, and every sendable user got exactly one message id (a
//! batch in flight at a kill may arrive twice, with the same key and
//! body).

#[path = "common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use segdb_server::client::Client;
use serde_json::{json, Value};

fn serve(data: &std::path::Path) -> common::KillOnDrop {
    let (server, url) = common::serve_store(data);
    URL.lock().unwrap().replace(url);
    server
}

static URL: Mutex<Option<String>> = Mutex::new(None);

fn client() -> Client {
    Client::new(URL.lock().unwrap().as_deref().unwrap(), None)
}

fn post(path: &str, content_type: &str, body: &str) -> Value {
    let r = client()
        .request(
            "POST",
            path,
            &[("content-type", content_type)],
            Some(body.as_bytes()),
        )
        .unwrap();
    assert!(r.status < 300, "{path}: {} {}", r.status, r.text());
    r.json()
}

fn show() -> Value {
    let r = client()
        .request("GET", "/v1/campaigns/race", &[], None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// A batch: its variant and its (user, message id)s.
type Sent = (String, Vec<(String, String)>);

/// Per distinct batch (by key), and how many came twice; asserts a batch
/// seen twice is the same body.
fn batches(accepted: &[Request]) -> (Vec<Sent>, u32) {
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::new();
    let mut twice = 0;
    for r in accepted {
        let key = r.key.clone().expect("an Idempotency-Key");
        if let Some(first) = bodies.get(&key) {
            assert_eq!(first, &r.body, "a batch sent again differs");
            twice += 1;
            continue;
        }
        bodies.insert(key, r.body.clone());
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        let v = b["variant"].as_str().unwrap().to_owned();
        let msgs = b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["user_id"].as_str().unwrap().to_owned(),
                    m["message_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        out.push((v, msgs));
    }
    (out, twice)
}

#[test]
fn a_copy_race_survives_kill_9_in_its_window_and_after() {
    let started = Instant::now();
    let (_dir, store, _csv, _) = common::generated_store(2_000, 11);
    let (seen_tx, seen) = mpsc::channel::<u64>();
    let seen_tx = Mutex::new(seen_tx);
    // The test closes the gate before each kill during the rest's
    // delivery, so the kill lands with a batch in flight, unanswered.
    let gate = common::Gate::new(false);
    let held = gate.clone();
    let rx = Receiver::start(move |r| {
        let _ = seen_tx.lock().unwrap().send(r.number);
        held.pass();
        Answer::Status(200, "ok".into())
    });
    let mut server = Some(serve(&store));
    let def = json!({
        "name": "race",
        "table": "users",
        "audience": {"where": "age > 0"},
        "channel": {"webhook": {"url": rx.url(), "batch_size": 20, "timeout_ms": 10_000}},
        "holdout": 0.1,
        "variants": [
            {"name": "a", "weight": 1, "template": "A {city}"},
            {"name": "b", "weight": 1, "template": "B {city}"},
            {"name": "c", "weight": 1, "template": "C {city}"},
        ],
        "split": {"copy_race": {"test_share": 0.2, "window_minutes": 1, "min_deliveries": 10}},
        "schedule": "now",
    });
    post("/v1/campaigns", "application/json", &def.to_string());
    post("/v1/campaigns/race/start", "application/json", "");
    let run = show()["runs"][0].clone();
    let test: u64 = (0..3)
        .map(|i| run["variants"][i]["assigned"].as_u64().unwrap())
        .sum();
    let rest = run["race"]["rest"].as_u64().unwrap();
    assert!(test > 200 && rest > 1_000, "{run}");

    // The test share is delivered (the window is a minute: far longer).
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (b, _) = batches(&rx.accepted());
        if b.iter().map(|(_, m)| m.len() as u64).sum::<u64>() == test {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the test share was not delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its users click: b's most (every other), a's and c's every tenth.
    let (first, _) = batches(&rx.accepted());
    // Now, as an RFC 3339 time (the server's clock is the real one).
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = format!(
        "{}T{:02}:{:02}:{:02}Z",
        segdb_engine::date::format_iso_day(secs.div_euclid(86_400) as i32),
        secs.rem_euclid(86_400) / 3600,
        secs.rem_euclid(3600) / 60,
        secs.rem_euclid(60)
    );
    let mut lines = Vec::new();
    for (v, msgs) in &first {
        for (i, (u, _)) in msgs.iter().enumerate() {
            lines.push(json!({"id": u, "effect": "delivered", "at": at, "run": 1}).to_string());
            let every = if v == "b" { 2 } else { 10 };
            if i % every == 0 {
                lines.push(json!({"id": u, "effect": "clicked", "at": at, "run": 1}).to_string());
            }
        }
    }
    post(
        "/v1/campaigns/race/effects",
        "application/x-ndjson",
        &lines.join("\n"),
    );

    // Three kills in the window.
    let mut kills = 0;
    for _ in 0..3 {
        common::kill9(server.take().unwrap());
        kills += 1;
        server = Some(serve(&store));
        assert!(show()["runs"][0]["race"]["decision"].is_null());
    }
    // Then two during the rest's delivery: after 5 and 25 more requests,
    // each with the next batch held in flight.
    while seen.try_recv().is_ok() {}
    for want in [5, 20] {
        let mut got = 0;
        while got <= want {
            if got == want {
                gate.close();
            }
            match seen.recv_timeout(Duration::from_secs(90)) {
                Ok(_) => got += 1,
                Err(_) => panic!("the rest's delivery did not go on"),
            }
        }
        common::kill9(server.take().unwrap());
        kills += 1;
        gate.open();
        while seen.try_recv().is_ok() {}
        server = Some(serve(&store));
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut c = show();
    while c["state"] != "done" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        c = show();
    }
    assert_eq!(c["state"], "done", "{c}");
    drop(server);

    let run = &c["runs"][0];
    let d = &run["race"]["decision"];
    assert_eq!(d["winner_name"], "b", "{d}");
    assert_eq!(d["significant"], true, "{d}");
    let sendable = run["audience"].as_u64().unwrap()
        - run["holdout"].as_u64().unwrap()
        - run["capped"].as_u64().unwrap();
    let (all, twice) = batches(&rx.accepted());
    assert!(twice <= kills, "{twice} batches twice after {kills} kills");
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    let mut per_variant: HashMap<String, u64> = HashMap::new();
    for (v, msgs) in &all {
        for (u, m) in msgs {
            ids.entry(u.clone()).or_default().insert(m.clone());
            *per_variant.entry(v.clone()).or_default() += 1;
        }
    }
    assert_eq!(ids.len() as u64, sendable, "every sendable user");
    for (user, set) in &ids {
        assert_eq!(set.len(), 1, "{user} got {set:?}");
    }
    let firsts: HashMap<&str, u64> = ["a", "b", "c"]
        .iter()
        .map(|v| {
            let n = first
                .iter()
                .filter(|(x, _)| x == v)
                .map(|(_, m)| m.len() as u64)
                .sum();
            (*v, n)
        })
        .collect();
    assert_eq!(per_variant["a"], firsts["a"], "a got only its test share");
    assert_eq!(per_variant["c"], firsts["c"], "c got only its test share");
    assert_eq!(per_variant["b"], firsts["b"] + rest, "b got the rest");
    eprintln!(
        "{kills} kills, {twice} batches twice, {:?}",
        started.elapsed()
    );
}
