//! The Query, Tag catalog and Profile pages.

use segdb_server::client::Client;

use super::browser::{Browser, Kind};
use super::common;
use super::{api_count, api_get, grouped};

both!(query_page_counts_shows_errors_with_a_caret_and_keeps_history);

async fn query_page_counts_shows_errors_with_a_caret_and_keeps_history(kind: Kind) {
    let (_dir, store, _csv, _) = common::generated_store(20_000, 7);
    let (_server, url) = common::serve_store(&store);
    let api = Client::new(&url, None);
    let b = Browser::start(kind, &url).await;
    b.open("query").await;

    let q = "SELECT COUNT(*) FROM users WHERE gender = 'f'";
    let want = api_count(&api, q);
    assert!(want > 1000, "{want}");
    b.type_into("#q-editor", q).await;
    b.click("#q-run").await;
    b.wait_text("#q-result td", |t| t == grouped(want)).await;
    b.wait_text("#q-elapsed", |t| t.starts_with("elapsed_ms "))
        .await;

    // A GROUP BY: one row per value, the counts as the API's.
    let g = "SELECT gender, COUNT(*) FROM users GROUP BY gender";
    b.type_into("#q-editor", g).await;
    b.click("#q-run").await;
    let rows = api.query(g).unwrap()["rows"].clone();
    for row in rows.as_array().unwrap() {
        let line = format!(
            "{} {}",
            row[0].as_str().unwrap(),
            grouped(row[1].as_u64().unwrap())
        );
        b.wait_text("#q-result tbody", |t| t.lines().any(|l| l == line))
            .await;
    }

    // An error: the statement's line with a caret under the column the
    // API names.
    let bad = "SELECT COUNT(*) FROM users\nWHERE cty = 'c000'";
    let err = api.query(bad).unwrap_err().to_string();
    assert!(err.contains("cty"), "{err}");
    b.type_into("#q-editor", bad).await;
    b.click("#q-run").await;
    let caret = b
        .wait_text("#q-result pre.caret", |t| t.contains('^'))
        .await;
    let lines: Vec<&str> = caret.lines().collect();
    assert_eq!(lines[0], "WHERE cty = 'c000'", "{caret}");
    assert_eq!(lines[1].trim_end(), "      ^", "{caret}");
    let head = b.text("#q-result .error-head").await;
    assert!(head.starts_with("unknown_field"), "{head}");
    b.wait_text("#q-result .hint", |t| t.contains("did you mean `city`?"))
        .await;
    b.screenshot("query-error").await;

    // The history keeps what ran, newest first, and puts it back.
    let hist = b.wait_text("#q-history", |t| t.contains(q)).await;
    assert!(
        hist.find("cty").unwrap() < hist.find(q).unwrap(),
        "newest first: {hist}"
    );
    b.click("#q-history li:last-child button").await;
    assert_eq!(
        b.js("return document.querySelector('#q-editor').value")
            .await,
        q
    );

    // CSV of ids, streamed with progress, saved as the API answers it.
    let ids = "SELECT user_id FROM users WHERE gender = 'u'";
    b.type_into("#q-editor", ids).await;
    b.click("#q-csv").await;
    b.wait_text("#q-progress", |t| t.starts_with("downloaded "))
        .await;
    let csv = api
        .request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(ids.as_bytes()),
        )
        .unwrap();
    assert_eq!(csv.status, 200);
    assert!(csv.text().starts_with("user_id\n"), "{}", csv.text());
    let saved = b.downloaded("segdb-export.csv").await;
    assert_eq!(String::from_utf8(saved).unwrap(), csv.text());

    b.type_into("#q-editor", q).await;
    b.click("#q-run").await;
    b.wait_text("#q-result td", |t| t == grouped(want)).await;
    b.screenshot("query").await;
    b.close().await;
}

both!(catalog_and_profile_pages_show_the_apis_fields);

async fn catalog_and_profile_pages_show_the_apis_fields(kind: Kind) {
    let (_dir, store, _csv, _) = common::generated_store(20_000, 8);
    let (_server, url) = common::serve_store(&store);
    let api = Client::new(&url, None);
    let b = Browser::start(kind, &url).await;

    b.open("catalog").await;
    let fields = api_get(&api, "/v1/tables/users")["fields"].clone();
    let n = fields.as_array().unwrap().len();
    b.wait_js(
        &format!("return document.querySelectorAll('#cat-result tbody tr').length === {n}"),
        "every field listed",
    )
    .await;
    b.screenshot("catalog").await;
    b.type_into("#cat-search", "interest").await;
    b.wait_js(
        "return document.querySelectorAll('#cat-result tbody tr').length === 1",
        "the search narrowing to one field",
    )
    .await;
    let row = b.text("#cat-result tbody tr").await;
    let interests = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "interests")
        .unwrap();
    assert!(row.starts_with("interests SET"), "{row}");
    let coverage = format!("{:.1}%", interests["coverage"].as_f64().unwrap() * 100.0);
    assert!(row.contains(&coverage), "{row} lacks {coverage}");
    assert!(row.contains(&format!(" {} ", interests["values"])), "{row}");

    // An import from a file, with its progress and the server's answer;
    // the rows are then in the table.
    let rows = api_get(&api, "/v1/tables/users")["rows"].as_u64().unwrap();
    let file = _dir.path().join("new.csv");
    std::fs::write(&file, "user_id,city\nnew-000001,c000\nnew-000002,c001\n").unwrap();
    b.client
        .find(fantoccini::Locator::Css("#imp-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.click("#imp-go").await;
    b.wait_text("#imp-result .imported", |t| {
        t == "imported new.csv: 2 of 2 lines applied, 2 new rows, 0 skipped"
    })
    .await;
    assert_eq!(
        api_get(&api, "/v1/tables/users")["rows"].as_u64().unwrap(),
        rows + 2
    );
    assert_eq!(
        api_get(&api, "/v1/tables/users/profiles/new-000002")["fields"]["city"],
        "c001"
    );
    b.screenshot("catalog-import").await;

    // A profile: its fields as the API gives them, a chart per EVENT
    // field, and an unknown id said clearly.
    let id = "u000000003";
    let p = api_get(
        &api,
        &format!("/v1/tables/users/profiles/{id}?as_of=2026-11-22"),
    );
    b.open(&format!("profile?id={id}&as_of=2026-11-22")).await;
    b.wait_text("#prof-title", |t| t.starts_with(id)).await;
    let shown = b.text(".profile-fields").await;
    for f in ["city", "os", "education"] {
        let line = format!("{f} {}", p["fields"][f].as_str().unwrap());
        assert!(shown.lines().any(|l| l == line), "{line} not in {shown}");
    }
    let age = format!("age {}", p["fields"]["age"]);
    assert!(shown.lines().any(|l| l == age), "{age} not in {shown}");
    assert_eq!(
        b.js("return document.querySelectorAll('.event svg').length")
            .await,
        4
    );
    let search = &p["fields"]["search"];
    let card = b.text(".event[data-field=search]").await;
    assert!(
        card.contains(&format!("{} in the window", search["total"])),
        "{card}"
    );
    b.screenshot("profile").await;
    b.type_into("#prof-id", "nobody-here").await;
    b.click("#prof-go").await;
    b.wait_text("#prof-result .error-head", |t| t.starts_with("unknown_id"))
        .await;
    b.close().await;
}
