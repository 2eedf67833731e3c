//! The field catalog (issue 15, item 4): catalog entries set by ALTER
//! TABLE … ALTER FIELD … SET and read back over HTTP and in SHOW FIELDS,
//! kept across a restart, searched; coverage equal to a count per kind;
//! the last-written time moved by an ingest; the segments and campaigns
//! that use a field.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// 40 users: `city` on every other, `tags` on every third, `vip` on every
/// fourth, `age` on every fifth, `name` on every sixth; `visit` events
/// come by ingest for every seventh.
fn csv() -> String {
    let mut s = String::from("user_id,city,tags,vip,age,name\n");
    for i in 0..40 {
        let cell = |every: usize, v: String| if i % every == 0 { v } else { String::new() };
        s.push_str(&format!(
            "u{i},{},{},{},{},{}\n",
            cell(2, format!("c{}", i % 3)),
            cell(3, "a|b".into()),
            cell(4, (i % 8 == 0).to_string()),
            cell(5, i.to_string()),
            cell(6, format!("Name {i}")),
        ));
    }
    s
}

fn field<'v>(answer: &'v Value, name: &str) -> &'v Value {
    answer["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == json!(name)))
        .unwrap_or_else(|| panic!("no field `{name}` in {answer}"))
}

fn describe(c: &Client) -> Value {
    let r = get(c, "/v1/tables/t");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn names(answer: &Value) -> Vec<String> {
    answer["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_catalog_is_set_read_searched_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE t (city ENUM, tags SET, vip BOOL, age INT, visit EVENT, name TEXT)")
        .unwrap();
    let r = post(&c, "/v1/tables/t/import", "text/csv", &csv());
    assert_eq!(r.status, 200, "{}", r.text());
    let events: String = (0..40)
        .step_by(7)
        .map(|i| format!("{{\"id\":\"u{i}\",\"event\":\"visit\",\"day\":\"2026-11-20\"}}\n"))
        .collect();
    let r = post(&c, "/v1/tables/t/ingest", "application/x-ndjson", &events);
    assert_eq!(r.status, 200, "{}", r.text());

    // Before any ALTER: the defaults, and a time for what the import wrote.
    let d = describe(&c);
    let city = field(&d, "city");
    assert_eq!(city["source"], json!("imported"), "{city}");
    assert_eq!(city["description"], Value::Null, "{city}");
    assert!(city["last_written"].is_string(), "{city}");
    let age_written = field(&d, "age")["last_written"].clone();
    assert!(field(&d, "visit")["last_written"].is_string(), "{d}");

    // Set, any subset in any order.
    let v = c
        .query(
            "ALTER TABLE t ALTER FIELD city SET DESCRIPTION 'Where the user lives' \
             CATEGORY 'basic' OWNER 'crm-team' SOURCE 'predictive'",
        )
        .unwrap();
    assert_eq!(v["rows"][0][5], json!("predictive"), "{v}");
    c.query("ALTER TABLE t ALTER FIELD age SET OWNER 'Data Team' DESCRIPTION 'Age in years'")
        .unwrap();
    c.query("ALTER TABLE t ALTER FIELD visit SET SOURCE 'realtime'")
        .unwrap();

    // A bad one: 400 with the place, and nothing changes.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "ALTER TABLE t ALTER FIELD city SET OWNER 'x' SOURCE 'model'",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["message"], json!("unknown source `model`"), "{e}");
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(1), Some(53)),
        "{e}"
    );
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "ALTER TABLE t ALTER FIELD nope SET OWNER 'x'",
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // Users: a dynamic segment on `age`, a campaign on `vip` (audience)
    // and `name` (template).
    c.query("CREATE SEGMENT older AS SELECT FROM t WHERE age > 10")
        .unwrap();
    c.query(&format!(
        "CREATE CAMPAIGN greet ON t AUDIENCE WHERE vip CHANNEL webhook (url => '{}', \
         max_retries => 0) VARIANT a WEIGHT 1 TEMPLATE 'Hi {{name}}' \
         SCHEDULE AT '2099-01-01T00:00:00Z'",
        super::campaigns::nowhere()
    ))
    .unwrap();

    let check = |c: &Client| {
        let d = describe(c);
        let rows = d["rows"].as_u64().unwrap();
        assert_eq!(rows, 40);
        let city = field(&d, "city");
        assert_eq!(city["description"], json!("Where the user lives"), "{city}");
        assert_eq!(city["category"], json!("basic"), "{city}");
        assert_eq!(city["owner"], json!("crm-team"), "{city}");
        assert_eq!(city["source"], json!("predictive"), "{city}");
        assert_eq!(city["values"], json!(3), "{city}");
        assert_eq!(field(&d, "visit")["source"], json!("realtime"));
        assert_eq!(field(&d, "age")["owner"], json!("Data Team"));
        // Coverage: the count of rows with a value, over the rows.
        for (f, filter, expected) in [
            ("city", "city IS NOT NULL", 20),
            ("tags", "tags IS NOT NULL", 14),
            ("vip", "vip IS NOT NULL", 10),
            ("age", "age IS NOT NULL", 8),
            ("visit", "did(visit, '2026-11-01'..'2026-11-30')", 6),
        ] {
            let n = count(c, &format!("SELECT COUNT(*) FROM t WHERE {filter}"));
            assert_eq!(n, expected, "{filter}");
            let e = field(&d, f);
            assert_eq!(e["rows_with_value"], json!(n), "{e}");
            assert_eq!(e["coverage"], json!(n as f64 / rows as f64), "{e}");
        }
        // TEXT is not indexed: the rows the import gave a name.
        assert_eq!(field(&d, "name")["rows_with_value"], json!(7), "{d}");
        assert_eq!(field(&d, "name")["coverage"], json!(7.0 / 40.0), "{d}");
        // Who uses what.
        assert_eq!(field(&d, "age")["segments"], json!(["older"]), "{d}");
        assert_eq!(field(&d, "vip")["campaigns"], json!(["greet"]), "{d}");
        assert_eq!(field(&d, "name")["campaigns"], json!(["greet"]), "{d}");
        assert_eq!(field(&d, "city")["segments"], json!([]), "{d}");
        assert_eq!(field(&d, "city")["campaigns"], json!([]), "{d}");

        // SHOW FIELDS: the columns it had, then the catalog's.
        let v = c.query("SHOW FIELDS FROM t").unwrap();
        let r = &v;
        let cols: Vec<&str> = r["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            cols,
            [
                "field",
                "kind",
                "sensitive",
                "category",
                "values",
                "closed",
                "description",
                "owner",
                "source",
                "coverage",
                "rows_with_value",
                "last_written",
                "segments",
                "campaigns",
                "tags"
            ]
        );
        let row = &r["rows"][0];
        assert_eq!(row[0], json!("city"));
        assert_eq!(row[3], json!("basic"));
        assert_eq!(row[6], json!("Where the user lives"));
        assert_eq!(row[8], json!("predictive"));
        assert_eq!(row[9], json!(0.5));
        assert_eq!(row[10], json!(20));
        d
    };
    let before = check(&c);

    // Search: name, description, category or owner, any case.
    let search = |q: &str| {
        let r = get(&c, &format!("/v1/tables/t/fields?search={q}"));
        assert_eq!(r.status, 200, "{}", r.text());
        names(&r.json())
    };
    assert_eq!(search("CRM"), ["city"]);
    assert_eq!(search("lives"), ["city"]);
    assert_eq!(search("BASIC"), ["city"]);
    assert_eq!(search("data%20team"), ["age"]);
    assert_eq!(search("a"), ["city", "tags", "age", "name"]);
    assert_eq!(search("zzz"), Vec::<String>::new());
    assert_eq!(
        names(&get(&c, "/v1/tables/t/fields").json()).len(),
        6,
        "no search: every field"
    );
    assert_eq!(get(&c, "/v1/tables/t/fields?q=x").status, 400);
    assert_eq!(get(&c, "/v1/tables/nope/fields").status, 404);

    // An ingest that writes `city` moves its time, not `age`'s.
    let old = field(&before, "city")["last_written"].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = post(
            &c,
            "/v1/tables/t/ingest",
            "application/x-ndjson",
            "{\"id\":\"u1\",\"set\":{\"city\":\"c9\"}}\n",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let d = describe(&c);
        let now = field(&d, "city")["last_written"].clone();
        assert!(now.as_str() >= old.as_str(), "{now} < {old}");
        if now != old {
            break;
        }
        assert!(Instant::now() < deadline, "last_written stayed {old}");
    }
    let d = describe(&c);
    assert_eq!(field(&d, "age")["last_written"], age_written, "{d}");
    assert_eq!(field(&d, "city")["rows_with_value"], json!(21), "{d}");
    let written = field(&d, "city")["last_written"].clone();
    // A graceful shutdown flushes, which makes the time durable.
    segdb_server::http::ingest::flush_at_shutdown(&server.state.store);
    drop(server);

    // After a restart: the same catalog, the ingest's time included.
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let d = describe(&c);
    assert_eq!(field(&d, "city")["last_written"], written, "{d}");
    assert_eq!(field(&d, "city")["owner"], json!("crm-team"), "{d}");
    assert_eq!(
        field(&d, "age")["description"],
        json!("Age in years"),
        "{d}"
    );
    assert_eq!(field(&d, "visit")["source"], json!("realtime"), "{d}");
    assert_eq!(field(&d, "age")["segments"], json!(["older"]), "{d}");
    assert_eq!(field(&d, "vip")["campaigns"], json!(["greet"]), "{d}");

    // A batch not flushed when the server stops (a crash): replayed from
    // the WAL at the next start, it counts as written then, never before
    // it was acknowledged.
    let r = post(
        &c,
        "/v1/tables/t/ingest",
        "application/x-ndjson",
        "{\"id\":\"u3\",\"set\":{\"city\":\"c9\"}}\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let acked = field(&describe(&c), "city")["last_written"].clone();
    drop(server);
    let server = Server::start(&store, Settings::default());
    let d = describe(&server.client(None));
    let replayed = field(&d, "city")["last_written"].clone();
    assert!(replayed.as_str() >= acked.as_str(), "{replayed} < {acked}");
    assert_eq!(field(&d, "city")["rows_with_value"], json!(22), "{d}");
}
