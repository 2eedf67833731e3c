//! The Segment builder (W1 of the standard workload built by clicking,
//! its count read against POST /v1/query, saved, found in GET
//! /v1/segments) and the Insight page of the segment it saved.

use segdb_server::client::Client;
use serde_json::{json, Value};

use super::browser::{Browser, Kind};
use super::common;
use super::{api_count, api_get, grouped};

/// Ticks value `v` of the condition on `field`.
async fn tick(b: &Browser, field: &str, v: &str) {
    b.click(&format!(
        ".cond[data-field={field}] input[data-value=\"{v}\"]"
    ))
    .await;
}

/// Waits until the live count reads `want`.
async fn count_reads(b: &Browser, want: u64) {
    b.wait_js(
        &format!("const c = document.querySelector('#b-count'); return c.dataset.count === '{want}' && c.textContent === '{}'", grouped(want)),
        &format!("the live count to read {want}"),
    )
    .await;
}

both!(builder_makes_w1_and_saves_it_and_insight_shows_it);

async fn builder_makes_w1_and_saves_it_and_insight_shows_it(kind: Kind) {
    let (dir, store, _csv, _) = common::generated_store(30_000, 9);
    let (_server, url) = common::serve_store(&store);
    let api = Client::new(&url, None);
    let b = Browser::start(kind, &url).await;
    b.open("builder").await;
    count_reads(&b, 30_000).await;

    // W1: gender = f AND age BETWEEN 25 AND 35 AND city IN (c000, c001,
    // c002) AND os = ios, field by field.
    b.type_into("#b-search", "gend").await;
    b.wait_js(
        "return document.querySelectorAll('#b-fields .pick').length === 1",
        "the field search",
    )
    .await;
    b.click("#b-fields .pick[data-field=gender]").await;
    tick(&b, "gender", "f").await;
    b.type_into("#b-search", "").await;
    b.click("#b-fields .pick[data-field=age]").await;
    b.type_into(".cond[data-field=age] input.min", "25").await;
    b.type_into(".cond[data-field=age] input.max", "35").await;
    b.click("#b-fields .pick[data-field=city]").await;
    for c in ["c000", "c001", "c002"] {
        tick(&b, "city", c).await;
    }
    b.click("#b-fields .pick[data-field=os]").await;
    tick(&b, "os", "ios").await;
    let where_ =
        "gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios'";
    let w1 = api_count(&api, &format!("SELECT COUNT(*) FROM users WHERE {where_}"));
    assert!(w1 > 50, "{w1}");
    count_reads(&b, w1).await;
    assert_eq!(
        b.text("#b-statement").await,
        format!("SELECT FROM users WHERE {where_}")
    );
    // The value pickers carry the table's counts.
    let ios = api_count(&api, "SELECT COUNT(*) FROM users WHERE os = 'ios'");
    let label = b
        .text(".cond[data-field=os] label:has(input[data-value=ios])")
        .await;
    assert_eq!(label, format!("ios {}", grouped(ios)));
    b.screenshot("builder").await;

    // Saved as a dynamic segment, listed by the API.
    b.type_into("#b-name", "w1").await;
    b.click("#b-save-go").await;
    b.wait_text("#b-save-result", |t| {
        t.starts_with("saved dynamic segment w1")
    })
    .await;
    let segs = api_get(&api, "/v1/segments")["segments"].clone();
    let w1seg = segs
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "w1")
        .unwrap_or_else(|| panic!("{segs}"));
    assert_eq!(w1seg["kind"], "dynamic");
    assert!(
        w1seg["definition"]
            .as_str()
            .unwrap()
            .contains("age BETWEEN 25 AND 35"),
        "{w1seg}"
    );
    assert_eq!(
        api_count(&api, "SELECT COUNT(*) FROM users WHERE IN SEGMENT w1"),
        w1
    );

    // A file of ids uploaded as a snapshot segment, with the ids the
    // table lacks counted.
    let ids = dir.path().join("picked.txt");
    std::fs::write(&ids, "u000000001\nu000000002\nnobody\n").unwrap();
    b.type_into("#u-name", "picked").await;
    b.client
        .find(fantoccini::Locator::Css("#u-file"))
        .await
        .unwrap()
        .send_keys(ids.to_str().unwrap())
        .await
        .unwrap();
    b.click("#u-go").await;
    b.wait_text("#u-result", |t| {
        t.starts_with("snapshot segment picked: 2 users")
    })
    .await;
    b.wait_text("#u-result .error-head", |t| {
        t.contains("ids not in the table: 1 (e.g. nobody)")
    })
    .await;
    assert_eq!(
        api_count(&api, "SELECT COUNT(*) FROM users WHERE IN SEGMENT picked"),
        2
    );

    // A nested OR group with NOT: NOT (is_owner OR member_level >= 3).
    b.click("#b-tree .add-group").await;
    b.click("#b-fields .pick[data-field=is_owner]").await;
    b.click("#b-fields .pick[data-field=member_level]").await;
    b.type_into(".cond[data-field=member_level] input.min", "3")
        .await;
    b.click(".group .group input.group-not").await;
    let nested = format!("{where_} AND NOT (is_owner OR member_level >= 3)");
    let want = api_count(&api, &format!("SELECT COUNT(*) FROM users WHERE {nested}"));
    assert!(want < w1, "{want} {w1}");
    count_reads(&b, want).await;
    assert_eq!(
        b.text("#b-statement").await,
        format!("SELECT FROM users WHERE {nested}")
    );
    // An EVENT window as of the data's last day.
    b.click("#b-tree > .group > .actions .target-here").await;
    b.click("#b-fields .pick[data-field=search]").await;
    b.set_value("#b-asof", "2026-11-22").await;
    let ev = format!("{nested} AND count(search, last 7 days) >= 1");
    let want = api_count(
        &api,
        &format!("SELECT COUNT(*) FROM users WHERE {ev} AS OF '2026-11-22'"),
    );
    count_reads(&b, want).await;

    // Insight of the saved segment: one bar per gender value, with the
    // API's shares; INT histogram; EVENT line; and a COMPARE.
    let ins = api
        .request(
            "POST",
            "/v1/insight",
            &[("content-type", "application/json")],
            Some(
                json!({"table": "users", "where": "IN SEGMENT w1", "fields": ["gender", "education", "age", "search"], "top": 10, "as_of": "2026-11-22"})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .unwrap()
        .json();
    b.open("insight?segment=w1&fields=gender,education,age,search&as_of=2026-11-22")
        .await;
    b.wait_text(".insight-col .seg-rows", |t| t == grouped(w1))
        .await;
    let bars = b
        .js("return [...document.querySelectorAll('.insight-field[data-field=gender] .bar-row')].map(g => [g.dataset.value, Number(g.dataset.share), Number(g.dataset.tableShare), g.dataset.tgi])")
        .await;
    let values = ins["fields"][0]["values"].as_array().unwrap();
    let bars = bars.as_array().unwrap();
    assert_eq!(bars.len(), values.len(), "{bars:?} {values:?}");
    for (bar, v) in bars.iter().zip(values) {
        assert_eq!(bar[0], v["value"], "{bar} {v}");
        let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
        assert!(close(&bar[1], &v["share"]), "{bar} {v}");
        assert!(close(&bar[2], &v["table_share"]), "{bar} {v}");
    }
    let hist = ins["fields"][2]["histogram"].as_array().unwrap().len();
    assert_eq!(
        b.js("return document.querySelectorAll('.insight-field[data-field=age] .bin').length")
            .await,
        json!(hist)
    );
    assert_eq!(
        b.js("return document.querySelectorAll('.insight-field[data-field=search] circle').length")
            .await,
        json!(ins["fields"][3]["days"].as_array().unwrap().len())
    );
    b.screenshot("insight").await;

    // A second side: the page runs the language's COMPARE and shows its
    // own figures.
    b.type_into("#ins-where-b", "gender = 'm'").await;
    b.click("#ins-go").await;
    let text = "COMPARE gender, education, age, search FROM users WHERE (IN SEGMENT w1) VERSUS (gender = 'm') TOP 10 AS OF '2026-11-22'";
    b.wait_text(".compare pre.statement", |t| t == text).await;
    let c = api.query(text).unwrap();
    let col = |name: &str| {
        c["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|x| x == name)
            .unwrap_or_else(|| panic!("no column {name}: {c}"))
    };
    let gender: Vec<&Value> = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[col("field")] == "gender")
        .collect();
    assert!(gender.len() >= 2, "{c}");
    for r in gender {
        let value = r[col("value")].as_str().unwrap();
        let css = format!(".compare-field[data-field=gender] tr[data-value={value:?}]");
        let row = b.wait_text(&css, |t| !t.is_empty()).await;
        let cell = |class: &str| format!("{css} .{class}");
        assert_eq!(
            b.text(&cell("count-a")).await,
            grouped(r[col("count_a")].as_u64().unwrap()),
            "{row}"
        );
        assert_eq!(
            b.text(&cell("count-b")).await,
            grouped(r[col("count_b")].as_u64().unwrap()),
            "{row}"
        );
        let d = r[col("difference")].as_f64().unwrap() * 100.0;
        let sign = if d > 0.0 { "+" } else { "" };
        assert_eq!(
            b.text(&cell("difference")).await,
            format!("{sign}{d:.2} pp"),
            "{row}"
        );
        let tgi = match r[col("tgi")].as_f64() {
            Some(t) => format!("{t:.1}"),
            None => "–".to_owned(),
        };
        assert_eq!(b.text(&cell("tgi")).await, tgi, "{row}");
    }
    // `m` itself: every `m` of the table on side B.
    let m = api_count(&api, "SELECT COUNT(*) FROM users WHERE gender = 'm'");
    assert_eq!(
        b.text(".compare-field[data-field=gender] tr[data-value=\"m\"] .count-b")
            .await,
        grouped(m)
    );
    b.screenshot("insight-compare").await;
    b.close().await;
}

both!(builder_never_shows_a_stale_count_over_a_fresh_one);

/// The live count never shows an older answer over a newer one: the
/// first count's answer is held back in the page (its `fetch` wrapped)
/// until after a newer count has been shown, and must not replace it.
async fn builder_never_shows_a_stale_count_over_a_fresh_one(kind: Kind) {
    let (_dir, store, _csv, _) = common::generated_store(5_000, 11);
    let (_server, url) = common::serve_store(&store);
    let api = Client::new(&url, None);
    let b = Browser::start(kind, &url).await;
    b.open("builder").await;
    count_reads(&b, 5_000).await;
    b.click("#b-fields .pick[data-field=gender]").await;
    // From now on, the first count asked is answered only once the test
    // releases it; later ones go through.
    b.js(r#"
        const orig = window.fetch;
        let first = true;
        window.__release = null;
        window.__staleSettled = false;
        window.fetch = async (url, opts) => {
          if (!(first && url === "/v1/query")) return orig(url, opts);
          first = false;
          const held = new Promise((resolve) => (window.__release = resolve));
          try {
            const r = await orig(url, Object.assign({}, opts, { signal: undefined }));
            await held;
            return r;
          } finally {
            setTimeout(() => (window.__staleSettled = true), 0);
          }
        };
        return true;
    "#)
        .await;
    tick(&b, "gender", "f").await;
    b.wait_js(
        "return window.__release !== null",
        "the first count to be asked",
    )
    .await;
    tick(&b, "gender", "m").await;
    let fresh = api_count(
        &api,
        "SELECT COUNT(*) FROM users WHERE gender IN ('f', 'm')",
    );
    count_reads(&b, fresh).await;
    b.js("window.__release(); return true").await;
    b.wait_js(
        "return window.__staleSettled === true",
        "the stale answer to arrive",
    )
    .await;
    // The page has had the stale answer; the count is still the fresh one.
    b.wait_js(
        "return new Promise((r) => setTimeout(() => r(true), 0))",
        "a turn of the event loop",
    )
    .await;
    count_reads(&b, fresh).await;
    assert_ne!(
        fresh,
        api_count(&api, "SELECT COUNT(*) FROM users WHERE gender = 'f'")
    );
    b.close().await;
}
