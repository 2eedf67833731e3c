//! Language features checked over HTTP on a small ingested table whose
//! values arrive out of order: `count(e, w) BETWEEN a AND b`, and the
//! order of GROUP BY without ORDER BY (by value text, ascending).

use serde_json::json;

use super::*;

#[test]
fn count_between_and_the_order_of_group_by() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE people (city ENUM, tags SET, vip BOOL, visit EVENT)")
        .unwrap();
    // Values first seen in the order sh, bj, gz (and tags z, a, m); visit
    // totals over the window: p0 1, p1 2, p2 3, p3 5, p4 8, p5 none.
    let mut body = String::new();
    for (i, (city, tag, visits)) in [
        ("sh", "z", 1),
        ("bj", "a", 2),
        ("gz", "m", 3),
        ("sh", "a", 5),
        ("bj", "z", 8),
        ("sh", "m", 0),
    ]
    .iter()
    .enumerate()
    {
        body += &format!(
            "{{\"id\":\"p{i}\",\"set\":{{\"city\":\"{city}\",\"vip\":{}}}}}\n\
             {{\"id\":\"p{i}\",\"add\":{{\"tags\":[\"{tag}\"]}}}}\n",
            i % 2 == 0
        );
        if *visits > 0 {
            // Split over two days of the window.
            body += &format!(
                "{{\"id\":\"p{i}\",\"event\":\"visit\",\"day\":\"2026-11-20\",\"count\":1}}\n"
            );
            if *visits > 1 {
                body += &format!(
                    "{{\"id\":\"p{i}\",\"event\":\"visit\",\"day\":\"2026-11-22\",\"count\":{}}}\n",
                    visits - 1
                );
            }
        }
    }
    let r = c
        .request(
            "POST",
            "/v1/tables/people/ingest",
            &[("content-type", "application/x-ndjson")],
            Some(body.as_bytes()),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // GROUP BY without ORDER BY: by value text.
    let groups = |q: &str| c.query(q).unwrap()["rows"].clone();
    assert_eq!(
        groups("SELECT city, COUNT(*) FROM people GROUP BY city"),
        json!([["bj", 2], ["gz", 1], ["sh", 3]])
    );
    assert_eq!(
        groups("SELECT tags, COUNT(*) FROM people WHERE NOT city = 'gz' GROUP BY tags"),
        json!([["a", 2], ["m", 1], ["z", 2]])
    );
    assert_eq!(
        groups("SELECT vip, COUNT(*) FROM people GROUP BY vip"),
        json!([["false", 3], ["true", 3]])
    );
    assert_eq!(
        groups("SELECT city, COUNT(*) FROM people GROUP BY city LIMIT 2 OFFSET 1"),
        json!([["gz", 1], ["sh", 3]])
    );

    // count(…) BETWEEN: both ends included, against the totals above.
    let totals = [1u64, 2, 3, 5, 8, 0];
    let w = "'2026-11-01'..'2026-11-30'";
    for (lo, hi) in [(0, 0), (0, 2), (2, 5), (3, 3), (4, 4), (5, 100), (-5, 1)] {
        let want = totals
            .iter()
            .filter(|&&t| lo <= t as i64 && t as i64 <= hi)
            .count() as u64;
        let q =
            format!("SELECT COUNT(*) FROM people WHERE count(visit, {w}) BETWEEN {lo} AND {hi}");
        assert_eq!(count(&c, &q), want, "{q}");
        let q = format!(
            "SELECT COUNT(*) FROM people WHERE NOT count(visit, {w}) BETWEEN {lo} AND {hi}"
        );
        assert_eq!(count(&c, &q), 6 - want, "{q}");
    }
    // An inverted range is the client's mistake, at the statement.
    let r = post(
        &c,
        "/v1/query",
        "text/plain; charset=utf-8",
        &format!("SELECT COUNT(*) FROM people WHERE count(visit, {w}) BETWEEN 5 AND 2"),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "type_error");
}
