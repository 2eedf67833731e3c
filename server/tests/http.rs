//! The HTTP API end to end over real HTTP on 127.0.0.1: a server runs in
//! this process on a generated store, and a client sends it requests.
//! Answers are checked against a naive scan of the generated CSV files.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use segdb_engine::Store;
use segdb_server::client::{Client, RawResponse};
use segdb_server::http::config::{parse_token, Settings};
use segdb_server::http::{self, AppState, Shared};
use segdb_tests::generated::Data;
use serde_json::{json, Value};

fn segdb(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A generated store of `rows` users: (temp dir, store dir, naive data).
fn generated(rows: u32) -> (tempfile::TempDir, PathBuf, Data) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let store = dir.path().join("store");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    segdb(&[
        "gen",
        "--scale",
        &rows.to_string(),
        "--seed",
        "5",
        "--out",
        &s(&csv),
    ]);
    segdb(&[
        "import",
        "--data",
        &s(&store),
        "--schema",
        &s(&csv.join("schema.sql")),
        "--events",
        &s(&csv.join("events.csv")),
        &s(&csv.join("users.csv")),
    ]);
    let data = Data::read(&csv);
    (dir, store, data)
}

/// A server running in this process until dropped.
struct Server {
    addr: SocketAddr,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(store: &Path, settings: Settings) -> Server {
        let config = Settings {
            data: Some(store.to_path_buf()),
            listen: Some("127.0.0.1:0".into()),
            ..Settings::default()
        }
        .overridden_by(settings)
        .resolve()
        .unwrap();
        let listener = std::net::TcpListener::bind(config.listen).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(Store::open(store).unwrap(), config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                http::serve(st, listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.url(), token.map(String::from))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn post(c: &Client, path: &str, content_type: &str, body: &str) -> RawResponse {
    c.request(
        "POST",
        path,
        &[("content-type", content_type)],
        Some(body.as_bytes()),
    )
    .unwrap()
}

fn get(c: &Client, path: &str) -> RawResponse {
    c.request("GET", path, &[], None).unwrap()
}

fn count(c: &Client, text: &str) -> u64 {
    let v = c.query(text).unwrap();
    assert_eq!(v["columns"], json!(["count"]), "{text}: {v}");
    v["rows"][0][0].as_u64().unwrap()
}

/// Sends raw bytes and returns the status line's code and the whole answer.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

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
    assert!(v["elapsed_ms"].is_f64(), "{v}");
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
}

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

#[test]
fn imports_apply_all_or_nothing() {
    let (_dir, store, _data) = generated(500);
    let server = Server::start(
        &store,
        Settings {
            max_import_bytes: Some(2048),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    let users = |c: &Client| count(c, "SELECT COUNT(*) FROM users");
    assert_eq!(users(&c), 500);

    // CSV: new rows and an update, visible to the next query.
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        "user_id,city,age\nn1,c077,40\nn2,c077,41\nu000000001,c077,\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["lines"].clone(), v["new_rows"].clone(), v["rows"].clone()),
        (json!(3), json!(2), json!(502))
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE city = 'c077'") as usize,
        3 + {
            // Rows of the generated data already in c077, other than u000000001.
            let v = c
                .query("SELECT user_id FROM users WHERE city = 'c077'")
                .unwrap();
            v["rows"].as_array().unwrap().len() - 3
        }
    );
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE city = 'c077' AND age >= 40"
        ),
        2
    );

    // JSON lines, by Content-Type.
    let r = post(
        &c,
        "/v1/tables/users/import",
        "application/x-ndjson",
        "{\"user_id\":\"n3\",\"city\":\"c078\",\"interests\":[\"i01\",\"i02\"]}\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE city = 'c078' AND interests HAS ALL ('i01', 'i02') AND user_id IN ('n3')"), 1);

    // Events.
    let r = post(
        &c,
        "/v1/tables/users/import?format=events",
        "text/csv",
        "user_id,event,day,count\nn1,search,2026-11-20,5\nn1,search,2026-11-21,2\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE user_id IN ('n1') AND count(search, '2026-11-20'..'2026-11-21') = 7"), 1);

    // A bad line rejects the whole body: 400 naming the line, nothing changed.
    let before = users(&c);
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        "user_id,age\nn10,5\nn11,old\n",
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["code"], json!("bad_input"));
    assert!(e["message"].as_str().unwrap().contains("line 3"), "{e}");
    assert_eq!(users(&c), before);
    // Unless asked to skip bad lines.
    let r = post(
        &c,
        "/v1/tables/users/import?on_error=skip",
        "text/csv",
        "user_id,age\nn10,5\nn11,old\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.json()["skipped"].clone(), r.json()["new_rows"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(users(&c), before + 1);
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        "user_id,nope\nn12,1\n",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        post(&c, "/v1/tables/users/import?format=xml", "text/csv", "").status,
        400
    );
    assert_eq!(
        post(&c, "/v1/tables/users/import?on_error=maybe", "text/csv", "").status,
        400
    );
    assert_eq!(
        post(&c, "/v1/tables/users/import?color=red", "text/csv", "").status,
        400
    );
    assert_eq!(
        post(&c, "/v1/tables/nope/import", "text/csv", "user_id\nx\n").status,
        404
    );

    // Past the import limit: 413, nothing changed.
    let mut body = String::from("user_id,city\n");
    for i in 0..200 {
        body.push_str(&format!("big{i},c001\n"));
    }
    let r = post(&c, "/v1/tables/users/import", "text/csv", &body);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(users(&c), before + 1);
    // A body cut short: 400, nothing changed.
    let (code, text) = raw(
        server.addr,
        b"POST /v1/tables/users/import HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\ncontent-length: 500\r\n\r\nuser_id,city\ncut1,c001\ncut2,c0",
    );
    assert_eq!(code, 400, "{text}");
    assert_eq!(users(&c), before + 1);
    let m = get(&c, "/metrics").text();
    assert!(m.contains("segdb_imports_failed_total 4"), "{m}");
}

#[test]
fn timeouts_and_busy_slots() {
    let (_dir, store, _data) = generated(3000);
    let server = Server::start(
        &store,
        Settings {
            query_timeout_ms: Some(1),
            max_concurrent_queries: Some(1),
            queue_wait_ms: Some(50),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    // Hundreds of statements cannot all finish within 1 ms: the evaluation
    // is stopped between chunks and the answer says why.
    let many = "SELECT COUNT(*) FROM users WHERE count(search, '2026-01-01'..'2026-11-22') > 1;\n"
        .repeat(400);
    let r = post(&c, "/v1/query", "text/plain", &many);
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("query_timeout"));
    // Every slot taken: a query waits briefly, then 503 with Retry-After.
    let slot = server.state.try_take_query_slot().unwrap();
    let r = post(&c, "/v1/query", "text/plain", "SHOW TABLES");
    assert_eq!(r.status, 503);
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    assert_eq!(r.json()["error"]["code"], json!("busy"));
    drop(slot);
    assert_eq!(
        post(&c, "/v1/query", "text/plain", "SHOW TABLES").status,
        200
    );
    let m = get(&c, "/metrics").text();
    assert!(m.contains("segdb_queries_timed_out_total 1"), "{m}");
    assert!(m.contains("segdb_queries_rejected_total 1"), "{m}");
}

fn put(c: &Client, path: &str, content_type: &str, body: &str) -> RawResponse {
    c.request(
        "PUT",
        path,
        &[("content-type", content_type)],
        Some(body.as_bytes()),
    )
    .unwrap()
}

#[test]
fn segments_defined_uploaded_and_exported() {
    let (_dir, store, data) = generated(3000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let want: Vec<&str> = data
        .rows()
        .filter(|r| r.get("city") == "c000" && r.is("is_owner"))
        .map(|r| r.id())
        .collect();

    // A dynamic segment from a definition.
    let r = put(
        &c,
        "/v1/segments/owners0",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE city = 'c000' AND is_owner"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["kind"], json!("dynamic"));
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE IN SEGMENT owners0"),
        want.len() as u64
    );
    // Exported as streamed CSV, paged, and as portable Roaring bytes.
    let r = get(&c, "/v1/segments/owners0/ids");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("user_id\n{}\n", want.join("\n")));
    let r = get(&c, "/v1/segments/owners0/ids?offset=1&limit=2");
    assert_eq!(r.text(), format!("user_id\n{}\n", want[1..3].join("\n")));
    let r = c
        .request(
            "GET",
            "/v1/segments/owners0/ids",
            &[("accept", "application/x-roaring")],
            None,
        )
        .unwrap();
    assert_eq!(r.content_type.as_deref(), Some("application/x-roaring"));
    let bitmap = roaring::RoaringBitmap::deserialize_from(&r.body[..]).unwrap();
    let want_rows: Vec<u32> = data
        .rows()
        .enumerate()
        .filter(|(_, r)| r.get("city") == "c000" && r.is("is_owner"))
        .map(|(i, _)| i as u32)
        .collect();
    assert_eq!(bitmap.iter().collect::<Vec<u32>>(), want_rows);

    // A snapshot from an uploaded id list: unknown ids are reported.
    let r = put(
        &c,
        "/v1/segments/picked?table=users",
        "text/csv",
        "user_id,score\nu000000003,1\nnobody,2\nu000000001,3\nu000000003,4\n\"u000000010\",5\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["kind"].clone(), v["rows"].clone()),
        (json!("snapshot"), json!(3))
    );
    assert_eq!(
        (v["unknown_ids"].clone(), v["unknown"].clone()),
        (json!(1), json!(["nobody"]))
    );
    let r = get(&c, "/v1/segments/picked/ids");
    assert_eq!(r.text(), "user_id\nu000000001\nu000000003\nu000000010\n");
    // Plain text, one id per line, replaces it.
    let r = put(
        &c,
        "/v1/segments/picked",
        "text/plain",
        "u000000002\n\nu000000004\n",
    );
    assert_eq!(r.json()["rows"], json!(2), "{}", r.text());
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT picked OR IN SEGMENT owners0"
        ),
        want.len() as u64 + 2
            - want
                .iter()
                .filter(|i| ["u000000002", "u000000004"].contains(i))
                .count() as u64
    );

    // A profile names the segments its row is in.
    let member = want[0];
    let v = get(&c, &format!("/v1/tables/users/profiles/{member}")).json();
    assert_eq!(
        v["segments"],
        json!([{"name": "owners0", "kind": "dynamic"}]),
        "{v}"
    );
    let v = get(&c, "/v1/tables/users/profiles/u000000002").json();
    let mut names: Vec<&str> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.retain(|n| *n != "owners0");
    assert_eq!(names, ["picked"]);
    let v = c
        .query(&format!("CALL profile('users', '{member}')"))
        .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.last().unwrap(),
        &json!(["owners0", "SEGMENT", "dynamic"])
    );
    assert!(rows.contains(&json!(["city", "ENUM", "c000"])), "{v}");
    assert!(c.query("CALL profile('users', 'nobody')").is_err());

    // Listing, and dropping.
    let v = get(&c, "/v1/segments").json();
    let names: Vec<&str> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["owners0", "picked"]);
    // A segment another one uses cannot go.
    let r = put(
        &c,
        "/v1/segments/both",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE IN SEGMENT picked", "snapshot": true})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"], json!(2));
    let dyn_user = put(
        &c,
        "/v1/segments/uses_owners",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE IN SEGMENT owners0"}).to_string(),
    );
    assert_eq!(dyn_user.status, 200);
    let r = c
        .request("DELETE", "/v1/segments/owners0", &[], None)
        .unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (409, json!("in_use"))
    );
    assert_eq!(
        c.request("DELETE", "/v1/segments/uses_owners", &[], None)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        c.request("DELETE", "/v1/segments/owners0", &[], None)
            .unwrap()
            .status,
        200
    );

    // Mistakes.
    let r = put(
        &c,
        "/v1/segments/bad",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE cty = 'x'"}).to_string(),
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(
        (e["code"].clone(), e["line"].clone(), e["column"].clone()),
        (json!("unknown_field"), json!(1), json!(25)),
        "{e}"
    );
    assert_eq!(
        put(&c, "/v1/segments/bad", "application/json", "{}").json()["error"]["code"],
        json!("bad_json")
    );
    assert_eq!(
        put(&c, "/v1/segments/bad?table=nope", "text/plain", "u1\n").status,
        404
    );
    let r = get(&c, "/v1/segments/nope/ids");
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!("unknown_segment"))
    );
    assert_eq!(get(&c, "/v1/segments/picked/ids?limit=many").status, 400);
    assert_eq!(
        c.request("DELETE", "/v1/segments/nope", &[], None)
            .unwrap()
            .status,
        404
    );
}

#[test]
fn insight_against_a_scan() {
    let (_dir, store, data) = generated(3000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let in_seg = |r: &segdb_tests::generated::Row<'_>| r.get("gender") == "f" && r.is("is_owner");
    let n = data.count(in_seg);
    let req = json!({
        "table": "users",
        "where": "gender = 'f' AND is_owner",
        "fields": ["city", "age", "income", "search"],
        "top": 3,
        "bucket_width": {"age": 5},
        "quantiles": [0.5, 0.9],
        "as_of": "2026-11-22",
        "days": 7,
    });
    let r = post(&c, "/v1/insight", "application/json", &req.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["segment_rows"], json!(n));
    assert_eq!(v["table_rows"], json!(3000));
    let f = &v["fields"];

    // city: the top 3 values by count, the rest as other, TGI.
    let mut cities: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for r in data.rows() {
        let e = cities.entry(r.get("city")).or_default();
        e.1 += 1;
        e.0 += u64::from(in_seg(&r));
    }
    let mut ranked: Vec<(&str, (u64, u64))> =
        cities.into_iter().filter(|(_, (a, _))| *a > 0).collect();
    ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let values = f[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    for (got, (city, (count, table_count))) in values.iter().zip(&ranked) {
        assert_eq!(got["value"], json!(city));
        assert_eq!(got["count"], json!(count));
        assert_eq!(got["table_count"], json!(table_count));
        let tgi = (*count as f64 / n as f64) / (*table_count as f64 / 3000.0) * 100.0;
        assert!((got["tgi"].as_f64().unwrap() - tgi).abs() < 1e-9);
    }
    let rest: u64 = ranked[3..].iter().map(|(_, (a, _))| a).sum();
    assert_eq!(f[0]["other"]["count"], json!(rest));

    // age: 5-year buckets and exact quantiles.
    let mut ages: Vec<i64> = data
        .rows()
        .filter(|r| in_seg(r))
        .filter_map(|r| r.int("age"))
        .collect();
    ages.sort_unstable();
    let age = &f[1];
    assert_eq!(age["count"], json!(ages.len()));
    assert_eq!(age["min"], json!(ages[0]));
    let rank = |q: f64| ages[((q * ages.len() as f64).ceil() as usize).clamp(1, ages.len()) - 1];
    assert_eq!(
        age["quantiles"],
        json!([{"q": 0.5, "value": rank(0.5)}, {"q": 0.9, "value": rank(0.9)}])
    );
    for b in age["histogram"].as_array().unwrap() {
        let (lo, hi) = (b["lo"].as_i64().unwrap(), b["hi"].as_i64().unwrap());
        assert_eq!(hi - lo, 5);
        let want = ages.iter().filter(|&&a| a >= lo && a < hi).count();
        assert_eq!(b["count"], json!(want), "{b}");
        let table = data.count(|r| r.int("age").is_some_and(|a| a >= lo && a < hi));
        assert_eq!(b["table_count"], json!(table));
    }
    // income: sum as a string, average.
    let incomes: Vec<i64> = data
        .rows()
        .filter(|r| in_seg(r))
        .filter_map(|r| r.int("income"))
        .collect();
    assert_eq!(f[2]["sum"], json!(incomes.iter().sum::<i64>().to_string()));
    // search over the 7 days ending 2026-11-22.
    let active = data.count(|r| in_seg(r) && r.events("search", "2026-11-16", "2026-11-22") > 0);
    let total: u64 = data
        .rows()
        .filter(|r| in_seg(r))
        .map(|r| r.events("search", "2026-11-16", "2026-11-22"))
        .sum();
    assert_eq!(
        (f[3]["active_rows"].clone(), f[3]["total"].clone()),
        (json!(active), json!(total))
    );
    assert_eq!(
        f[3]["window"],
        json!({"first": "2026-11-16", "last": "2026-11-22"})
    );

    // Mistakes.
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "where": "gender = 'f' AND cty = 'x'"}).to_string(),
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(
        (e["code"].clone(), e["line"].clone(), e["column"].clone()),
        (json!("unknown_field"), json!(1), json!(18)),
        "{e}"
    );
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "fields": ["nope"]}).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "quantiles": [1.5]}).to_string(),
    );
    assert_eq!(r.json()["error"]["code"], json!("invalid_argument"));
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "colour": 1}).to_string(),
    );
    assert_eq!(r.json()["error"]["code"], json!("bad_json"));
    assert_eq!(
        post(
            &c,
            "/v1/insight",
            "application/json",
            &json!({"table": "nope"}).to_string()
        )
        .status,
        404
    );
}
