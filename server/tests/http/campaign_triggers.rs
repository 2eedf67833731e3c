//! Event triggers over real HTTP (issue 15): a campaign scheduled `ON
//! EVENT book AND NOT favorite WITHIN 10 MINUTES` and a real webhook
//! receiver. 1,000 users book; half of them favorite inside the window:
//! exactly the other half get one message each, once the deadline has
//! passed (the campaigns' clock, moved by the test), counted in the run
//! and the report; a second book inside the re-entry interval arms
//! nothing, after it a timer again, and a new day starts a new run.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use serde_json::{json, Value};

use super::campaigns::{act, create, def, server, show, status, ANN, NOW, READER};
use super::*;

/// Every message the receiver accepted, per user, in arrival order.
fn messages(requests: &[Request]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in requests {
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        for m in b["messages"].as_array().unwrap() {
            out.entry(m["user_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(m["message_id"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn metric(s: &Server, name: &str) -> u64 {
    let m = get(&s.client(Some(READER)), "/metrics").text();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in\n{m}"))
}

/// Polls until `done` holds (bounded in count and time).
#[track_caller]
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

fn ingest(s: &Server, events: &[(&str, &str)], day: &str) {
    let lines: Vec<String> = events
        .iter()
        .map(|(id, e)| json!({"id": id, "event": e, "day": day}).to_string())
        .collect();
    let r = post(
        &s.client(Some(ANN)),
        "/v1/tables/users/ingest",
        "application/x-ndjson",
        &lines.join("\n"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_trigger_messages_those_who_did_not_do_b_in_time_once_each() {
    let (_dir, _store, data, s) = server(3000);
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    // 1,000 users in the audience (age >= 0), in two halves.
    let users: Vec<String> = data
        .rows()
        .filter(|r| !r.get("age").is_empty())
        .take(1000)
        .map(|r| r.id().to_owned())
        .collect();
    assert_eq!(users.len(), 1000);
    let payers: Vec<&String> = users.iter().step_by(2).collect();
    let idle: Vec<&String> = users.iter().skip(1).step_by(2).collect();
    let body = def(
        "remind",
        "age >= 0",
        json!({
            "channel": {"webhook": {"url": rx.url(), "batch_size": 100}},
            "variants": [
                {"name": "a", "weight": 1, "template": "Finish your booking, {city}"},
                {"name": "b", "weight": 1, "template": "Still thinking?"},
            ],
            "schedule": {"on_event": {"event": "book",
                "and_not": {"event": "favorite", "within_seconds": 600},
                "reentry_seconds": 86_400}},
        }),
    );
    status(&create(&s, ANN, &body), 201);
    let c = status(&act(&s, ANN, "remind", "start"), 200);
    assert_eq!(
        c["state"], "scheduled",
        "a trigger waits for its events: {c}"
    );
    let today = "2026-12-05";
    let book: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), "book")).collect();
    ingest(&s, &book, today);
    assert_eq!(metric(&s, "segdb_trigger_timers_armed_total"), 1000);
    // Five minutes later, half of them favorite: their timers are gone.
    s.state.campaigns.set_clock(NOW + 300);
    let fav: Vec<(&str, &str)> = payers.iter().map(|u| (u.as_str(), "favorite")).collect();
    ingest(&s, &fav, today);
    assert_eq!(metric(&s, "segdb_trigger_timers_cancelled_total"), 500);
    assert_eq!(metric(&s, "segdb_trigger_timers_pending"), 500);
    assert_eq!(show(&s, "remind")["pending_timers"], 500);
    // A second before the deadline: nothing is due.
    s.state.campaigns.set_clock(NOW + 599);
    assert_eq!(show(&s, "remind")["state"], "scheduled");
    // At the deadline: a run starts with the idle half and delivers.
    let moved = Instant::now();
    s.state.campaigns.set_clock(NOW + 600);
    wait_for("500 messages", || messages(&rx.accepted()).len() == 500);
    let took = moved.elapsed();
    let got = messages(&rx.accepted());
    let want: HashSet<&str> = idle.iter().map(|u| u.as_str()).collect();
    let have: HashSet<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(have, want, "exactly the users who did not favorite");
    assert!(got.values().all(|m| m.len() == 1), "each once");
    eprintln!("the 500 due timers were delivered {took:?} after the clock reached their deadline");
    let c = show(&s, "remind");
    assert_eq!(
        c["state"], "running",
        "a trigger's run stays open for its day: {c}"
    );
    assert_eq!(c["runs"][0]["audience"], 500);
    assert_eq!(metric(&s, "segdb_trigger_timers_fired_total"), 500);
    assert_eq!(metric(&s, "segdb_trigger_timers_pending"), 0);
    assert_eq!(metric(&s, "segdb_trigger_lateness_seconds_count"), 500);
    // The receiver counts a batch before the server has its answer and
    // records the batch as sent: the report catches up.
    let sent = || -> u64 {
        let report = status(
            &get(&s.client(Some(READER)), "/v1/campaigns/remind/report"),
            200,
        );
        report["runs"][0]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["sent"].as_u64())
            .sum()
    };
    wait_for("the report's 500 sent", || sent() == 500);

    // Everyone books again: only those never messaged are armed (the
    // others are in their re-entry interval); their timers join the day's
    // run.
    s.state.campaigns.set_clock(NOW + 700);
    ingest(&s, &book, today);
    assert_eq!(metric(&s, "segdb_trigger_timers_armed_total"), 1500);
    s.state.campaigns.set_clock(NOW + 1300);
    wait_for("1,000 users messaged", || {
        messages(&rx.accepted()).len() == 1000
    });
    let c = show(&s, "remind");
    assert_eq!(c["runs"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["runs"][0]["audience"], 1000);

    // The next day, past the first half's re-entry interval (a day after
    // their deadline) but not the second's: only the first half is armed,
    // and a new run carries them (the day's run ended at midnight).
    s.state.campaigns.set_clock(NOW + 86_400 + 650);
    ingest(&s, &book, "2026-12-06");
    assert_eq!(metric(&s, "segdb_trigger_timers_armed_total"), 2000);
    s.state.campaigns.set_clock(NOW + 86_400 + 1250);
    wait_for("the idle half messaged again", || {
        messages(&rx.accepted())
            .values()
            .filter(|m| m.len() == 2)
            .count()
            == 500
    });
    let got = messages(&rx.accepted());
    for u in &idle {
        let m = &got[u.as_str()];
        assert_eq!(m.len(), 2, "{u}");
        assert_ne!(m[0], m[1], "a new run, a new message id");
    }
    assert!(payers.iter().all(|u| got[u.as_str()].len() == 1));
    let c = show(&s, "remind");
    let runs = c["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{c}");
    assert_eq!(runs[1]["audience"], 500);
}
