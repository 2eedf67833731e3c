//! Campaigns over real HTTP (issue 13): create (good, refused with the
//! field and position, duplicate), list and show, the approval rules,
//! illegal transitions (409 with the state), a start that freezes a run
//! whose audience is its WHERE's count, hold-out and variant counts, caps
//! and priority across campaigns started together, the scheduler started
//! by the clock, a restart, limited keys and SENSITIVE fields, `/metrics`.

use segdb_server::http::auth::Role;
use segdb_server::http::config::TokenSetting;
use serde_json::{json, Value};

use super::*;

pub(super) const ROOT: &str = "root-s3cret";
pub(super) const BOSS: &str = "boss-s3cret";
pub(super) const ANN: &str = "ann-s3cret";
pub(super) const BOB: &str = "bob-s3cret";
pub(super) const READER: &str = "reader-s3cret";
pub(super) const LIMITED: &str = "limited-s3cret";

/// Tokens: two admins (`root`, `boss`), two writers (`ann`, `bob`), a
/// reader, and `limited`, a writer limited to `age`.
pub(super) fn settings() -> Settings {
    let mut tokens: Vec<TokenSetting> = [
        format!("root:admin:{ROOT}"),
        format!("boss:admin:{BOSS}"),
        format!("ann:write:{ANN}"),
        format!("bob:write:{BOB}"),
        format!("reader:read:{READER}"),
    ]
    .iter()
    .map(|t| parse_token(t).unwrap())
    .collect();
    tokens.push(TokenSetting {
        name: Some("limited".into()),
        role: Role::Write,
        secret: Some(LIMITED.into()),
        secret_hash: None,
        allowed_fields: Some(vec!["users.age".into()]),
        allowed_categories: None,
    });
    Settings {
        tokens,
        ..Settings::default()
    }
}

/// A webhook nobody listens at: a port of 127.0.0.1 that was free a
/// moment ago (bound, then let go), so nothing on the machine answers
/// there (a fixed port such as 9, discard, may have a listener).
pub(super) fn nowhere() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/hook")
}

/// The clock the tests run campaigns by: 2026-12-05T10:00:00Z.
pub(super) const NOW: i64 = 1_796_464_800;

pub(super) fn server(
    rows: u32,
) -> (
    tempfile::TempDir,
    PathBuf,
    segdb_tests::generated::Data,
    Server,
) {
    let (dir, store, data) = generated(rows);
    let server = Server::start(&store, settings());
    server.state.campaigns.set_clock(NOW);
    (dir, store, data, server)
}

/// A definition: `extra` keys merged over a campaign `name` of `users`
/// for `where`, one variant, schedule now.
pub(super) fn def(name: &str, where_: &str, extra: Value) -> String {
    let mut d = json!({
        "name": name,
        "table": "users",
        "audience": {"where": where_},
        // Nobody listens there: delivery stays unavailable and retries, so
        // a started run stays `running` (delivery is campaign_delivery.rs's).
        "channel": {"webhook": {"url": nowhere(), "max_retries": 0}},
        "variants": [{"name": "a", "weight": 1, "template": "Hi from {city}"}],
        "schedule": "now",
    });
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    d.to_string()
}

pub(super) fn create(s: &Server, token: &str, body: &str) -> RawResponse {
    post(
        &s.client(Some(token)),
        "/v1/campaigns",
        "application/json",
        body,
    )
}

pub(super) fn act(s: &Server, token: &str, name: &str, action: &str) -> RawResponse {
    post(
        &s.client(Some(token)),
        &format!("/v1/campaigns/{name}/{action}"),
        "application/json",
        "",
    )
}

pub(super) fn show(s: &Server, name: &str) -> Value {
    let r = get(&s.client(Some(READER)), &format!("/v1/campaigns/{name}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[track_caller]
pub(super) fn status(r: &RawResponse, want: u16) -> Value {
    assert_eq!(r.status, want, "{}", r.text());
    r.json()
}

#[test]
fn campaigns_are_created_listed_and_shown_and_bad_ones_refused_with_their_place() {
    let (_dir, _store, _data, s) = server(300);
    let c = status(
        &create(&s, ANN, &def("spring", "city = 'c000'", json!({}))),
        201,
    );
    assert_eq!(c["name"], "spring");
    assert_eq!(c["state"], "draft");
    assert_eq!(c["created_by"], "ann");
    assert_eq!(c["definition"]["variants"][0]["template"], "Hi from {city}");
    assert_eq!(c["history"][0]["action"], "create");
    assert_eq!(c["runs"], json!([]));

    // The same name again.
    let e = status(&create(&s, BOB, &def("spring", "age > 3", json!({}))), 409);
    assert_eq!(e["error"]["code"], "campaign_exists");

    // An unknown field in a template: the field path, line and column,
    // and the caret under it.
    let bad = def(
        "bad",
        "city = 'c000'",
        json!({"variants": [{"name": "a", "weight": 1, "template": "Hello\nwe miss {cty}!"}]}),
    );
    let e = status(&create(&s, ANN, &bad), 400)["error"].clone();
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("variants[0].template"), "{m}");
    assert!(m.contains("2 | we miss {cty}!\n  |          ^^^"), "{m}");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(2), json!(10))
    );
    assert_eq!(e["hint"], "did you mean `city`?");

    // An audience that does not bind: the language's code, at its place
    // in the WHERE text.
    let e = status(
        &create(&s, ANN, &def("bad", "age > 3 AND citty = 'x'", json!({}))),
        400,
    )["error"]
        .clone();
    assert_eq!(e["code"], "unknown_field", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("audience.where"),
        "{e}"
    );
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(1), json!(13)),
        "{e}"
    );

    // A field of the wrong type, unknown keys, not JSON.
    let e = status(
        &create(&s, ANN, &def("bad", "age > 3", json!({"holdout": 0.9}))),
        400,
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("holdout"),
        "{e}"
    );
    let e = status(
        &create(&s, ANN, &def("bad", "age > 3", json!({"colour": 1}))),
        400,
    );
    assert_eq!(e["error"]["code"], "bad_json", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("colour"),
        "{e}"
    );
    status(&create(&s, ANN, "{"), 400);

    // A reader may not create; nothing was stored by any refusal.
    status(
        &create(&s, READER, &def("other", "age > 3", json!({}))),
        403,
    );
    let list = status(&get(&s.client(Some(READER)), "/v1/campaigns"), 200);
    let names: Vec<&str> = list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["spring"]);
    assert_eq!(list["campaigns"][0]["state"], "draft");
    assert_eq!(list["campaigns"][0]["created_by"], "ann");

    let e = status(&get(&s.client(Some(READER)), "/v1/campaigns/nope"), 404);
    assert_eq!(e["error"]["code"], "unknown_campaign");
    let e = status(&act(&s, ANN, "nope", "start"), 404);
    assert_eq!(e["error"]["code"], "unknown_campaign");
    status(&act(&s, ANN, "spring", "explode"), 404);
}

#[test]
fn approval_needs_an_admin_who_is_not_the_creator() {
    let (_dir, _store, _data, s) = server(300);
    let body = def("gated", "city = 'c001'", json!({"approval_required": true}));
    status(&create(&s, ANN, &body), 201);
    let c = status(&act(&s, ANN, "gated", "start"), 200);
    assert_eq!(c["state"], "pending_approval");
    assert_eq!(c["runs_started"], json!([]));
    // The creator, another writer and a reader may not approve.
    for token in [ANN, BOB, READER] {
        let e = status(&act(&s, token, "gated", "approve"), 403);
        assert_eq!(e["error"]["code"], "forbidden", "{e}");
    }
    assert_eq!(show(&s, "gated")["state"], "pending_approval");
    // An admin who is not the creator may: the run starts (schedule now).
    let c = status(&act(&s, ROOT, "gated", "approve"), 200);
    assert_eq!(c["state"], "running", "{c}");
    assert_eq!(c["runs"].as_array().unwrap().len(), 1);
    let h = &c["history"];
    let trail: Vec<(&str, &str)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        trail,
        [
            ("ann", "create"),
            ("ann", "start"),
            ("root", "approve"),
            ("scheduler", "run_started")
        ]
    );

    // An admin who created a campaign may not approve it either.
    status(
        &create(
            &s,
            BOSS,
            &def("own", "city = 'c001'", json!({"approval_required": true})),
        ),
        201,
    );
    status(&act(&s, BOSS, "own", "start"), 200);
    status(&act(&s, BOSS, "own", "approve"), 403);
    assert_eq!(
        status(&act(&s, ROOT, "own", "approve"), 200)["state"],
        "running"
    );
}

#[test]
fn illegal_transitions_are_409_with_the_current_state() {
    let (_dir, _store, _data, s) = server(300);
    status(&create(&s, ANN, &def("d", "city = 'c002'", json!({}))), 201);
    for action in ["pause", "resume"] {
        let e = status(&act(&s, ANN, "d", action), 409)["error"].clone();
        assert_eq!(e["code"], "illegal_transition");
        assert_eq!(e["state"], "draft", "{e}");
    }
    let e = status(&act(&s, ROOT, "d", "approve"), 409)["error"].clone();
    assert_eq!(e["state"], "draft");
    // A reader learns nothing of the state: 403 first.
    status(&act(&s, READER, "d", "pause"), 403);
    status(&act(&s, ANN, "d", "start"), 200);
    let e = status(&act(&s, ANN, "d", "start"), 409)["error"].clone();
    assert_eq!(e["state"], "running");
    // Running: no delete; pause, resume, cancel; then nothing.
    let r = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/d", &[], None)
        .unwrap();
    assert_eq!(status(&r, 409)["error"]["state"], "running");
    assert_eq!(status(&act(&s, BOB, "d", "pause"), 200)["state"], "paused");
    assert_eq!(
        status(&act(&s, BOB, "d", "resume"), 200)["state"],
        "running"
    );
    assert_eq!(
        status(&act(&s, BOB, "d", "cancel"), 200)["state"],
        "cancelled"
    );
    for action in ["start", "pause", "resume", "cancel"] {
        let e = status(&act(&s, ANN, "d", action), 409)["error"].clone();
        assert_eq!(e["state"], "cancelled", "{action}: {e}");
    }
    // Cancelled: deleted, with its run.
    let r = s
        .client(Some(ANN))
        .request("DELETE", "/v1/campaigns/d", &[], None)
        .unwrap();
    assert_eq!(status(&r, 200)["runs"], 1);
    status(&get(&s.client(Some(READER)), "/v1/campaigns/d"), 404);
}

#[test]
fn a_start_freezes_the_audience_of_its_where_and_splits_it() {
    let (_dir, _store, data, s) = server(3000);
    let where_ = "age >= 30";
    let body = def(
        "split",
        where_,
        json!({
            "holdout": 0.2,
            "variants": [
                {"name": "a", "weight": 1, "template": "A {city}"},
                {"name": "b", "weight": 3, "template": "B {city}"},
            ],
        }),
    );
    status(&create(&s, ANN, &body), 201);
    let want = count(
        &s.client(Some(READER)),
        &format!("SELECT COUNT(*) FROM users WHERE {where_}"),
    );
    assert_eq!(
        want,
        data.count(|r| r.get("age").parse::<i64>().is_ok_and(|a| a >= 30))
    );
    assert!(want > 500, "{want}");
    let c = status(&act(&s, ANN, "split", "start"), 200);
    assert_eq!(c["state"], "running");
    assert_eq!(c["runs_started"][0]["campaign"], "split");
    let run = &c["runs"][0];
    assert_eq!(run["run"], 1);
    assert_eq!(run["audience"], want, "{run}");
    let holdout = run["holdout"].as_u64().unwrap();
    let a = run["variants"][0]["assigned"].as_u64().unwrap();
    let b = run["variants"][1]["assigned"].as_u64().unwrap();
    assert_eq!(run["variants"][1]["name"], "b");
    assert_eq!(run["capped"], 0);
    assert_eq!(holdout + a + b, want, "{run}");
    // Within 5 standard deviations of the shares (0.2; 0.2 and 0.6).
    let within = |n: u64, p: f64| {
        let mean = want as f64 * p;
        let sd = (want as f64 * p * (1.0 - p)).sqrt();
        (n as f64 - mean).abs() <= 5.0 * sd
    };
    assert!(within(holdout, 0.2), "{run}");
    assert!(within(a, 0.2), "{run}");
    assert!(within(b, 0.6), "{run}");
    // Nothing delivered yet (nobody listens at the webhook).
    assert_eq!(run["variants"][0]["sent"], 0, "{run}");
    assert_eq!(run["sent"], 0, "{run}");

    // Later writes do not change the frozen run.
    let r = post(
        &s.client(Some(ROOT)),
        "/v1/tables/users/import",
        "text/csv",
        "user_id,age\nlate1,90\nlate2,91\n",
    );
    status(&r, 200);
    let frozen = s.state.campaigns.store.load_run("split", 1).unwrap();
    assert_eq!(frozen.audience.len(), want);
    assert_eq!(show(&s, "split")["runs"][0]["audience"], want);

    // The metrics count it.
    let m = get(&s.client(Some(READER)), "/metrics").text();
    for line in [
        "segdb_campaigns{state=\"running\"} 1".to_owned(),
        "segdb_campaigns{state=\"draft\"} 0".to_owned(),
        "segdb_campaign_runs_started_total 1".to_owned(),
        format!("segdb_campaign_users_frozen_total {want}"),
        format!("segdb_campaign_users_held_out_total {holdout}"),
        format!("segdb_campaign_users_assigned_total {}", a + b),
    ] {
        assert!(m.lines().any(|l| l == line), "{line} not in\n{m}");
    }
}

#[test]
fn campaigns_due_together_start_together_in_priority_order_under_caps() {
    let (_dir, _store, _data, s) = server(2000);
    // At most one marketing message per user per 7 days, table-wide: of
    // two marketing campaigns with the same audience starting together,
    // only one may have each user.
    let r = put(
        &s.client(Some(ROOT)),
        "/v1/tables/users/frequency_cap",
        "application/json",
        r#"{"max": 1, "days": 7}"#,
    );
    status(&r, 200);
    let at = "2026-12-05T12:00:00Z";
    for (name, priority) in [("low", 1), ("high", 5)] {
        let body = def(
            name,
            "city = 'c000' OR city = 'c001'",
            json!({"priority": priority, "schedule": {"at": at}}),
        );
        status(&create(&s, ANN, &body), 201);
        let c = status(&act(&s, ANN, name, "start"), 200);
        assert_eq!(c["state"], "scheduled");
        assert_eq!(c["next_run_at"], "2026-12-05T12:00:00.000Z");
    }
    let both = count(
        &s.client(Some(READER)),
        "SELECT COUNT(*) FROM users WHERE city = 'c000' OR city = 'c001'",
    );
    // Not due yet: a tick starts nothing.
    let tick = s.state.campaigns.tick(&s.state.store, &s.state.audit);
    assert!(tick.runs.is_empty() && tick.failed.is_empty(), "{tick:?}");
    // Noon: both start in one tick (this one, or the scheduler thread's,
    // which the clock wakes: both are due at the same moment either way);
    // the higher priority gets every user, the other is capped on all.
    s.state.campaigns.set_clock(NOW + 2 * 3600);
    let tick = s.state.campaigns.tick(&s.state.store, &s.state.audit);
    assert!(tick.failed.is_empty(), "{tick:?}");
    let high = &show(&s, "high")["runs"][0];
    let low = &show(&s, "low")["runs"][0];
    assert_eq!(high["audience"], both);
    assert_eq!(low["audience"], both);
    assert_eq!(high["capped"], 0, "{high}");
    assert_eq!(high["variants"][0]["assigned"], both);
    assert_eq!(low["capped"], both, "{low}");
    assert_eq!(low["variants"][0]["assigned"], 0);
    assert_eq!(high["started_at"], low["started_at"]);
}

#[test]
fn the_scheduler_thread_starts_a_run_when_the_clock_reaches_it() {
    let (_dir, _store, _data, s) = server(300);
    let body = def(
        "later",
        "city = 'c000'",
        json!({"schedule": {"at": "2026-12-05T11:00:00Z"}}),
    );
    status(&create(&s, ANN, &body), 201);
    assert_eq!(
        status(&act(&s, ANN, "later", "start"), 200)["state"],
        "scheduled"
    );
    assert!(s.state.campaigns.scheduler_running());
    s.state.campaigns.set_clock(NOW + 3600);
    // The thread wakes on the change; bounded in requests and time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut state = String::new();
    for _ in 0..100_000 {
        state = show(&s, "later")["state"].as_str().unwrap().to_owned();
        if state == "running" || std::time::Instant::now() > deadline {
            break;
        }
    }
    assert_eq!(state, "running");
    let c = show(&s, "later");
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "scheduler");
    assert_eq!(last["action"], "run_started");
}

#[test]
fn campaigns_and_runs_survive_a_restart() {
    let (_dir, store, _data, s) = server(500);
    status(
        &create(&s, ANN, &def("kept", "city = 'c003'", json!({}))),
        201,
    );
    status(&act(&s, ANN, "kept", "start"), 200);
    status(
        &create(&s, ANN, &def("draft", "city = 'c003'", json!({}))),
        201,
    );
    let before = show(&s, "kept");
    let bitmaps = s.state.campaigns.store.load_run("kept", 1).unwrap();
    drop(s);
    let s = Server::start(&store, settings());
    assert_eq!(show(&s, "kept"), before);
    assert_eq!(show(&s, "draft")["state"], "draft");
    assert_eq!(
        s.state.campaigns.store.load_run("kept", 1).unwrap(),
        bitmaps
    );
    // A name is still taken after the restart.
    status(&create(&s, BOB, &def("kept", "age > 1", json!({}))), 409);
}

#[test]
fn damaged_campaigns_stop_the_server_from_starting_naming_the_file() {
    let (_dir, store, _data, s) = server(200);
    status(&create(&s, ANN, &def("x", "city = 'c003'", json!({}))), 201);
    drop(s);
    let catalog = store.join("campaigns.d").join("catalog.camp");
    let mut bytes = std::fs::read(&catalog).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&catalog, &bytes).unwrap();
    let config = Settings {
        data: Some(store.clone()),
        ..Settings::default()
    }
    .resolve()
    .unwrap();
    let opened = http::ingest::open_store(&config, false).unwrap();
    let e = AppState::new(opened, config).err().unwrap();
    assert!(e.contains(catalog.to_str().unwrap()), "{e}");
    assert!(e.contains("checksum"), "{e}");
}

#[test]
fn limited_keys_and_sensitive_fields_are_checked_at_creation() {
    let (_dir, _store, _data, s) = server(300);
    status(
        &post(
            &s.client(Some(ROOT)),
            "/v1/query",
            "text/plain",
            "ALTER TABLE users ADD salary INT SENSITIVE",
        ),
        200,
    );
    // Limited to `age`: the audience and every template must keep to it.
    let ok = def(
        "aged",
        "age > 40",
        json!({"variants": [{"name": "a", "weight": 1, "template": "You are {age}"}]}),
    );
    status(&create(&s, LIMITED, &ok), 201);
    let e = status(
        &create(
            &s,
            LIMITED,
            &def(
                "c1",
                "city = 'c000'",
                json!({
        "variants": [{"name": "a", "weight": 1, "template": "{age}"}]}),
            ),
        ),
        403,
    )["error"]
        .clone();
    assert_eq!(e["code"], "forbidden_field");
    assert!(
        e["message"].as_str().unwrap().contains("field `city`"),
        "{e}"
    );
    let e = status(&create(&s, LIMITED, &def("c2", "age > 40", json!({}))), 403)["error"].clone();
    assert_eq!(e["code"], "forbidden_field");
    assert!(
        e["message"].as_str().unwrap().contains("field `city`"),
        "{e}"
    );

    // SENSITIVE in a template: the campaign must allow it and the
    // principal be allowed it (an admin; an unlimited writer is not).
    let salary = |name: &str, allow: bool| {
        def(
            name,
            "age > 40",
            json!({"allow_sensitive": allow,
                   "variants": [{"name": "a", "weight": 1, "template": "{salary}"}]}),
        )
    };
    let e = status(&create(&s, ANN, &salary("s1", true)), 403)["error"].clone();
    assert_eq!(e["code"], "forbidden_field");
    assert!(e["message"].as_str().unwrap().contains("salary"), "{e}");
    status(&create(&s, ROOT, &salary("s2", false)), 400);
    status(&create(&s, ROOT, &salary("s3", true)), 201);
    // SENSITIVE in the audience: the same rule as a query's.
    let e = status(&create(&s, ANN, &def("s4", "salary > 3", json!({}))), 403)["error"].clone();
    assert_eq!(e["code"], "forbidden_field");
    let names: Vec<String> = s
        .state
        .campaigns
        .store
        .list()
        .iter()
        .map(|c| c.def.name.clone())
        .collect();
    assert_eq!(names, ["aged", "s3"]);
}

#[test]
fn show_campaigns_and_campaign_status_in_the_language() {
    let (_dir, _store, _data, s) = server(1000);
    let reader = s.client(Some(READER));
    let empty = reader.query("SHOW CAMPAIGNS").unwrap();
    assert_eq!(
        empty["columns"],
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
    assert_eq!(empty["rows"], json!([]));
    let body = def(
        "lang",
        "age >= 20",
        json!({
            "priority": 7,
            "holdout": 0.1,
            "variants": [
                {"name": "a", "weight": 1, "template": "A"},
                {"name": "b", "weight": 1, "template": "B"},
            ],
        }),
    );
    status(&create(&s, ANN, &body), 201);
    let later = def(
        "later",
        "age >= 20",
        json!({"schedule": {"daily": "09:30"}}),
    );
    status(&create(&s, BOB, &later), 201);
    status(&act(&s, BOB, "later", "start"), 200);
    let c = status(&act(&s, ANN, "lang", "start"), 200);
    let run = &c["runs"][0];

    let v = reader.query("show campaigns").unwrap();
    assert_eq!(
        v["rows"],
        json!([
            ["lang", "users", "running", "marketing", 7, "ann", null, 1],
            [
                "later",
                "users",
                "scheduled",
                "marketing",
                0,
                "bob",
                "2026-12-06T09:30:00.000Z",
                0
            ],
        ]),
        "{v}"
    );

    let v = reader.query("CALL campaign_status('lang')").unwrap();
    assert_eq!(
        v["columns"],
        json!([
            "run",
            "started_at",
            "finished_at",
            "group",
            "variant",
            "users",
            "sent",
            "failed"
        ])
    );
    // Nothing delivered (nobody listens at the webhook): zeros for the
    // run and its variants, null for hold-out and capped.
    assert_eq!(v["rows"][0][6], 0, "{v}");
    assert_eq!(v["rows"][1][6], Value::Null, "{v}");
    assert_eq!(v["rows"][3][7], 0, "{v}");
    let rows = v["rows"].as_array().unwrap();
    let cells: Vec<(Value, Value, Value)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[3].clone(), r[5].clone()))
        .collect();
    assert_eq!(
        cells,
        [
            (json!(1), json!("audience"), run["audience"].clone()),
            (json!(1), json!("holdout"), run["holdout"].clone()),
            (json!(1), json!("capped"), json!(0)),
            (
                json!(1),
                json!("variant"),
                run["variants"][0]["assigned"].clone()
            ),
            (
                json!(1),
                json!("variant"),
                run["variants"][1]["assigned"].clone()
            ),
        ],
        "{v}"
    );
    assert_eq!(rows[3][4], "a");
    assert_eq!(rows[0][1], run["started_at"]);
    let e = post(
        &reader,
        "/v1/query",
        "text/plain",
        "CALL campaign_status('nope')",
    );
    // Bound like a segment argument: the code and the name's place.
    let e = status(&e, 400);
    assert_eq!(e["error"]["code"], "unknown_campaign", "{e}");
    assert_eq!(
        (e["error"]["line"].as_u64(), e["error"]["column"].as_u64()),
        (Some(1), Some(22))
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("`nope`"),
        "{e}"
    );
}

#[test]
fn a_campaign_that_cannot_start_does_not_hold_back_the_others() {
    let (_dir, _store, _data, s) = server(300);
    let admin = s.client(Some(ROOT));
    status(
        &post(
            &admin,
            "/v1/query",
            "text/plain",
            "CREATE TABLE t2 (city ENUM)",
        ),
        200,
    );
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
    let mut doomed: Value =
        serde_json::from_str(&def("doomed", "city = 'c000'", at.clone())).unwrap();
    doomed["table"] = json!("t2");
    doomed["priority"] = json!(9);
    status(&create(&s, ANN, &doomed.to_string()), 201);
    status(&create(&s, ANN, &def("fine", "city = 'c000'", at)), 201);
    for name in ["doomed", "fine"] {
        status(&act(&s, ANN, name, "start"), 200);
    }
    status(
        &post(&admin, "/v1/query", "text/plain", "DROP TABLE t2"),
        200,
    );
    // Due together; t2 is gone: the batch fails, each is tried alone.
    // The clock wakes the thread too: whichever ticks first, `fine` runs
    // and `doomed` stays scheduled.
    s.state.campaigns.set_clock(NOW + 3600);
    let tick = s.state.campaigns.tick(&s.state.store, &s.state.audit);
    assert!(tick.runs.iter().all(|r| r.name == "fine"), "{tick:?}");
    assert!(tick.failed.iter().all(|(n, _)| n == "doomed"), "{tick:?}");
    assert_eq!(show(&s, "fine")["state"], "running");
    let d = show(&s, "doomed");
    assert_eq!(d["state"], "scheduled");
    assert_eq!(d["runs"], json!([]));
    let m = get(&s.client(Some(READER)), "/metrics").text();
    let failures: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("segdb_campaign_scheduler_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 1, "{m}");
}

#[test]
fn the_scheduler_stops_with_the_server() {
    let (_dir, _store, _data, s) = server(200);
    let state = s.state.clone();
    assert!(state.campaigns.scheduler_running());
    drop(s);
    assert!(!state.campaigns.scheduler_running());
}
