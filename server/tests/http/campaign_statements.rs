//! `CREATE CAMPAIGN` and `DROP CAMPAIGN` through `POST /v1/query` (issue
//! 13, item 7): the statement makes the definition the JSON route makes,
//! as the principal, audited alike; a file campaign made by a statement
//! and started over HTTP delivers; errors point into the statement; read
//! keys get 403, a taken name 409; DROP is DELETE's; a batch may create a
//! campaign and ask for its status.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::campaigns::{act, create, def, server, show, status, ANN, BOB, READER, ROOT};
use super::*;

fn query(s: &Server, token: &str, text: &str) -> RawResponse {
    post(&s.client(Some(token)), "/v1/query", "text/plain", text)
}

/// A statement saying what `def(name, "city = 'c000'", {})` says, with
/// the channel and any further clauses given.
fn statement(name: &str, channel: &str, more: &str) -> String {
    format!(
        "CREATE CAMPAIGN {name} ON users\n  AUDIENCE WHERE city = 'c000'\n  CHANNEL {channel}\n  \
         VARIANT a WEIGHT 1 TEMPLATE 'Hi from {{city}}'\n  SCHEDULE NOW{more}"
    )
}

/// A webhook channel nobody listens at (see `campaigns::nowhere`).
fn nowhere_hook() -> String {
    format!(
        "webhook (url => '{}', max_retries => 0)",
        super::campaigns::nowhere()
    )
}

#[test]
fn the_statement_makes_the_definition_the_json_route_makes_as_the_principal() {
    let (_dir, _store, _data, s) = server(300);
    let url = super::campaigns::nowhere();
    let text = statement(
        "spring",
        &format!("webhook (url => '{url}', max_retries => 0)"),
        "\n  VARIANT b WEIGHT 3 TEMPLATE '{count(search, last 7 days)} searches'\n  \
         HOLDOUT 0.1 CAP 2 PER 7 DAYS PRIORITY 5 KIND marketing APPROVAL REQUIRED \
         RATE 500 PER SECOND",
    );
    let v = status(&query(&s, ANN, &text), 200);
    assert_eq!(
        v["columns"],
        json!([
            "campaign",
            "table",
            "state",
            "kind",
            "priority",
            "created_by",
            "next_run_at",
            "runs"
        ])
    );
    assert_eq!(
        v["rows"],
        json!([["spring", "users", "draft", "marketing", 5, "ann", null, 0]])
    );
    // The JSON route's campaign of the same definition.
    let json_def = def(
        "spring_json",
        "city = 'c000'",
        json!({
            "variants": [
                {"name": "a", "weight": 1, "template": "Hi from {city}"},
                {"name": "b", "weight": 3, "template": "{count(search, last 7 days)} searches"},
            ],
            "holdout": 0.1,
            "cap": {"max": 2, "days": 7},
            "priority": 5,
            "kind": "marketing",
            "approval_required": true,
            "rate_limit": 500,
            "channel": {"webhook": {"url": url, "max_retries": 0}},
        }),
    );
    status(&create(&s, BOB, &json_def), 201);
    let by_statement = show(&s, "spring");
    let mut by_json = show(&s, "spring_json")["definition"].clone();
    by_json["name"] = json!("spring");
    assert_eq!(by_statement["definition"], by_json);
    assert_eq!(by_statement["created_by"], "ann");
    assert_eq!(by_statement["history"][0]["action"], "create");
    // SHOW CAMPAIGNS lists it as the statement answered.
    let list = status(&query(&s, READER, "SHOW CAMPAIGNS"), 200);
    assert_eq!(list["rows"][0], v["rows"][0]);
    // Audited as the JSON route audits a create.
    let r = get(&s.client(Some(ROOT)), "/v1/audit?action=campaign");
    let entries = status(&r, 200)["entries"].as_array().unwrap().clone();
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["target"] == json!({"campaign": "spring"}))
        .collect();
    assert_eq!(mine.len(), 1, "{entries:#?}");
    assert_eq!(mine[0]["principal"], "ann");
    assert_eq!(mine[0]["outcome"], "ok");
    assert_eq!(
        mine[0]["detail"],
        json!({"transition": "create", "to": "draft"})
    );
    let theirs = entries
        .iter()
        .find(|e| e["target"] == json!({"campaign": "spring_json"}))
        .unwrap();
    assert_eq!(theirs["detail"], mine[0]["detail"]);
    assert_eq!(theirs["action"], mine[0]["action"]);
}

#[test]
fn a_file_campaign_made_by_a_statement_and_started_over_http_delivers() {
    let (dir, _store, _data, s) = server(400);
    let out = dir.path().join("out");
    let channel = format!(
        "file (dir => '{}', format => 'jsonl')",
        out.to_str().unwrap().replace('\'', "''")
    );
    status(&query(&s, ANN, &statement("tofile", &channel, "")), 200);
    status(&act(&s, ANN, "tofile", "start"), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut c = show(&s, "tofile");
    while c["state"] != "done" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        c = show(&s, "tofile");
    }
    assert_eq!(c["state"], "done", "{c}");
    let text = std::fs::read_to_string(out.join("tofile-r1-a.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let audience = c["runs"][0]["audience"].as_u64().unwrap();
    assert!(audience > 0, "{c}");
    assert_eq!(lines.len() as u64, audience);
    assert_eq!(c["runs"][0]["sent"], audience);
    for m in &lines {
        assert_eq!(m["text"], "Hi from c000", "{m}");
    }
}

#[test]
fn errors_point_into_the_statement_and_roles_and_names_are_checked() {
    let (_dir, _store, _data, s) = server(100);
    // An unknown field in a template: at its place inside the string
    // literal, on line 4.
    let text =
        statement("bad", &nowhere_hook(), "").replace("'Hi from {city}'", "'Hi,\n we miss {cty}!'");
    let e = status(&query(&s, ANN, &text), 400)["error"].clone();
    assert_eq!(e["code"], "invalid_campaign", "{e}");
    assert!(e["message"].as_str().unwrap().contains("`cty`"), "{e}");
    assert_eq!(e["hint"], "did you mean `city`?", "{e}");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(5), json!(11)),
        "{e}"
    );
    // An audience field that does not exist: the language's own error.
    let text =
        statement("bad", &nowhere_hook(), "").replace("city = 'c000'", "age > 3 AND cty = 'x'");
    let e = status(&query(&s, ANN, &text), 400)["error"].clone();
    assert_eq!(e["code"], "unknown_field", "{e}");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(2), json!(30)),
        "{e}"
    );
    // A bad time, a hold-out out of range, a channel setting it lacks.
    let text =
        statement("bad", &nowhere_hook(), "").replace("SCHEDULE NOW", "SCHEDULE DAILY AT '9:30'");
    let e = status(&query(&s, ANN, &text), 400)["error"].clone();
    assert!(e["message"].as_str().unwrap().contains("HH:MM"), "{e}");
    let e = status(
        &query(&s, ANN, &statement("bad", &nowhere_hook(), " HOLDOUT 0.9")),
        400,
    )["error"]
        .clone();
    assert!(e["message"].as_str().unwrap().contains("0 to 0.5"), "{e}");
    let e = status(
        &query(
            &s,
            ANN,
            &statement("bad", "webhook (url => 'http://h/', timeout => 2)", ""),
        ),
        400,
    )["error"]
        .clone();
    assert_eq!(e["hint"], "did you mean `timeout_ms`?", "{e}");
    assert!(status(&query(&s, READER, "SHOW CAMPAIGNS"), 200)["rows"]
        .as_array()
        .unwrap()
        .is_empty());

    // A reader may not create or drop.
    let e = status(
        &query(&s, READER, &statement("mine", &nowhere_hook(), "")),
        403,
    );
    assert_eq!(e["error"]["code"], "forbidden");
    // A limited key (allowed `age` only) may not name another field, in
    // the audience (placed there) or in a template.
    let limited = "limited-s3cret";
    let e = status(
        &query(&s, limited, &statement("mine", &nowhere_hook(), "")),
        403,
    )["error"]
        .clone();
    assert_eq!(e["code"], "forbidden_field", "{e}");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(2), json!(18)),
        "{e}"
    );
    let text = statement("mine", &nowhere_hook(), "").replace("city = 'c000'", "age > 3");
    let e = status(&query(&s, limited, &text), 403)["error"].clone();
    assert_eq!(e["code"], "forbidden_field", "{e}");
    assert!(e["message"].as_str().unwrap().contains("`city`"), "{e}");
    let text = text.replace("{city}", "{age}");
    status(&query(&s, limited, &text), 200);
    status(&query(&s, limited, "DROP CAMPAIGN mine"), 200);

    // Made once; the name again is 409, whichever way.
    status(
        &query(&s, ANN, &statement("mine", &nowhere_hook(), "")),
        200,
    );
    let e = status(
        &query(&s, BOB, &statement("mine", &nowhere_hook(), "")),
        409,
    );
    assert_eq!(e["error"]["code"], "campaign_exists");
    let e = status(&create(&s, BOB, &def("mine", "age > 3", json!({}))), 409);
    assert_eq!(e["error"]["code"], "campaign_exists");

    // DROP CAMPAIGN is DELETE's: write role, then gone.
    let e = status(&query(&s, READER, "DROP CAMPAIGN mine"), 403);
    assert_eq!(e["error"]["code"], "forbidden");
    let v = status(&query(&s, BOB, "DROP CAMPAIGN mine"), 200);
    assert_eq!(v["columns"], json!(["dropped", "runs"]));
    assert_eq!(v["rows"], json!([["mine", 0]]));
    let r = get(&s.client(Some(READER)), "/v1/campaigns/mine");
    assert_eq!(r.status, 404, "{}", r.text());
    let e = status(&query(&s, BOB, "DROP CAMPAIGN mine"), 404);
    assert_eq!(e["error"]["code"], "unknown_campaign");
    // A running campaign cannot be dropped (DELETE's 409).
    status(
        &query(&s, ANN, &statement("busy", &nowhere_hook(), "")),
        200,
    );
    status(&act(&s, ANN, "busy", "start"), 200);
    let e = status(&query(&s, ANN, "DROP CAMPAIGN busy"), 409);
    let d = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/busy", &[], None)
        .unwrap();
    assert_eq!(d.status, 409, "{}", d.text());
    assert_eq!(e["error"]["code"], d.json()["error"]["code"]);
}

#[test]
fn a_batch_creates_a_campaign_and_asks_for_its_status() {
    let (_dir, _store, _data, s) = server(100);
    let text = format!(
        "{};\nCALL campaign_status('batch');\nSHOW CAMPAIGNS",
        statement("batch", &nowhere_hook(), "")
    );
    let v = status(&query(&s, ANN, &text), 200);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{v}");
    assert_eq!(results[0]["rows"][0][0], "batch");
    assert_eq!(results[1]["rows"], json!([]));
    assert_eq!(results[2]["rows"][0][0], "batch");
    // A mistake later in the batch stops it before the campaign is made.
    let text = format!(
        "{};\nSELECT COUNT(*) FROM users WHERE cty = 'x'",
        statement("later", &nowhere_hook(), "")
    );
    status(&query(&s, ANN, &text), 400);
    assert_eq!(
        get(&s.client(Some(READER)), "/v1/campaigns/later").status,
        404
    );
    // And a campaign the campaigns' rules refuse stops the batch before a
    // statement before it changes anything, its error placed in the body.
    let text = format!(
        "CREATE SEGMENT older AS SELECT FROM users WHERE age > 40;\n{}",
        statement("later", &nowhere_hook(), "").replace("{city}", "{cty}")
    );
    let e = status(&query(&s, ROOT, &text), 400)["error"].clone();
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(5), json!(41)),
        "{e}"
    );
    let v = status(&query(&s, READER, "SHOW SEGMENTS"), 200);
    assert!(!v["rows"].to_string().contains("older"), "{v}");
}
