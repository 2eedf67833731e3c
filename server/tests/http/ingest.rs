//! Real-time writes over HTTP: `POST /v1/tables/{t}/ingest`, read your
//! writes, all or nothing, idempotency keys, restarts (WAL replay and
//! flushed parts), errors, back-pressure, the maintenance thread and
//! `/metrics`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use segdb_server::http::ingest::{open_store, Maintenance};
use serde_json::json;

use super::*;

const PEOPLE: &str =
    "CREATE TABLE people (city ENUM, age INT, tags SET, vip BOOL, visit EVENT, note TEXT)";

/// An empty store in a temporary directory.
fn empty_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    (dir, store)
}

fn ingest_with(c: &Client, table: &str, key: Option<&str>, body: &str) -> RawResponse {
    let mut headers = vec![("content-type", "application/x-ndjson")];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    c.request(
        "POST",
        &format!("/v1/tables/{table}/ingest"),
        &headers,
        Some(body.as_bytes()),
    )
    .unwrap()
}

/// Ingests into `people`, expecting 200; the answer.
fn ingest_ok(c: &Client, key: Option<&str>, body: &str) -> Value {
    let r = ingest_with(c, "people", key, body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn n(c: &Client, filter: &str) -> u64 {
    count(c, &format!("SELECT COUNT(*) FROM people WHERE {filter}"))
}

fn rows(c: &Client) -> u64 {
    count(c, "SELECT COUNT(*) FROM people")
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn metrics(c: &Client) -> String {
    let r = get(c, "/metrics");
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn every_operation_is_visible_to_the_next_query() {
    let (_dir, store) = empty_store();
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(PEOPLE).unwrap();

    let a = ingest_ok(
        &c,
        None,
        "{\"id\":\"p1\",\"set\":{\"city\":\"bj\",\"age\":30}}\n\
         {\"id\":\"p2\",\"set\":{\"city\":\"sh\",\"age\":40}}\n\
         {\"id\":\"p3\",\"set\":{\"city\":\"bj\",\"vip\":true}}\n\
         {\"id\":\"p2\",\"add\":{\"tags\":[\"a\",\"b\"]}}\n",
    );
    // An empty table: every ENUM and SET value is new, and said so.
    assert_eq!(
        a["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["message"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "field `city` gets 2 new values: `bj`, `sh`",
            "field `tags` gets 2 new values: `a`, `b`"
        ]
    );
    assert_eq!(
        json!({"table": a["table"], "operations": a["operations"], "seq": a["seq"], "duplicate": a["duplicate"]}),
        json!({"table": "people", "operations": 4, "seq": 1, "duplicate": false})
    );
    assert_eq!(rows(&c), 3);
    assert_eq!(n(&c, "city = 'bj'"), 2);
    assert_eq!(n(&c, "city = 'sh'"), 1);
    assert_eq!(n(&c, "age IS NULL"), 1);
    assert_eq!(n(&c, "vip"), 1);
    assert_eq!(n(&c, "user_id IN ('p2') AND tags HAS ALL ('a', 'b')"), 1);
    assert_eq!(n(&c, "did(visit, '2026-11-01'..'2026-11-30')"), 0);

    // One batch of all six kinds, with a new external id and a delete.
    let b = ingest_ok(
        &c,
        None,
        "{\"id\":\"p1\",\"set\":{\"city\":\"sh\",\"note\":\"moved\"}}\n\
         {\"id\":\"p1\",\"add\":{\"tags\":[\"a\"]}}\n\
         {\"id\":\"p2\",\"remove\":{\"tags\":[\"a\"]}}\n\
         {\"id\":\"p2\",\"clear\":[\"age\"]}\n\
         {\"id\":\"p1\",\"event\":\"visit\",\"day\":\"2026-11-20\",\"count\":3}\n\
         {\"id\":\"p3\",\"delete\":true}\n\
         {\"id\":\"p4\",\"set\":{\"city\":\"gz\",\"age\":25}}\n\
         {\"id\":\"p4\",\"event\":\"visit\",\"day\":\"2026-11-21\"}\n",
    );
    assert_eq!(
        b["warnings"][0]["message"],
        json!("field `city` gets 1 new value: `gz`")
    );
    assert_eq!(
        json!({"table": b["table"], "operations": b["operations"], "seq": b["seq"], "duplicate": b["duplicate"]}),
        json!({"table": "people", "operations": 8, "seq": 2, "duplicate": false})
    );
    // The new id p4 is a new row; a deleted row keeps its row id, with
    // every field cleared.
    assert_eq!(rows(&c), 4);
    assert_eq!(n(&c, "user_id IN ('p4') AND city = 'gz' AND age = 25"), 1);
    // set
    assert_eq!(n(&c, "city = 'bj'"), 0);
    assert_eq!(n(&c, "city = 'sh'"), 2);
    // add, remove
    assert_eq!(n(&c, "user_id IN ('p1') AND tags HAS 'a'"), 1);
    assert_eq!(n(&c, "user_id IN ('p2') AND tags HAS 'a'"), 0);
    assert_eq!(n(&c, "user_id IN ('p2') AND tags HAS 'b'"), 1);
    // clear (p2) and delete (p3)
    assert_eq!(n(&c, "age IS NULL"), 2);
    assert_eq!(n(&c, "user_id IN ('p2', 'p3') AND age IS NULL"), 2);
    assert_eq!(n(&c, "vip"), 0);
    assert_eq!(
        n(
            &c,
            "user_id IN ('p3') AND city IS NULL AND vip IS NULL AND tags IS NULL"
        ),
        1
    );
    // event: counts per day add up
    assert_eq!(n(&c, "count(visit, '2026-11-01'..'2026-11-30') = 3"), 1);
    assert_eq!(n(&c, "did(visit, '2026-11-01'..'2026-11-30')"), 2);
    assert_eq!(n(&c, "did(visit, '2026-11-21'..'2026-11-21')"), 1);
    // TEXT, through the profile.
    let p = get(&c, "/v1/tables/people/profiles/p1");
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json()["fields"]["note"], json!("moved"), "{}", p.text());

    // An empty batch changes nothing and is no WAL record.
    assert_eq!(
        ingest_ok(&c, None, "\n\n"),
        json!({"table": "people", "operations": 0, "seq": 0, "duplicate": false})
    );
    assert_eq!(rows(&c), 4);
}

#[test]
fn a_bad_line_rejects_the_whole_batch() {
    let (_dir, store) = empty_store();
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(PEOPLE).unwrap();
    ingest_ok(&c, None, "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n");

    // Line 2 is empty (skipped but counted); line 3 is bad.
    let r = ingest_with(
        &c,
        "people",
        None,
        "{\"id\":\"q1\",\"set\":{\"city\":\"xx\"}}\n\
         \n\
         {\"id\":\"q2\",\"set\":{\"age\":\"old\"}}\n\
         {\"id\":\"p1\",\"delete\":true}\n",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], json!("bad_input"), "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("age"), "{msg}");
    // Nothing of it: no new rows, no value, the delete after it not done.
    assert_eq!(rows(&c), 1);
    assert_eq!(n(&c, "city = 'xx'"), 0);
    assert_eq!(n(&c, "city = 'bj'"), 1);
    let m = metrics(&c);
    assert_eq!(metric(&m, "segdb_ingest_batches_total"), 1);
    assert_eq!(metric(&m, "segdb_wal_records_total"), 1);
    assert_eq!(metric(&m, "segdb_wal_published_seq"), 1);

    // An unknown field is named with a suggestion; a body that is not
    // UTF-8 is 400 too.
    let r = ingest_with(
        &c,
        "people",
        None,
        "{\"id\":\"q1\",\"set\":{\"ctiy\":\"x\"}}\n",
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["line"], json!(1), "{e}");
    assert_eq!(e["column"], json!(19), "the key's byte: {e}");
    assert_eq!(e["hint"], json!("did you mean `city`?"), "{e}");
    assert!(e["message"].as_str().unwrap().contains("`ctiy`"), "{e}");
    let r = c
        .request(
            "POST",
            "/v1/tables/people/ingest",
            &[],
            Some(b"{\"id\":\"q\xff\",\"delete\":true}\n"),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("bad_body"));
    assert_eq!(rows(&c), 1);
}

#[test]
fn a_retried_key_is_applied_once() {
    let (_dir, store) = empty_store();
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(PEOPLE).unwrap();
    let batch = "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n\
                 {\"id\":\"p1\",\"event\":\"visit\",\"day\":\"2026-11-22\",\"count\":2}\n";
    let visits = |c: &Client, k: u64| {
        n(
            c,
            &format!("count(visit, '2026-11-22'..'2026-11-22') = {k}"),
        )
    };

    let first = ingest_ok(&c, Some("order-17"), batch);
    assert_eq!(first["duplicate"], json!(false));
    assert_eq!((visits(&c, 2), visits(&c, 4)), (1, 0));
    let again = ingest_ok(&c, Some("order-17"), batch);
    assert_eq!(
        again,
        json!({"table": "people", "operations": 2, "seq": first["seq"], "duplicate": true})
    );
    assert_eq!((visits(&c, 2), visits(&c, 4)), (1, 0));
    assert_eq!(rows(&c), 1);

    // The same key with another body is a conflict, and not applied.
    let other = "{\"id\":\"p2\",\"event\":\"visit\",\"day\":\"2026-11-22\",\"count\":5}\n";
    let r = ingest_with(&c, "people", Some("order-17"), other);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("idempotency_conflict"));
    assert_eq!(rows(&c), 1);

    // Another key (or none) with the same body is a new batch: it adds up.
    let third = ingest_ok(&c, Some("order-18"), batch);
    assert_eq!(third["duplicate"], json!(false));
    assert!(third["seq"].as_u64() > first["seq"].as_u64(), "{third}");
    assert_eq!((visits(&c, 2), visits(&c, 4)), (0, 1));

    let m = metrics(&c);
    assert_eq!(metric(&m, "segdb_ingest_batches_total"), 2);
    assert_eq!(metric(&m, "segdb_ingest_duplicates_total"), 1);
    assert_eq!(metric(&m, "segdb_idempotency_keys"), 2);

    // Keys must be 1 to 200 visible ASCII characters.
    let long = "k".repeat(201);
    for bad in [long.as_str(), "has space", ""] {
        let r = ingest_with(&c, "people", Some(bad), batch);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], json!("bad_idempotency_key"));
    }
    assert_eq!(
        ingest_with(&c, "people", Some(&"k".repeat(200)), batch).status,
        200
    );
    let body = "{\"id\":\"p9\",\"set\":{\"city\":\"k9\"}}\n";
    // Not through `raw`: hyper drops an answer under way when the client
    // half-closes its side first, so the connection stays open here.
    let send = |key: &str| {
        let mut s = TcpStream::connect(server.addr).unwrap();
        let request = format!(
            "POST /v1/tables/people/ingest HTTP/1.1\r\nHost: x\r\nIdempotency-Key: {key}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    // The same request with a visible-ASCII key is fine.
    let ok = send("plain-key");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(n(&c, "city = 'k9'"), 1);
    let answer = send("caf\u{e9}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("bad_idempotency_key"), "{answer}");
    assert_eq!(metric(&metrics(&c), "segdb_ingest_batches_total"), 4);
}

#[test]
fn writes_survive_restarts() {
    let (_dir, store) = empty_store();
    let (seq, third);
    {
        let server = Server::start(&store, Settings::default());
        let c = server.client(None);
        c.query(PEOPLE).unwrap();
        ingest_ok(
            &c,
            Some("k1"),
            "{\"id\":\"p1\",\"set\":{\"city\":\"bj\",\"age\":30}}\n",
        );
        ingest_ok(
            &c,
            None,
            "{\"id\":\"p2\",\"set\":{\"city\":\"sh\"}}\n\
             {\"id\":\"p1\",\"event\":\"visit\",\"day\":\"2026-11-20\",\"count\":4}\n",
        );
        seq = ingest_ok(&c, None, "{\"id\":\"p2\",\"delete\":true}\n")["seq"]
            .as_u64()
            .unwrap();
        assert_eq!(seq, 3);
        assert_eq!(server.state.store.recovery().replayed_batches, 0);
    }
    let check = |c: &Client| {
        assert_eq!(rows(c), 2);
        assert_eq!(n(c, "city = 'bj' AND age = 30"), 1);
        assert_eq!(n(c, "city IS NULL"), 1);
        assert_eq!(n(c, "count(visit, '2026-11-20'..'2026-11-20') = 4"), 1);
    };
    // Stopped without a flush: the WAL is replayed.
    {
        let server = Server::start(&store, Settings::default());
        let r = server.state.store.recovery().clone();
        assert_eq!((r.replayed_batches, r.replayed_operations), (3, 4), "{r:?}");
        assert_eq!((r.torn_tail.as_deref(), r.flushed_seq), (None, 0));
        let c = server.client(None);
        check(&c);
        assert_eq!(metric(&metrics(&c), "segdb_recovery_replayed_batches"), 3);
        // The key's batch is remembered across the restart.
        let again = ingest_ok(
            &c,
            Some("k1"),
            "{\"id\":\"p1\",\"set\":{\"city\":\"bj\",\"age\":30}}\n",
        );
        assert_eq!(again["duplicate"], json!(true), "{again}");
        assert_eq!(again["seq"], json!(1));
        // The sequence goes on after the replayed records.
        third = ingest_ok(&c, None, "{\"id\":\"p3\",\"set\":{\"city\":\"gz\"}}\n");
        assert_eq!(third["seq"], json!(seq + 1));
        // Flushed to parts: nothing left to replay.
        let f = server.state.store.flush().unwrap();
        assert_eq!(f.flushed_seq, seq + 1);
        let m = metrics(&c);
        assert_eq!(metric(&m, "segdb_wal_flushed_seq"), seq + 1);
        assert_eq!(metric(&m, "segdb_flushes_total"), 1);
        assert_eq!(metric(&m, "segdb_delta_bytes"), 0);
        assert!(metric(&m, "segdb_flushed_bytes_total") > 0, "{m}");
    }
    {
        let server = Server::start(&store, Settings::default());
        let r = server.state.store.recovery().clone();
        assert_eq!((r.replayed_batches, r.flushed_seq), (0, seq + 1), "{r:?}");
        let c = server.client(None);
        assert_eq!(rows(&c), 3);
        assert_eq!(n(&c, "city = 'gz'"), 1);
        assert_eq!(n(&c, "city = 'bj' AND age = 30"), 1);
        assert_eq!(n(&c, "user_id IN ('p2') AND city IS NULL"), 1);
        assert_eq!(n(&c, "count(visit, '2026-11-20'..'2026-11-20') = 4"), 1);
        let again = ingest_ok(
            &c,
            Some("k1"),
            "{\"id\":\"p1\",\"set\":{\"city\":\"bj\",\"age\":30}}\n",
        );
        assert_eq!(again["duplicate"], json!(true), "{again}");
        let next = ingest_ok(&c, None, "{\"id\":\"p1\",\"set\":{\"age\":31}}\n");
        assert_eq!(next["seq"], json!(seq + 2));
        assert_eq!(n(&c, "age = 31"), 1);
    }
}

#[test]
fn a_damaged_wal_stops_the_start_unless_truncation_is_asked() {
    let (_dir, store) = empty_store();
    {
        let server = Server::start(&store, Settings::default());
        let c = server.client(None);
        c.query(PEOPLE).unwrap();
        let big: String = (0..50)
            .map(|i| format!("{{\"id\":\"p{i}\",\"set\":{{\"city\":\"c{i}\"}}}}\n"))
            .collect();
        ingest_ok(&c, None, &big);
        ingest_ok(&c, None, "{\"id\":\"z\",\"set\":{\"city\":\"late\"}}\n");
    }
    let wal = store.join("wal");
    let mut files: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    // A flipped byte inside the first record, which a second one follows.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[32 + 40] ^= 0x55;
    std::fs::write(&files[0], &bytes).unwrap();

    let config = Settings {
        data: Some(store.clone()),
        ..Settings::default()
    }
    .resolve()
    .unwrap();
    let Err(e) = open_store(&config, false) else {
        panic!("a damaged WAL opened");
    };
    assert!(e.contains("--truncate-wal-at-corruption"), "{e}");
    assert!(e.contains("offset"), "{e}");
    assert!(e.contains("wal-"), "{e}");
    let s = open_store(&config, true).unwrap();
    let r = s.recovery();
    assert_eq!(r.replayed_batches, 0, "{r:?}");
    assert!(r.dropped_at_corruption.is_some(), "{r:?}");
    assert_eq!(s.table("people").unwrap().num_rows(), 0);
}

#[test]
fn errors_roles_and_limits() {
    let (_dir, store) = empty_store();
    let tokens = ["read:r", "write:w", "admin:a"]
        .iter()
        .map(|t| parse_token(t).unwrap())
        .collect();
    let server = Server::start(
        &store,
        Settings {
            tokens,
            max_body_bytes: Some(1000),
            ..Settings::default()
        },
    );
    let admin = server.client(Some("a"));
    admin.query(PEOPLE).unwrap();
    let batch = "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n";

    let r = ingest_with(&admin, "nobody", None, batch);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("unknown_table"));
    assert_eq!(
        ingest_with(&server.client(None), "people", None, batch).status,
        401
    );
    let r = ingest_with(&server.client(Some("r")), "people", None, batch);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(rows(&admin), 0);
    assert_eq!(
        ingest_with(&server.client(Some("w")), "people", None, batch).status,
        200
    );
    assert_eq!(rows(&admin), 1);

    // Over max_body_bytes: 413, nothing applied.
    let big: String = (0..40)
        .map(|i| format!("{{\"id\":\"n{i}\",\"set\":{{\"city\":\"x\"}}}}\n"))
        .collect();
    assert!(big.len() > 1000);
    let r = ingest_with(&admin, "people", None, &big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("body_too_large"));
    assert_eq!(rows(&admin), 1);
    assert_eq!(n(&admin, "city = 'x'"), 0);
    let m = metrics(&admin);
    assert!(
        m.contains("segdb_http_requests_total{method=\"POST\",route=\"/v1/tables/{table}/ingest\",status=\"413\"} 1"),
        "{m}"
    );
}

#[test]
fn a_full_delta_answers_503_until_a_flush() {
    let (_dir, store) = empty_store();
    let server = Server::start(
        &store,
        Settings {
            flush_bytes: Some(1),
            max_delta_bytes: Some(1),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    c.query(PEOPLE).unwrap();
    ingest_ok(&c, None, "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n");
    let r = ingest_with(
        &c,
        "people",
        None,
        "{\"id\":\"p2\",\"set\":{\"city\":\"sh\"}}\n",
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("overloaded"));
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    assert_eq!(n(&c, "city = 'sh'"), 0);
    assert_eq!(metric(&metrics(&c), "segdb_ingest_overloaded_total"), 1);
    server.state.store.flush().unwrap();
    ingest_ok(&c, None, "{\"id\":\"p2\",\"set\":{\"city\":\"sh\"}}\n");
    assert_eq!(n(&c, "city = 'sh'"), 1);
}

#[test]
fn the_maintenance_thread_flushes_old_batches() {
    let (_dir, store) = empty_store();
    let server = Server::start(
        &store,
        Settings {
            flush_age_ms: Some(50),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    c.query(PEOPLE).unwrap();
    let maintenance = Maintenance::start(server.state.clone());
    let seq = ingest_ok(&c, None, "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n")["seq"]
        .as_u64()
        .unwrap();
    let start = Instant::now();
    loop {
        let s = server.state.store.live_stats();
        if s.flushed_seq == seq {
            assert_eq!(s.flushes, 1);
            assert_eq!(s.delta_bytes, 0);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not flushed: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    maintenance.stop();
    assert_eq!(n(&c, "city = 'bj'"), 1);
    // Stopped: a later batch stays in the delta.
    ingest_ok(&c, None, "{\"id\":\"p2\",\"set\":{\"city\":\"sh\"}}\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.state.store.live_stats().flushes, 1);
}

#[test]
fn metrics_count_ingests() {
    let (_dir, store) = empty_store();
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(PEOPLE).unwrap();
    let m = metrics(&c);
    for name in [
        "segdb_ingest_batches_total",
        "segdb_ingest_operations_total",
        "segdb_wal_records_total",
        "segdb_wal_fsyncs_total",
        "segdb_wal_published_seq",
        "segdb_delta_bytes",
        "segdb_wal_failed",
        "segdb_compactions_total",
        "segdb_last_flush_ms",
    ] {
        assert_eq!(metric(&m, name), 0, "{name}");
    }
    ingest_ok(
        &c,
        Some("m1"),
        "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n{\"id\":\"p2\",\"set\":{\"city\":\"sh\"}}\n",
    );
    ingest_ok(
        &c,
        Some("m1"),
        "{\"id\":\"p1\",\"set\":{\"city\":\"bj\"}}\n{\"id\":\"p2\",\"set\":{\"city\":\"sh\"}}\n",
    );
    ingest_ok(&c, None, "{\"id\":\"p3\",\"delete\":true}\n");
    let m = metrics(&c);
    assert_eq!(metric(&m, "segdb_ingest_batches_total"), 2);
    assert_eq!(metric(&m, "segdb_ingest_operations_total"), 3);
    assert_eq!(metric(&m, "segdb_ingest_duplicates_total"), 1);
    assert_eq!(metric(&m, "segdb_ingest_overloaded_total"), 0);
    assert_eq!(metric(&m, "segdb_wal_records_total"), 2);
    // Sequential batches under `always`: one fsync each.
    assert_eq!(metric(&m, "segdb_wal_fsyncs_total"), 2);
    assert_eq!(metric(&m, "segdb_wal_published_seq"), 2);
    assert_eq!(metric(&m, "segdb_wal_flushed_seq"), 0);
    assert!(metric(&m, "segdb_delta_bytes") > 0, "{m}");
    // ENUM columns: 4 bytes for each row of the shard, per field written.
    let index = metric(&m, "segdb_delta_index_bytes");
    assert!(index > 0 && index.is_multiple_of(4 << 20), "{index}");
    assert_eq!(metric(&m, "segdb_idempotency_keys"), 1);
    assert_eq!(metric(&m, "segdb_wal_failed"), 0);
    assert_eq!(metric(&m, "segdb_flushes_total"), 0);
    assert_eq!(metric(&m, "segdb_recovery_replayed_batches"), 0);
    assert!(
        m.contains("segdb_http_requests_total{method=\"POST\",route=\"/v1/tables/{table}/ingest\",status=\"200\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("# TYPE segdb_ingest_batches_total counter"),
        "{m}"
    );
    assert!(m.contains("# TYPE segdb_delta_bytes gauge"), "{m}");
}

#[test]
fn an_events_time_gives_its_day_and_no_day_is_today() {
    let (_dir, store) = empty_store();
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query(PEOPLE).unwrap();
    ingest_ok(
        &c,
        None,
        "{\"id\":\"p1\",\"event\":\"visit\",\"at\":\"2026-11-20T23:30:00-01:00\",\"count\":3}\n\
         {\"id\":\"p2\",\"event\":\"visit\",\"at\":\"2026-11-20T23:30:00Z\"}\n\
         {\"id\":\"p3\",\"event\":\"visit\"}\n",
    );
    // 23:30 at -01:00 is 00:30 UTC the next day.
    assert_eq!(n(&c, "count(visit, '2026-11-21'..'2026-11-21') = 3"), 1);
    assert_eq!(n(&c, "count(visit, '2026-11-20'..'2026-11-20') = 1"), 1);
    // No day, no time: today (UTC); `last 2 days` holds it even if the
    // query runs just after midnight.
    assert_eq!(
        n(
            &c,
            "did(visit, last 2 days) AND NOT did(visit, '2026-11-20'..'2026-11-21')"
        ),
        1
    );
    let r = ingest_with(
        &c,
        "people",
        None,
        "{\"id\":\"p4\",\"event\":\"visit\",\"day\":\"2026-11-20\",\"at\":\"2026-11-21T10:00:00Z\"}",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("is not the day of `at`"), "{}", r.text());
    assert_eq!(rows(&c), 3);
}
