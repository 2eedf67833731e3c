//! The audit log over real HTTP: every action kind leaves an entry naming
//! who, from where, what and how it ended, read back by `GET /v1/audit`;
//! denied requests are audited; an audit log that cannot be written
//! refuses the request (503 `audit_failed`).

use serde_json::{json, Value};

use super::*;

const ADMIN: &str = "a-secret";
const READER: &str = "r-secret";
const WRITER: &str = "w-secret";

fn start(store: &Path, settings: Settings) -> Server {
    let tokens = [
        "ana:admin:a-secret",
        "rita:read:r-secret",
        "will:write:w-secret",
    ]
    .iter()
    .map(|t| parse_token(t).unwrap())
    .collect();
    Server::start(
        store,
        Settings {
            tokens,
            ..Settings::default()
        }
        .overridden_by(settings),
    )
}

/// The entries `GET /v1/audit?{query}` answers (as the admin).
fn audit(server: &Server, query: &str) -> Vec<Value> {
    let r = get(&server.client(Some(ADMIN)), &format!("/v1/audit?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entries"].as_array().unwrap().clone()
}

/// The entries of `action`.
fn of(server: &Server, action: &str) -> Vec<Value> {
    audit(server, &format!("action={action}"))
}

fn query(server: &Server, token: &str, text: &str) -> RawResponse {
    post(&server.client(Some(token)), "/v1/query", "text/plain", text)
}

fn request(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> RawResponse {
    server
        .client(Some(token))
        .request(method, path, headers, body.map(str::as_bytes))
        .unwrap()
}

#[test]
fn audit_has_an_entry_for_every_action_kind() {
    let (_dir, store, data) = generated(500);
    let server = start(&store, Settings::default());
    let id = data.rows().next().unwrap().id().to_owned();

    // Schema changes: one entry per statement, with its text.
    let r = query(
        &server,
        ADMIN,
        "CREATE TABLE t2 (city ENUM); ALTER TABLE t2 ADD age INT; DROP TABLE t2",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let schema = of(&server, "schema_change");
    assert_eq!(schema.len(), 3, "{schema:?}");
    assert_eq!(schema[0]["target"], json!({"table": "t2"}));
    assert_eq!(
        schema[1]["detail"]["statement"],
        "ALTER TABLE t2 ADD age INT"
    );
    for e in &schema {
        assert_eq!(e["principal"], "ana");
        assert_eq!(e["role"], "admin");
        assert_eq!(e["outcome"], "ok");
        assert_eq!(e["status"], 200);
        assert!(e["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{e}");
        assert!(e["at"].as_str().unwrap().ends_with('Z'), "{e}");
    }

    // Segments through the language…
    for text in [
        "CREATE SEGMENT s1 AS SELECT FROM users WHERE city = 'c000'",
        "CREATE OR REPLACE SEGMENT s1 AS SELECT FROM users WHERE city = 'c001'",
        "DROP SEGMENT s1",
    ] {
        assert_eq!(query(&server, ADMIN, text).status, 200);
    }
    // …and through /v1/segments.
    let def = r#"{"definition": "SELECT FROM users WHERE city = 'c000'"}"#;
    let json_ct = [("content-type", "application/json")];
    for _ in 0..2 {
        let r = request(
            &server,
            ADMIN,
            "PUT",
            "/v1/segments/s2",
            &json_ct,
            Some(def),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let create = of(&server, "segment_create");
    let replace = of(&server, "segment_replace");
    assert_eq!(create.len(), 2, "{create:?}");
    assert_eq!(create[0]["target"]["segment"], "s1");
    assert_eq!(
        create[1]["target"],
        json!({"segment": "s2", "table": "users"})
    );
    assert_eq!(replace.len(), 2, "{replace:?}");
    assert_eq!(replace[1]["target"]["segment"], "s2");

    // Import and ingest (the writer).
    let r = post(
        &server.client(Some(WRITER)),
        "/v1/tables/users/import",
        "text/csv",
        "user_id,city\nnew1,c000\nnew2,c001\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let import = of(&server, "import");
    assert_eq!(import.len(), 1);
    assert_eq!(import[0]["principal"], "will");
    assert_eq!(import[0]["target"], json!({"table": "users"}));
    assert_eq!(import[0]["detail"]["lines"], 2);
    assert_eq!(import[0]["detail"]["new_rows"], 2);
    assert_eq!(import[0]["detail"]["format"], "text/csv");
    let batch =
        "{\"id\":\"new1\",\"set\":{\"city\":\"c002\"}}\n{\"id\":\"new2\",\"clear\":[\"city\"]}\n";
    for _ in 0..2 {
        let r = request(
            &server,
            WRITER,
            "POST",
            "/v1/tables/users/ingest",
            &[("idempotency-key", "order-1")],
            Some(batch),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let ingest = of(&server, "ingest");
    assert_eq!(ingest.len(), 2, "{ingest:?}");
    assert_eq!(ingest[0]["detail"]["idempotency_key"], "order-1");
    assert_eq!(ingest[0]["detail"]["operations"], 2);
    assert_eq!(ingest[0]["detail"]["duplicate"], false);
    assert_eq!(ingest[1]["detail"]["duplicate"], true);
    assert_eq!(ingest[0]["detail"]["seq"], ingest[1]["detail"]["seq"]);

    // Exports (the reader): a segment's ids as CSV and Roaring, a query's
    // ids as CSV and JSON, with their row counts.
    // (new1 moved from c000 to c002 by the batch above.)
    let c000 = data.count(|r| r.get("city") == "c000");
    let r = get(&server.client(Some(READER)), "/v1/segments/s2/ids");
    assert_eq!(r.status, 200);
    let r = request(
        &server,
        READER,
        "GET",
        "/v1/segments/s2/ids",
        &[("accept", "application/x-roaring")],
        None,
    );
    assert_eq!(r.status, 200);
    let select = "SELECT user_id FROM users WHERE city = 'c000'";
    let r = request(
        &server,
        READER,
        "POST",
        "/v1/query",
        &[("accept", "text/csv")],
        Some(select),
    );
    assert_eq!(r.status, 200);
    assert_eq!(query(&server, READER, select).status, 200);
    let export = of(&server, "export");
    let formats: Vec<&str> = export
        .iter()
        .map(|e| e["detail"]["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["csv", "roaring", "csv", "json"], "{export:?}");
    for (i, e) in export.iter().enumerate() {
        assert_eq!(e["principal"], "rita");
        if i == 1 || i == 3 {
            // A bitmap and a JSON answer: counted before they are sent.
            assert_eq!(e["detail"]["rows"], c000, "{e}");
        } else {
            // A CSV stream the export bucket covers starts at once: the
            // entry gives the most it could send, the filter's bound,
            // exact for one value even after the real-time write above.
            assert_eq!(e["detail"]["rows_at_most"], c000, "{e}");
        }
    }
    assert_eq!(
        export[0]["target"],
        json!({"segment": "s2", "table": "users"})
    );
    assert_eq!(export[2]["target"], json!({"table": "users"}));
    assert_eq!(export[3]["detail"]["statement"], select);

    // Profile reads, by route and by CALL.
    let r = get(
        &server.client(Some(READER)),
        &format!("/v1/tables/users/profiles/{id}"),
    );
    assert_eq!(r.status, 200);
    let r = query(&server, READER, &format!("CALL profile('users', '{id}')"));
    assert_eq!(r.status, 200, "{}", r.text());
    let profile = of(&server, "profile_read");
    assert_eq!(profile.len(), 2, "{profile:?}");
    for e in &profile {
        assert_eq!(e["target"], json!({"table": "users", "id": id}), "{e}");
    }

    // Dropping the segment.
    let r = request(&server, ADMIN, "DELETE", "/v1/segments/s2", &[], None);
    assert_eq!(r.status, 200);
    let drop = of(&server, "segment_drop");
    assert_eq!(drop.len(), 2);
    assert_eq!(drop[1]["target"], json!({"segment": "s2"}));

    // Reading the audit log is audited too, and a reader may not.
    let r = get(&server.client(Some(READER)), "/v1/audit");
    assert_eq!(r.status, 403);
    let reads = of(&server, "audit_read");
    assert!(reads
        .iter()
        .any(|e| e["principal"] == "rita" && e["outcome"] == "denied" && e["status"] == 403));

    // Key changes: made and revoked, with who did it; never the secret.
    let r = request(
        &server,
        ADMIN,
        "POST",
        "/v1/keys",
        &json_ct,
        Some(r#"{"name": "exporter", "role": "read"}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let r = request(&server, ADMIN, "DELETE", "/v1/keys/exporter", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(&server, ADMIN, "DELETE", "/v1/keys/exporter", &[], None);
    assert_eq!(r.status, 404);
    let created = of(&server, "key_create");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["target"], json!({"key": "exporter"}));
    assert_eq!(created[0]["detail"]["role"], "read");
    assert_eq!(created[0]["principal"], "ana");
    let deleted = of(&server, "key_delete");
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(deleted[0]["outcome"], "ok");
    assert_eq!(deleted[1]["outcome"], "error");
    assert_eq!(deleted[1]["target"], json!({"key": "exporter"}));
    let all = get(&server.client(Some(ADMIN)), "/v1/audit?limit=10000").text();
    assert!(!all.contains(&secret), "a key's secret in the audit log");

    // Campaigns: created and started by the writer, the run started by
    // the scheduler, an illegal transition refused and still recorded.
    // Nobody listens at the webhook, so the run stays `running` (its
    // delivery retries) and no `run_finished` entry races the checks.
    let def = json!({"name": "hello", "table": "users", "audience": {"where": "city = 'c000'"},
        "channel": {"webhook": {"url": super::campaigns::nowhere(), "max_retries": 0}},
        "variants": [{"name": "a", "weight": 1, "template": "Hi {city}"}],
        "schedule": "now"})
    .to_string();
    let r = request(
        &server,
        WRITER,
        "POST",
        "/v1/campaigns",
        &json_ct,
        Some(&def),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = request(
        &server,
        WRITER,
        "POST",
        "/v1/campaigns/hello/start",
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        &server,
        WRITER,
        "POST",
        "/v1/campaigns/hello/resume",
        &[],
        None,
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let campaign = of(&server, "campaign");
    let seen: Vec<(&str, &str, &str)> = campaign
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap(),
                e["detail"]["transition"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("will", "create", "ok"),
            ("scheduler", "run_started", "ok"),
            ("will", "start", "ok"),
            ("will", "resume", "error"),
        ],
        "{campaign:#?}"
    );
    for e in &campaign {
        assert_eq!(e["target"], json!({"campaign": "hello"}), "{e}");
    }
    assert_eq!(campaign[1]["detail"]["audience"], c000, "{:?}", campaign[1]);
    assert_eq!(campaign[2]["detail"]["from"], "draft");
    assert_eq!(campaign[2]["detail"]["to"], "running");
    assert_eq!(campaign[3]["error"], "illegal_transition");

    // Entries are counted in /metrics.
    let m = get(&server.client(Some(ADMIN)), "/metrics").text();
    let line = m
        .lines()
        .find(|l| l.starts_with("segdb_audit_entries_total "))
        .unwrap();
    let n: u64 = line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(n >= 20, "{line}");
}

#[test]
fn denied_and_failed_requests_are_audited() {
    let (_dir, store, _data) = generated(200);
    let server = start(&store, Settings::default());
    // No token: 401, principal unknown.
    let r = Client::new(&server.url(), None)
        .request("GET", "/v1/tables", &[], None)
        .unwrap();
    assert_eq!(r.status, 401);
    // A reader trying a schema change: 403, the statement named.
    let r = query(&server, READER, "DROP TABLE users");
    assert_eq!(r.status, 403);
    // A writer trying to drop a segment by route: 403.
    let r = request(&server, WRITER, "DELETE", "/v1/segments/nope", &[], None);
    assert_eq!(r.status, 403);
    // An admin's failed schema change: an error, with its code.
    let r = query(&server, ADMIN, "DROP TABLE nope");
    assert_eq!(r.status, 400, "{}", r.text());

    let access = of(&server, "access");
    assert_eq!(access.len(), 1, "{access:?}");
    assert_eq!(access[0]["principal"], "-");
    assert_eq!(access[0]["role"], Value::Null);
    assert_eq!(access[0]["outcome"], "denied");
    assert_eq!(access[0]["status"], 401);
    assert_eq!(access[0]["error"], "unauthorized");
    assert_eq!(access[0]["target"], json!({"path": "/v1/tables"}));

    let schema = of(&server, "schema_change");
    assert_eq!(schema.len(), 2, "{schema:?}");
    assert_eq!(schema[0]["principal"], "rita");
    assert_eq!(schema[0]["outcome"], "denied");
    assert_eq!(schema[0]["error"], "forbidden");
    assert_eq!(schema[0]["target"], json!({"table": "users"}));
    assert_eq!(schema[1]["principal"], "ana");
    assert_eq!(schema[1]["outcome"], "error");
    assert_eq!(schema[1]["status"], 400);
    assert_eq!(schema[1]["error"], "unknown_table");

    let drop = of(&server, "segment_drop");
    assert_eq!(drop.len(), 1);
    assert_eq!(drop[0]["outcome"], "denied");
    assert_eq!(drop[0]["target"], json!({"segment": "nope"}));

    // Filters: by principal, by time.
    let rita = audit(&server, "principal=rita");
    assert!(!rita.is_empty() && rita.iter().all(|e| e["principal"] == "rita"));
    assert!(audit(&server, "since=2999-01-01T00:00:00Z").is_empty());
    let all = audit(&server, "since=2000-01-01&until=2999-01-01T00:00:00.000Z");
    assert!(all.len() >= 5, "{all:?}");
    let last = audit(&server, "limit=1");
    assert_eq!(last.len(), 1);
    // Newest last: the last entry of everything is the one limit=1 gives
    // (that read's own entry is written after it answers).
    assert_eq!(audit(&server, "limit=2")[0], last[0]);
}

#[test]
fn bad_audit_parameters_are_400_naming_the_parameter() {
    let (_dir, store, _data) = generated(100);
    let server = start(&store, Settings::default());
    let admin = server.client(Some(ADMIN));
    for (q, name) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("action=launch", "action"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=x", "limit"),
        ("colour=red", "colour"),
    ] {
        let r = get(&admin, &format!("/v1/audit?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["code"], "bad_parameter", "{q}");
        assert!(e["message"].as_str().unwrap().contains(name), "{q}: {e}");
    }
}

#[test]
fn audit_queries_records_every_query_and_rotation_keeps_every_file() {
    let (_dir, store, _data) = generated(200);
    let server = start(
        &store,
        Settings {
            audit_queries: Some(true),
            audit_max_file_bytes: Some(600),
            ..Settings::default()
        },
    );
    for city in ["c000", "c001", "c002", "c003"] {
        let text = format!("SELECT COUNT(*) FROM users WHERE city = '{city}'");
        assert_eq!(query(&server, READER, &text).status, 200);
    }
    let long = format!(
        "SELECT COUNT(*) FROM users WHERE city IN ({})",
        vec!["'c000'"; 400].join(", ")
    );
    assert_eq!(query(&server, READER, &long).status, 200);
    // A query that does not parse is recorded too, as an error.
    assert_eq!(query(&server, READER, "SELEKT 1").status, 400);
    let queries = of(&server, "query");
    assert_eq!(queries.len(), 6, "{queries:?}");
    assert_eq!(queries[5]["outcome"], "error");
    assert_eq!(queries[5]["error"], "syntax_error");
    assert_eq!(
        queries[1]["detail"]["statements"],
        "SELECT COUNT(*) FROM users WHERE city = 'c001'"
    );
    assert_eq!(queries[0]["detail"]["rows"], 1);
    assert!(queries[0]["detail"]["elapsed_ms"].as_f64().is_some());
    // Statement text is cut to a bound.
    let cut = queries[4]["detail"]["statements"].as_str().unwrap();
    assert!(cut.len() < long.len() && cut.ends_with('…'), "{cut}");
    // Rotated by size, every file kept, and read across them in order.
    let files = std::fs::read_dir(store.join("audit")).unwrap().count();
    assert!(files >= 3, "{files} files");
}

#[test]
fn an_audit_log_that_cannot_be_written_refuses_the_request() {
    let (_dir, store, _data) = generated(100);
    // A file where the audit folder goes: no entry can be written.
    std::fs::write(store.join("audit"), b"not a folder").unwrap();
    let server = start(&store, Settings::default());
    let r = post(
        &server.client(Some(WRITER)),
        "/v1/tables/users/import",
        "text/csv",
        "user_id,city\nnew1,c000\n",
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "audit_failed");
    // Requests that are not audited still work.
    assert_eq!(
        query(&server, READER, "SELECT COUNT(*) FROM users").status,
        200
    );
    let m = get(&server.client(Some(ADMIN)), "/metrics").text();
    assert!(
        m.lines().any(|l| l == "segdb_audit_write_failures_total 1"),
        "{m}"
    );
}
