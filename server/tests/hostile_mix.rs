//! The real `segdb serve` under a hostile mix of requests, each of which
//! used to make it hold gigabytes (or write a huge manifest): 40 x `SELECT
//! user_id` in one request, one ingest line of 1.5M SET values, insight of
//! a table of 1,024 INT fields, and ENUM values added until refused. Each
//! gets a 4xx; the server's peak RSS (`VmHWM`) stays under a stated bound,
//! the manifest stays small, and the server still answers a count.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use segdb_server::client::Client;

#[path = "common/mod.rs"]
mod common;
use common::KillOnDrop;

/// Rows of the table the SELECTs read.
const ROWS: usize = 100_000;
/// The answer budget the server runs with.
const ANSWER_ROWS: &str = "200000";
const ANSWER_BYTES: &str = "33554432";
/// The stated bound on the server's peak RSS. Before the answer budget,
/// 40 x 100,000 ids were built in memory at once.
const MAX_PEAK_RSS_KB: u64 = 512 * 1024;
/// The stated bound on the manifest: 65,536 values of a few bytes in one
/// field, and 1,024 field names.
const MAX_MANIFEST_BYTES: u64 = 2 << 20;

fn serve(data: &str) -> (Child, String) {
    common::listening(
        Command::new(env!("CARGO_BIN_EXE_segdb"))
            .args(["serve", "--data", data, "--listen", "127.0.0.1:0"])
            .env("SEGDB_MAX_ANSWER_ROWS", ANSWER_ROWS)
            .env("SEGDB_MAX_ANSWER_BYTES", ANSWER_BYTES)
            .env("SEGDB_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
}

fn post(c: &Client, path: &str, ct: &str, body: &str) -> (u16, String) {
    let r = c
        .request("POST", path, &[("content-type", ct)], Some(body.as_bytes()))
        .unwrap();
    let text = r.text();
    (r.status, text.chars().take(300).collect())
}

#[test]
fn a_hostile_mix_gets_4xx_in_bounded_memory() {
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let (child, url) = serve(data.to_str().unwrap());
    let pid = child.id();
    let mut guard = KillOnDrop(Some(child));
    let c = Client::with_timeout(&url, None, Some(Duration::from_secs(60)));
    c.query("CREATE TABLE users (city ENUM); CREATE TABLE h (tags SET, city ENUM)")
        .unwrap();
    for b in 0..ROWS / 20_000 {
        let batch: String = (b * 20_000..(b + 1) * 20_000)
            .map(|i| {
                format!(
                    "{{\"id\":\"user-{i:07}\",\"set\":{{\"city\":\"c{}\"}}}}\n",
                    i % 50
                )
            })
            .collect();
        let (status, text) = post(
            &c,
            "/v1/tables/users/ingest",
            "application/x-ndjson",
            &batch,
        );
        assert_eq!(status, 200, "{text}");
    }
    let base_kb = common::proc_status_kib(pid, "VmHWM:");

    // 40 x every id in one request, with a read token's rights.
    let (status, text) = post(
        &c,
        "/v1/query",
        "text/plain",
        &"SELECT user_id FROM users;\n".repeat(40),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("result_too_large"), "{text}");

    // One ingest line adding 1.5M SET values.
    let tags: Vec<String> = (0..1_500_000).map(|i| format!("\"{i}\"")).collect();
    let line = format!(
        "{{\"id\":\"a\",\"add\":{{\"tags\":[{}]}}}}\n",
        tags.join(",")
    );
    drop(tags);
    let (status, text) = post(&c, "/v1/tables/h/ingest", "application/x-ndjson", &line);
    drop(line);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("line 1") && text.contains("tags"), "{text}");

    // Insight of every field of a table of 1,024 INT fields.
    let fields: Vec<String> = (0..1_024).map(|i| format!("f{i} INT")).collect();
    c.query(&format!("CREATE TABLE wide ({})", fields.join(", ")))
        .unwrap();
    let (status, text) = post(&c, "/v1/query", "text/plain", "INSIGHT FROM wide");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("name fewer fields"), "{text}");

    // ENUM values added 10,000 at a time until the field is full.
    let mut refused = None;
    for b in 0..10 {
        let batch: String = (0..10_000)
            .map(|i| format!("{{\"id\":\"e{i}\",\"set\":{{\"city\":\"v{b}-{i}\"}}}}\n"))
            .collect();
        let (status, text) = post(&c, "/v1/tables/h/ingest", "application/x-ndjson", &batch);
        if status != 200 {
            assert_eq!(status, 400, "{text}");
            assert!(text.contains("max_field_values"), "{text}");
            refused = Some(b);
            break;
        }
    }
    // 65,536 values: the seventh batch passes the cap.
    assert_eq!(refused, Some(6));
    c.query("SHOW FIELDS FROM h").unwrap();

    // Still answering, and within bounds.
    let v = c.query("SELECT COUNT(*) FROM users").unwrap();
    assert_eq!(v["rows"][0][0], serde_json::json!(ROWS));
    let peak_kb = common::proc_status_kib(pid, "VmHWM:");
    // SIGTERM flushes the values into the manifest.
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut child = guard.0.take().unwrap();
    assert!(child.wait().unwrap().success());
    let manifest = std::fs::metadata(data.join("MANIFEST")).unwrap().len();
    println!(
        "peak RSS {peak_kb} KiB (after loading: {base_kb} KiB); manifest {manifest} bytes; {:?}",
        start.elapsed()
    );
    assert!(
        peak_kb < MAX_PEAK_RSS_KB,
        "peak RSS {peak_kb} KiB passes {MAX_PEAK_RSS_KB} KiB"
    );
    assert!(
        manifest < MAX_MANIFEST_BYTES,
        "manifest {manifest} bytes passes {MAX_MANIFEST_BYTES}"
    );
}
