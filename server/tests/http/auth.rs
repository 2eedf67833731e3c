//! Tokens, roles and redaction.

use serde_json::json;

use super::*;

#[test]
fn tokens_and_roles() {
    let (_dir, store, _data) = generated(500);
    let tokens = ["read:r-secret", "write:w-secret", "admin:a-secret"]
        .iter()
        .map(|t| parse_token(t).unwrap())
        .collect();
    let server = Server::start(
        &store,
        Settings {
            tokens,
            ..Settings::default()
        },
    );
    let status = |token: Option<&str>, method: &str, path: &str, body: Option<&str>| {
        server
            .client(token)
            .request(method, path, &[], body.map(str::as_bytes))
            .unwrap()
            .status
    };
    let q = Some("SELECT COUNT(*) FROM users");
    assert_eq!(status(None, "POST", "/v1/query", q), 401);
    assert_eq!(status(Some("wrong"), "POST", "/v1/query", q), 401);
    assert_eq!(status(None, "GET", "/healthz", None), 200);
    assert_eq!(status(None, "GET", "/metrics", None), 401);
    for t in ["r-secret", "w-secret", "a-secret"] {
        assert_eq!(status(Some(t), "POST", "/v1/query", q), 200);
        assert_eq!(status(Some(t), "GET", "/v1/tables/users", None), 200);
        assert_eq!(status(Some(t), "GET", "/metrics", None), 200);
    }
    let import = "/v1/tables/users/import";
    let csv = Some("user_id,city\nnew1,c000\n");
    assert_eq!(status(Some("r-secret"), "POST", import, csv), 403);
    assert_eq!(status(Some("w-secret"), "POST", import, csv), 200);
    let ddl = Some("CREATE TABLE t2 (city ENUM)");
    let r = server
        .client(Some("w-secret"))
        .request("POST", "/v1/query", &[], ddl.map(str::as_bytes))
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{}",
        r.text()
    );
    assert_eq!(status(Some("a-secret"), "POST", "/v1/query", ddl), 200);
    let seg = Some("u000000001\n");
    assert_eq!(
        status(Some("w-secret"), "PUT", "/v1/segments/s1?table=users", seg),
        403
    );
    assert_eq!(
        status(Some("a-secret"), "PUT", "/v1/segments/s1?table=users", seg),
        200
    );
    assert_eq!(
        status(Some("r-secret"), "GET", "/v1/segments/s1/ids", None),
        200
    );
    assert_eq!(
        status(
            Some("r-secret"),
            "POST",
            "/v1/query",
            Some("DROP SEGMENT s1")
        ),
        403
    );
    assert_eq!(
        status(Some("r-secret"), "DELETE", "/v1/segments/s1", None),
        403
    );
    // A CALL needs the role its procedure declares: every procedure
    // registered today reads and declares the read role, so a reader runs
    // each of them (the refusal of a higher declared role is tested in
    // `http::query::tests`, for want of a procedure that declares one).
    let reader = server.client(Some("r-secret"));
    let listed = reader.query("CALL procedures()").unwrap();
    let rows = listed["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 7, "{listed}");
    for r in &rows {
        assert_eq!(r[3], json!("read"), "{r}");
    }
    for call in [
        "CALL segment_ids('s1')",
        "CALL segment_info('s1')",
        "CALL profile('users', 'u000000001')",
        "CALL insight('users', fields => 'city')",
    ] {
        assert_eq!(
            status(Some("r-secret"), "POST", "/v1/query", Some(call)),
            200,
            "{call}"
        );
    }

    // SENSITIVE fields are redacted for every role but admin.
    let admin = server.client(Some("a-secret"));
    admin
        .query("CREATE TABLE people (name TEXT SENSITIVE, nick TEXT, city ENUM)")
        .unwrap();
    let r = post(
        &admin,
        "/v1/tables/people/import",
        "text/csv",
        "user_id,name,nick,city\np1,Ada Lovelace,ada,c001\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = get(
        &server.client(Some("r-secret")),
        "/v1/tables/people/profiles/p1",
    )
    .json();
    assert_eq!(v["fields"]["name"], json!("[redacted]"));
    assert_eq!(v["fields"]["nick"], json!("ada"));
    assert_eq!(v["redacted"], json!(["name"]));
    let v = get(&admin, "/v1/tables/people/profiles/p1").json();
    assert_eq!(v["fields"]["name"], json!("Ada Lovelace"));
    let call = "CALL profile('people', 'p1')";
    let v = server.client(Some("r-secret")).query(call).unwrap();
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .contains(&json!(["name", "TEXT", "[redacted]"])),
        "{v}"
    );
    let v = admin.query(call).unwrap();
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .contains(&json!(["name", "TEXT", "Ada Lovelace"])),
        "{v}"
    );
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .contains(&json!(["city", "ENUM", "c001"])),
        "{v}"
    );
}
