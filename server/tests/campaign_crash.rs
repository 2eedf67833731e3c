//! Campaign delivery survives `kill -9` (issue 13): the real `segdb serve`
//! delivers a run of a 2,000-user audience in batches of 20 to a webhook
//! receiver in this process, and is killed with SIGKILL at 24 moments
//! during delivery (once a pseudo-random 1 to 3 requests of each life have
//! arrived, plus 0 to 12 ms or until the next request: while the receiver
//! is answering, after the answer reached the server, or between
//! batches), restarted each time (it resumes the run itself).
//! At the end the run is `done`, every sendable user got exactly one
//! distinct message id, and at most one batch per kill was delivered twice,
//! with the same key and the same body.

#[path = "common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver};
use segdb_server::client::Client;
use serde_json::{json, Value};

const KILLS: u32 = 24;

/// xorshift64*: the test's moments, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn serve(data: &std::path::Path) -> common::KillOnDrop {
    let (server, url) = common::serve_store(data);
    URL.lock().unwrap().replace(url);
    server
}

static URL: Mutex<Option<String>> = Mutex::new(None);

fn client() -> Client {
    Client::new(URL.lock().unwrap().as_deref().unwrap(), None)
}

fn post(path: &str, body: &str) -> Value {
    let r = client()
        .request(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
        .unwrap();
    assert!(r.status < 300, "{path}: {} {}", r.status, r.text());
    r.json()
}

fn show() -> Value {
    let r = client()
        .request("GET", "/v1/campaigns/crash", &[], None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn delivery_survives_kill_9_at_random_moments() {
    let started = Instant::now();
    let (_dir, store, _csv, _) = common::generated_store(2_000, 7);
    let seed = 0x5eed_c0de_u64;
    eprintln!("seed {seed:#x}");
    let delays = Mutex::new(Rng(seed ^ 0x9e37_79b9));
    let (seen_tx, seen) = mpsc::channel::<u64>();
    let seen_tx = Mutex::new(seen_tx);
    // A slow receiver (0 to 9 ms an answer), so kills land mid-run and on
    // both sides of an answer.
    let rx = Receiver::start(move |r| {
        let _ = seen_tx.lock().unwrap().send(r.number);
        let ms = delays.lock().unwrap().next() % 10;
        std::thread::sleep(Duration::from_millis(ms));
        Answer::Status(200, "ok".into())
    });
    let mut rng = Rng(seed);

    let server = serve(&store);
    let def = json!({
        "name": "crash",
        "table": "users",
        "audience": {"where": "age > 0"},
        "channel": {"webhook": {"url": rx.url(), "batch_size": 20, "timeout_ms": 10_000}},
        "variants": [{"name": "a", "weight": 1, "template": "Hi {city}"}],
        "schedule": "now",
    });
    post("/v1/campaigns", &def.to_string());
    post("/v1/campaigns/crash/start", "");
    // About 100 batches: the 24 kills below wait for 47 requests in all,
    // plus those that arrive while a kill and restart happen, so the run is
    // still in progress at the last kill however the timing falls.
    let mut server = Some(server);
    let mut kills = 0;
    for _ in 0..KILLS {
        let want = 1 + rng.next() % 3;
        let mut got = 0;
        while got < want {
            match seen.recv_timeout(Duration::from_secs(5)) {
                Ok(_) => got += 1,
                Err(_) => break,
            }
        }
        if got < want {
            // The run finished before this kill.
            break;
        }
        // Then up to 12 ms more (or until the next request): the kill lands
        // while the receiver answers, or after the answer reached the
        // server (before or after its record), or between batches.
        let _ = seen.recv_timeout(Duration::from_millis(rng.next() % 13));
        common::kill9(server.take().unwrap());
        kills += 1;
        while seen.try_recv().is_ok() {}
        server = Some(serve(&store));
    }
    assert!(kills >= 20, "only {kills} kills landed during delivery");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut c = Value::Null;
    for _ in 0..100_000 {
        c = show();
        if c["state"] == "done" || Instant::now() > deadline {
            break;
        }
    }
    assert_eq!(c["state"], "done", "{c}");
    drop(server);

    let run = &c["runs"][0];
    let sendable = run["audience"].as_u64().unwrap()
        - run["holdout"].as_u64().unwrap()
        - run["capped"].as_u64().unwrap();
    assert!(sendable > 1_000, "{run}");
    let accepted = rx.accepted();
    let (by_user, twice) = common::messages_by_user(accepted.iter().map(|r| (r, ())));
    let ids: HashMap<String, HashSet<String>> = by_user
        .into_iter()
        .map(|(u, m)| (u, m.into_iter().map(|(id, ())| id).collect()))
        .collect();
    assert!(twice <= kills, "{twice} batches twice after {kills} kills");
    assert_eq!(ids.len() as u64, sendable, "every sendable user, once");
    let mut all = HashSet::new();
    for (user, set) in &ids {
        assert_eq!(set.len(), 1, "{user} got {set:?}");
        assert!(
            all.insert(set.iter().next().unwrap().clone()),
            "an id twice"
        );
    }
    assert_eq!(run["sent"], sendable);
    eprintln!(
        "{kills} kills, {} requests, {twice} batches twice, {:?}",
        accepted.len(),
        started.elapsed()
    );
}
