use super::*;
use crate::audience::StoreCatalog;
use crate::testutil::{store, TODAY};
use crate::validate;
use segdb_engine::Store;
use segdb_query_lang::Statement;

fn bound(store: &Store, text: &str) -> Result<BoundCampaign, QueryError> {
    let stmts = segdb_query_lang::parse(text)?;
    match segdb_query_lang::bind(&stmts[0], &StoreCatalog(store, None), TODAY)? {
        Statement::CreateCampaign(b) => Ok(*b),
        other => panic!("not a campaign: {other:?}"),
    }
}

/// The error of `text` (its conversion's, or its validation's placed in
/// it) as `(code, message, the text under the caret)`.
fn error(store: &Store, text: &str) -> (String, String, String) {
    let e = match bound(store, text) {
        Err(e) => e,
        Ok(b) => match definition(&b) {
            Err(e) => e,
            Ok(def) => {
                let err = validate(store, &def, TODAY).expect_err("a valid definition");
                locate(err, &b).expect("a definition error")
            }
        },
    };
    let s = e.span();
    (
        e.code().to_owned(),
        e.message(),
        text[s.start..s.end].to_owned(),
    )
}

const EXAMPLE: &str = "CREATE CAMPAIGN spring_sale ON users \
    AUDIENCE WHERE city = 'c000' AND count(view, last 7 days) > 2 \
    CHANNEL webhook (url => 'https://hooks.example.com/segdb', timeout_ms => 5000) \
    VARIANT a WEIGHT 1 TEMPLATE 'Hi! {count(view, last 7 days)} views this week in {city}' \
    VARIANT b WEIGHT 1 TEMPLATE 'Spring sale in {city}: 20% off' \
    HOLDOUT 0.1 SPLIT weights CAP 2 PER 7 DAYS PRIORITY 10 KIND marketing \
    SCHEDULE DAILY AT '09:30' APPROVAL REQUIRED RATE 500 PER SECOND";

#[test]
fn the_statement_says_what_the_documented_json_says() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    let def = definition(&bound(&s, EXAMPLE).unwrap()).unwrap();
    let json: CampaignDef = serde_json::from_str(crate::EXAMPLE_JSON).unwrap();
    assert_eq!(def, json);
    validate(&s, &def, TODAY).unwrap();
    // Clauses in another order say the same.
    let shuffled = "CREATE CAMPAIGN spring_sale ON users RATE 500 PER SECOND \
        SCHEDULE DAILY AT '09:30' KIND MARKETING PRIORITY 10 CAP 2 PER 7 DAYS \
        VARIANT a WEIGHT 1 TEMPLATE 'Hi! {count(view, last 7 days)} views this week in {city}' \
        HOLDOUT 0.1 APPROVAL REQUIRED \
        CHANNEL webhook (timeout_ms => 5000, url => 'https://hooks.example.com/segdb') \
        VARIANT b WEIGHT 1 TEMPLATE 'Spring sale in {city}: 20% off' \
        AUDIENCE WHERE city = 'c000' AND count(view, last 7 days) > 2";
    assert_eq!(definition(&bound(&s, shuffled).unwrap()).unwrap(), json);
}

#[test]
fn the_defaults_are_the_jsons() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    let text = "CREATE CAMPAIGN c ON users AUDIENCE SEGMENT vip CHANNEL file (dir => '/out', format => 'csv') \
        VARIANT a WEIGHT 3 TEMPLATE 'it''s {city}' SCHEDULE AT '2026-12-24T09:00:00Z' ALLOW SENSITIVE";
    s.create_segment(
        "vip",
        "users",
        segdb_engine::SegmentDef::Dynamic {
            text: "vip".into(),
            uses: vec![],
        },
        false,
    )
    .unwrap();
    let json: CampaignDef = serde_json::from_str(
        r#"{"name": "c", "table": "users", "audience": {"segment": "vip"},
            "channel": {"file": {"dir": "/out", "format": "csv"}},
            "variants": [{"name": "a", "weight": 3, "template": "it's {city}"}],
            "schedule": {"at": "2026-12-24T09:00:00Z"}, "allow_sensitive": true}"#,
    )
    .unwrap();
    assert_eq!(definition(&bound(&s, text).unwrap()).unwrap(), json);
    // A segment that does not exist: the binder says so, at its name.
    let e = bound(&s, &text.replace("SEGMENT vip", "SEGMENT vipp")).unwrap_err();
    assert_eq!(e.code(), "unknown_segment", "{e}");
    let webhook =
        "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
        VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW";
    let def = definition(&bound(&s, webhook).unwrap()).unwrap();
    let Channel::Webhook(w) = def.channel else {
        panic!()
    };
    assert_eq!(
        (w.timeout_ms, w.max_retries, w.batch_size),
        (10_000, 5, 1_000)
    );
    assert_eq!(def.holdout, 0.0);
    assert_eq!(def.kind, Kind::Marketing);
}

#[test]
fn errors_point_into_the_statement() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    let base = |clause: &str| {
        format!(
            "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
             VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW {clause}"
        )
    };
    // A template's unknown field, inside the string, after a doubled quote.
    let text =
        "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
                VARIANT a WEIGHT 1 TEMPLATE 'it''s {cty}' SCHEDULE NOW";
    let (code, message, under) = error(&s, text);
    assert_eq!(under, "cty", "{message}");
    assert!(message.contains("cty"), "{message}");
    assert_eq!(code, "invalid_campaign");
    // The audience's unknown field, in the WHERE clause.
    let text = "CREATE CAMPAIGN c ON users AUDIENCE WHERE cty = 'c0' CHANNEL webhook (url => 'http://h/x') \
                VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW";
    assert_eq!(error(&s, text).0, "unknown_field");
    assert_eq!(error(&s, text).2, "cty");
    // The hold-out, out of range.
    let (_, message, under) = error(&s, &base("HOLDOUT 0.75"));
    assert_eq!(under, "0.75");
    assert!(message.contains("0 to 0.5"), "{message}");
    // A channel setting it does not have, and a bad URL.
    let text = "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x', timout_ms => 5) \
                VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW";
    assert_eq!(error(&s, text).2, "timout_ms");
    let text = "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'ftp://h') \
                VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW";
    assert_eq!(error(&s, text).2, "'ftp://h'");
    // A bad time, inside its string; a zero weight; a transactional cap.
    let text =
        "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
                VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE DAILY AT '25:00'";
    assert_eq!(error(&s, text).2, "25:00");
    let text =
        "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
                VARIANT a WEIGHT 0 TEMPLATE 'x' SCHEDULE NOW";
    assert_eq!(error(&s, text).2, "0");
    assert_eq!(
        error(&s, &base("KIND TRANSACTIONAL CAP 1 PER 2 DAYS")).2,
        "1"
    );
    assert_eq!(error(&s, &base("RATE 0 PER SECOND")).2, "0");
    assert_eq!(
        error(
            &s,
            &base("SPLIT copy_race (test_share => 0.5, window_minutes => 60)")
        )
        .2,
        "copy_race"
    );
    // Two variants of one name: at the second.
    let text =
        "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
                VARIANT a WEIGHT 1 TEMPLATE 'x' VARIANT a WEIGHT 1 TEMPLATE 'y' SCHEDULE NOW";
    let e = error(&s, text);
    assert_eq!(e.2, "a");
    assert!(e.1.contains("named twice"), "{e:?}");
}

#[test]
fn string_offsets_skip_doubled_quotes() {
    let src = "x 'a''b{c}'";
    let lit = Span::new(2, src.len());
    // "a'b{c}": `c` is byte 4 of the string, byte 8 of the text.
    assert_eq!(string_offset(src, lit, 4), 8);
    assert_eq!(string_offset(src, lit, 0), 3);
    assert_eq!(string_offset(src, lit, 6), src.len() - 1);
}

#[test]
fn a_goal_clause_is_the_jsons_goal() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    let text = |goal: &str| {
        format!(
            "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
             VARIANT a WEIGHT 1 TEMPLATE 'x' {goal} SCHEDULE NOW"
        )
    };
    let def = definition(&bound(&s, &text("GOAL did(view, 7 days after send)")).unwrap()).unwrap();
    assert_eq!(def.goal.as_deref(), Some("did(view, 7 days after send)"));
    // Any case and spacing, `day` or `days`: the same canonical text.
    let def =
        definition(&bound(&s, &text("goal DID ( view , 1 DAY AFTER SEND )")).unwrap()).unwrap();
    assert_eq!(def.goal.as_deref(), Some("did(view, 1 day after send)"));
    let checked = validate(&s, &def, TODAY).unwrap();
    assert_eq!(
        checked.goal,
        Some(crate::goal::Goal {
            event: "view".into(),
            days: 1
        })
    );
    // Without the clause, no goal; with it, the JSON's.
    let def = definition(&bound(&s, &text("")).unwrap()).unwrap();
    assert_eq!(def.goal, None);
    let json: CampaignDef = serde_json::from_value(serde_json::json!({
        "name": "c", "table": "users", "audience": {"where": "vip"},
        "channel": {"webhook": {"url": "http://h/x"}},
        "variants": [{"name": "a", "weight": 1, "template": "x"}],
        "schedule": "now", "goal": "did(view, 30 days after send)"
    }))
    .unwrap();
    let def = definition(&bound(&s, &text("GOAL did(view, 30 days after send)")).unwrap()).unwrap();
    assert_eq!(def, json);
}

#[test]
fn goal_errors_point_into_the_clause() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    let text = |goal: &str| {
        format!(
            "CREATE CAMPAIGN c ON users AUDIENCE WHERE vip CHANNEL webhook (url => 'http://h/x') \
             VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW GOAL {goal}"
        )
    };
    // (goal, code, message, the text under the caret)
    let cases = [
        (
            "did(veiw, 7 days after send)",
            "invalid_campaign",
            "unknown field `veiw` in table `users`",
            "veiw",
        ),
        (
            "did(city, 7 days after send)",
            "invalid_campaign",
            "`city` is an ENUM field; a goal counts an EVENT field",
            "city",
        ),
        (
            "did(\"#sent\", 7 days after send)",
            "invalid_campaign",
            "`#sent` is a system field; a goal names an EVENT field of the table",
            "\"#sent\"",
        ),
        (
            "did(view, 0 days after send)",
            "invalid_campaign",
            "a goal's window is 1 to 366 days, found 0",
            "0",
        ),
        (
            "did(view, 400 days after send)",
            "invalid_campaign",
            "a goal's window is 1 to 366 days, found 400",
            "400",
        ),
        (
            "did(view, -3 days after send)",
            "invalid_campaign",
            "expected a number of days, found `-`",
            "-3",
        ),
        (
            "did(view, 7 days after click)",
            "syntax_error",
            "expected SEND after AFTER, found `click`",
            "click",
        ),
        (
            "did(view 7 days after send)",
            "syntax_error",
            "expected `,` after the event's name, found `7`",
            "7",
        ),
        (
            "count(view, 7 days after send)",
            "syntax_error",
            "expected did(…) after GOAL, found `count`",
            "count",
        ),
    ];
    for (goal, code, message, under) in cases {
        let e = error(&s, &text(goal));
        assert_eq!(
            (e.0.as_str(), e.1.as_str(), e.2.as_str()),
            (code, message, under),
            "{goal}"
        );
    }
    // A goal given twice.
    let e = error(
        &s,
        &text("did(view, 7 days after send) GOAL did(view, 1 day after send)"),
    );
    assert_eq!((e.0.as_str(), e.2.as_str()), ("syntax_error", "GOAL"));
}

#[test]
fn a_trigger_schedule_is_the_jsons_on_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    s.add_field(
        "users",
        segdb_engine::FieldDef::new("pay", segdb_engine::FieldKind::Event),
    )
    .unwrap();
    let text = "CREATE CAMPAIGN remind ON users AUDIENCE WHERE age >= 0 \
        CHANNEL file (dir => '/o', format => 'csv') VARIANT a WEIGHT 1 TEMPLATE 'pay now' \
        SCHEDULE ON EVENT view AND NOT pay WITHIN 10 MINUTES REENTRY 2 DAYS WHERE city != 'c2' AND vip \
        KIND transactional";
    let def = definition(&bound(&s, text).unwrap()).unwrap();
    let want: Schedule = serde_json::from_value(serde_json::json!({"on_event": {
        "event": "view", "and_not": {"event": "pay", "within_seconds": 600},
        "where": "city != 'c2' AND vip", "reentry_seconds": 172_800}}))
    .unwrap();
    assert_eq!(def.schedule, want);
    validate(&s, &def, TODAY).unwrap();
    // Without AND NOT, REENTRY or WHERE: due at once, re-entry a day.
    let alone = text.replace(
        "AND NOT pay WITHIN 10 MINUTES REENTRY 2 DAYS WHERE city != 'c2' AND vip",
        "",
    );
    let def = definition(&bound(&s, &alone).unwrap()).unwrap();
    let Schedule::OnEvent(t) = def.schedule else {
        panic!()
    };
    assert_eq!(
        (t.and_not, t.condition, t.reentry_seconds),
        (None, None, 86_400)
    );
    // Errors are placed in the clause.
    let base = "CREATE CAMPAIGN remind ON users AUDIENCE WHERE age >= 0 \
        CHANNEL file (dir => '/o', format => 'csv') VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE ";
    for (clause, message, under) in [
        (
            "ON EVENT veiw",
            "unknown event `veiw` in table `users`",
            "veiw",
        ),
        (
            "ON EVENT view AND NOT city WITHIN 1 HOUR",
            "`city` is an ENUM field; a trigger waits for an EVENT field",
            "city",
        ),
        (
            "ON EVENT view AND NOT pay WITHIN 8 DAYS",
            "the window is 1 second to 7 days (604800 seconds), not 691200",
            "8 DAYS",
        ),
        (
            "ON EVENT view AND NOT pay WITHIN 5000000 DAYS",
            "the window is too long (4294967295 seconds at most)",
            "5000000 DAYS",
        ),
        (
            "ON EVENT view REENTRY 400 DAYS",
            "the re-entry interval is at most a year (31536000 seconds), not 34560000",
            "400 DAYS",
        ),
        ("ON EVENT view WHERE age > 'x'", "", "'x'"),
    ] {
        let (_, got, at) = error(&s, &format!("{base}{clause}"));
        if !message.is_empty() {
            assert_eq!(got, message, "{clause}");
        }
        assert_eq!(at, under, "{clause}");
    }
}
