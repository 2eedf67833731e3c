//! One budget of rows and bytes for a whole answer, however many
//! statements a request holds.

use serde_json::json;

use super::*;

fn too_large(r: &RawResponse, what: &str) {
    let text = r.text();
    assert_eq!(
        r.status,
        400,
        "{what}: {}",
        text.chars().take(300).collect::<String>()
    );
    let e = &r.json()["error"];
    assert_eq!(e["code"], json!("result_too_large"), "{what}: {e}");
    let hint = e["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("LIMIT") && hint.contains("text/csv"),
        "{what}: {e}"
    );
}

#[test]
fn one_budget_of_rows_and_bytes_for_the_whole_answer() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(
        &store,
        Settings {
            max_answer_rows: Some(500),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    // Each statement is under the cap; together they are over it.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        &"SELECT user_id FROM users;\n".repeat(40),
    );
    too_large(&r, "40 x 300 ids");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("500"));
    // Other statements count too: GROUP BY rows add up.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        &"SELECT city, COUNT(*) FROM users GROUP BY city;\n".repeat(10),
    );
    too_large(&r, "10 GROUP BY city");
    // Under the budget: answered.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "SELECT user_id FROM users LIMIT 50; SELECT user_id FROM users LIMIT 50 OFFSET 50",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"][1]["rows"].as_array().unwrap().len(), 50);
    // One SELECT of ids as CSV streams, whatever the budget.
    let r = c
        .request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(b"SELECT user_id FROM users"),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text().lines().count(), 301);
    // The server is fine afterwards.
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 300);
    drop(server);

    // Few rows, many bytes: 200 ids of 10 characters are about 3,000 bytes
    // of JSON each time.
    let server = Server::start(
        &store,
        Settings {
            max_answer_rows: Some(500),
            max_answer_bytes: Some(4_000),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "SELECT user_id FROM users LIMIT 200; SELECT user_id FROM users LIMIT 200",
    );
    too_large(&r, "2 x 200 ids");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("4000"));
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "SELECT user_id FROM users LIMIT 200",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_procedure_lists_at_most_a_page_of_ids() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    c.query("CREATE SEGMENT everyone AS SELECT FROM users WHERE NOT city = 'nowhere'")
        .unwrap();
    // A limit past the page is refused before any id is read, however few
    // rows the segment has.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CALL segment_ids('everyone', limit => 1000000)",
    );
    let text = r.text();
    assert_eq!(
        r.status,
        400,
        "{}",
        text.chars().take(300).collect::<String>()
    );
    let e = &r.json()["error"];
    assert!(e["message"].as_str().unwrap().contains("100000"), "{e}");
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CALL segment_ids('everyone', limit => 100000)",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 300);
}
