//! Field permissions over HTTP (issue 12, item 3): a key limited to fields
//! or categories probes a forbidden field every way (WHERE, GROUP BY,
//! aggregates, INSIGHT, COMPARE, EXPLAIN, CREATE SEGMENT, a segment an admin
//! defined on it used, exported and listed, CALL, profiles, SHOW FIELDS,
//! the tables API, ingest, import) and gets 403 `forbidden_field` naming
//! it, while the fields it may use work; a SENSITIVE INT is refused to an
//! unlimited read key and allowed to admins and to keys that list it;
//! lists survive a restart; configured tokens carry them too.

use serde_json::{json, Value};

use super::*;
use segdb_server::http::auth::Role;
use segdb_server::http::config::TokenSetting;

const ROOT: &str = "root-s3cret";
const READER: &str = "reader-s3cret";
const GEO_TOKEN: &str = "geo-s3cret";

/// Tokens: an admin, an unlimited reader, and `geo`, a read token limited
/// by the config to `age` and the category `geo`.
fn settings() -> Settings {
    let mut tokens: Vec<TokenSetting> = [
        format!("root:admin:{ROOT}"),
        format!("reader:read:{READER}"),
    ]
    .iter()
    .map(|t| parse_token(t).unwrap())
    .collect();
    tokens.push(TokenSetting {
        name: Some("geo".into()),
        role: Role::Read,
        secret: Some(GEO_TOKEN.into()),
        secret_hash: None,
        allowed_fields: Some(vec!["users.age".into()]),
        allowed_categories: Some(vec!["geo".into()]),
    });
    Settings {
        tokens,
        ..Settings::default()
    }
}

fn q(c: &Client, text: &str) -> RawResponse {
    post(c, "/v1/query", "text/plain; charset=utf-8", text)
}

/// Asserts a 403 `forbidden_field` naming `field` of `users`; answers the
/// error object.
#[track_caller]
fn refused(r: &RawResponse, field: &str) -> Value {
    assert_eq!(r.status, 403, "{}", r.text());
    let e = r.json()["error"].clone();
    assert_eq!(e["code"], "forbidden_field", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("field `{field}` of table `users`")),
        "{m}"
    );
    e
}

#[track_caller]
fn ok(r: &RawResponse) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The store with three more fields an admin added and filled for the
/// first 100 rows: `salary INT SENSITIVE CATEGORY finance`, `score INT
/// CATEGORY finance`, `region ENUM CATEGORY geo`.
fn server() -> (tempfile::TempDir, PathBuf, Server) {
    let (dir, store, data) = generated(300);
    let server = Server::start(&store, settings());
    let admin = server.client(Some(ROOT));
    ok(&q(
        &admin,
        "ALTER TABLE users ADD salary INT SENSITIVE CATEGORY finance;\n\
         ALTER TABLE users ADD score INT CATEGORY finance;\n\
         ALTER TABLE users ADD region ENUM CATEGORY geo",
    ));
    let mut csv = String::from("user_id,salary,score,region\n");
    for (i, r) in data.rows().take(100).enumerate() {
        let region = if i % 2 == 0 { "north" } else { "south" };
        csv.push_str(&format!("{},{},{},{region}\n", r.id(), i * 100, i % 10));
    }
    ok(&post(&admin, "/v1/tables/users/import", "text/csv", &csv));
    (dir, store, server)
}

/// Makes a key and answers its secret.
fn key(server: &Server, body: &str) -> String {
    let r = post(
        &server.client(Some(ROOT)),
        "/v1/keys",
        "application/json",
        body,
    );
    assert_eq!(r.status, 201, "{body}: {}", r.text());
    r.json()["secret"].as_str().unwrap().to_owned()
}

/// The first column of every row.
fn first_column(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[test]
fn a_limited_key_is_refused_a_forbidden_field_every_way() {
    let (_dir, _store, server) = server();
    let admin = server.client(Some(ROOT));
    let secret = key(
        &server,
        r#"{"name": "limited", "role": "read",
            "allowed_fields": ["age", "users.city", "is_owner", "search"],
            "allowed_categories": ["geo"]}"#,
    );
    let lim = server.client(Some(&secret));
    let allowed = ["age", "city", "is_owner", "region", "search"].map(String::from);

    // What it may use works, and answers as for an admin.
    let text = "SELECT city, COUNT(*) FROM users WHERE age > 30 AND region = 'north' \
                AND (is_owner OR did(search, last 30 days)) GROUP BY city";
    assert_eq!(ok(&q(&lim, text))["rows"], ok(&q(&admin, text))["rows"]);

    // WHERE: the field, its table, and where it is written.
    let e = refused(
        &q(
            &lim,
            "SELECT COUNT(*) FROM users\nWHERE age > 30 AND gender = 'f'",
        ),
        "gender",
    );
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(20))
    );
    // A misspelt name is an unknown field whose "did you mean" names no
    // forbidden field; the admin is offered it.
    let hint = |c: &Client| {
        let r = q(c, "SELECT COUNT(*) FROM users WHERE gende = 'f'");
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "unknown_field");
        r.json()["error"]["hint"].as_str().unwrap_or("").to_owned()
    };
    assert!(!hint(&lim).contains("gender"), "{}", hint(&lim));
    assert!(hint(&admin).contains("`gender`"), "{}", hint(&admin));
    // GROUP BY, aggregates, ids with a filter.
    refused(&q(&lim, "SELECT os, COUNT(*) FROM users GROUP BY os"), "os");
    refused(&q(&lim, "SELECT AVG(income) FROM users"), "income");
    refused(
        &q(&lim, "SELECT QUANTILE(ltv, 0.5) FROM users WHERE age > 3"),
        "ltv",
    );
    refused(
        &q(&lim, "SELECT user_id FROM users WHERE education = 'phd'"),
        "education",
    );
    // INSIGHT and COMPARE: named fields and filters.
    refused(&q(&lim, "INSIGHT gender FROM users"), "gender");
    refused(&q(&lim, "INSIGHT age FROM users WHERE os = 'ios'"), "os");
    refused(
        &q(
            &lim,
            "COMPARE city FROM users WHERE age > 30 VERSUS gender = 'f'",
        ),
        "gender",
    );
    // INSIGHT without a field list: the fields it may use, not a 403.
    let v = ok(&q(&lim, "INSIGHT FROM users WHERE age > 30"));
    let fields = sorted_unique(first_column(&v));
    assert!(
        !fields.is_empty() && fields.iter().all(|f| allowed.contains(f)),
        "{fields:?}"
    );
    assert!(fields.contains(&"region".to_owned()), "{fields:?}");
    let v = ok(&q(
        &lim,
        "COMPARE FROM users WHERE age > 30 VERSUS age <= 30",
    ));
    assert!(first_column(&v).iter().all(|f| allowed.contains(f)), "{v}");
    // EXPLAIN.
    refused(
        &q(&lim, "EXPLAIN SELECT COUNT(*) FROM users WHERE os = 'ios'"),
        "os",
    );
    // CREATE SEGMENT: refused for the field (before the role), and not made.
    refused(
        &q(
            &lim,
            "CREATE SEGMENT mine AS SELECT FROM users WHERE os = 'ios'",
        ),
        "os",
    );
    assert!(!first_column(&ok(&q(&admin, "SHOW SEGMENTS"))).contains(&"mine".to_owned()));
    // /v1/insight: fields asked for, its filter, and "every field".
    let insight = |body: &str| post(&lim, "/v1/insight", "application/json", body);
    refused(
        &insight(r#"{"table": "users", "fields": ["age", "gender"]}"#),
        "gender",
    );
    let e = refused(
        &insight(r#"{"table": "users", "where": "age > 3 AND\n os = 'ios'", "fields": ["age"]}"#),
        "os",
    );
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(2))
    );
    let v = ok(&insight(r#"{"table": "users", "where": "age > 30"}"#));
    let fields: Vec<String> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sorted_unique(fields), allowed.to_vec());
    // CALL insight: its `where` and `fields` as a written INSIGHT's.
    refused(
        &q(&lim, "CALL insight('users', where => 'os = ''ios''')"),
        "os",
    );
    refused(
        &q(&lim, "CALL insight('users', fields => 'gender')"),
        "gender",
    );
    ok(&q(
        &lim,
        "CALL insight('users', where => 'age > 3', fields => 'city')",
    ));
}

#[test]
fn segments_on_a_forbidden_field_are_refused_too() {
    let (_dir, _store, server) = server();
    let admin = server.client(Some(ROOT));
    // Defined by an admin: one on `os`, one using it, one allowed, a
    // snapshot evaluated from `os`.
    ok(&q(
        &admin,
        "CREATE SEGMENT ios_users AS SELECT FROM users WHERE os = 'ios';\n\
         CREATE SEGMENT old_ios AS SELECT FROM users WHERE age > 40 AND IN SEGMENT ios_users;\n\
         CREATE SEGMENT old AS SELECT FROM users WHERE age > 40;\n\
         CREATE SEGMENT frozen SNAPSHOT AS SELECT FROM users WHERE os = 'ios'",
    ));
    let secret = key(
        &server,
        r#"{"name": "limited", "role": "read", "allowed_fields": ["age"]}"#,
    );
    let lim = server.client(Some(&secret));
    // Used in a statement: 403 naming the field and the segment, at the
    // segment's name.
    let e = refused(
        &q(
            &lim,
            "SELECT COUNT(*) FROM users WHERE age > 3 AND IN SEGMENT old_ios",
        ),
        "os",
    );
    assert!(
        e["message"].as_str().unwrap().contains("segment `old_ios`"),
        "{e}"
    );
    assert_eq!(e["column"].as_u64(), Some(57));
    refused(
        &q(&lim, "SELECT COUNT(*) FROM users WHERE IN SEGMENT frozen"),
        "os",
    );
    refused(
        &q(&lim, "INSIGHT age FROM users WHERE IN SEGMENT ios_users"),
        "os",
    );
    refused(&q(&lim, "CALL segment_ids('old_ios')"), "os");
    refused(&q(&lim, "CALL segment_info(segment => 'frozen')"), "os");
    // Exported: refused, CSV or bitmap.
    refused(&get(&lim, "/v1/segments/old_ios/ids"), "os");
    let r = lim
        .request(
            "GET",
            "/v1/segments/frozen/ids",
            &[("accept", "application/x-roaring")],
            None,
        )
        .unwrap();
    refused(&r, "os");
    // The allowed segment works every way.
    let n = count(&lim, "SELECT COUNT(*) FROM users WHERE IN SEGMENT old");
    assert_eq!(
        n,
        count(&admin, "SELECT COUNT(*) FROM users WHERE age > 40")
    );
    let r = get(&lim, "/v1/segments/old/ids");
    assert_eq!(r.status, 200);
    assert_eq!(r.text().lines().count() as u64, n + 1);
    // Listed: only the segments it may use.
    assert_eq!(first_column(&ok(&q(&lim, "SHOW SEGMENTS"))), ["old"]);
    let listed = get(&lim, "/v1/segments").json();
    let names: Vec<&str> = listed["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["old"]);
    assert_eq!(first_column(&ok(&q(&admin, "SHOW SEGMENTS"))).len(), 4);

    // Every refusal is in the audit log, denied with its code.
    let v = get(&admin, "/v1/audit?principal=limited").json();
    let denied: Vec<&Value> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["error"] == "forbidden_field")
        .collect();
    assert!(denied.len() >= 7, "{v}");
    assert!(
        denied
            .iter()
            .all(|e| e["status"] == 403 && e["outcome"] == "denied"),
        "{v}"
    );
}

#[test]
fn a_limited_key_sees_only_its_fields_in_profiles_and_listings() {
    let (_dir, _store, server) = server();
    let admin = server.client(Some(ROOT));
    ok(&q(
        &admin,
        "CREATE SEGMENT ios_users AS SELECT FROM users WHERE os = 'ios' OR NOT os = 'ios';\n\
         CREATE SEGMENT everyone AS SELECT FROM users WHERE age > 0 OR NOT age > 0",
    ));
    let geo = server.client(Some(GEO_TOKEN));
    let v = ok(&q(&admin, "SELECT user_id FROM users LIMIT 1"));
    let id = v["rows"][0][0].as_str().unwrap().to_owned();
    // The tables API and SHOW FIELDS: only `age` and the `geo` fields.
    let v = get(&geo, "/v1/tables/users").json();
    let names: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["age", "region"]);
    assert_eq!(v["fields"][1]["category"], "geo");
    assert_eq!(
        first_column(&ok(&q(&geo, "SHOW FIELDS FROM users"))),
        ["age", "region"]
    );
    assert_eq!(get(&geo, "/v1/tables").json()["tables"][0]["fields"], 2);
    assert_eq!(ok(&q(&geo, "SHOW TABLES"))["rows"][0][2], 2);
    assert!(ok(&q(&admin, "SHOW TABLES"))["rows"][0][2].as_u64() > Some(30));
    // A profile: those fields only, and only the segments it may use.
    let v = get(&geo, &format!("/v1/tables/users/profiles/{id}")).json();
    let mut keys: Vec<&String> = v["fields"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["age", "region"], "{v}");
    assert_eq!(
        v["segments"],
        json!([{"name": "everyone", "kind": "dynamic"}]),
        "{v}"
    );
    let v = ok(&q(&geo, &format!("CALL profile('users', '{id}')")));
    let rows: Vec<(&str, &str)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [("age", "INT"), ("region", "ENUM"), ("everyone", "SEGMENT")],
        "{v}"
    );
    // The admin sees them all.
    let v = get(&admin, &format!("/v1/tables/users/profiles/{id}")).json();
    assert!(v["fields"].as_object().unwrap().len() > 30, "{v}");
    // The config token is limited as a key is.
    refused(
        &q(&geo, "SELECT COUNT(*) FROM users WHERE city = 'c000'"),
        "city",
    );
    ok(&q(
        &geo,
        "SELECT COUNT(*) FROM users WHERE age > 3 AND region = 'north'",
    ));
}

#[test]
fn a_sensitive_int_needs_an_admin_or_a_key_that_lists_it() {
    let (_dir, _store, server) = server();
    let admin = server.client(Some(ROOT));
    let reader = server.client(Some(READER));
    let finance = server.client(Some(&key(
        &server,
        r#"{"name": "finance", "role": "read", "allowed_categories": ["finance"]}"#,
    )));
    let by_name = server.client(Some(&key(
        &server,
        r#"{"name": "payroll", "role": "read", "allowed_fields": ["salary"]}"#,
    )));
    let text = "SELECT AVG(salary), MAX(salary) FROM users WHERE salary > 1000";
    let want = ok(&q(&admin, text))["rows"].clone();
    assert_eq!(want, json!([[5500.0, 9900]]));
    // An unlimited read key may not filter on it, aggregate it, group by
    // it, insight it or export by it.
    let e = refused(
        &q(&reader, "SELECT COUNT(*) FROM users WHERE salary > 10"),
        "salary",
    );
    assert!(e["hint"].as_str().unwrap().contains("SENSITIVE"), "{e}");
    refused(&q(&reader, text), "salary");
    refused(&q(&reader, "INSIGHT salary FROM users"), "salary");
    let r = q(&reader, "SELECT COUNT(*) FROM users WHERE salar > 3");
    assert_eq!(r.status, 400, "{}", r.text());
    let hint = r.json()["error"]["hint"].as_str().unwrap_or("").to_owned();
    assert!(!hint.contains("salary"), "{hint}");
    refused(
        &post(
            &reader,
            "/v1/insight",
            "application/json",
            r#"{"table": "users", "fields": ["salary"]}"#,
        ),
        "salary",
    );
    // Its other fields work, and INSIGHT without a list leaves it out.
    ok(&q(
        &reader,
        "SELECT AVG(score) FROM users WHERE gender = 'f'",
    ));
    let fields = first_column(&ok(&q(&reader, "INSIGHT FROM users WHERE age > 30")));
    assert!(!fields.contains(&"salary".to_owned()) && fields.contains(&"score".to_owned()));
    // It still sees that the field exists, redacted in profiles.
    let v = ok(&q(&reader, "SHOW FIELDS FROM users"));
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "salary")
        .map(|r| json!(r.as_array().unwrap()[..6]));
    assert_eq!(
        row,
        Some(json!(["salary", "INT", true, "finance", null, null]))
    );
    // Listed by category or by name: allowed, the admin's answer.
    assert_eq!(ok(&q(&finance, text))["rows"], want);
    assert_eq!(ok(&q(&by_name, text))["rows"], want);
    // The finance key is limited to its category.
    refused(
        &q(&finance, "SELECT COUNT(*) FROM users WHERE age > 3"),
        "age",
    );
    let ids = ok(&q(&admin, "SELECT user_id FROM users WHERE salary = 300"));
    let id = ids["rows"][0][0].as_str().unwrap().to_owned();
    let path = format!("/v1/tables/users/profiles/{id}");
    let v = get(&reader, &path).json();
    assert_eq!(v["fields"]["salary"], "[redacted]");
    assert!(v["redacted"].as_array().unwrap().contains(&json!("salary")));
    assert_eq!(get(&finance, &path).json()["fields"]["salary"], 300);
    assert_eq!(get(&admin, &path).json()["fields"]["salary"], 300);
}

#[test]
fn a_limited_write_key_may_write_only_its_fields() {
    let (_dir, _store, server) = server();
    let admin = server.client(Some(ROOT));
    let w = server.client(Some(&key(
        &server,
        r#"{"name": "writer", "role": "write", "allowed_fields": ["age", "region", "search"]}"#,
    )));
    let before = ok(&q(
        &admin,
        "SELECT gender, COUNT(*) FROM users GROUP BY gender",
    ));
    let ingest = |body: &str| {
        w.request(
            "POST",
            "/v1/tables/users/ingest",
            &[("content-type", "application/x-ndjson")],
            Some(body.as_bytes()),
        )
        .unwrap()
    };
    // Refused, all or nothing, naming the field.
    refused(
        &ingest("{\"id\":\"u000000001\",\"set\":{\"age\":20}}\n{\"id\":\"u000000002\",\"set\":{\"gender\":\"f\"}}\n"),
        "gender",
    );
    refused(
        &ingest("{\"id\":\"u000000001\",\"clear\":[\"income\"]}\n"),
        "income",
    );
    refused(
        &ingest("{\"id\":\"u000000001\",\"event\":\"view\",\"day\":\"2026-11-20\"}\n"),
        "view",
    );
    // A delete clears every field, so a limited key needs them all.
    assert_eq!(
        ingest("{\"id\":\"u000000001\",\"delete\":true}\n").status,
        403
    );
    let imp = |query: &str, ct: &str, body: &str| {
        post(&w, &format!("/v1/tables/users/import{query}"), ct, body)
    };
    refused(
        &imp("", "text/csv", "user_id,age,gender\nu000000001,20,f\n"),
        "gender",
    );
    refused(
        &imp("", "application/x-ndjson", "{\"user_id\":\"u000000001\",\"age\":20}\n{\"user_id\":\"u000000002\",\"os\":\"ios\"}\n"),
        "os",
    );
    refused(
        &imp("?format=events", "text/csv", "user_id,event,day,count\nu000000001,search,2026-11-20,1\nu000000001,book,2026-11-20,1\n"),
        "book",
    );
    // Nothing changed.
    let after = ok(&q(
        &admin,
        "SELECT gender, COUNT(*) FROM users GROUP BY gender",
    ));
    assert_eq!(after["rows"], before["rows"]);
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM users WHERE age = 20 AND region = 'east'"
        ),
        0
    );
    // Its own fields: written.
    ok(&ingest(
        "{\"id\":\"u000000001\",\"set\":{\"age\":20,\"region\":\"east\"}}\n",
    ));
    ok(&imp(
        "",
        "text/csv",
        "user_id,age,region\nu000000002,20,east\n",
    ));
    ok(&imp(
        "?format=events",
        "text/csv",
        "user_id,event,day,count\nu000000002,search,2026-11-20,1\n",
    ));
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM users WHERE age = 20 AND region = 'east'"
        ),
        2
    );

    // An unlimited write key: not a SENSITIVE field, but it may erase a
    // row that has one.
    let unlimited = server.client(Some(&key(
        &server,
        r#"{"name": "loader", "role": "write"}"#,
    )));
    let ingest = |body: &str| {
        unlimited
            .request(
                "POST",
                "/v1/tables/users/ingest",
                &[("content-type", "application/x-ndjson")],
                Some(body.as_bytes()),
            )
            .unwrap()
    };
    let v = ok(&q(&admin, "SELECT user_id FROM users WHERE salary = 500"));
    let id = v["rows"][0][0].as_str().unwrap().to_owned();
    refused(
        &ingest(&format!("{{\"id\":\"{id}\",\"set\":{{\"salary\":1}}}}\n")),
        "salary",
    );
    refused(
        &post(
            &unlimited,
            "/v1/tables/users/import",
            "text/csv",
            &format!("user_id,salary\n{id},1\n"),
        ),
        "salary",
    );
    ok(&ingest(&format!("{{\"id\":\"{id}\",\"delete\":true}}\n")));
    assert_eq!(
        count(&admin, "SELECT COUNT(*) FROM users WHERE salary = 500"),
        0
    );
}

#[test]
fn limited_keys_keep_their_lists_across_a_restart() {
    let (_dir, store, server) = server();
    let secret = key(
        &server,
        r#"{"name": "limited", "role": "read", "allowed_fields": ["age", "users.region"], "allowed_categories": []}"#,
    );
    let plain = key(&server, r#"{"name": "plain", "role": "read"}"#);
    drop(server);
    let server = Server::start(&store, settings());
    let keys = get(&server.client(Some(ROOT)), "/v1/keys").json()["keys"].clone();
    let limited = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "limited")
        .unwrap();
    assert_eq!(limited["allowed_fields"], json!(["age", "users.region"]));
    assert_eq!(limited["allowed_categories"], json!([]));
    let plain_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "plain")
        .unwrap();
    assert_eq!(plain_key["allowed_fields"], Value::Null);
    let lim = server.client(Some(&secret));
    refused(
        &q(&lim, "SELECT COUNT(*) FROM users WHERE score > 3"),
        "score",
    );
    ok(&q(
        &lim,
        "SELECT COUNT(*) FROM users WHERE age > 3 AND region = 'north'",
    ));
    ok(&q(
        &server.client(Some(&plain)),
        "SELECT COUNT(*) FROM users WHERE score > 3",
    ));
}

#[test]
fn configured_tokens_with_bad_lists_are_refused_at_start() {
    let token = |role: Role, fields: Option<Vec<&str>>| Settings {
        tokens: vec![TokenSetting {
            name: Some("t".into()),
            role,
            secret: Some("s3cret".into()),
            secret_hash: None,
            allowed_fields: fields.map(|f| f.into_iter().map(String::from).collect()),
            allowed_categories: None,
        }],
        data: Some("/nonexistent".into()),
        ..Settings::default()
    };
    let e = token(Role::Read, Some(vec!["age", "a b"]))
        .resolve()
        .unwrap_err();
    assert!(e.contains("token `t`") && e.contains("`a b`"), "{e}");
    let e = token(Role::Admin, Some(vec!["age"])).resolve().unwrap_err();
    assert!(e.contains("never limited"), "{e}");
    assert!(token(Role::Write, Some(vec!["age", "users.city"]))
        .resolve()
        .is_ok());
}

/// The field catalog: a limited key sees only its fields, and among the
/// users of each only the segments it may use; only an admin sets it.
#[test]
fn the_catalog_shows_a_limited_key_its_fields_and_their_visible_users() {
    let (_dir, _store, server) = server();
    let admin = server.client(Some(ROOT));
    let geo = server.client(Some(GEO_TOKEN));
    let reader = server.client(Some(READER));
    ok(&q(
        &admin,
        "CREATE SEGMENT rich AS SELECT FROM users WHERE salary > 100 OR age > 30;\n\
         CREATE SEGMENT old AS SELECT FROM users WHERE age > 50;\n\
         ALTER TABLE users ALTER FIELD score SET OWNER 'finance-team' DESCRIPTION 'Age-free score'",
    ));
    let users_of_age = |c: &Client| {
        let v = get(c, "/v1/tables/users/fields?search=age").json();
        let age = v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "age")
            .cloned()
            .unwrap_or_else(|| panic!("{v}"));
        let mut s: Vec<String> = age["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        s.sort();
        (v, s)
    };
    let (v, segments) = users_of_age(&admin);
    assert_eq!(segments, ["old", "rich"]);
    let names = |v: &Value| -> Vec<String> {
        v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // `score` matches by its description.
    assert_eq!(names(&v), ["age", "score"]);
    let (v, segments) = users_of_age(&geo);
    assert_eq!(segments, ["old"], "`rich` uses salary: {v}");
    assert_eq!(names(&v), ["age"]);
    let v = get(&geo, "/v1/tables/users/fields?search=finance").json();
    assert_eq!(v["fields"], json!([]), "{v}");
    let v = ok(&q(&geo, "SHOW FIELDS FROM users"));
    let col = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "segments")
        .unwrap();
    assert_eq!(v["rows"][0][0], "age");
    assert_eq!(v["rows"][0][col], json!(["old"]));
    // Setting it is a schema change: not for a read key.
    let r = q(&reader, "ALTER TABLE users ALTER FIELD age SET OWNER 'me'");
    assert_eq!(r.status, 403, "{}", r.text());
    let v = get(&admin, "/v1/tables/users").json();
    let age = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "age")
        .cloned();
    assert_eq!(age.unwrap()["owner"], Value::Null);
}
