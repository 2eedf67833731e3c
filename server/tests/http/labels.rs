//! `/metrics` labels come from a closed set: a flood of requests with
//! made-up methods (one of 200 KB) and paths, without a token, adds no
//! series and puts none of the client's strings into the text.

use super::*;

/// The label values a request series may carry.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "other",
];

/// The `segdb_http_*` series of a `/metrics` text.
fn http_series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("segdb_http_"))
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series))
        .collect()
}

/// A label's value in a series line.
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let len = series[start..].find('"')?;
    Some(&series[start..start + len])
}

#[test]
fn made_up_methods_and_paths_add_no_series() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(
        &store,
        Settings {
            tokens: vec![parse_token("read:r-secret").unwrap()],
            ..Settings::default()
        },
    );
    let c = server.client(Some("r-secret"));
    // Every series a client can reach without a token, once.
    for (method, path) in [
        ("GET", "/v1/tables"),
        ("POST", "/v1/query"),
        ("ZQMADEUP", "/v1/tables"),
        ("ZQMADEUP", "/v1/query"),
        ("GET", "/v1/tables/zq0"),
        ("ZQMADEUP", "/v1/tables/zq0"),
        ("GET", "/zq-nowhere"),
        ("ZQMADEUP", "/zq-nowhere"),
    ] {
        let (status, _) = exchange(
            server.addr,
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, 401, "{method} {path}");
    }
    // Scraped twice: the first scrape's own series appear in the second.
    get(&c, "/metrics");
    let before = get(&c, "/metrics").text();
    let before: Vec<String> = http_series(&before)
        .into_iter()
        .map(str::to_owned)
        .collect();

    // 2,000 requests: made-up methods and paths of every length, one in
    // a hundred with a 200 KB method; none has a token.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..2_000u32 {
        let letters = |n: usize, next: &mut dyn FnMut() -> u64| -> String {
            (0..n)
                .map(|_| (b'A' + (next() % 26) as u8) as char)
                .collect()
        };
        let method = if i.is_multiple_of(100) {
            format!("ZQ{}", letters(200_000, &mut next))
        } else {
            let n = (next() % 40) as usize;
            format!("ZQ{}", letters(n, &mut next))
        };
        let path = match i % 3 {
            0 => format!(
                "/zq{}",
                letters((next() % 60) as usize, &mut next).to_lowercase()
            ),
            1 => format!("/v1/tables/zq{}", next()),
            _ => "/v1/query".to_owned(),
        };
        let (status, _) = exchange(
            server.addr,
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(
            status == 401 || status == 400 || status == 0,
            "request {i}: {status}"
        );
    }

    let after = get(&c, "/metrics").text();
    let series = http_series(&after);
    assert!(
        !after.to_lowercase().contains("zq"),
        "a client's string became a label:\n{}",
        &after[..after.len().min(4000)]
    );
    let new: Vec<&&str> = series
        .iter()
        .filter(|s| !before.iter().any(|b| b == *s))
        .collect();
    assert!(
        new.is_empty(),
        "{} new series appeared, such as:\n{}",
        new.len(),
        new.iter()
            .take(5)
            .map(|s| s.chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for s in &series {
        if let Some(m) = label(s, "method") {
            assert!(METHODS.contains(&m), "method label `{m}` in {s}");
        }
        if let Some(r) = label(s, "route") {
            assert!(
                r == "unmatched" || r.starts_with('/'),
                "route label `{r}` in {s}"
            );
        }
    }
    assert!(after.len() < 64 << 10, "/metrics is {} bytes", after.len());
}

/// Every route of the router is counted under its own pattern: the list
/// the `route` label is taken from is the router's (a route missing from
/// it would be counted as `unmatched`).
#[test]
fn every_route_is_counted_under_its_pattern() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let routes = [
        ("GET", "/healthz", "/healthz"),
        ("POST", "/v1/query", "/v1/query"),
        ("POST", "/v1/insight", "/v1/insight"),
        ("GET", "/v1/tables", "/v1/tables"),
        ("GET", "/v1/tables/users", "/v1/tables/{table}"),
        (
            "POST",
            "/v1/tables/nope/import",
            "/v1/tables/{table}/import",
        ),
        (
            "POST",
            "/v1/tables/nope/ingest",
            "/v1/tables/{table}/ingest",
        ),
        (
            "GET",
            "/v1/tables/users/profiles/nope",
            "/v1/tables/{table}/profiles/{id}",
        ),
        ("GET", "/v1/segments", "/v1/segments"),
        ("DELETE", "/v1/segments/nope", "/v1/segments/{name}"),
        ("GET", "/v1/segments/nope/ids", "/v1/segments/{name}/ids"),
        ("GET", "/v1/keys", "/v1/keys"),
        ("GET", "/v1/keys/nope", "/v1/keys/{name}"),
        ("GET", "/v1/campaigns", "/v1/campaigns"),
        ("GET", "/v1/campaigns/nope", "/v1/campaigns/{name}"),
        (
            "POST",
            "/v1/campaigns/nope/start",
            "/v1/campaigns/{name}/{action}",
        ),
        ("GET", "/metrics", "/metrics"),
    ];
    for (method, path, _) in routes {
        c.request(method, path, &[], Some(b"")).unwrap();
    }
    let m = get(&c, "/metrics").text();
    for (method, path, pattern) in routes {
        assert!(
            m.contains(&format!("method=\"{method}\",route=\"{pattern}\"")),
            "{method} {path} is not counted under {pattern}:\n{m}"
        );
    }
    assert!(!m.contains("unmatched"), "{m}");
}
