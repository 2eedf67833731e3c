//! Query timeouts and busy slots.

use serde_json::json;

use super::*;

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
