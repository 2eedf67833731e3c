//! Queries, tables, profiles, errors and metrics.

use serde_json::json;

use super::*;

#[test]
fn queries_tables_profiles_and_metrics() {
    let (_dir, store, data) = generated(3000);
    let server = Server::start(
        &store,
        Settings {
            max_json_rows: Some(50),
            max_body_bytes: Some(4096),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    assert_eq!(get(&c, "/healthz").text(), "ok\n");

    // Counts, as text and as JSON, against the naive scan.
    let want = data.count(|r| r.get("city") == "c000" && r.get("os") == "ios");
    let q = "SELECT COUNT(*) FROM users WHERE city = 'c000' AND os = 'ios'";
    assert_eq!(count(&c, q), want);
    let r = post(
        &c,
        "/v1/query",
        "application/json",
        &json!({ "query": q }).to_string(),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["rows"], json!([[want]]));
    let took = &v["elapsed_ms"];
    assert!(took.is_f64(), "{v}");
    let want = data.count(|r| r.events("search", "2026-11-16", "2026-11-22") > 3);
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE count(search, last 7 days) > 3 AS OF '2026-11-22'"
        ),
        want
    );

    // INSIGHT over HTTP: one table, read role, counted under its kind.
    let v = c
        .query("INSIGHT gender FROM users WHERE os = 'ios' TOP 1")
        .unwrap();
    assert_eq!(
        v["columns"],
        json!([
            "field",
            "value",
            "count",
            "share",
            "table_count",
            "table_share",
            "tgi"
        ])
    );
    let ios = data.count(|r| r.get("os") == "ios");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[1][1], json!("other"));
    let counted: u64 = rows.iter().map(|r| r[2].as_u64().unwrap()).sum();
    assert_eq!(
        counted,
        data.count(|r| r.get("os") == "ios" && !r.get("gender").is_empty())
    );
    assert!(counted <= ios);

    // Several statements: the last answer on top, each in `results`.
    let v = c
        .query("SHOW TABLES; SELECT COUNT(*) FROM users WHERE is_owner")
        .unwrap();
    assert_eq!(v["rows"], json!([[data.count(|r| r.is("is_owner"))]]));
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(v["results"][0]["rows"][0][0], json!("users"));

    // A value no row holds is a warning, not an error.
    let v = c
        .query("SELECT COUNT(*) FROM users WHERE city = 'nowhere'")
        .unwrap();
    assert_eq!(v["rows"], json!([[0]]));
    assert_eq!(v["warnings"][0]["code"], json!("unknown_value"), "{v}");

    // Ids: JSON up to the cap, CSV streamed in full and in row order.
    let want_ids: Vec<&str> = data
        .rows()
        .filter(|r| r.get("city") == "c001")
        .map(|r| r.id())
        .collect();
    assert!(
        want_ids.len() > 50,
        "the test needs a segment past the JSON cap"
    );
    let v = c
        .query("SELECT user_id FROM users WHERE city = 'c001' LIMIT 5 OFFSET 2")
        .unwrap();
    let got: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(got, want_ids[2..7]);
    let e = c
        .query("SELECT user_id FROM users WHERE city = 'c001'")
        .unwrap_err();
    assert!(e.to_string().contains("result_too_large"), "{e}");
    let r = c
        .request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(b"SELECT user_id FROM users WHERE city = 'c001'"),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.content_type.as_deref().unwrap().starts_with("text/csv"));
    let text = r.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user_id"));
    assert_eq!(lines.collect::<Vec<_>>(), want_ids);
    let r = c
        .request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(b"SELECT user_id FROM users WHERE city = 'c001' LIMIT 3 OFFSET 1"),
        )
        .unwrap();
    assert_eq!(
        r.text(),
        format!("user_id\n{}\n", want_ids[1..4].join("\n"))
    );
    let r = c
        .request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(b"SELECT city, COUNT(*) FROM users GROUP BY city ORDER BY COUNT(*) DESC LIMIT 2"),
        )
        .unwrap();
    assert!(r.text().starts_with("city,count\n"), "{}", r.text());

    // Client mistakes: 4xx with code, message, line, column and hint.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "SELECT COUNT(*) FROM users\nWHERE cty = 'c000'",
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["code"], json!("unknown_field"));
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(2), json!(7))
    );
    assert_eq!(e["hint"], json!("did you mean `city`?"));
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "SELECT COUNT(*) FROM users WHERE age >",
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expected"));
    let r = post(&c, "/v1/query", "text/plain", "SELECT COUNT(*) FROM nope");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("unknown_table"));
    assert_eq!(
        post(&c, "/v1/query", "text/plain", "  ").json()["error"]["code"],
        json!("empty_query")
    );
    assert_eq!(
        post(&c, "/v1/query", "application/json", "{\"q\": 1}").json()["error"]["code"],
        json!("bad_json")
    );
    assert_eq!(post(&c, "/v1/query", "application/json", "{").status, 400);
    let r = c
        .request("POST", "/v1/query", &[], Some(&[0xff, 0xfe, b' ']))
        .unwrap();
    assert_eq!(r.json()["error"]["code"], json!("bad_body"));
    let big = format!(
        "SELECT COUNT(*) FROM users WHERE {}",
        "is_owner OR ".repeat(400)
    );
    let r = post(&c, "/v1/query", "text/plain", &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], json!("body_too_large"));
    let r = get(&c, "/v2/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], json!("no_route"));
    // A body cut short: the client promised more than it sent.
    let (code, _) = raw(
        server.addr,
        b"POST /v1/query HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nSELECT COUNT(*)",
    );
    assert_eq!(code, 400);

    // Tables.
    let v = get(&c, "/v1/tables").json();
    assert_eq!(v["tables"][0]["name"], json!("users"));
    assert_eq!(v["tables"][0]["rows"], json!(3000));
    let v = get(&c, "/v1/tables/users").json();
    let fields = v["fields"].as_array().unwrap();
    assert_eq!(fields.len(), data.header.len() - 1 + 4, "{v}");
    let city = fields.iter().find(|f| f["name"] == json!("city")).unwrap();
    assert_eq!(city["kind"], json!("ENUM"));
    let cities: std::collections::BTreeSet<&str> = data.rows().map(|r| r.get("city")).collect();
    assert_eq!(city["values"], json!(cities.len()));
    assert!(v["bytes"].as_u64().unwrap() > 0);
    assert_eq!(get(&c, "/v1/tables/nope").status, 404);

    // Profiles against the CSV.
    for id in ["u000000000", "u000000042", "u000002999"] {
        let row = data.row(id).unwrap();
        let r = get(
            &c,
            &format!("/v1/tables/users/profiles/{id}?as_of=2026-11-22"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let f = &v["fields"];
        assert_eq!(v["id"], json!(id));
        assert_eq!(f["city"], json!(row.get("city")));
        assert_eq!(f["age"], row.int("age").map_or(Value::Null, |a| json!(a)));
        assert_eq!(f["is_owner"], json!(row.is("is_owner")));
        let interests: Vec<&str> = row
            .get("interests")
            .split('|')
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(f["interests"], json!(interests));
        for event in ["search", "view", "book", "favorite"] {
            let days: serde_json::Map<String, Value> = row
                .event_days(event)
                .iter()
                .filter(|(d, _)| d.as_str() >= "2026-10-24")
                .map(|(d, c)| (d.clone(), json!(c)))
                .collect();
            let total: u64 = days.values().map(|c| c.as_u64().unwrap()).sum();
            assert_eq!(
                f[event],
                json!({"days": days, "total": total}),
                "{id} {event}"
            );
        }
    }
    let r = get(&c, "/v1/tables/users/profiles/nobody");
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!("unknown_id"))
    );
    assert_eq!(
        get(&c, "/v1/tables/users/profiles/u000000001?days=0").status,
        400
    );
    assert_eq!(
        get(&c, "/v1/tables/users/profiles/u000000001?as_of=yesterday").status,
        400
    );

    // Metrics name what happened.
    let m = get(&c, "/metrics").text();
    assert!(
        m.contains("segdb_http_requests_total{method=\"POST\",route=\"/v1/query\",status=\"200\"}"),
        "{m}"
    );
    assert!(
        m.contains("segdb_http_requests_total{method=\"POST\",route=\"/v1/query\",status=\"413\"}")
    );
    assert!(m.contains("segdb_http_request_duration_seconds_bucket{route=\"/v1/tables/{table}/profiles/{id}\",le=\"+Inf\"} 6"), "{m}");
    assert!(m.contains("segdb_table_rows{table=\"users\"} 3000"));
    assert!(m.contains("segdb_queries_total{kind=\"select\"}"));
    assert!(m.contains("segdb_queries_total{kind=\"insight\"}"), "{m}");
    assert!(m.contains("segdb_heap_bytes "));
    assert!(m.contains("segdb_mapped_bytes "));
    // The query threads stayed awake after answering (query_spin_us is
    // 500 by default), and say for how long.
    let spun: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("segdb_query_spin_seconds_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no segdb_query_spin_seconds_total in {m}"));
    assert!(spun > 0.0, "{spun}");
}
