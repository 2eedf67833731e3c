//! A campaign whose due run can never start (its table dropped) is not
//! tried forever: once it has failed for the scheduler's give-up time
//! (an hour; here a fraction of a second), the campaign is `failed`, with
//! the reason in its history and an audit entry.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::campaigns::{act, create, def, server, show, status, ANN, NOW, ROOT};
use super::*;

#[test]
fn a_campaign_that_never_starts_fails_after_the_give_up_time() {
    let (dir, _store, _data, s) = server(300);
    let admin = s.client(Some(ROOT));
    let q = |text: &str| status(&post(&admin, "/v1/query", "text/plain", text), 200);
    q("CREATE TABLE t2 (city ENUM)");
    status(
        &post(
            &admin,
            "/v1/tables/t2/import",
            "text/csv",
            "user_id,city\nz1,c000\n",
        ),
        200,
    );
    let at = json!({"schedule": {"at": "2026-12-05T11:00:00Z"}});
    let mut doomed: Value = serde_json::from_str(&def("doomed", "city = 'c000'", at)).unwrap();
    doomed["table"] = json!("t2");
    status(&create(&s, ANN, &doomed.to_string()), 201);
    status(&act(&s, ANN, "doomed", "start"), 200);
    q("DROP TABLE t2");
    s.state
        .campaigns
        .set_start_retry(Duration::from_millis(10), Duration::from_millis(300));
    // Due now: the scheduler thread tries it every 10 ms, and gives up.
    s.state.campaigns.set_clock(NOW + 3600);
    let deadline = Instant::now() + Duration::from_secs(60);
    let c = loop {
        let c = show(&s, "doomed");
        if c["state"] == "failed" {
            break c;
        }
        assert_eq!(c["state"], "scheduled", "{c}");
        assert!(Instant::now() < deadline, "{c}");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(c["runs"], json!([]));
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "start_failed", "{c}");
    assert_eq!(last["actor"], "scheduler", "{c}");
    assert_eq!(
        (&last["from"], &last["to"]),
        (&json!("scheduled"), &json!("failed"))
    );
    let reason = last["reason"].as_str().unwrap();
    assert!(reason.contains("t2"), "{reason}");
    // Audited: the scheduler records the entry just after it commits the
    // state, so the entry may land a moment after `failed` shows.
    let e = loop {
        let r = get(&admin, "/v1/audit?action=campaign&limit=10000");
        let entries = status(&r, 200)["entries"].as_array().unwrap().clone();
        if let Some(e) = entries
            .iter()
            .find(|e| e["detail"]["transition"] == "start_failed")
        {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no start_failed entry: {entries:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(e["principal"], "scheduler", "{e}");
    assert_eq!(e["outcome"], "ok", "{e}");
    assert_eq!(e["target"], json!({"campaign": "doomed"}), "{e}");
    assert_eq!(e["detail"]["to"], "failed", "{e}");
    assert_eq!(e["detail"]["reason"], json!(reason), "{e}");
    // Final: the scheduler no longer tries it, and the failure is in the
    // catalog on disk (a restart shows it).
    assert!(s.state.campaigns.store.due(NOW + 7200).is_empty());
    drop(dir);
}
