//! A window of days that holds no day with any event of its field counts 0
//! for every row: the answer says so in `warnings` (issue 19's date trap:
//! `last 7 days` without AS OF on data that ended months ago).

use serde_json::{json, Value};

use super::*;

fn warnings(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter(|w| w["code"] == "empty_window")
                .map(|w| w["message"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn windows_without_any_event_day_are_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE people (city ENUM, ev EVENT, other EVENT)")
        .unwrap();

    // No events at all yet: every window is empty.
    let v = c
        .query("SELECT COUNT(*) FROM people WHERE did(ev, last 7 days)")
        .unwrap();
    let w = warnings(&v);
    assert_eq!(w.len(), 1, "{v}");
    assert!(w[0].contains("no events at all"), "{v}");

    let r = c
        .request(
            "POST",
            "/v1/tables/people/ingest",
            &[("content-type", "application/x-ndjson")],
            Some(
                b"{\"id\":\"p1\",\"event\":\"ev\",\"day\":\"2026-03-10\",\"count\":5}\n\
                  {\"id\":\"p2\",\"event\":\"ev\",\"day\":\"2026-03-20\",\"count\":2}\n",
            ),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // After the last day with events: warned, with the day to ask AS OF.
    let q = "SELECT COUNT(*) FROM people WHERE count(ev, last 7 days) > 1 AS OF '2026-04-30'";
    let v = c.query(q).unwrap();
    assert_eq!(v["rows"], json!([[0]]));
    let w = warnings(&v);
    assert_eq!(w.len(), 1, "{v}");
    assert!(
        w[0].contains("2026-04-24..2026-04-30") && w[0].contains("2026-03-10 to 2026-03-20"),
        "{v}"
    );
    let warning = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "empty_window")
        .unwrap();
    assert_eq!(warning["line"], json!(1));
    assert_eq!(warning["column"], json!(45), "{v}");
    assert!(
        warning["hint"]
            .as_str()
            .unwrap()
            .contains("AS OF '2026-03-20'"),
        "{v}"
    );

    // Before the first: warned too (a range, BETWEEN).
    let v = c
        .query(
            "SELECT COUNT(*) FROM people WHERE count(ev, '2026-01-01'..'2026-03-09') BETWEEN 1 AND 9",
        )
        .unwrap();
    assert_eq!(warnings(&v).len(), 1, "{v}");

    // A window that touches a day with events: no warning, and it counts.
    let v = c
        .query("SELECT COUNT(*) FROM people WHERE count(ev, last 7 days) > 1 AS OF '2026-03-26'")
        .unwrap();
    assert_eq!(v["rows"], json!([[1]]));
    assert!(warnings(&v).is_empty(), "{v}");
    // A window that spans the data without holding one of its days exactly
    // (around it) is not empty either.
    let v = c
        .query("SELECT COUNT(*) FROM people WHERE did(ev, '2026-03-01'..'2026-12-31')")
        .unwrap();
    assert_eq!(v["rows"], json!([[2]]));
    assert!(warnings(&v).is_empty(), "{v}");

    // Another field's events do not count: `other` has none.
    let v = c
        .query("SELECT COUNT(*) FROM people WHERE did(other, '2026-03-01'..'2026-03-31')")
        .unwrap();
    assert_eq!(warnings(&v).len(), 1, "{v}");
}
