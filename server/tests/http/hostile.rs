//! What a client can make the server hold or write: fields per table,
//! values per field and per line, value lengths, insight of every field.
//! Each is refused with 400 naming where, and changes nothing.

use serde_json::json;

use super::*;

fn error(r: &RawResponse, status: u16, what: &str) -> Value {
    let text = r.text();
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        text.chars().take(300).collect::<String>()
    );
    r.json()["error"].clone()
}

fn manifest_len(store: &Path) -> u64 {
    std::fs::metadata(store.join("MANIFEST")).unwrap().len()
}

#[test]
fn hostile_schemas_and_values_are_refused() {
    let (_dir, store, _data) = generated(50);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE t (tags SET, city ENUM)").unwrap();
    let before = manifest_len(&store);

    // A table of 5,000 fields (100,000 pass the statement's 1 MiB limit).
    let fields: Vec<String> = (0..5_000).map(|i| format!("f{i} INT")).collect();
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        &format!("CREATE TABLE wide ({})", fields.join(", ")),
    );
    let e = error(&r, 400, "CREATE TABLE of 5,000 fields");
    assert!(e["message"].as_str().unwrap().contains("1024"), "{e}");

    // One ingest line adding 70,000 SET values.
    let tags: Vec<String> = (0..70_000).map(|i| format!("\"v{i}\"")).collect();
    let line = format!(
        "{{\"id\":\"a\",\"set\":{{\"city\":\"x\"}}}}\n{{\"id\":\"a\",\"add\":{{\"tags\":[{}]}}}}\n",
        tags.join(",")
    );
    let r = post(&c, "/v1/tables/t/ingest", "application/x-ndjson", &line);
    let e = error(&r, 400, "a line of 70,000 SET values");
    assert_eq!(e["code"], json!("bad_input"), "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("line 2") && m.contains("`tags`"), "{e}");

    // A value longer than 256 bytes, by ingest and by import.
    let long = "x".repeat(300);
    let r = post(
        &c,
        "/v1/tables/t/ingest",
        "application/x-ndjson",
        &format!("{{\"id\":\"a\",\"set\":{{\"city\":\"{long}\"}}}}\n"),
    );
    let e = error(&r, 400, "a 300-byte ENUM value");
    assert!(e["message"].as_str().unwrap().contains("256"), "{e}");
    let r = post(
        &c,
        "/v1/tables/t/import",
        "text/csv",
        &format!("user_id,city\nb,c1\nc,{long}\n"),
    );
    let e = error(&r, 400, "an imported 300-byte ENUM value");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("line 3") && m.contains("`city`"), "{e}");

    // Nothing of it was applied, and the manifest did not grow.
    assert_eq!(count(&c, "SELECT COUNT(*) FROM t"), 0);
    assert_eq!(manifest_len(&store), before);
}
