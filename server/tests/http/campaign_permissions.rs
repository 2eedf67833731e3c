//! A key limited to some fields cannot reach a campaign that reads
//! another (issue 12, item 3, for campaigns): not by listing or reading
//! it, acting on it, `SHOW CAMPAIGNS`, `CALL campaign_status`, `DROP
//! CAMPAIGN`, its groups in WHERE (`in_campaign(c)`, …), nor a segment
//! built on its groups. A campaign reading only allowed fields works.

use serde_json::{json, Value};

use super::campaigns::{act, create, def, server, status, ANN, LIMITED, ROOT};
use super::*;

fn query(s: &Server, token: &str, text: &str) -> RawResponse {
    post(&s.client(Some(token)), "/v1/query", "text/plain", text)
}

#[track_caller]
fn forbidden(r: &RawResponse, campaign: &str) -> Value {
    let e = status(r, 403);
    assert_eq!(e["error"]["code"], "forbidden_field", "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`city`") && message.contains(&format!("campaign `{campaign}`")),
        "{message}"
    );
    e
}

#[test]
fn a_limited_key_cannot_reach_a_campaign_that_reads_a_field_it_may_not_use() {
    let (_dir, _store, _data, s) = server(300);
    // `bycity` reads city (its audience); `bytemplate` reads city in its
    // template only; `byage` reads only age, which `limited` may use.
    let only_age = json!({"variants": [{"name": "a", "weight": 1, "template": "Hi"}]});
    status(
        &create(&s, ANN, &def("bycity", "city = 'c000'", only_age.clone())),
        201,
    );
    status(
        &create(&s, ANN, &def("bytemplate", "age > 30", json!({}))),
        201,
    );
    status(&create(&s, ANN, &def("byage", "age > 30", only_age)), 201);
    for name in ["bycity", "bytemplate", "byage"] {
        status(&act(&s, ANN, name, "start"), 200);
    }
    status(
        &query(
            &s,
            ROOT,
            "CREATE SEGMENT via_c AS SELECT FROM users WHERE in_campaign(bycity)",
        ),
        200,
    );

    // Listing and reading.
    let list = status(&get(&s.client(Some(LIMITED)), "/v1/campaigns"), 200);
    let names: Vec<&str> = list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["byage"]);
    let all = status(&get(&s.client(Some(ANN)), "/v1/campaigns"), 200);
    assert_eq!(all["campaigns"].as_array().unwrap().len(), 3);
    forbidden(
        &get(&s.client(Some(LIMITED)), "/v1/campaigns/bycity"),
        "bycity",
    );
    forbidden(
        &get(&s.client(Some(LIMITED)), "/v1/campaigns/bytemplate"),
        "bytemplate",
    );
    status(&get(&s.client(Some(LIMITED)), "/v1/campaigns/byage"), 200);
    let v = status(&query(&s, LIMITED, "SHOW CAMPAIGNS"), 200);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0][0], "byage");
    let e = forbidden(
        &query(&s, LIMITED, "CALL campaign_status('bycity')"),
        "bycity",
    );
    assert_eq!(
        (e["error"]["line"].as_u64(), e["error"]["column"].as_u64()),
        (Some(1), Some(22)),
        "{e}"
    );
    status(&query(&s, LIMITED, "CALL campaign_status('byage')"), 200);

    // Acting on it and dropping it.
    forbidden(&act(&s, LIMITED, "bycity", "pause"), "bycity");
    let r = s
        .client(Some(LIMITED))
        .request("DELETE", "/v1/campaigns/bycity", &[], None)
        .unwrap();
    forbidden(&r, "bycity");
    forbidden(&query(&s, LIMITED, "DROP CAMPAIGN bycity"), "bycity");
    assert_eq!(
        status(&get(&s.client(Some(ANN)), "/v1/campaigns/bycity"), 200)["state"],
        "running"
    );

    // Its groups in WHERE, directly and through a segment.
    let e = forbidden(
        &query(
            &s,
            LIMITED,
            "SELECT COUNT(*) FROM users WHERE in_campaign(bycity)",
        ),
        "bycity",
    );
    assert_eq!(e["error"]["column"], 46, "{e}");
    forbidden(
        &query(
            &s,
            LIMITED,
            "SELECT COUNT(*) FROM users WHERE sent(bytemplate) AND age > 3",
        ),
        "bytemplate",
    );
    let e = status(
        &query(
            &s,
            LIMITED,
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT via_c",
        ),
        403,
    );
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("campaign `bycity`") && message.contains("segment `via_c`"),
        "{message}"
    );
    let n = count(
        &s.client(Some(LIMITED)),
        "SELECT COUNT(*) FROM users WHERE in_campaign(byage)",
    );
    assert_eq!(
        n,
        count(
            &s.client(Some(ANN)),
            "SELECT COUNT(*) FROM users WHERE age > 30"
        )
    );
}
