//! Tokens: the login box, 401 and 403 said plainly, and only the actions
//! a role may take offered (no save for a reader, no approve but for an
//! admin); the Campaigns page's funnel after a run, and the run's row
//! on the Profile page of a sent user and of a held-out one.

use std::process::{Command, Stdio};

use segdb_server::client::Client;
use serde_json::json;

use super::browser::{Browser, Kind};
use super::common;

both!(roles_see_only_their_actions_and_campaigns_show_their_funnel);

async fn roles_see_only_their_actions_and_campaigns_show_their_funnel(kind: Kind) {
    let (dir, store, _csv, _) = common::generated_store(5_000, 10);
    let (child, url) = common::listening(
        Command::new(env!("CARGO_BIN_EXE_segdb"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&store)
            .args([
                "--token",
                "ops:admin:a-secret",
                "--token",
                "wes:write:w-secret",
                "--token",
                "ana:read:r-secret",
            ])
            .env("SEGDB_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let _server = common::KillOnDrop(Some(child));
    let writer = Client::new(&url, Some("w-secret".into()));
    let out = dir.path().join("sent");
    let def = json!({
        "name": "spring", "table": "users",
        "audience": {"where": "city IN ('c000', 'c001')"},
        "channel": {"file": {"dir": out.to_str().unwrap(), "format": "jsonl"}},
        "variants": [{"name": "a", "weight": 1, "template": "Hi from {city}"},
                     {"name": "b", "weight": 1, "template": "Hello"}],
        "holdout": 0.2, "schedule": "now", "approval_required": true,
        "goal": "did(book, 7 days after send)"
    });
    let r = writer
        .request(
            "POST",
            "/v1/campaigns",
            &[("content-type", "application/json")],
            Some(def.to_string().as_bytes()),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = writer
        .request("POST", "/v1/campaigns/spring/start", &[], None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "pending_approval", "{}", r.text());

    // A SENSITIVE field, which a reader's profile shows redacted.
    let admin = Client::new(&url, Some("a-secret".into()));
    admin
        .query("ALTER TABLE users ADD phone TEXT SENSITIVE CATEGORY contact")
        .unwrap();
    let r = admin
        .request(
            "POST",
            "/v1/tables/users/ingest",
            &[("content-type", "application/x-ndjson")],
            Some(br#"{"id": "u000000001", "set": {"phone": "555-0100"}}"#),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    let b = Browser::start(kind, &url).await;
    // No token: the login box, saying why.
    b.client.goto(&format!("{url}/")).await.unwrap();
    b.wait_text("#login-why", |t| t.starts_with("Not signed in"))
        .await;
    b.screenshot("login").await;
    b.type_into("#token", "wrong").await;
    b.click("#login-form button").await;
    b.wait_text("#login-why", |t| t.contains("unknown token"))
        .await;

    // A reader: no save, no upload, no campaign action; a 403 said so.
    b.type_into("#token", "r-secret").await;
    b.click("#login-form button").await;
    b.wait_text("#who", |t| t == "ana (read)").await;
    b.open("builder").await;
    b.wait_text("#b-save-none", |t| t.contains("admin role"))
        .await;
    assert!(!b.exists("#b-save").await);
    assert!(!b.exists("#u-form").await);
    b.open("query").await;
    b.type_into("#q-editor", "DROP SEGMENT nothing").await;
    b.click("#q-run").await;
    b.wait_text("#banner", |t| t.starts_with("Your token may not do this"))
        .await;
    b.wait_text("#q-result .error-head", |t| t.starts_with("forbidden"))
        .await;
    b.open("profile?id=u000000001").await;
    b.wait_text(".profile-fields", |t| {
        t.lines().any(|l| l == "phone [redacted]")
    })
    .await;
    b.wait_text(".redacted-note", |t| t.contains("phone")).await;
    b.screenshot("profile-redacted").await;
    b.open("campaigns?name=spring").await;
    b.wait_text("#c-title", |t| t.contains("pending_approval"))
        .await;
    assert!(!b.exists(".act").await, "a reader sees no action");
    b.wait_text("#c-actions", |t| t.contains("no action your role may take"))
        .await;

    // The writer may cancel but not approve.
    b.click("#signout").await;
    b.wait_text("#login-why", |t| t.starts_with("Not signed in"))
        .await;
    b.type_into("#token", "w-secret").await;
    b.click("#login-form button").await;
    b.wait_text("#who", |t| t == "wes (write)").await;
    b.open("campaigns?name=spring").await;
    b.wait_text("#c-actions", |t| t.contains("cancel")).await;
    assert!(!b.exists(".act-approve").await);

    // An admin approves; the run goes out, and its funnel is drawn per
    // variant beside the hold-out, with the API's figures.
    b.click("#signout").await;
    b.wait_text("#login-why", |t| t.starts_with("Not signed in"))
        .await;
    b.type_into("#token", "a-secret").await;
    b.click("#login-form button").await;
    b.wait_text("#who", |t| t == "ops (admin)").await;
    b.open("campaigns").await;
    b.wait_text("#c-body tbody", |t| {
        t.starts_with("spring pending_approval")
    })
    .await;
    b.screenshot("campaigns-list").await;
    b.click("a.c-link").await;
    b.click(".act-approve").await;
    b.wait_text("#c-title", |t| !t.contains("pending_approval"))
        .await;
    let deadline = std::time::Instant::now() + super::browser::DEADLINE;
    let report = loop {
        let r = super::api_get(&admin, "/v1/campaigns/spring/report");
        let sent: u64 = r["runs"][0]["groups"]
            .as_array()
            .map(|g| g.iter().map(|g| g["sent"].as_u64().unwrap()).sum())
            .unwrap_or(0);
        let audience = r["runs"][0]["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter(|g| g["holdout"] == false)
                    .map(|g| g["audience"].as_u64().unwrap())
                    .sum()
            })
            .unwrap_or(1);
        if sent > 0 && sent == audience {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not send: {r}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    b.open("campaigns?name=spring").await;
    for g in report["runs"][0]["groups"].as_array().unwrap() {
        let name = g["group"].as_str().unwrap();
        let row = b
            .wait_text(&format!("tr.group-row[data-group={name}]"), |_| true)
            .await;
        let audience = super::grouped(g["audience"].as_u64().unwrap());
        assert!(row.contains(&audience), "{row} lacks {audience}");
        if g["holdout"] == false {
            let sent = super::grouped(g["sent"].as_u64().unwrap());
            assert!(row.contains(&format!("{sent} (100.0%)")), "{row}");
        }
    }
    b.screenshot("campaigns").await;

    // A sent user's profile shows the campaign's row (variant, send day,
    // the effects reported), a hold-out user's the hold-out, as the API.
    // The effects name their run: their time, the run's day's midnight,
    // is before the run started (the real clock), so without it they
    // would be nobody's.
    let first = |q: &str| {
        let v = admin.query(q).unwrap();
        v["rows"][0][0]
            .as_str()
            .unwrap_or_else(|| panic!("{q}: {v}"))
            .to_owned()
    };
    let sent_b =
        first("SELECT user_id FROM users WHERE in_variant(spring, 'b') AND sent(spring) LIMIT 1");
    let path = format!("/v1/tables/users/profiles/{sent_b}");
    let day = super::api_get(&admin, &path)["campaigns"][0]["run_day"]
        .as_str()
        .unwrap()
        .to_owned();
    let effects = format!(
        "{{\"id\": \"{sent_b}\", \"effect\": \"delivered\", \"at\": \"{day}T00:00:00Z\", \"run\": 1}}\n\
         {{\"id\": \"{sent_b}\", \"effect\": \"clicked\", \"at\": \"{day}T00:00:00Z\", \"run\": 1}}"
    );
    let r = admin
        .request(
            "POST",
            "/v1/campaigns/spring/effects",
            &[("content-type", "application/x-ndjson")],
            Some(effects.as_bytes()),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["attributed"], 2, "{}", r.text());
    let c = super::api_get(&admin, &path)["campaigns"][0].clone();
    assert_eq!(c["group"], "b", "{c}");
    b.open(&format!("profile?id={sent_b}")).await;
    let row = b
        .wait_text(".profile-campaigns tbody tr", |t| !t.is_empty())
        .await;
    assert_eq!(
        row,
        format!(
            "spring 1 ({day}) b {} delivered, clicked",
            c["sent_day"].as_str().unwrap()
        )
    );
    b.js("document.querySelector('.profile-campaigns').scrollIntoView(); return true")
        .await;
    b.screenshot("profile-campaigns").await;
    let held = first("SELECT user_id FROM users WHERE in_holdout(spring) LIMIT 1");
    b.open(&format!("profile?id={held}")).await;
    let row = b
        .wait_text(".profile-campaigns tbody tr", |t| !t.is_empty())
        .await;
    assert_eq!(row, format!("spring 1 ({day}) hold-out no (held out) none"));

    // An admin is not offered the approval of a campaign they made.
    let mut autumn = def.clone();
    autumn["name"] = json!("autumn");
    let r = admin
        .request(
            "POST",
            "/v1/campaigns",
            &[("content-type", "application/json")],
            Some(autumn.to_string().as_bytes()),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin
        .request("POST", "/v1/campaigns/autumn/start", &[], None)
        .unwrap();
    assert_eq!(r.json()["state"], "pending_approval", "{}", r.text());
    b.open("campaigns?name=autumn").await;
    b.wait_text("#c-title", |t| t.contains("pending_approval"))
        .await;
    b.wait_text("#c-actions", |t| t == "cancel").await;
    assert!(!b.exists(".act-approve").await);
    b.close().await;
}
