//! Campaign delivery over real HTTP (issue 13): a started run is
//! delivered to a real webhook receiver on 127.0.0.1 in this process, or
//! to files, and reaches `done`; every audience user but the hold-out and
//! the capped gets exactly one message with its variant's text; `GET
//! /v1/campaigns/{name}` shows sent and failed; a 5xx then 200 loses
//! nothing; a 400 is counted failed with its answer; pause stops and
//! resume finishes; `/metrics` counts it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use serde_json::{json, Value};

use super::campaigns::{act, create, def, nowhere, server, show, status, ANN, NOW, READER};
use super::*;

/// Polls the campaign until `done` says so (bounded in count and time),
/// returning it.
#[track_caller]
fn wait_until(s: &Server, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = Value::Null;
    for _ in 0..200_000 {
        c = show(s, name);
        if done(&c) || Instant::now() > deadline {
            break;
        }
    }
    assert!(done(&c), "{c}");
    c
}

/// Polls the campaign until its state is `want`.
#[track_caller]
pub(super) fn wait_state(s: &Server, name: &str, want: &str) -> Value {
    wait_until(s, name, |c| c["state"] == want)
}

/// Every message the receiver accepted: (user id -> (message id, text)),
/// asserting that no user got two messages.
fn messages(requests: &[Request]) -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    for r in requests {
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        for m in b["messages"].as_array().unwrap() {
            let user = m["user_id"].as_str().unwrap().to_owned();
            let v = (
                m["message_id"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            );
            assert!(out.insert(user.clone(), v).is_none(), "{user} twice");
        }
    }
    out
}

/// The users who must get a message, per variant: the run's frozen
/// variant bitmaps as external ids.
fn expected(s: &Server, name: &str) -> Vec<HashSet<String>> {
    let run = s.state.campaigns.store.load_run(name, 1).unwrap();
    let table = s.state.store.table("users").unwrap();
    run.variants
        .iter()
        .map(|v| {
            v.iter()
                .map(|row| table.external_id(row).unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn metric(s: &Server, line: &str) -> u64 {
    let m = get(&s.client(Some(READER)), "/metrics").text();
    m.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{line}` in\n{m}"))
}

/// Waits (at most 60 s) until `/metrics` shows `want` for `line`: a
/// worker updates some figures just after the state it shows is stored
/// (the thread ends after `done`; a failed run is counted once its state
/// is written), so they are polled, not read once.
fn wait_metric(s: &Server, line: &str, want: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = metric(s, line);
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`{line}` stays {got}, not {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn webhook(url: &str, batch: u32) -> Value {
    json!({"webhook": {"url": url, "batch_size": batch, "timeout_ms": 10_000}})
}

#[test]
fn a_started_run_delivers_each_user_once_with_its_text_and_ends_done() {
    let (_dir, _store, data, s) = server(600);
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let body = def(
        "hello",
        "age > 30",
        json!({
            "channel": webhook(&rx.url(), 7),
            "holdout": 0.1,
            "variants": [
                {"name": "a", "weight": 1, "template": "A from {city}"},
                {"name": "b", "weight": 1, "template": "B from {city}"},
            ],
        }),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "hello", "start"), 200);
    let c = wait_state(&s, "hello", "done");
    let want = expected(&s, "hello");
    let got = messages(&rx.accepted());
    let city: HashMap<&str, &str> = data.rows().map(|r| (r.id(), r.get("city"))).collect();
    let ids: HashSet<&String> = got.values().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), got.len(), "message ids are distinct");
    let mut total = 0;
    for (i, users) in want.iter().enumerate() {
        let prefix = ["A", "B"][i];
        for u in users {
            let (_, text) = got.get(u).unwrap_or_else(|| panic!("{u} got nothing"));
            assert_eq!(text, &format!("{prefix} from {}", city[u.as_str()]));
        }
        total += users.len();
    }
    assert_eq!(got.len(), total, "only the sendable users got a message");
    let run = &c["runs"][0];
    let holdout = run["holdout"].as_u64().unwrap();
    assert!(holdout > 0, "{run}");
    assert_eq!(
        total as u64,
        run["audience"].as_u64().unwrap() - holdout - run["capped"].as_u64().unwrap()
    );
    assert_eq!(run["sent"], total);
    assert_eq!(run["failed"], 0);
    for (i, users) in want.iter().enumerate() {
        assert_eq!(run["variants"][i]["sent"], users.len(), "{run}");
        assert_eq!(run["variants"][i]["assigned"], users.len(), "{run}");
    }
    assert!(run["finished_at"].is_string(), "{run}");
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "run_finished");
    assert_eq!(last["to"], "done");
    assert_eq!(
        metric(&s, "segdb_campaign_messages_sent_total"),
        total as u64
    );
    assert_eq!(
        metric(&s, "segdb_campaign_webhook_responses_total{class=\"2xx\"}"),
        rx.count()
    );
    assert_eq!(
        metric(&s, "segdb_campaign_webhook_latency_seconds_count"),
        rx.count()
    );
    assert_eq!(metric(&s, "segdb_campaign_runs_delivered_total"), 1);
    // The language shows the same, from the run's checkpoint.
    let v = s
        .client(Some(READER))
        .query("CALL campaign_status('hello')")
        .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0][3], "audience");
    assert_eq!(rows[0][6], total, "{v}");
    assert_eq!(rows[0][7], 0, "{v}");
    for (i, users) in want.iter().enumerate() {
        assert_eq!(rows[3 + i][3], "variant");
        assert_eq!(rows[3 + i][6], users.len(), "{v}");
    }
    wait_metric(&s, "segdb_campaign_runs_in_progress", 0);
}

#[test]
fn a_5xx_then_200_loses_nothing_and_a_400_is_counted_failed() {
    let (_dir, _store, _data, s) = server(400);
    // Each batch is refused once with a 503; then the second batch is
    // refused for good with a 400, every other one accepted.
    let seen: Mutex<Vec<String>> = Mutex::default();
    let rx = Receiver::start(move |r| {
        let key = r.key.clone().unwrap();
        let mut seen = seen.lock().unwrap();
        match seen.iter().position(|k| *k == key) {
            None => {
                seen.push(key);
                Answer::Status(503, "busy".into())
            }
            Some(1) => Answer::Status(400, "bad batch: no such template".into()),
            Some(_) => Answer::Status(200, "ok".into()),
        }
    });
    let body = def(
        "flaky",
        "age > 20",
        json!({"channel": webhook(&rx.url(), 10)}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "flaky", "start"), 200);
    let c = wait_state(&s, "flaky", "done");
    let want = &expected(&s, "flaky")[0];
    let got = messages(&rx.accepted());
    let refused = want.len() - got.len();
    assert_eq!(refused, 10, "one batch of 10 refused");
    assert!(got.keys().all(|u| want.contains(u)));
    let run = &c["runs"][0];
    assert_eq!(run["sent"], got.len());
    assert_eq!(run["failed"], 10);
    assert_eq!(run["variants"][0]["failed"], 10);
    assert_eq!(
        run["failures"],
        json!([{"status": 400, "body": "bad batch: no such template", "users": 10}])
    );
    assert_eq!(metric(&s, "segdb_campaign_messages_failed_total"), 10);
    assert!(metric(&s, "segdb_campaign_webhook_responses_total{class=\"5xx\"}") >= 2);
    assert_eq!(
        metric(&s, "segdb_campaign_webhook_responses_total{class=\"4xx\"}"),
        1
    );
}

/// A gate the receiver's handler waits at (bounded) until opened.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let g = self.open.lock().unwrap();
        let _ = self
            .cv
            .wait_timeout_while(g, Duration::from_secs(30), |open| !*open)
            .unwrap();
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

#[test]
fn pause_stops_delivery_and_resume_finishes_it() {
    let (_dir, _store, _data, s) = server(600);
    let gate = Arc::new(Gate::default());
    let (arrived_tx, arrived) = mpsc::channel();
    let arrived_tx = Mutex::new(arrived_tx);
    let g = gate.clone();
    let rx = Receiver::start(move |r| {
        if r.number == 2 {
            let _ = arrived_tx.lock().unwrap().send(());
            g.wait();
        }
        Answer::Status(200, "ok".into())
    });
    let body = def(
        "paused",
        "age > 20",
        json!({"channel": webhook(&rx.url(), 10)}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "paused", "start"), 200);
    arrived.recv_timeout(Duration::from_secs(30)).unwrap();
    // The pause answers once the batch in flight is recorded: it waits
    // for the worker, which waits for the receiver.
    let pause = std::thread::scope(|scope| {
        let p = scope.spawn(|| act(&s, ANN, "paused", "pause"));
        wait_state(&s, "paused", "paused");
        gate.open();
        p.join().unwrap()
    });
    let paused = status(&pause, 200);
    assert_eq!(paused["state"], "paused");
    let want = &expected(&s, "paused")[0];
    let sent_then = rx.accepted().len();
    let c = show(&s, "paused");
    assert!(sent_then >= 2, "the batch in flight was delivered");
    assert!(
        sent_then * 10 < want.len(),
        "stopped early: {sent_then} of {}",
        want.len()
    );
    assert_eq!(c["runs"][0]["sent"], sent_then * 10);
    // The pause's answer has the figures too.
    assert_eq!(paused["runs"][0]["sent"], sent_then * 10);
    wait_metric(&s, "segdb_campaign_runs_in_progress", 0);
    assert_eq!(rx.accepted().len(), sent_then, "nothing sent while paused");
    assert_eq!(
        status(&act(&s, ANN, "paused", "resume"), 200)["state"],
        "running"
    );
    let c = wait_state(&s, "paused", "done");
    let got = messages(&rx.accepted());
    assert_eq!(got.len(), want.len());
    assert!(got.keys().all(|u| want.contains(u)));
    assert_eq!(c["runs"][0]["sent"], want.len());
}

#[test]
fn cancel_stops_delivery_and_leaves_the_rest_unsent() {
    let (_dir, _store, _data, s) = server(600);
    let gate = Arc::new(Gate::default());
    let (arrived_tx, arrived) = mpsc::channel();
    let arrived_tx = Mutex::new(arrived_tx);
    let g = gate.clone();
    let rx = Receiver::start(move |r| {
        if r.number == 2 {
            let _ = arrived_tx.lock().unwrap().send(());
            g.wait();
        }
        Answer::Status(200, "ok".into())
    });
    let body = def(
        "gone",
        "age > 20",
        json!({"channel": webhook(&rx.url(), 10)}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "gone", "start"), 200);
    arrived.recv_timeout(Duration::from_secs(30)).unwrap();
    let cancel = std::thread::scope(|scope| {
        let p = scope.spawn(|| act(&s, ANN, "gone", "cancel"));
        wait_state(&s, "gone", "cancelled");
        gate.open();
        p.join().unwrap()
    });
    assert_eq!(status(&cancel, 200)["state"], "cancelled");
    let sent = rx.accepted().len();
    let c = show(&s, "gone");
    assert_eq!(c["runs"][0]["sent"], sent * 10);
    assert!(sent * 10 < expected(&s, "gone")[0].len());
    // The cancel checkpointed the run: its delivery is in its directory.
    let id = c["id"].as_u64().unwrap();
    let run_dir = s
        .state
        .store
        .dir()
        .join("campaigns.d")
        .join("runs")
        .join(format!("{id}-1"));
    assert!(run_dir.join("sent.roar").exists(), "{run_dir:?}");
}

#[test]
fn the_file_channel_writes_its_files() {
    let (dir, _store, _data, s) = server(500);
    let out = dir.path().join("out");
    let body = def(
        "tofile",
        "age > 25",
        json!({
            "channel": {"file": {"dir": out.to_str().unwrap(), "format": "jsonl"}},
            "variants": [
                {"name": "a", "weight": 1, "template": "A {city}"},
                {"name": "b", "weight": 2, "template": "B {city}"},
            ],
        }),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "tofile", "start"), 200);
    let c = wait_state(&s, "tofile", "done");
    let want = expected(&s, "tofile");
    for (i, v) in ["a", "b"].iter().enumerate() {
        let text = std::fs::read_to_string(out.join(format!("tofile-r1-{v}.jsonl"))).unwrap();
        let users: Vec<String> = text
            .lines()
            .map(|l| {
                let m: Value = serde_json::from_str(l).unwrap();
                assert_eq!(m["variant"], *v);
                m["user_id"].as_str().unwrap().to_owned()
            })
            .collect();
        let set: HashSet<String> = users.iter().cloned().collect();
        assert_eq!(set.len(), users.len(), "each user once");
        assert_eq!(set, want[i]);
        assert_eq!(c["runs"][0]["variants"][i]["sent"], users.len());
    }
}

#[test]
fn a_channel_down_then_up_is_tried_again_and_one_down_for_good_fails_the_run() {
    let (_dir, _store, _data, s) = server(300);
    // Short waits (the server's are 5 s doubling to 5 min, for an hour).
    s.state.campaigns.delivery.set_retry(
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_secs(60),
    );
    let tries = Arc::new(AtomicU64::new(0));
    let t = tries.clone();
    let rx = Receiver::start(move |_| {
        if t.fetch_add(1, Ordering::SeqCst) < 3 {
            Answer::Status(503, "down".into())
        } else {
            Answer::Status(200, "ok".into())
        }
    });
    let hook = json!({"webhook": {"url": rx.url(), "batch_size": 10, "max_retries": 0}});
    let body = def("later", "age > 20", json!({ "channel": hook }));
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "later", "start"), 200);
    let c = wait_state(&s, "later", "done");
    let want = &expected(&s, "later")[0];
    assert_eq!(messages(&rx.accepted()).len(), want.len());
    assert_eq!(c["runs"][0]["sent"], want.len());
    assert_eq!(metric(&s, "segdb_campaign_channel_unavailable_total"), 3);

    // Nobody listens: tried again until the (short) give-up, then failed.
    s.state.campaigns.delivery.set_retry(
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_millis(200),
    );
    let hook = json!({"webhook": {"url": nowhere(), "max_retries": 0}});
    let body = def("dead", "age > 20", json!({ "channel": hook }));
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "dead", "start"), 200);
    let c = wait_state(&s, "dead", "failed");
    assert_eq!(c["runs"][0]["sent"], 0);
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "run_failed", "{c}");
    assert_eq!(last["actor"], "scheduler");
    wait_metric(&s, "segdb_campaign_runs_failed_total", 1);
    assert!(metric(&s, "segdb_campaign_channel_unavailable_total") > 4);
}

#[test]
fn a_daily_run_is_delivered_and_scheduled_again() {
    let (_dir, _store, _data, s) = server(300);
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let body = def(
        "daily",
        "age > 20",
        json!({"channel": webhook(&rx.url(), 25), "schedule": {"daily": "10:30"}}),
    );
    status(&create(&s, ANN, &body), 201);
    assert_eq!(
        status(&act(&s, ANN, "daily", "start"), 200)["state"],
        "scheduled"
    );
    s.state.campaigns.set_clock(NOW + 1800);
    let c = wait_until(&s, "daily", |c| {
        c["state"] == "scheduled" && c["runs"][0]["finished_at"].is_string()
    });
    let want = &expected(&s, "daily")[0];
    assert_eq!(c["runs"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["runs"][0]["sent"], want.len());
    assert_eq!(messages(&rx.accepted()).len(), want.len());
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "run_finished", "{c}");
    assert!(c["next_run_at"].as_str().unwrap() > c["runs"][0]["started_at"].as_str().unwrap());
}

#[test]
fn a_graceful_stop_stops_delivery_and_the_next_start_resumes_it() {
    let (_dir, store, _data, s) = server(600);
    let gate = Arc::new(Gate::default());
    let (arrived_tx, arrived) = mpsc::channel();
    let arrived_tx = Mutex::new(arrived_tx);
    let g = gate.clone();
    let rx = Receiver::start(move |r| {
        if r.number == 2 {
            let _ = arrived_tx.lock().unwrap().send(());
            g.wait();
        }
        Answer::Status(200, "ok".into())
    });
    let body = def(
        "halt",
        "age > 20",
        json!({"channel": webhook(&rx.url(), 10)}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "halt", "start"), 200);
    arrived.recv_timeout(Duration::from_secs(30)).unwrap();
    let want = expected(&s, "halt").swap_remove(0);
    let state = s.state.clone();
    std::thread::scope(|scope| {
        // The stop waits for the worker, which waits for the receiver.
        let stopping = scope.spawn(move || drop(s));
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..10_000_000 {
            if !state.campaigns.scheduler_running() || Instant::now() > deadline {
                break;
            }
            std::thread::yield_now();
        }
        gate.open();
        stopping.join().unwrap();
    });
    assert_eq!(state.campaigns.delivery.in_progress(), 0);
    let sent_then = rx.accepted().len();
    assert!(
        sent_then * 10 < want.len(),
        "stopped early: {sent_then} of {}",
        want.len()
    );
    assert_eq!(
        state.campaigns.store.get("halt").unwrap().state.as_str(),
        "running"
    );
    drop(state);
    // The next start resumes the run by itself.
    let s = Server::start(&store, super::campaigns::settings());
    let c = wait_state(&s, "halt", "done");
    let got = messages(&rx.accepted());
    assert_eq!(got.len(), want.len());
    assert_eq!(c["runs"][0]["sent"], want.len());
}
