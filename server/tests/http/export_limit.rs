//! Exports are rate-limited per principal (`export_ids_per_minute`): a
//! token bucket per principal name over every way ids leave the server.
//! Time is moved on through the limiter's clock, never waited for.

use std::time::Duration;

use serde_json::Value;

use super::*;

fn export(server: &Server, token: &str, how: &str) -> RawResponse {
    let c = server.client(Some(token));
    let select = "SELECT user_id FROM users WHERE city = 'c000'";
    match how {
        "csv" => c.request("GET", "/v1/segments/s/ids", &[], None),
        "roaring" => c.request(
            "GET",
            "/v1/segments/s/ids",
            &[("accept", "application/x-roaring")],
            None,
        ),
        "query_csv" => c.request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(select.as_bytes()),
        ),
        "json" => c.request("POST", "/v1/query", &[], Some(select.as_bytes())),
        "call" => c.request(
            "POST",
            "/v1/query",
            &[],
            Some(b"CALL segment_ids('s', limit => 100000)"),
        ),
        _ => unreachable!(),
    }
    .unwrap()
}

#[test]
fn export_limit_refuses_past_the_bucket_per_principal_and_refills() {
    let (_dir, store, data) = generated(2_000);
    let c000 = data.count(|r| r.get("city") == "c000");
    // The limit is 1.5 times the export, below the table's rows: a CSV
    // stream starts on a reservation of the filter's bound (exactly the
    // export here), and a second one no longer fits.
    assert!(c000 > 10 && c000 + c000 / 2 < 2_000, "{c000}");
    let mut want: Vec<String> = data
        .rows()
        .filter(|r| r.get("city") == "c000")
        .map(|r| r.id().to_string())
        .collect();
    want.sort();
    let tokens = ["ana:admin:a", "rita:read:r", "rob:read:b"]
        .iter()
        .map(|t| parse_token(t).unwrap())
        .collect();
    // One export of the segment fits a minute's allowance, two do not.
    let server = Server::start(
        &store,
        Settings {
            tokens,
            export_ids_per_minute: Some(c000 + c000 / 2),
            ..Settings::default()
        },
    );
    let r = server
        .client(Some("a"))
        .request(
            "PUT",
            "/v1/segments/s",
            &[("content-type", "application/json")],
            Some(br#"{"definition": "SELECT FROM users WHERE city = 'c000'"}"#),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    for how in ["csv", "roaring", "query_csv", "json", "call"] {
        // A fresh minute for every way of exporting.
        server
            .state
            .export_limit
            .advance_clock(Duration::from_secs(60));
        let first = export(&server, "r", how);
        assert_eq!(first.status, 200, "{how}: {}", first.text());
        // Exactly the segment's ids (streamed on a reservation, or counted
        // first and sent from the rows so counted).
        if how == "csv" || how == "query_csv" {
            let mut got: Vec<String> = first.text().lines().skip(1).map(String::from).collect();
            got.sort();
            assert_eq!(got, want, "{how}");
        }
        if how == "roaring" {
            let bitmap = roaring::RoaringBitmap::deserialize_from(&first.body[..]).unwrap();
            assert_eq!(bitmap.len(), c000, "{how}");
        }
        let second = export(&server, "r", how);
        assert_eq!(second.status, 429, "{how}: {}", second.text());
        assert_eq!(second.json()["error"]["code"], "rate_limited", "{how}");
        let wait: u64 = second.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{how}: Retry-After {wait}");
        // Another principal has a bucket of its own.
        server
            .state
            .export_limit
            .advance_clock(Duration::from_secs(60));
        assert_eq!(export(&server, "b", how).status, 200, "{how}");
        // And the first one's bucket refills with time.
        assert_eq!(export(&server, "r", how).status, 200, "{how}");
    }
    // Every export is audited with its rows, the refused ones as errors.
    let r = get(
        &server.client(Some("a")),
        "/v1/audit?action=export&principal=rita",
    );
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 15, "{entries:?}");
    let refused: Vec<&Value> = entries.iter().filter(|e| e["status"] == 429).collect();
    assert_eq!(refused.len(), 5);
    for e in &refused {
        assert_eq!(e["outcome"], "error");
        assert_eq!(e["error"], "rate_limited");
        assert_eq!(e["detail"]["rows"], c000, "{e}");
    }
    // The CSV streams were reserved by their bound, the others counted.
    let ok: Vec<&Value> = entries.iter().filter(|e| e["status"] == 200).collect();
    assert_eq!(ok.len(), 10);
    for e in ok {
        let key = if e["detail"]["format"] == "csv" {
            "rows_at_most"
        } else {
            "rows"
        };
        assert_eq!(e["detail"][key], c000, "{e}");
    }
    let m = get(&server.client(Some("a")), "/metrics").text();
    assert!(
        m.lines().any(|l| l == "segdb_exports_rate_limited_total 5"),
        "{m}"
    );
}

#[test]
fn export_limit_zero_is_unlimited() {
    let (_dir, store, _data) = generated(500);
    let server = Server::start(
        &store,
        Settings {
            tokens: vec![parse_token("rita:read:r").unwrap()],
            export_ids_per_minute: Some(0),
            ..Settings::default()
        },
    );
    let c = server.client(Some("r"));
    for _ in 0..5 {
        let r = post(&c, "/v1/query", "text/plain", "SELECT user_id FROM users");
        assert_eq!(r.status, 200, "{}", r.text());
    }
}
