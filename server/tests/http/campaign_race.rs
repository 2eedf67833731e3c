//! Copy racing over real HTTP (issue 14, item 6): three variants race on
//! a test share; the webhook receiver's users click with known
//! probabilities per variant and the effects are posted back; when the
//! window has passed (the campaigns' clock is moved) the variant with the
//! highest CTR wins significantly, the decision is in the report, and the
//! rest of the audience gets the winner, nobody twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use serde_json::{json, Value};

use super::campaigns::{act, create, def, server, show, status, ANN, NOW, ROOT};
use super::*;

/// Per variant, the users messaged, asserting nobody twice.
fn delivered(requests: &[Request]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut all = BTreeSet::new();
    for r in requests {
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        let v = b["variant"].as_str().unwrap().to_owned();
        for m in b["messages"].as_array().unwrap() {
            let u = m["user_id"].as_str().unwrap().to_owned();
            assert!(all.insert(u.clone()), "{u} messaged twice");
            out.entry(v.clone()).or_default().insert(u);
        }
    }
    out
}

#[track_caller]
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn the_variant_with_the_best_ctr_wins_the_race_and_gets_the_rest() {
    let (_dir, _store, _data, s) = server(900);
    let c = s.client(Some(ROOT));
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let body = def(
        "race",
        "age > 20",
        json!({
            "channel": {"webhook": {"url": rx.url(), "batch_size": 16, "timeout_ms": 10_000}},
            "holdout": 0.1,
            "variants": [
                {"name": "a", "weight": 1, "template": "A {city}"},
                {"name": "b", "weight": 1, "template": "B {city}"},
                {"name": "c", "weight": 1, "template": "C {city}"},
            ],
            "split": {"copy_race": {"test_share": 0.3, "window_minutes": 10, "min_deliveries": 5}},
        }),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "race", "start"), 200);
    let run = show(&s, "race")["runs"][0].clone();
    let race = &run["race"];
    assert_eq!(race["deadline"], "2026-12-05T10:10:00.000Z", "{run}");
    assert!(race["decision"].is_null(), "{run}");
    let test: u64 = (0..3).map(|i| n(&run["variants"][i]["assigned"])).sum();
    let rest = n(&race["rest"]);
    assert_eq!(
        test + rest + n(&run["holdout"]) + n(&run["capped"]),
        n(&run["audience"])
    );
    // About 30% of those not held out race.
    let share = test as f64 / (test + rest) as f64;
    assert!((0.2..0.4).contains(&share), "{share}");

    // The test share goes out; the rest waits, the run stays running.
    wait_for("the test share delivered", || {
        delivered(&rx.accepted())
            .values()
            .map(|s| s.len() as u64)
            .sum::<u64>()
            == test
    });
    let first = delivered(&rx.accepted());
    assert_eq!(show(&s, "race")["state"], "running");

    // The users act: b clicks most.
    let p = BTreeMap::from([("a", 0.1), ("b", 0.7), ("c", 0.25)]);
    let mut seed = 7u64;
    let mut draw = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut lines = Vec::new();
    let mut clicks: BTreeMap<String, u64> = BTreeMap::new();
    for (v, users) in &first {
        for u in users {
            lines.push(
                json!({"id": u, "effect": "delivered", "at": "2026-12-05T10:01:00Z"}).to_string(),
            );
            if draw() < p[v.as_str()] {
                lines.push(
                    json!({"id": u, "effect": "clicked", "at": "2026-12-05T10:02:00Z"}).to_string(),
                );
                *clicks.entry(v.clone()).or_default() += 1;
            }
        }
    }
    status(
        &post(
            &c,
            "/v1/campaigns/race/effects",
            "application/x-ndjson",
            &lines.join("\n"),
        ),
        200,
    );
    // Before the window's end (by the campaigns' clock) nothing is decided.
    assert!(show(&s, "race")["runs"][0]["race"]["decision"].is_null());

    s.state.campaigns.set_clock(NOW + 601);
    wait_for("the race decided and the rest delivered", || {
        show(&s, "race")["state"] == "done"
    });
    let got = show(&s, "race");
    let d = &got["runs"][0]["race"]["decision"];
    assert_eq!(d["winner_name"], "b", "{d}");
    assert_eq!(d["significant"], true, "{d}");
    assert!(d["p_value"].as_f64().unwrap() < 0.05, "{d}");
    for (i, v) in ["a", "b", "c"].iter().enumerate() {
        let sv = &d["variants"][i];
        assert_eq!(sv["name"], *v);
        assert_eq!(n(&sv["n"]), first[*v].len() as u64, "{sv}");
        assert_eq!(n(&sv["hits"]), clicks.get(*v).copied().unwrap_or(0), "{sv}");
    }
    // The rest got b, nobody twice (asserted by `delivered`).
    let all = delivered(&rx.accepted());
    assert_eq!(all["a"], first["a"]);
    assert_eq!(all["c"], first["c"]);
    assert_eq!(all["b"].len() as u64, first["b"].len() as u64 + rest);
    let run = &got["runs"][0];
    assert_eq!(
        n(&run["variants"][1]["assigned"]),
        first["b"].len() as u64 + rest
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE in_variant(race, 'b')"),
        first["b"].len() as u64 + rest
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE sent(race)"),
        test + rest
    );
    // The report shows the decision.
    let r = status(&get(&c, "/v1/campaigns/race/report"), 200);
    assert_eq!(r["runs"][0]["race"]["decision"], *d);
    assert_eq!(
        n(&r["runs"][0]["groups"][1]["sent"]),
        first["b"].len() as u64 + rest
    );
}
