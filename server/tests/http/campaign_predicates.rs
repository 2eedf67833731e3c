//! Campaign predicates in WHERE over real HTTP (issue 13, item 7): a
//! campaign with two variants and a hold-out is delivered to a webhook
//! receiver in this process; then `in_campaign`, `in_holdout`,
//! `in_variant` and `sent` count what `GET /v1/campaigns/{name}` says,
//! `sent(c)` is exactly the users the receiver got, the groups work in
//! INSIGHT, COMPARE, dynamic and SNAPSHOT segments, `run => n` picks a
//! run, and mistakes are 400s with a position.

use std::collections::BTreeSet;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use serde_json::{json, Value};

use super::campaigns::{act, create, def, server, show, status, ANN, NOW, ROOT};
use super::*;

/// Polls the campaign until its state is `want` (bounded in time).
#[track_caller]
pub(super) fn wait_state(s: &Server, name: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = show(s, name);
        if c["state"] == want {
            return c;
        }
        assert!(Instant::now() < deadline, "never {want}: {c}");
        std::thread::yield_now();
    }
}

/// The users the receiver accepted a message for.
fn delivered(requests: &[Request]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in requests {
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        for m in b["messages"].as_array().unwrap() {
            let user = m["user_id"].as_str().unwrap().to_owned();
            assert!(out.insert(user.clone()), "{user} twice");
        }
    }
    out
}

fn ids(c: &Client, filter: &str) -> BTreeSet<String> {
    let v = c
        .query(&format!(
            "SELECT user_id FROM users WHERE {filter} LIMIT 100000"
        ))
        .unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// A query's 400: (code, line, column, message).
fn refused(c: &Client, text: &str) -> (String, u64, u64, String) {
    let r = post(c, "/v1/query", "text/plain", text);
    assert_eq!(r.status, 400, "{text}: {}", r.text());
    let e = &r.json()["error"];
    (
        e["code"].as_str().unwrap().to_owned(),
        n(&e["line"]),
        n(&e["column"]),
        e["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_delivered_campaigns_groups_are_segments() {
    let (_dir, _store, _data, s) = server(600);
    let c = s.client(Some(ROOT));
    // Defined before the campaign has run: an empty set and a warning,
    // then it follows the campaign's last run.
    let early = c
        .query("SELECT COUNT(*) FROM users WHERE sent(spring)")
        .unwrap_err()
        .to_string();
    assert!(early.contains("unknown campaign `spring`"), "{early}");

    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let body = def(
        "spring",
        "age > 30",
        json!({
            "channel": {"webhook": {"url": rx.url(), "batch_size": 16, "timeout_ms": 10_000}},
            "holdout": 0.2,
            "variants": [
                {"name": "a", "weight": 1, "template": "A {city}"},
                {"name": "b", "weight": 1, "template": "B {city}"},
            ],
            "schedule": {"at": "2026-12-05T11:00:00Z"},
        }),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "spring", "start"), 200);
    let v = c
        .query("SELECT COUNT(*) FROM users WHERE in_campaign(spring)")
        .unwrap();
    assert_eq!(v["rows"][0][0], 0, "{v}");
    assert_eq!(v["warnings"][0]["code"], "no_run", "{v}");
    status(
        &post(
            &c,
            "/v1/query",
            "text/plain",
            "CREATE SEGMENT spring_sent AS SELECT FROM users WHERE sent(spring)",
        ),
        200,
    );
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT spring_sent"
        ),
        0
    );

    // The scheduler's clock reaches the run's time; the run is delivered.
    s.state.campaigns.set_clock(NOW + 3600);
    let got = wait_state(&s, "spring", "done");
    let run = &got["runs"][0];
    let sent_users = delivered(&rx.accepted());

    let q = |filter: &str| count(&c, &format!("SELECT COUNT(*) FROM users WHERE {filter}"));
    assert_eq!(q("in_campaign(spring)"), n(&run["audience"]));
    assert_eq!(q("in_campaign(spring)"), q("age > 30"));
    assert_eq!(q("in_holdout(spring)"), n(&run["holdout"]));
    assert!(n(&run["holdout"]) > 0, "{run}");
    for (i, v) in ["a", "b"].iter().enumerate() {
        let assigned = n(&run["variants"][i]["assigned"]);
        assert!(assigned > 0, "{run}");
        assert_eq!(q(&format!("in_variant(spring, '{v}')")), assigned);
        assert_eq!(
            q(&format!("in_variant(spring, '{v}') AND sent(spring)")),
            n(&run["variants"][i]["sent"])
        );
    }
    assert_eq!(q("sent(spring)"), n(&run["sent"]));
    assert_eq!(q("sent(spring)"), sent_users.len() as u64);
    assert_eq!(ids(&c, "sent(spring)"), sent_users);
    assert_eq!(q("in_variant(spring, 'a') AND in_holdout(spring)"), 0);
    assert_eq!(q("in_holdout(spring) AND sent(spring)"), 0);
    assert_eq!(
        q("in_variant(spring, 'a') AND NOT sent(spring)"),
        n(&run["variants"][0]["assigned"]) - n(&run["variants"][0]["sent"])
    );
    assert_eq!(q("sent(spring, run => 1)"), q("sent(spring)"));

    // INSIGHT and COMPARE over the groups.
    let v = c
        .query("INSIGHT gender FROM users WHERE in_holdout(spring)")
        .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{v}");
    for r in rows.iter().filter(|r| r[1].is_string()) {
        let want = q(&format!(
            "in_holdout(spring) AND gender = '{}'",
            r[1].as_str().unwrap()
        ));
        assert_eq!(n(&r[2]), want, "{r}");
    }
    let v = c
        .query("COMPARE gender FROM users WHERE in_variant(spring, 'a') VERSUS in_variant(spring, 'b')")
        .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{v}");
    for r in rows.iter().filter(|r| r[1].is_string()) {
        let g = r[1].as_str().unwrap();
        assert_eq!(
            n(&r[2]),
            q(&format!("in_variant(spring, 'a') AND gender = '{g}'")),
            "{r}"
        );
        assert_eq!(
            n(&r[4]),
            q(&format!("in_variant(spring, 'b') AND gender = '{g}'")),
            "{r}"
        );
    }

    // EXPLAIN names the group and its run.
    let v = c
        .query("EXPLAIN SELECT COUNT(*) FROM users WHERE sent(spring)")
        .unwrap();
    assert!(v.to_string().contains("sent(spring) run 1"), "{v}");

    // The dynamic segment made before follows the campaign (a new
    // campaign of that name); a SNAPSHOT freezes the rows.
    assert_eq!(q("IN SEGMENT spring_sent"), sent_users.len() as u64);
    status(
        &post(
            &c,
            "/v1/query",
            "text/plain",
            "CREATE SEGMENT spring_a SNAPSHOT AS SELECT FROM users WHERE in_variant(spring, 'a', run => 1)",
        ),
        200,
    );
    assert_eq!(q("IN SEGMENT spring_a"), n(&run["variants"][0]["assigned"]));

    // A campaign a dynamic segment uses is not deleted; once the segment
    // is dropped it is, and the snapshot keeps its rows.
    let r = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/spring", &[], None)
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "in_use");
    assert!(r.text().contains("spring_sent"), "{}", r.text());
    // DROP CAMPAIGN is refused the same way.
    let r = post(
        &s.client(Some(ANN)),
        "/v1/query",
        "text/plain",
        "DROP CAMPAIGN spring",
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "in_use");
    assert!(r.text().contains("spring_sent"), "{}", r.text());
    assert_eq!(q("sent(spring)"), sent_users.len() as u64);

    // Mistakes: 400 with the position of the name, variant or run.
    let (code, line, column, message) =
        refused(&c, "SELECT COUNT(*) FROM users WHERE sent(sprung)");
    assert_eq!(
        (code.as_str(), line, column),
        ("unknown_campaign", 1, 39),
        "{message}"
    );
    let (code, _, column, message) = refused(
        &c,
        "SELECT COUNT(*) FROM users WHERE in_variant(spring, 'c')",
    );
    assert_eq!((code.as_str(), column), ("type_error", 53), "{message}");
    assert!(message.contains("'a', 'b'"), "{message}");
    let (code, _, column, message) = refused(
        &c,
        "SELECT COUNT(*) FROM users WHERE sent(spring, run => 2)",
    );
    assert_eq!((code.as_str(), column), ("type_error", 54), "{message}");
    assert!(message.contains("no run 2"), "{message}");
    let (code, _, _, _) = refused(
        &c,
        "SELECT COUNT(*) FROM users WHERE in_holdout(spring, 'a')",
    );
    assert_eq!(code, "syntax_error");

    status(
        &post(&c, "/v1/query", "text/plain", "DROP SEGMENT spring_sent"),
        200,
    );
    status(
        &s.client(Some(ANN))
            .request("DELETE", "/v1/campaigns/spring", &[], None)
            .unwrap(),
        200,
    );
    assert_eq!(q("IN SEGMENT spring_a"), n(&run["variants"][0]["assigned"]));
    let (code, _, _, _) = refused(&c, "SELECT COUNT(*) FROM users WHERE sent(spring)");
    assert_eq!(code, "unknown_campaign");
}

#[test]
fn sent_counts_the_batches_recorded_before_any_checkpoint() {
    let (_dir, _store, _data, s) = server(600);
    let c = s.client(Some(ROOT));
    // The third batch is held at the receiver: the first two are recorded
    // in the delivery log, and no checkpoint has run (the run is not over).
    let (arrived_tx, arrived) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let (arrived_tx, release) = (Mutex::new(arrived_tx), Mutex::new(release));
    let rx = Receiver::start(move |r| {
        if r.number == 3 {
            let _ = arrived_tx.lock().unwrap().send(());
            let _ = release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(120));
        }
        Answer::Status(200, "ok".into())
    });
    let body = def(
        "slow",
        "age > 20",
        json!({"channel": {"webhook": {"url": rx.url(), "batch_size": 10, "timeout_ms": 300_000}}}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "slow", "start"), 200);
    arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    let first: Vec<Request> = rx.accepted().into_iter().filter(|r| r.number < 3).collect();
    let first = delivered(&first);
    assert_eq!(first.len(), 20);
    let running = show(&s, "slow");
    assert_eq!(running["state"], "running");
    assert_eq!(running["runs"][0]["sent"], 20, "{running}");
    assert_eq!(ids(&c, "sent(slow)"), first);
    // What the checkpoint holds is still nothing: the 20 come from the log.
    let st = c.query("CALL campaign_status('slow')").unwrap();
    assert_eq!(st["rows"][0][3], "audience", "{st}");
    assert_eq!(st["rows"][0][6], 0, "{st}");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE sent(slow)"), 20);
    // A dynamic segment follows the delivery as it goes.
    status(
        &post(
            &c,
            "/v1/query",
            "text/plain",
            "CREATE SEGMENT slow_sent AS SELECT FROM users WHERE sent(slow)",
        ),
        200,
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE IN SEGMENT slow_sent"),
        20
    );
    release_tx.send(()).unwrap();
    let done = wait_state(&s, "slow", "done");
    let all = delivered(&rx.accepted());
    assert_eq!(n(&done["runs"][0]["sent"]), all.len() as u64);
    assert!(all.len() > 20);
    assert_eq!(ids(&c, "IN SEGMENT slow_sent"), all);
}

/// Retargeting: a campaign whose audience is another campaign's group,
/// in its WHERE, through a dynamic segment, and in a CREATE CAMPAIGN
/// statement; its run freezes exactly those users and delivers to them.
#[test]
fn a_campaigns_audience_may_be_another_campaigns_group() {
    let (_dir, _store, _data, s) = server(600);
    let c = s.client(Some(ROOT));
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let hook = json!({"webhook": {"url": rx.url(), "batch_size": 50, "timeout_ms": 10_000}});
    let body = def(
        "first",
        "age > 20",
        json!({"channel": hook, "holdout": 0.25}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "first", "start"), 200);
    wait_state(&s, "first", "done");
    let held_out = ids(&c, "in_holdout(first)");
    let sent_first = delivered(&rx.accepted());
    assert!(!held_out.is_empty() && !sent_first.is_empty());

    // The hold-out of `first`, retargeted by a WHERE.
    let body = def("second", "in_holdout(first)", json!({"channel": hook}));
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "second", "start"), 200);
    let run = &wait_state(&s, "second", "done")["runs"][0];
    assert_eq!(n(&run["audience"]), held_out.len() as u64, "{run}");
    let all = delivered(&rx.accepted());
    let sent_second: BTreeSet<String> = all.difference(&sent_first).cloned().collect();
    assert_eq!(sent_second, held_out);

    // Through a dynamic segment: those of `first`'s audience not sent by
    // it (its hold-out again), as a campaign made by a statement.
    status(
        &post(
            &c,
            "/v1/query",
            "text/plain",
            "CREATE SEGMENT first_unsent AS SELECT FROM users WHERE in_campaign(first) AND NOT sent(first)",
        ),
        200,
    );
    assert_eq!(ids(&c, "IN SEGMENT first_unsent"), held_out);
    let text = format!(
        "CREATE CAMPAIGN third ON users AUDIENCE SEGMENT first_unsent \
         CHANNEL webhook (url => '{}', batch_size => 50) \
         VARIANT a WEIGHT 1 TEMPLATE 'Hi {{city}}' SCHEDULE AT '2026-12-05T23:00:00Z'",
        rx.url()
    );
    status(
        &post(&s.client(Some(ANN)), "/v1/query", "text/plain", &text),
        200,
    );
    status(&act(&s, ANN, "third", "start"), 200);
    s.state.campaigns.set_clock(NOW + 13 * 3600);
    s.state.campaigns.tick(&s.state.store, &s.state.audit);
    let run = &wait_state(&s, "third", "done")["runs"][0];
    assert_eq!(n(&run["audience"]), held_out.len() as u64, "{run}");

    // `first` is kept while `second`'s audience and the segment name it.
    let r = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/first", &[], None)
        .unwrap();
    let e = status(&r, 409);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("segment `first_unsent`") && message.contains("campaign `second`"),
        "{message}"
    );
    // The segment is `third`'s audience: not dropped while `third` is.
    let e = status(
        &post(&c, "/v1/query", "text/plain", "DROP SEGMENT first_unsent"),
        409,
    );
    assert_eq!(e["error"]["code"], "in_use", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaign `third`"),
        "{e}"
    );
    let r = c
        .request("DELETE", "/v1/segments/first_unsent", &[], None)
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    let r = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/third", &[], None)
        .unwrap();
    status(&r, 200);
    status(
        &post(&c, "/v1/query", "text/plain", "DROP SEGMENT first_unsent"),
        200,
    );
    let r = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/first", &[], None)
        .unwrap();
    let e = status(&r, 409);
    assert!(
        !e["error"]["message"].as_str().unwrap().contains("segment"),
        "{e}"
    );

    // An unknown campaign in an audience is the language's error, placed
    // in the WHERE text.
    let body = def("bad", "age > 3 AND sent(frist)", json!({}));
    let e = status(&create(&s, ANN, &body), 400);
    assert_eq!(e["error"]["code"], "unknown_campaign", "{e}");
    assert_eq!(e["error"]["column"], 18, "{e}");
    assert!(
        e["error"]["hint"].as_str().unwrap().contains("first"),
        "{e}"
    );
}
