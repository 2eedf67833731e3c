//! Effects and the campaign report over real HTTP (issue 14): a campaign
//! with two variants, a hold-out and a goal is delivered to a webhook
//! receiver in this process; the "receiver" then delivers, opens, clicks
//! and converts with known probabilities per variant (a fixed seed), with
//! repeats, effects for hold-out users and ids nobody has, and posts the
//! effects back in batches (one retried). Every figure of the report
//! equals what the test counts from what the receiver saw; the
//! retargeting segment's count is exact; the goal's uplift, interval and
//! p-value equal a reference computed here (the p-value by integrating the
//! normal density, not by the server's erfc).

use std::collections::{BTreeMap, BTreeSet};

use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use serde_json::{json, Value};

use super::campaign_predicates::wait_state;
use super::campaigns::{act, create, def, server, status, ANN, NOW, READER, ROOT};
use super::*;

/// Per variant, the users the receiver accepted a message for.
fn delivered(requests: &[Request]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in requests {
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        let v = b["variant"].as_str().unwrap().to_owned();
        for m in b["messages"].as_array().unwrap() {
            out.entry(v.clone())
                .or_default()
                .insert(m["user_id"].as_str().unwrap().to_owned());
        }
    }
    out
}

/// A fixed-seed generator (SplitMix64), so the "receiver" behaves the
/// same at every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.next() < p
    }
}

/// What the test reported, counted its own way.
#[derive(Default)]
struct Counted {
    /// (variant, effect) -> users.
    users: BTreeMap<(String, String), BTreeSet<String>>,
    /// (variant, effect, day) -> events.
    events: BTreeMap<(String, String, String), u64>,
    /// effect -> unattributed events.
    unattributed: BTreeMap<String, u64>,
}

fn line(id: &str, effect: &str, at: &str) -> String {
    json!({"id": id, "effect": effect, "at": at}).to_string()
}

/// The standard normal's two-sided tail beyond `|z|`, by Simpson's rule
/// over the density (20,000 intervals): a reference independent of the
/// server's erfc.
fn two_sided_p(z: f64) -> f64 {
    let z = z.abs();
    let n = 20_000;
    let h = z / n as f64;
    let pdf = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut s = pdf(0.0) + pdf(z);
    for i in 1..n {
        let x = i as f64 * h;
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * pdf(x);
    }
    let half = s * h / 3.0;
    2.0 * (0.5 - half)
}

#[track_caller]
fn close(got: &Value, want: f64, what: &str) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!(
        (g - want).abs() <= 1e-9 * want.abs().max(1e-3),
        "{what}: {g} != {want}"
    );
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn reported_effects_make_the_report_and_retargeting_segments() {
    let (_dir, _store, data, s) = server(800);
    let c = s.client(Some(ROOT));
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let body = def(
        "spring",
        "age > 25",
        json!({
            "channel": {"webhook": {"url": rx.url(), "batch_size": 32, "timeout_ms": 10_000}},
            "holdout": 0.25,
            "variants": [
                {"name": "a", "weight": 1, "template": "A {city}"},
                {"name": "b", "weight": 1, "template": "B {city}"},
            ],
            "goal": "did(book, 7 days after send)",
        }),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "spring", "start"), 200);
    let got = wait_state(&s, "spring", "done");
    let run = &got["runs"][0];
    let run_day = "2026-12-05".to_owned();
    let sent = delivered(&rx.accepted());
    assert_eq!(sent.len(), 2, "{sent:?}");
    let holdout: BTreeSet<String> = c
        .query("SELECT user_id FROM users WHERE in_holdout(spring) LIMIT 100000")
        .unwrap()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    assert!(!holdout.is_empty());

    // The receiver's users act: variant a clicks more than b.
    let mut rng = Rng(14);
    let p_click = BTreeMap::from([("a", 0.45), ("b", 0.15)]);
    let mut counted = Counted::default();
    let mut lines = Vec::new();
    let days = ["2026-12-05", "2026-12-06"];
    for (v, users) in &sent {
        for u in users {
            let mut emit = |effect: &str, day: &str, counted: &mut Counted| {
                lines.push(line(u, effect, &format!("{day}T12:00:00Z")));
                counted
                    .users
                    .entry((v.clone(), effect.into()))
                    .or_default()
                    .insert(u.clone());
                *counted
                    .events
                    .entry((v.clone(), effect.into(), day.into()))
                    .or_default() += 1;
            };
            if !rng.chance(0.9) {
                continue;
            }
            emit("delivered", days[0], &mut counted);
            if rng.chance(0.6) {
                emit("opened", days[0], &mut counted);
            }
            if rng.chance(p_click[v.as_str()]) {
                emit("clicked", days[0], &mut counted);
                if rng.chance(0.3) {
                    // A repeat, the next day: counted in events only.
                    emit("clicked", days[1], &mut counted);
                }
                if rng.chance(0.4) {
                    emit("converted", days[1], &mut counted);
                }
            }
            if rng.chance(0.05) {
                emit("unsubscribed", days[1], &mut counted);
            }
        }
    }
    // Effects for users never sent to: the hold-out's, and unknown ids.
    for u in holdout.iter().take(5) {
        lines.push(line(u, "clicked", "2026-12-05T13:00:00Z"));
        *counted.unattributed.entry("clicked".into()).or_default() += 1;
    }
    lines.push(line("nobody-1", "opened", "2026-12-05T13:00:00Z"));
    *counted.unattributed.entry("opened".into()).or_default() += 1;

    // The effects come in over the next two days.
    s.state.campaigns.set_clock(NOW + 2 * 86_400);
    // Posted in three batches, out of order; the second is retried.
    let mut order: Vec<String> = lines.clone();
    order.reverse();
    let chunks: Vec<String> = order
        .chunks(order.len() / 3 + 1)
        .map(|c| c.join("\n"))
        .collect();
    let fx = |key: &str, body: &str| {
        c.request(
            "POST",
            "/v1/campaigns/spring/effects",
            &[
                ("content-type", "application/x-ndjson"),
                ("idempotency-key", key),
            ],
            Some(body.as_bytes()),
        )
        .unwrap()
    };
    let mut received = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let a = status(&fx(&format!("fx-{i}"), chunk), 200);
        assert_eq!(a["duplicate"], false, "{a}");
        received += n(&a["received"]);
    }
    assert_eq!(received, lines.len() as u64);
    let again = status(&fx("fx-1", &chunks[1]), 200);
    assert_eq!(again["duplicate"], true, "{again}");

    // A bad line refuses its batch, names the line, and changes nothing.
    let before = status(&get(&c, "/v1/campaigns/spring/report"), 200);
    let bad = format!(
        "{}\n{}",
        line("u1", "clicked", "2026-12-05T12:00:00Z"),
        json!({"id": "u2", "effect": "bounced", "at": "2026-12-05T12:00:00Z"})
    );
    let e = status(&fx("bad", &bad), 400);
    assert_eq!(e["error"]["code"], "bad_effect", "{e}");
    assert_eq!(e["error"]["line"], 2, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("bounced"),
        "{e}"
    );
    assert_eq!(status(&get(&c, "/v1/campaigns/spring/report"), 200), before);
    // So does a time from before the campaign or after tomorrow.
    for at in ["2026-12-03T09:59:59Z", "2026-12-08T10:00:01Z"] {
        let late = format!(
            "{}\n\n{}",
            line("u1", "clicked", "2026-12-05T12:00:00Z"),
            line("u2", "clicked", at)
        );
        let e = status(&fx("late", &late), 400);
        assert_eq!(e["error"]["line"], 3, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outside the campaign's time"),
            "{e}"
        );
    }
    assert_eq!(status(&get(&c, "/v1/campaigns/spring/report"), 200), before);
    status(
        &c.request(
            "POST",
            "/v1/campaigns/nope/effects",
            &[("content-type", "application/x-ndjson")],
            Some(b"{}"),
        )
        .unwrap(),
        404,
    );
    let reader = s.client(Some(READER));
    status(
        &reader
            .request("POST", "/v1/campaigns/spring/effects", &[], Some(b""))
            .unwrap(),
        403,
    );

    // Goal events: some sent users and some held out book within the
    // window, some after it (not counted).
    let mut book = Vec::new();
    let window_end = "2026-12-11"; // the run's day + 6
    for (i, u) in sent.values().flatten().enumerate() {
        if i % 4 == 0 {
            book.push(
                json!({"id": u, "event": "book", "day": "2026-12-08", "count": 1}).to_string(),
            );
        } else if i % 9 == 0 {
            book.push(
                json!({"id": u, "event": "book", "day": "2026-12-20", "count": 1}).to_string(),
            );
        }
    }
    for (i, u) in holdout.iter().enumerate() {
        if i % 7 == 0 {
            book.push(
                json!({"id": u, "event": "book", "day": "2026-12-06", "count": 2}).to_string(),
            );
        }
    }
    status(
        &post(
            &c,
            "/v1/tables/users/ingest",
            "application/x-ndjson",
            &book.join("\n"),
        ),
        200,
    );

    // The report, figure by figure.
    let r = status(&get(&c, "/v1/campaigns/spring/report"), 200);
    assert_eq!(r["campaign"], "spring");
    assert_eq!(r["goal"], "did(book, 7 days after send)");
    let rr = &r["runs"][0];
    assert_eq!(rr["run"], 1);
    assert_eq!(rr["audience"], run["audience"]);
    assert_eq!(rr["capped"], run["capped"]);
    let met = |users: &mut dyn Iterator<Item = &String>| -> u64 {
        users
            .filter(|u| {
                data.row(u)
                    .is_some_and(|row| row.events("book", &run_day, window_end) > 0)
                    || book.iter().any(|l| {
                        let v: Value = serde_json::from_str(l).unwrap();
                        v["id"] == u.as_str()
                            && v["day"].as_str().unwrap() <= window_end
                            && v["day"].as_str().unwrap() >= run_day.as_str()
                    })
            })
            .count() as u64
    };
    let h_met = met(&mut holdout.iter());
    let h_n = holdout.len() as u64;
    let groups = rr["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    for (i, v) in ["a", "b"].iter().enumerate() {
        let g = &groups[i];
        assert_eq!(g["group"], *v);
        assert_eq!(g["audience"], run["variants"][i]["assigned"]);
        let sent_v = &sent[*v];
        assert_eq!(n(&g["sent"]), sent_v.len() as u64);
        assert_eq!(g["failed"], 0);
        let users = |e: &str| {
            counted
                .users
                .get(&(v.to_string(), e.to_string()))
                .map_or(0, |s| s.len() as u64)
        };
        for e in [
            "delivered",
            "opened",
            "clicked",
            "converted",
            "unsubscribed",
            "uninstalled",
        ] {
            assert_eq!(n(&g["users"][e]), users(e), "{v} {e} users");
            let events: u64 = counted
                .events
                .iter()
                .filter(|((vv, ee, _), _)| vv == v && ee == e)
                .map(|(_, c)| c)
                .sum();
            assert_eq!(n(&g["events"][e]), events, "{v} {e} events");
        }
        assert!(users("clicked") > 0 && users("converted") > 0, "{g}");
        close(
            &g["delivery_rate"],
            users("delivered") as f64 / sent_v.len() as f64,
            "delivery rate",
        );
        close(
            &g["ctr"],
            users("clicked") as f64 / users("delivered") as f64,
            "ctr",
        );
        close(
            &g["conversion_rate"],
            users("converted") as f64 / users("delivered") as f64,
            "conversion rate",
        );
        // Per-day events.
        for d in g["days"].as_array().unwrap() {
            let day = d["day"].as_str().unwrap();
            for (e, c) in d["events"].as_object().unwrap() {
                let want = counted
                    .events
                    .get(&(v.to_string(), e.clone(), day.to_owned()))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(n(c), want, "{v} {e} on {day}");
            }
        }
        let days_total: u64 = g["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["events"]["clicked"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(days_total, n(&g["events"]["clicked"]));
        // The goal and its uplift over the hold-out.
        let x1 = met(&mut sent_v.iter());
        let n1 = sent_v.len() as u64;
        assert_eq!(n(&g["goal"]["rate"]["hits"]), x1, "{v} goal");
        assert_eq!(n(&g["goal"]["rate"]["n"]), n1);
        let (p1, p0) = (x1 as f64 / n1 as f64, h_met as f64 / h_n as f64);
        let diff = p1 - p0;
        let se = (p1 * (1.0 - p1) / n1 as f64 + p0 * (1.0 - p0) / h_n as f64).sqrt();
        let pooled = (x1 + h_met) as f64 / (n1 + h_n) as f64;
        let z = diff / (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / h_n as f64)).sqrt();
        let u = &g["goal"]["uplift"];
        close(&u["diff"], diff, "uplift");
        close(&u["ci_low"], diff - 1.959963984540054 * se, "ci low");
        close(&u["ci_high"], diff + 1.959963984540054 * se, "ci high");
        close(&u["z"], z, "z");
        let p = u["p_value"].as_f64().unwrap();
        assert!(
            (p - two_sided_p(z)).abs() < 1e-9,
            "p {p} != {}",
            two_sided_p(z)
        );
    }
    let h = &groups[2];
    assert_eq!(h["group"], "holdout");
    assert_eq!(n(&h["audience"]), h_n);
    assert_eq!(n(&h["goal"]["rate"]["hits"]), h_met);
    assert!(h_met > 0);
    for (e, c) in &counted.unattributed {
        assert_eq!(n(&r["unattributed"][e]), *c, "unattributed {e}");
    }

    // Retargeting: the clickers who did not convert, exactly.
    let clicked_not_converted: u64 = ["a", "b"]
        .iter()
        .map(|v| {
            let k = |e: &str| {
                counted
                    .users
                    .get(&(v.to_string(), e.to_string()))
                    .cloned()
                    .unwrap_or_default()
            };
            k("clicked").difference(&k("converted")).count() as u64
        })
        .sum();
    assert!(clicked_not_converted > 0);
    status(
        &post(
            &c,
            "/v1/query",
            "text/plain",
            "CREATE SEGMENT retarget AS SELECT FROM users WHERE clicked(spring) AND NOT converted(spring)",
        ),
        200,
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE IN SEGMENT retarget"),
        clicked_not_converted
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE clicked(spring, run => 1) AND in_variant(spring, 'a')"),
        counted.users[&("a".to_string(), "clicked".to_string())].len() as u64
    );
    // Hold-out users who "clicked" are not clickers of the campaign.
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE clicked(spring) AND in_holdout(spring)"
        ),
        0
    );
    // INSIGHT of clickers against everyone works with no extra code.
    let v = c
        .query("INSIGHT city FROM users WHERE clicked(spring) TOP 3")
        .unwrap();
    assert!(!v["rows"].as_array().unwrap().is_empty(), "{v}");
    // The effects field is nobody's to see.
    let d = c.query("SHOW FIELDS FROM users").unwrap().to_string();
    assert!(!d.contains("#effects"), "{d}");

    // The figures in /metrics: the retry and the refused batch not counted.
    let m = get(&c, "/metrics").text();
    let unattributed: u64 = counted.unattributed.values().sum();
    assert!(
        m.contains(&format!(
            "segdb_campaign_effects_attributed_total {}",
            lines.len() as u64 - unattributed
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "segdb_campaign_effects_unattributed_total {unattributed}"
        )),
        "{m}"
    );

    // CALL campaign_report: the same figures, as rows.
    let v = c.query("CALL campaign_report('spring')").unwrap();
    let cols: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{v}");
    for (row, g) in rows.iter().zip(groups) {
        assert_eq!(row[col("group")], g["group"]);
        assert_eq!(row[col("sent")], g["sent"]);
        assert_eq!(row[col("clicked")], g["users"]["clicked"]);
        assert_eq!(row[col("goal_met")], g["goal"]["rate"]["hits"]);
        assert_eq!(row[col("p_value")], g["goal"]["uplift"]["p_value"]);
    }
}
