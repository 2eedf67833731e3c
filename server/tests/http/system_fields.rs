//! System fields over HTTP: a table holding `#effects` (added and written
//! by engine code, as campaign effects are) shows no sign of it to any
//! client — tables API, SHOW TABLES / SHOW FIELDS, profiles, INSIGHT with
//! no field list (statement, procedure and `POST /v1/insight`, admin and
//! limited key alike) — refuses it by name in statements, insight, ingest
//! and import, and a limited key allowed every user field may still delete
//! a row, whose effects go with it.

use segdb_engine::write::{RowsChange, RowsWrite};
use segdb_engine::{Expr, FieldKind, Store};
use serde_json::{json, Value};

use super::*;

const ROOT: &str = "root-s3cret";
const EFFECTS: &str = "#effects";
const ROWS: u32 = 200;

fn q(c: &Client, text: &str) -> RawResponse {
    post(c, "/v1/query", "text/plain; charset=utf-8", text)
}

#[track_caller]
fn ok(r: &RawResponse) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[track_caller]
fn error(r: &RawResponse, status: u16, code: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], code, "{e}");
    e.to_string()
}

fn clicked() -> Expr {
    Expr::Value {
        field: EFFECTS.into(),
        value: "7/1/clicked".into(),
    }
}

/// The external id of row `row`.
fn id_of(server: &Server, row: u32) -> String {
    let t = server.state.store.table("users").unwrap();
    t.external_id(row).unwrap().to_owned()
}

/// The generated store, with `#effects` holding `7/1/clicked` for every
/// even row (written before the server opens it, as engine code would).
fn server() -> (tempfile::TempDir, Server, Vec<String>) {
    let (dir, store, _) = generated(ROWS);
    let user_fields: Vec<String> = {
        let s = Store::open(&store).unwrap();
        s.ensure_system_field("users", EFFECTS, FieldKind::Set)
            .unwrap();
        s.write_rows(
            "users",
            &RowsWrite {
                rows: (0..ROWS).step_by(2).collect(),
                change: RowsChange::AddValue {
                    field: EFFECTS.into(),
                    value: "7/1/clicked".into(),
                },
                idempotency_key: None,
            },
        )
        .unwrap();
        let t = s.table("users").unwrap();
        assert_eq!(t.count(&clicked()).unwrap(), u64::from(ROWS / 2));
        t.schema().user_fields().map(|f| f.name.clone()).collect()
    };
    let tokens = vec![parse_token(&format!("root:admin:{ROOT}")).unwrap()];
    let server = Server::start(
        &store,
        Settings {
            tokens,
            ..Settings::default()
        },
    );
    (dir, server, user_fields)
}

fn key(server: &Server, body: &Value) -> Client {
    let r = post(
        &server.client(Some(ROOT)),
        "/v1/keys",
        "application/json",
        &body.to_string(),
    );
    assert_eq!(r.status, 201, "{body}: {}", r.text());
    server.client(Some(r.json()["secret"].as_str().unwrap()))
}

fn first_column(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn no_listing_shows_a_system_field() {
    let (_dir, server, user_fields) = server();
    let admin = server.client(Some(ROOT));
    let id0 = id_of(&server, 0);
    // A key limited to some fields, and one limited to all user fields.
    let some = key(
        &server,
        &json!({"name": "some", "role": "read", "allowed_fields": ["city", "age"]}),
    );
    let all = key(
        &server,
        &json!({"name": "all", "role": "read", "allowed_fields": user_fields}),
    );
    for (who, c, fields) in [
        ("admin", &admin, user_fields.clone()),
        ("all", &all, user_fields.clone()),
        ("some", &some, vec!["age".to_owned(), "city".to_owned()]),
    ] {
        let tables = ok(&get(c, "/v1/tables"));
        assert_eq!(tables["tables"][0]["fields"], json!(fields.len()), "{who}");
        let v = ok(&get(c, "/v1/tables/users"));
        let mut names: Vec<String> = v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        let mut want = fields.clone();
        want.sort();
        assert_eq!(names, want, "{who}");
        let v = ok(&q(c, "SHOW TABLES"));
        assert_eq!(v["rows"][0][2], json!(fields.len()), "{who}");
        let mut names = first_column(&ok(&q(c, "SHOW FIELDS FROM users")));
        names.sort();
        assert_eq!(names, want, "{who}");
        // The profile of a row holding a value.
        let p = ok(&get(c, &format!("/v1/tables/users/profiles/{id0}")));
        let keys: Vec<&String> = p["fields"].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), fields.len(), "{who}: {keys:?}");
        assert!(keys.iter().all(|k| !k.starts_with('#')), "{who}: {keys:?}");
        let v = ok(&q(c, &format!("CALL profile('users', '{id0}')")));
        assert!(
            first_column(&v).iter().all(|f| !f.starts_with('#')),
            "{who}: {v}"
        );
        // INSIGHT with no field list, three ways.
        let insight_fields = |v: &Value| -> Vec<String> {
            let mut f: Vec<String> = v["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect();
            f.dedup();
            f
        };
        let body = json!({"table": "users", "where": "age > 30"}).to_string();
        let v = ok(&post(c, "/v1/insight", "application/json", &body));
        let got = insight_fields(&v);
        assert!(
            !got.is_empty() && got.iter().all(|f| !f.starts_with('#')),
            "{who}: {got:?}"
        );
        for text in [
            "INSIGHT FROM users WHERE age > 30",
            "CALL insight('users', where => 'age > 30')",
        ] {
            let v = ok(&q(c, text));
            let text_of = v.to_string();
            assert!(!text_of.contains(EFFECTS), "{who}: {text}: {text_of}");
            assert!(!text_of.contains("7/1/clicked"), "{who}: {text}: {text_of}");
        }
    }
}

#[test]
fn clients_cannot_name_a_system_field() {
    let (_dir, server, _) = server();
    let admin = server.client(Some(ROOT));
    let id1 = id_of(&server, 1);
    for text in [
        "SELECT COUNT(*) FROM users WHERE \"#effects\" HAS '7/1/clicked'",
        "SELECT \"#effects\", COUNT(*) FROM users GROUP BY \"#effects\"",
        "INSIGHT \"#effects\" FROM users",
        "COMPARE \"#effects\" FROM users WHERE age > 30 VERSUS age <= 30",
    ] {
        let e = error(&q(&admin, text), 400, "unknown_field");
        assert!(e.contains("#effects"), "{text}: {e}");
    }
    // Not suggested either.
    let e = error(
        &q(&admin, "SELECT COUNT(*) FROM users WHERE effects HAS 'x'"),
        400,
        "unknown_field",
    );
    assert!(!e.contains("#effects"), "{e}");
    for text in [
        "ALTER TABLE users ADD \"#effects\" SET",
        "CREATE TABLE other (\"#x\" INT)",
    ] {
        let e = error(&q(&admin, text), 400, "invalid_schema");
        assert!(e.contains("reserved"), "{text}: {e}");
    }
    let body = json!({"table": "users", "fields": ["#effects"]}).to_string();
    let e = error(
        &post(&admin, "/v1/insight", "application/json", &body),
        400,
        "unknown_field",
    );
    assert!(e.contains("#effects"), "{e}");
    // Writes: ingest and import.
    let r = post(
        &admin,
        "/v1/tables/users/ingest",
        "application/x-ndjson",
        &format!("{{\"id\":\"{id1}\",\"add\":{{\"#effects\":[\"7/1/clicked\"]}}}}\n"),
    );
    let e = error(&r, 400, "bad_input");
    assert!(e.contains("unknown field"), "{e}");
    let r = post(
        &admin,
        "/v1/tables/users/import",
        "text/csv",
        &format!("user_id,#effects\n{id1},7/1/clicked\n"),
    );
    let e = error(&r, 400, "bad_input");
    assert!(e.contains("unknown field"), "{e}");
    let t = server.state.store.table("users").unwrap();
    assert_eq!(t.count(&clicked()).unwrap(), u64::from(ROWS / 2));
    assert!(!t.row_matches(1, &clicked()).unwrap());
}

#[test]
fn a_key_allowed_every_user_field_deletes_a_row_and_its_effects() {
    let (_dir, server, user_fields) = server();
    let w = key(
        &server,
        &json!({"name": "w", "role": "write", "allowed_fields": user_fields}),
    );
    let t = server.state.store.table("users").unwrap();
    let row = 0;
    assert!(t.row_matches(row, &clicked()).unwrap());
    let r = post(
        &w,
        "/v1/tables/users/ingest",
        "application/x-ndjson",
        &format!("{{\"id\":\"{}\",\"delete\":true}}\n", id_of(&server, row)),
    );
    ok(&r);
    let t = server.state.store.table("users").unwrap();
    assert!(!t.row_matches(row, &clicked()).unwrap());
    assert_eq!(t.count(&clicked()).unwrap(), u64::from(ROWS / 2 - 1));
    // A limited key's import with no system column is not held up either.
    let r = post(
        &w,
        "/v1/tables/users/import",
        "text/csv",
        &format!("user_id,age\n{},44\n", id_of(&server, 2)),
    );
    ok(&r);
    assert_eq!(
        server
            .state
            .store
            .table("users")
            .unwrap()
            .count(&clicked())
            .unwrap(),
        u64::from(ROWS / 2 - 1)
    );
}
