//! A profile shows the campaigns its user was in (issue 17): a campaign
//! with two variants and a hold-out delivered to a webhook receiver in
//! this process, effects reported for one sent user; that user's profile
//! shows the campaign, the variant the receiver got, the send day and the
//! effects; a hold-out user's shows the hold-out and nothing sent; a user
//! outside the audience none; a key that may not read the campaign (it
//! reads `city`, the key is limited to `age`) sees none of it.

use segdb_campaigns::deliver::receiver::{Answer, Receiver};
use serde_json::{json, Value};

use super::campaign_predicates::wait_state;
use super::campaigns::{act, create, def, server, status, ANN, LIMITED, READER, ROOT};
use super::*;

fn profile(s: &Server, token: &str, id: &str) -> Value {
    status(
        &get(
            &s.client(Some(token)),
            &format!("/v1/tables/users/profiles/{id}"),
        ),
        200,
    )
}

fn first_id(c: &Client, q: &str) -> String {
    let v = c.query(q).unwrap();
    v["rows"][0][0].as_str().unwrap().to_owned()
}

#[test]
fn a_profile_shows_the_users_campaigns_groups_sends_and_effects() {
    let (_dir, _store, _data, s) = server(300);
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
        }),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "spring", "start"), 200);
    wait_state(&s, "spring", "done");
    // A user the receiver got variant b for, as its request says.
    let (user, variant) = rx
        .accepted()
        .iter()
        .find_map(|r| {
            let b: Value = serde_json::from_slice(&r.body).unwrap();
            (b["variant"] == "b").then(|| {
                (
                    b["messages"][0]["user_id"].as_str().unwrap().to_owned(),
                    "b",
                )
            })
        })
        .expect("a request for variant b");
    let line = |effect: &str| {
        json!({"id": user, "effect": effect, "at": "2026-12-05T12:00:00Z"}).to_string()
    };
    let fx = c
        .request(
            "POST",
            "/v1/campaigns/spring/effects",
            &[("content-type", "application/x-ndjson")],
            Some(format!("{}\n{}\n", line("delivered"), line("clicked")).as_bytes()),
        )
        .unwrap();
    assert_eq!(status(&fx, 200)["attributed"], 2);

    let p = profile(&s, ROOT, &user);
    assert_eq!(
        p["campaigns"],
        json!([{
            "campaign": "spring", "state": "done", "run": 1, "run_day": "2026-12-05",
            "group": variant, "holdout": false, "sent": true, "sent_day": "2026-12-05",
            "effects": ["delivered", "clicked"],
        }]),
        "{p}"
    );
    assert_eq!(
        p["campaign_runs"],
        json!({"read": 1, "total": 1, "limit": 50})
    );
    // A reader may read campaigns: the same.
    assert_eq!(profile(&s, READER, &user)["campaigns"], p["campaigns"]);

    let held = first_id(
        &c,
        "SELECT user_id FROM users WHERE in_holdout(spring) LIMIT 1",
    );
    let h = profile(&s, ROOT, &held);
    assert_eq!(
        h["campaigns"],
        json!([{
            "campaign": "spring", "state": "done", "run": 1, "run_day": "2026-12-05",
            "group": "holdout", "holdout": true, "sent": false, "sent_day": null,
            "effects": [],
        }]),
        "{h}"
    );

    let outside = first_id(&c, "SELECT user_id FROM users WHERE age <= 25 LIMIT 1");
    assert_eq!(profile(&s, ROOT, &outside)["campaigns"], json!([]));

    // `limited` may read the profile (its `age`), not the campaign.
    let l = profile(&s, LIMITED, &user);
    assert_eq!(l["campaigns"], json!([]), "{l}");
    assert_eq!(l["campaign_runs"]["total"], 0, "{l}");
    assert!(l["fields"].get("age").is_some(), "{l}");
}
