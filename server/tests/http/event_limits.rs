//! EVENT counts at the per-day limit over HTTP (issue 11's repro): a
//! count past 4,294,967,295 a day is refused with 400 naming the line, by
//! ingest and import alike, and what is stored is what WHERE finds.

use serde_json::json;

use super::*;

fn ingest(c: &Client, body: &str) -> RawResponse {
    c.request(
        "POST",
        "/v1/tables/people/ingest",
        &[("content-type", "application/x-ndjson")],
        Some(body.as_bytes()),
    )
    .unwrap()
}

fn event(id: &str, day: &str, count: u64) -> String {
    format!("{{\"id\":\"{id}\",\"event\":\"ev\",\"day\":\"{day}\",\"count\":{count}}}\n")
}

#[test]
fn counts_past_the_daily_limit_are_refused_and_stored_counts_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE people (city ENUM, ev EVENT)")
        .unwrap();
    let max = 4_294_967_295u64;

    // 2^32 once: refused, naming the line.
    let r = ingest(&c, &event("p1", "2026-11-20", max + 1));
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.json()["error"].clone();
    assert_eq!(e["code"], "bad_input");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("line 1") && m.contains("past the limit"), "{m}");
    // 2^32 - 1 twice on one day: the second is refused.
    let r = ingest(&c, &event("p1", "2026-11-20", max));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = ingest(&c, &event("p1", "2026-11-20", max));
    assert_eq!(r.status, 400, "{}", r.text());
    // On other days it adds up past 2^32 over a window.
    let r = ingest(
        &c,
        &(event("p1", "2026-11-21", max)
            + &event("p2", "2026-11-21", max)
            + &event("p3", "2026-11-21", 7)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Import: a count past the limit is a bad line, and lines adding up
    // past it fail the import; nothing changes.
    let import = |body: &str| {
        post(
            &c,
            "/v1/tables/people/import?format=events",
            "text/csv",
            &format!("user_id,event,day,count\n{body}"),
        )
    };
    let r = import(&format!("p4,ev,2026-11-20,{}\n", max + 1));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("line 2"), "{}", r.text());
    let r = import("p3,ev,2026-11-21,4294967290\n");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("past the limit"), "{}", r.text());

    // What the profiles say is what WHERE finds, around every boundary.
    let total = |id: &str| -> u64 {
        let v = get(
            &c,
            &format!("/v1/tables/people/profiles/{id}?as_of=2026-11-22&days=3"),
        )
        .json();
        v["fields"]["ev"]["total"].as_u64().unwrap_or(0)
    };
    let totals: Vec<u64> = ["p1", "p2", "p3"].iter().map(|id| total(id)).collect();
    assert_eq!(totals, [2 * max, max, 7]);
    for n in [
        6,
        7,
        max - 1,
        max,
        max + 1,
        2 * max - 1,
        2 * max,
        2 * max + 1,
    ] {
        let want = totals.iter().filter(|&&t| t > n).count() as u64;
        let q = format!(
            "SELECT COUNT(*) FROM people WHERE count(ev, '2026-11-20'..'2026-11-22') > {n}"
        );
        assert_eq!(count(&c, &q), want, "{q}");
        let want = totals.iter().filter(|&&t| t == n).count() as u64;
        let q = format!(
            "SELECT COUNT(*) FROM people WHERE count(ev, '2026-11-20'..'2026-11-22') = {n}"
        );
        assert_eq!(count(&c, &q), want, "{q}");
    }
    assert_eq!(
        c.query("SELECT COUNT(*) FROM people").unwrap()["rows"],
        json!([[3]])
    );
}
