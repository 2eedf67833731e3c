//! Derived tags over HTTP: made, listed, used in WHERE (checked against a
//! scan of the generated CSV), following real-time writes and AS OF, kept
//! from being dropped while used (409 `in_use`).

use serde_json::json;

use super::*;

const AS_OF: &str = "AS OF '2026-11-22'";

/// Whether a row has events of `event` in the 30 days ending 2026-11-22.
fn did30(r: &segdb_tests::generated::Row<'_>, event: &str) -> bool {
    r.events(event, "2026-10-24", "2026-11-22") > 0
}

fn lifecycle(r: &segdb_tests::generated::Row<'_>) -> &'static str {
    if did30(r, "book") {
        "active"
    } else if did30(r, "view") {
        "engaged"
    } else if r.int("last_login_days").is_some_and(|d| d > 90) {
        "churn_risk"
    } else {
        "dormant"
    }
}

#[test]
fn tags_are_made_listed_used_and_kept_while_used() {
    let (_dir, store, data) = generated(2000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);

    let v = c
        .query(
            "CREATE TAG lifecycle ON users AS CASE WHEN did(book, last 30 days) THEN 'active' \
             WHEN did(view, last 30 days) THEN 'engaged' WHEN last_login_days > 90 \
             THEN 'churn_risk' ELSE 'dormant' END",
        )
        .unwrap();
    assert_eq!(
        v["rows"][0],
        json!([
            "lifecycle",
            "users",
            "ENUM",
            ["active", "engaged", "churn_risk", "dormant"]
        ])
    );
    c.query("CREATE TAG high_value ON users AS ltv >= 5000")
        .unwrap();

    // Every value's count is the scan's; the values partition the table.
    for value in ["active", "engaged", "churn_risk", "dormant"] {
        let want = data.rows().filter(|r| lifecycle(r) == value).count() as u64;
        let q = format!("SELECT COUNT(*) FROM users WHERE lifecycle = '{value}' {AS_OF}");
        assert_eq!(count(&c, &q), want, "{q}");
    }
    let want = data
        .rows()
        .filter(|r| r.int("ltv").is_some_and(|l| l >= 5000) && lifecycle(r) != "dormant")
        .count() as u64;
    let q = format!(
        "SELECT COUNT(*) FROM users WHERE high_value AND lifecycle IN ('active', 'engaged', 'churn_risk') {AS_OF}"
    );
    assert_eq!(count(&c, &q), want);
    let want = data
        .rows()
        .filter(|r| r.int("ltv").is_none_or(|l| l < 5000))
        .count() as u64;
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE NOT high_value"),
        want
    );

    // GROUP BY the tag: a count per value, as the scan counts them.
    let v = c
        .query(&format!(
            "SELECT lifecycle, COUNT(*) FROM users WHERE is_owner GROUP BY lifecycle \
             ORDER BY COUNT(*) DESC {AS_OF}"
        ))
        .unwrap();
    assert_eq!(v["columns"], json!(["lifecycle", "count"]));
    let mut want: Vec<(String, u64)> = Vec::new();
    for value in ["active", "engaged", "churn_risk", "dormant"] {
        let n = data
            .rows()
            .filter(|r| r.is("is_owner") && lifecycle(r) == value)
            .count() as u64;
        if n > 0 {
            want.push((value.to_owned(), n));
        }
    }
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let want: Vec<serde_json::Value> = want.into_iter().map(|(v, n)| json!([v, n])).collect();
    assert_eq!(v["rows"], json!(want));
    let v = c
        .query("SELECT high_value, COUNT(*) FROM users GROUP BY high_value")
        .unwrap();
    let high = data
        .rows()
        .filter(|r| r.int("ltv").is_some_and(|l| l >= 5000))
        .count() as u64;
    assert_eq!(
        v["rows"],
        json!([["false", data.rows().count() as u64 - high], ["true", high]])
    );

    // SHOW FIELDS lists them after the fields, each as a field of its kind.
    let v = c.query("SHOW FIELDS FROM users").unwrap();
    let rows = v["rows"].as_array().unwrap();
    // The catalog's columns after the six: description, owner, source
    // (`derived`), coverage, rows_with_value, last_written, segments,
    // campaigns, tags.
    let catalog = [
        json!(null),
        json!(null),
        json!("derived"),
        json!(null),
        json!(null),
        json!(null),
        json!([]),
        json!([]),
        json!([]),
    ];
    let with = |first: serde_json::Value| {
        let mut row = first.as_array().unwrap().clone();
        row.extend(catalog.iter().cloned());
        serde_json::Value::Array(row)
    };
    assert_eq!(
        rows[rows.len() - 2..],
        [
            with(json!(["high_value", "BOOL", false, null, null, null])),
            with(json!(["lifecycle", "ENUM", false, null, 4, true]))
        ]
    );

    // SHOW TAGS lists both, by name.
    let v = c.query("SHOW TAGS").unwrap();
    assert_eq!(
        v["columns"],
        json!(["tag", "table", "kind", "definition", "values"])
    );
    assert_eq!(
        v["rows"][0],
        json!(["high_value", "users", "BOOL", "ltv >= 5000", null])
    );
    assert_eq!(v["rows"][1][0], json!("lifecycle"));

    // A mistake is a 400 with its place, and changes nothing.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "SELECT COUNT(*) FROM users WHERE lifecycle = 'activ'",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["column"], json!(46));
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CREATE TAG city ON users AS is_owner",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CREATE OR REPLACE TAG high_value ON users AS high_value OR is_owner",
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("tag_cycle"))
    );

    // Used by a dynamic segment and by another tag: not dropped.
    c.query("CREATE SEGMENT vip AS SELECT FROM users WHERE high_value AND is_owner")
        .unwrap();
    c.query("CREATE TAG hot ON users AS lifecycle = 'active' OR high_value")
        .unwrap();
    let r = post(&c, "/v1/query", "text/plain", "DROP TAG high_value");
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (409, json!("in_use")),
        "{}",
        r.text()
    );
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("segment `vip`") && message.contains("tag `hot`"),
        "{message}"
    );
    c.query("DROP SEGMENT vip; DROP TAG hot; DROP TAG high_value")
        .unwrap();
    let v = c.query("SHOW TAGS").unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 1, "{v}");
    let r = post(&c, "/v1/query", "text/plain", "DROP TAG high_value");
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("unknown_tag"))
    );
}

#[test]
fn a_tag_follows_real_time_writes_the_day_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE people (plan ENUM, spend INT, buy EVENT)")
        .unwrap();
    c.query(
        "CREATE TAG stage ON people AS CASE WHEN did(buy, last 7 days) THEN 'buyer' \
         WHEN spend >= 100 THEN 'spender' END",
    )
    .unwrap();
    let ingest = |body: &str| {
        let r = c
            .request(
                "POST",
                "/v1/tables/people/ingest",
                &[("content-type", "application/x-ndjson")],
                Some(body.as_bytes()),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    };
    ingest(
        "{\"id\":\"p1\",\"set\":{\"spend\":150}}\n\
         {\"id\":\"p2\",\"set\":{\"spend\":5}}\n\
         {\"id\":\"p3\",\"set\":{\"plan\":\"free\"}}\n",
    );
    let n = |q: &str| count(&c, q);
    let q_buyer = "SELECT COUNT(*) FROM people WHERE stage = 'buyer' AS OF '2026-03-12'";
    let q_spender = "SELECT COUNT(*) FROM people WHERE stage = 'spender' AS OF '2026-03-12'";
    let q_null = "SELECT COUNT(*) FROM people WHERE stage IS NULL AS OF '2026-03-12'";
    assert_eq!((n(q_buyer), n(q_spender), n(q_null)), (0, 1, 2));

    // An acknowledged write is seen by the next statement: p1 and p2 buy.
    ingest(
        "{\"id\":\"p1\",\"event\":\"buy\",\"day\":\"2026-03-10\"}\n\
         {\"id\":\"p2\",\"event\":\"buy\",\"day\":\"2026-03-10\"}\n",
    );
    // The first WHEN wins: p1 spends and buys, and is a buyer.
    assert_eq!((n(q_buyer), n(q_spender), n(q_null)), (2, 0, 1));
    // Ten days later the window has moved past the purchases.
    let later = "SELECT COUNT(*) FROM people WHERE stage = 'spender' AS OF '2026-03-20'";
    assert_eq!(n(later), 1);
    let later = "SELECT COUNT(*) FROM people WHERE stage IS NULL AS OF '2026-03-20'";
    assert_eq!(n(later), 2);

    // The tag survives a restart.
    drop(c);
    drop(server);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    assert_eq!(count(&c, q_buyer), 2);
    let v = c.query("SHOW TAGS").unwrap();
    assert_eq!(v["rows"][0][0], json!("stage"));
}
