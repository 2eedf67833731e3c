//! Derived tags where a field is used beyond WHERE and GROUP BY: in the
//! field lists of INSIGHT and COMPARE (counts checked against a scan of
//! the generated CSV and against `SELECT COUNT(*) … WHERE tag = 'v'`), in
//! profiles and in campaign templates (a run to the file channel).

use serde_json::{json, Value};

use super::*;

const AS_OF: &str = "AS OF '2026-11-22'";

/// The same rule as `tags.rs`: the lifecycle of a row on 2026-11-22.
fn lifecycle(r: &segdb_tests::generated::Row<'_>) -> &'static str {
    lifecycle_on(r, "2026-10-24", "2026-11-22")
}

/// The lifecycle of a row on `last`, 30 days from `first`.
fn lifecycle_on(r: &segdb_tests::generated::Row<'_>, first: &str, last: &str) -> &'static str {
    let did30 = |event: &str| r.events(event, first, last) > 0;
    if did30("book") {
        "active"
    } else if did30("view") {
        "engaged"
    } else if r.int("last_login_days").is_some_and(|d| d > 90) {
        "churn_risk"
    } else {
        "dormant"
    }
}

const LIFECYCLE: &str = "CREATE TAG lifecycle ON users AS CASE WHEN did(book, last 30 days) \
    THEN 'active' WHEN did(view, last 30 days) THEN 'engaged' WHEN last_login_days > 90 \
    THEN 'churn_risk' ELSE 'dormant' END";

fn high_value(r: &segdb_tests::generated::Row<'_>) -> bool {
    r.int("ltv").is_some_and(|l| l >= 5000)
}

/// The rows of `field` in an INSIGHT answer: value -> (count, table_count).
fn field_rows(v: &Value, field: &str) -> Vec<(String, u64, u64)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[0] == json!(field))
        .map(|r| {
            (
                r[1].as_str().unwrap().to_owned(),
                r[2].as_u64().unwrap(),
                r[4].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn tags_in_insight_and_compare_count_like_fields() {
    let (_dir, store, data) = generated(2000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(LIFECYCLE).unwrap();
    c.query("CREATE TAG high_value ON users AS ltv >= 5000")
        .unwrap();
    let all = data.rows().count() as u64;
    let owners = data.count(|r| r.is("is_owner"));

    // INSIGHT with a list: the tags' rows stand where the list names them,
    // each value counted in the segment and in the table as a scan does.
    let v = c
        .query(&format!(
            "INSIGHT lifecycle, gender, high_value FROM users WHERE is_owner {AS_OF}"
        ))
        .unwrap();
    let order: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    let first_gender = order.iter().position(|f| *f == "gender").unwrap();
    let last_lifecycle = order.iter().rposition(|f| *f == "lifecycle").unwrap();
    let first_high = order.iter().position(|f| *f == "high_value").unwrap();
    assert!(
        last_lifecycle < first_gender && first_gender < first_high,
        "{order:?}"
    );
    let mut want: Vec<(String, u64, u64)> = ["active", "engaged", "churn_risk", "dormant"]
        .iter()
        .map(|value| {
            (
                value.to_string(),
                data.count(|r| r.is("is_owner") && lifecycle(r) == *value),
                data.count(|r| lifecycle(r) == *value),
            )
        })
        .filter(|(_, n, _)| *n > 0)
        .collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(field_rows(&v, "lifecycle"), want);
    // The same counts as the WHERE form of the tag.
    for (value, n, table_n) in field_rows(&v, "lifecycle") {
        let q =
            format!("SELECT COUNT(*) FROM users WHERE is_owner AND lifecycle = '{value}' {AS_OF}");
        assert_eq!(count(&c, &q), n, "{q}");
        let q = format!("SELECT COUNT(*) FROM users WHERE lifecycle = '{value}' {AS_OF}");
        assert_eq!(count(&c, &q), table_n, "{q}");
    }
    // Shares and TGI as for a field: share = count / segment rows.
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == json!("lifecycle"))
        .unwrap();
    let (n, table_n) = (row[2].as_u64().unwrap(), row[4].as_u64().unwrap());
    assert_eq!(row[3].as_f64().unwrap(), n as f64 / owners as f64);
    assert_eq!(row[5].as_f64().unwrap(), table_n as f64 / all as f64);
    // A BOOL tag: true and false, every row holding one.
    let high_owners = data.count(|r| r.is("is_owner") && high_value(r));
    let high_all = data.count(high_value);
    let mut want = vec![
        ("true".to_owned(), high_owners, high_all),
        ("false".to_owned(), owners - high_owners, all - high_all),
    ];
    want.retain(|w| w.1 > 0);
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(field_rows(&v, "high_value"), want);

    // TOP keeps the largest and sums the rest as `other`.
    let v = c
        .query(&format!(
            "INSIGHT lifecycle FROM users WHERE is_owner TOP 1 {AS_OF}"
        ))
        .unwrap();
    let rows = field_rows(&v, "lifecycle");
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[1].0, "other");
    assert_eq!(rows[0].1 + rows[1].1, owners);

    // INSIGHT without a list: every field, the derived tags after the
    // stored ones, by name.
    let v = c
        .query(&format!("INSIGHT FROM users WHERE is_owner {AS_OF}"))
        .unwrap();
    let fields: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    let last_stored = fields.iter().rposition(|f| *f == "interests").unwrap();
    let first_high = fields.iter().position(|f| *f == "high_value").unwrap();
    let first_lifecycle = fields.iter().position(|f| *f == "lifecycle").unwrap();
    assert!(
        last_stored < first_high && first_high < first_lifecycle,
        "{fields:?}"
    );
    assert_eq!(
        field_rows(&v, "lifecycle").iter().map(|r| r.1).sum::<u64>(),
        owners
    );

    // COMPARE: each value in A and in B, as the scan counts them.
    let v = c
        .query(&format!(
            "COMPARE lifecycle, high_value FROM users WHERE is_owner VERSUS NOT is_owner {AS_OF}"
        ))
        .unwrap();
    let rows = v["rows"].as_array().unwrap();
    let mut want: Vec<(String, u64, u64)> = ["active", "engaged", "churn_risk", "dormant"]
        .iter()
        .map(|value| {
            (
                value.to_string(),
                data.count(|r| r.is("is_owner") && lifecycle(r) == *value),
                data.count(|r| !r.is("is_owner") && lifecycle(r) == *value),
            )
        })
        .filter(|(_, a, b)| a + b > 0)
        .collect();
    want.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| b.2.cmp(&a.2))
            .then_with(|| a.0.cmp(&b.0))
    });
    let got: Vec<(String, u64, u64)> = rows
        .iter()
        .filter(|r| r[0] == json!("lifecycle"))
        .map(|r| {
            (
                r[1].as_str().unwrap().to_owned(),
                r[2].as_u64().unwrap(),
                r[4].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let high: Vec<(&str, u64, u64)> = rows
        .iter()
        .filter(|r| r[0] == json!("high_value"))
        .map(|r| {
            (
                r[1].as_str().unwrap(),
                r[2].as_u64().unwrap(),
                r[4].as_u64().unwrap(),
            )
        })
        .collect();
    let t = high.iter().find(|r| r.0 == "true").unwrap();
    assert_eq!(
        (t.1, t.2),
        (
            high_owners,
            data.count(|r| !r.is("is_owner") && high_value(r))
        )
    );

    // Mistakes are 400s with their place.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "INSIGHT lifecycle, lifecycle FROM users",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["column"], json!(20));
}

#[test]
fn a_profile_shows_each_tags_value_for_the_row() {
    let (_dir, store, data) = generated(500);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(LIFECYCLE).unwrap();
    c.query("CREATE TAG high_value ON users AS ltv >= 5000")
        .unwrap();
    // No ELSE: a row no WHEN holds for has no value.
    c.query("CREATE TAG young ON users AS CASE WHEN age < 30 THEN 'yes' END")
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for r in data.rows().step_by(7) {
        let id = r.id();
        let v = get(
            &c,
            &format!("/v1/tables/users/profiles/{id}?as_of=2026-11-22"),
        )
        .json();
        assert_eq!(
            v["derived"],
            json!(["high_value", "lifecycle", "young"]),
            "{v}"
        );
        let fields = &v["fields"];
        assert_eq!(fields["lifecycle"], json!(lifecycle(&r)), "{id}: {v}");
        assert_eq!(fields["high_value"], json!(high_value(&r)), "{id}");
        let young = r.int("age").is_some_and(|a| a < 30);
        assert_eq!(
            fields["young"],
            if young { json!("yes") } else { Value::Null },
            "{id}"
        );
        seen.insert(lifecycle(&r));

        // CALL profile: a `TAG` row per tag, after the fields.
        let v = c
            .query(&format!(
                "CALL profile('users', '{id}', as_of => '2026-11-22')"
            ))
            .unwrap();
        let rows = v["rows"].as_array().unwrap();
        let at = rows
            .iter()
            .position(|row| row[0] == json!("lifecycle"))
            .unwrap();
        assert_eq!(rows[at], json!(["lifecycle", "TAG", lifecycle(&r)]));
        assert_eq!(rows[at - 1][0], json!("high_value"));
        assert_eq!(rows[at - 1][1], json!("TAG"));
        assert!(rows[..at - 1].iter().all(|row| row[1] != json!("TAG")));
    }
    assert!(seen.len() >= 2, "{seen:?}");

    // The profile's day moves the tag's windows: long after the data no
    // one is active any more.
    let r = data.rows().find(|r| lifecycle(r) == "active").unwrap();
    let v = get(
        &c,
        &format!("/v1/tables/users/profiles/{}?as_of=2027-06-01", r.id()),
    )
    .json();
    assert_ne!(v["fields"]["lifecycle"], json!("active"), "{v}");
}

#[test]
fn a_template_renders_each_users_tag_values_on_the_runs_day() {
    use super::campaign_delivery::wait_state;
    use super::campaigns::{act, create, def, server, status, ANN, LIMITED, NOW, ROOT};
    let (dir, _store, data, s) = server(500);
    let c = s.client(Some(ROOT));
    c.query(LIFECYCLE).unwrap();
    c.query("CREATE TAG high_value ON users AS ltv >= 5000")
        .unwrap();
    let out = dir.path().join("out");
    let body = def(
        "tagged",
        "age > 25",
        json!({
            "channel": {"file": {"dir": out.to_str().unwrap(), "format": "jsonl"}},
            "variants": [
                {"name": "a", "weight": 1, "template": "{lifecycle}|{high_value}|{city}"},
            ],
        }),
    );
    // A key limited to `age` may not put a tag over other fields in a
    // message.
    let only_tag = def(
        "limited_tag",
        "age > 25",
        json!({"variants": [{"name": "a", "weight": 1, "template": "{lifecycle}"}]}),
    );
    let r = create(&s, LIMITED, &only_tag);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("field `book`"), "{}", r.text());
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "tagged", "start"), 200);
    wait_state(&s, "tagged", "done");
    // The run's day is the campaigns' clock's: its 30 days end there.
    let day = (NOW / 86_400) as i32;
    let last = segdb_engine::date::format_iso_day(day);
    let first = segdb_engine::date::format_iso_day(day - 29);
    let text = std::fs::read_to_string(out.join("tagged-r1-a.jsonl")).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut lines = 0;
    for line in text.lines() {
        let m: Value = serde_json::from_str(line).unwrap();
        let id = m["user_id"].as_str().unwrap();
        let r = data.row(id).unwrap();
        let want = format!(
            "{}|{}|{}",
            lifecycle_on(&r, &first, &last),
            high_value(&r),
            r.get("city")
        );
        assert_eq!(m["text"], json!(want), "{id}");
        seen.insert(lifecycle_on(&r, &first, &last));
        lines += 1;
    }
    assert!(lines > 100, "{lines} messages");
    assert!(seen.len() >= 2, "{seen:?}");
    // The template names the tag: it is in use.
    let r = post(&c, "/v1/query", "text/plain", "DROP TAG lifecycle");
    assert_eq!(r.status, 409, "{}", r.text());
}

#[test]
fn the_catalog_lists_the_tags_using_each_field() {
    use super::campaigns::{server, LIMITED, ROOT};
    let (_dir, _store, _data, server) = server(200);
    let c = server.client(Some(ROOT));
    c.query(LIFECYCLE).unwrap();
    c.query("CREATE TAG high_value ON users AS ltv >= 5000")
        .unwrap();
    // Through other tags: `hot` reads what they read, and `age`.
    c.query("CREATE TAG hot ON users AS (lifecycle = 'active' OR high_value) AND age < 40")
        .unwrap();
    c.query("CREATE SEGMENT rich AS SELECT FROM users WHERE high_value")
        .unwrap();
    let field = |answer: &Value, name: &str| -> Value {
        answer["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == json!(name))
            .unwrap_or_else(|| panic!("no `{name}` in {answer}"))
            .clone()
    };
    for path in ["/v1/tables/users", "/v1/tables/users/fields"] {
        let r = get(&c, path);
        assert_eq!(r.status, 200, "{}", r.text());
        let d = r.json();
        assert_eq!(
            field(&d, "book")["tags"],
            json!(["hot", "lifecycle"]),
            "{path}"
        );
        assert_eq!(
            field(&d, "last_login_days")["tags"],
            json!(["hot", "lifecycle"])
        );
        assert_eq!(field(&d, "ltv")["tags"], json!(["high_value", "hot"]));
        assert_eq!(field(&d, "age")["tags"], json!(["hot"]));
        assert_eq!(field(&d, "city")["tags"], json!([]));
        // The segment over a tag uses the tag's fields.
        assert_eq!(field(&d, "ltv")["segments"], json!(["rich"]));
    }
    let r = get(&c, "/v1/tables/users/fields?search=ltv");
    assert_eq!(
        field(&r.json(), "ltv")["tags"],
        json!(["high_value", "hot"])
    );

    // SHOW FIELDS: a `tags` column; a tag's row lists who uses the tag.
    let v = c.query("SHOW FIELDS FROM users").unwrap();
    let columns = v["columns"].as_array().unwrap();
    let at = |name: &str| columns.iter().position(|c| *c == json!(name)).unwrap();
    let row = |name: &str| -> Value {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == json!(name))
            .unwrap()
            .clone()
    };
    assert_eq!(row("ltv")[at("tags")], json!(["high_value", "hot"]));
    assert_eq!(row("high_value")[at("tags")], json!(["hot"]));
    assert_eq!(row("high_value")[at("segments")], json!(["rich"]));
    assert_eq!(row("lifecycle")[at("tags")], json!(["hot"]));
    assert_eq!(row("hot")[at("tags")], json!([]));

    // A key limited to `age` sees `age`, and no tag among its users (`hot`
    // reads fields it may not use), nor any tag's row.
    c.query("CREATE TAG adult ON users AS age >= 18").unwrap();
    let limited = server.client(Some(LIMITED));
    let d = get(&limited, "/v1/tables/users").json();
    assert_eq!(field(&d, "age")["tags"], json!(["adult"]), "{d}");
    let v = limited.query("SHOW FIELDS FROM users").unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0][at("tags")], json!(["adult"]));
    assert_eq!(
        get(&c, "/v1/tables/users").json()["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == json!("age"))
            .unwrap()["tags"],
        json!(["adult", "hot"])
    );
}

#[test]
fn the_json_insight_endpoint_reports_tags_like_fields() {
    let (_dir, store, data) = generated(2000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(LIFECYCLE).unwrap();
    c.query("CREATE TAG high_value ON users AS ltv >= 5000")
        .unwrap();
    let body = json!({
        "table": "users", "where": "is_owner", "as_of": "2026-11-22",
        "fields": ["lifecycle", "gender", "high_value"],
    });
    let r = post(&c, "/v1/insight", "application/json", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = r.json();
    let fields = v["fields"].as_array().unwrap();
    let names: Vec<&str> = fields
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lifecycle", "gender", "high_value"]);
    assert_eq!(fields[0]["kind"], "ENUM");
    assert_eq!(fields[2]["kind"], "BOOL");
    // Each value as a scan counts it, in the segment and in the table.
    for value in ["active", "engaged", "churn_risk", "dormant"] {
        let n = data.count(|r| r.is("is_owner") && lifecycle(r) == value);
        let table_n = data.count(|r| lifecycle(r) == value);
        let got = fields[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["value"] == value);
        match got {
            Some(x) => {
                assert_eq!(x["count"], n, "{value}");
                assert_eq!(x["table_count"], table_n, "{value}");
            }
            None => assert_eq!(n, 0, "{value} missing"),
        }
    }
    // Only tags named: the segment's size, and nothing else.
    let body = json!({"table": "users", "where": "is_owner", "as_of": "2026-11-22", "fields": ["high_value"]});
    let v: Value = post(&c, "/v1/insight", "application/json", &body.to_string()).json();
    assert_eq!(v["fields"].as_array().unwrap().len(), 1);
    assert_eq!(v["segment_rows"], data.count(|r| r.is("is_owner")));
    // No list: every field, then the tags.
    let body = json!({"table": "users", "as_of": "2026-11-22"});
    let v: Value = post(&c, "/v1/insight", "application/json", &body.to_string()).json();
    let names: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[names.len() - 2..],
        ["high_value", "lifecycle"],
        "{names:?}"
    );
    // An unknown name is still an unknown field.
    let body = json!({"table": "users", "fields": ["lifecycel"]});
    let r = post(&c, "/v1/insight", "application/json", &body.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
}
