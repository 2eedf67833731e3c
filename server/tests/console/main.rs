//! The web console in real headless browsers, Chromium and Firefox (over
//! WebDriver: chromedriver, geckodriver), against `segdb serve` on a
//! generated store: each test drives pages as a person would and checks
//! what they show against the HTTP API's own answers; no script error may
//! happen on any page. Every test runs in both browsers (`…::chromium`,
//! `…::firefox`); each page is saved as a PNG in
//! target/console-screenshots/{chromium,firefox}/.

/// Runs the browser test `async fn $name(kind: Kind)` as two tests,
/// `$name::chromium` and `$name::firefox`.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn chromium() {
                super::$name(crate::browser::Kind::Chromium).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn firefox() {
                super::$name(crate::browser::Kind::Firefox).await
            }
        }
    };
}

mod browser;
#[path = "../common/mod.rs"]
mod common;
mod pages;
mod roles;
mod segments;

use segdb_server::client::Client;
use serde_json::Value;

/// `n` with thousands separators, as the console shows it.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The count a statement answers over the API.
pub fn api_count(api: &Client, text: &str) -> u64 {
    let v = api.query(text).unwrap();
    v["rows"][0][0]
        .as_u64()
        .unwrap_or_else(|| panic!("{text}: {v}"))
}

/// A GET over the API, as JSON.
pub fn api_get(api: &Client, path: &str) -> Value {
    let r = api.request("GET", path, &[], None).unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

#[test]
fn grouped_puts_separators_every_three_digits() {
    assert_eq!(grouped(0), "0");
    assert_eq!(grouped(999), "999");
    assert_eq!(grouped(1000), "1,000");
    assert_eq!(grouped(1234567), "1,234,567");
}
