//! Every rule of a definition, checked on a small store.

use super::*;
use crate::definition::{CampaignDef, Cap};
use crate::testutil::{self, TODAY};

fn base() -> CampaignDef {
    serde_json::from_str(
        r#"{
        "name": "spring", "table": "users",
        "audience": {"where": "city = 'c0' AND count(view, last 7 days) > 1"},
        "channel": {"webhook": {"url": "http://127.0.0.1:9/hook"}},
        "variants": [
            {"name": "a", "weight": 1, "template": "Hi {name}"},
            {"name": "b", "weight": 2, "template": "{count(view, last 7 days)} views"}
        ],
        "schedule": "now"
    }"#,
    )
    .unwrap()
}

/// Validates `edit(base())` and returns the refusal.
fn refused(edit: impl FnOnce(&mut CampaignDef)) -> DefError {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 30);
    let mut def = base();
    edit(&mut def);
    match validate(&s, &def, TODAY) {
        Err(CampaignError::Invalid(e)) => *e,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_good_definition_passes_and_binds_its_audience() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 30);
    let checked = validate(&s, &base(), TODAY).unwrap();
    assert_eq!(checked.templates.len(), 2);
    let t = s.table("users").unwrap();
    let rows = crate::audience::freeze(&t, &checked.audience).unwrap();
    // city c0 (i % 3 == 0) and more than one view in 7 days (i % 4 >= 2).
    let want: Vec<u32> = (0..30u32)
        .filter(|i| i % 3 == 0 && i % 4 >= 2)
        .map(|i| t.row_of(&format!("u{i}")).unwrap().unwrap())
        .collect();
    assert_eq!(rows.iter().collect::<Vec<_>>(), want);
}

#[test]
fn each_field_is_checked_and_named() {
    type Edit = Box<dyn FnOnce(&mut CampaignDef)>;
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            Box::new(|d| d.name = "9lives".into()),
            "name",
            "`9lives` is not a valid campaign name",
        ),
        (
            Box::new(|d| d.name = "a b".into()),
            "name",
            "`a b` is not a valid campaign name",
        ),
        (
            Box::new(|d| d.table = "user".into()),
            "table",
            "unknown table `user`",
        ),
        (
            Box::new(|d| d.variants.clear()),
            "variants",
            "a campaign needs at least one variant",
        ),
        (
            Box::new(|d| d.variants[1].name = "a".into()),
            "variants[1].name",
            "variant `a` is named twice",
        ),
        (
            Box::new(|d| d.variants[1].name = "".into()),
            "variants[1].name",
            "`` is not a valid variant name",
        ),
        (
            Box::new(|d| d.variants[0].weight = 0),
            "variants[0].weight",
            "a weight is at least 1",
        ),
        (
            Box::new(|d| d.holdout = 0.6),
            "holdout",
            "the hold-out share is 0 to 0.5, found 0.6",
        ),
        (
            Box::new(|d| d.holdout = -0.1),
            "holdout",
            "the hold-out share is 0 to 0.5, found -0.1",
        ),
        (
            Box::new(|d| d.holdout = f64::NAN),
            "holdout",
            "the hold-out share is 0 to 0.5, found NaN",
        ),
        (
            Box::new(|d| d.cap = Some(Cap { max: 0, days: 7 })),
            "cap.max",
            "a cap is 1 to 100 messages, found 0",
        ),
        (
            Box::new(|d| d.cap = Some(Cap { max: 1, days: 91 })),
            "cap.days",
            "a cap's window is 1 to 90 days, found 91",
        ),
        (
            Box::new(|d| {
                d.kind = Kind::Transactional;
                d.cap = Some(Cap { max: 1, days: 1 });
            }),
            "cap",
            "a transactional campaign is exempt from caps and takes none",
        ),
        (
            Box::new(|d| d.rate_limit = Some(0)),
            "rate_limit",
            "a rate limit is at least 1 message per second",
        ),
        (
            Box::new(|d| {
                d.channel = serde_json::from_str(r#"{"webhook": {"url": "ftp://x"}}"#).unwrap()
            }),
            "channel.webhook.url",
            "`ftp://x` is not an http:// or https:// URL with a host",
        ),
        (
            Box::new(|d| {
                d.channel = serde_json::from_str(r#"{"webhook": {"url": "https:///x"}}"#).unwrap()
            }),
            "channel.webhook.url",
            "`https:///x` is not an http:// or https:// URL with a host",
        ),
        (
            Box::new(|d| {
                d.channel =
                    serde_json::from_str(r#"{"webhook": {"url": "http://h", "timeout_ms": 0}}"#)
                        .unwrap()
            }),
            "channel.webhook.timeout_ms",
            "a timeout is 1 to 600000 ms, found 0",
        ),
        (
            Box::new(|d| {
                d.channel =
                    serde_json::from_str(r#"{"webhook": {"url": "http://h", "max_retries": 21}}"#)
                        .unwrap()
            }),
            "channel.webhook.max_retries",
            "at most 20 retries, found 21",
        ),
        (
            Box::new(|d| {
                d.channel =
                    serde_json::from_str(r#"{"webhook": {"url": "http://h", "batch_size": 10001}}"#)
                        .unwrap()
            }),
            "channel.webhook.batch_size",
            "a batch is 1 to 10000 messages, found 10001",
        ),
        (
            Box::new(|d| {
                d.channel =
                    serde_json::from_str(r#"{"file": {"dir": "out", "format": "csv"}}"#).unwrap()
            }),
            "channel.file.dir",
            "`out` is not an absolute directory",
        ),
        (
            Box::new(|d| d.schedule = Schedule::At("2026-13-01T00:00:00Z".into())),
            "schedule.at",
            "not an RFC 3339 time",
        ),
        (
            Box::new(|d| d.schedule = Schedule::At("tomorrow".into())),
            "schedule.at",
            "not an RFC 3339 time",
        ),
        (
            Box::new(|d| d.schedule = Schedule::Daily("24:00".into())),
            "schedule.daily",
            "not a time of day HH:MM (UTC)",
        ),
        (
            Box::new(|d| d.schedule = Schedule::Daily("9:30".into())),
            "schedule.daily",
            "not a time of day HH:MM (UTC)",
        ),
        (
            Box::new(|d| {
                d.split = serde_json::from_str(
                    r#"{"copy_race": {"test_share": 1.0, "window_minutes": 60}}"#,
                )
                .unwrap()
            }),
            "split.copy_race.test_share",
            "the test share is a fraction above 0.0001 and below 1, not 1",
        ),
        (
            Box::new(|d| {
                d.split = serde_json::from_str(
                    r#"{"copy_race": {"test_share": 0.1, "window_minutes": 0}}"#,
                )
                .unwrap()
            }),
            "split.copy_race.window_minutes",
            "the race window is 1 to 10080 minutes (7 days), not 0",
        ),
        (
            Box::new(|d| {
                d.split = serde_json::from_str(
                    r#"{"copy_race": {"test_share": 0.1, "window_minutes": 60, "metric": "goal"}}"#,
                )
                .unwrap()
            }),
            "split.copy_race.metric",
            "the metric `goal` needs the campaign's goal",
        ),
        (
            Box::new(|d| {
                d.variants.truncate(1);
                d.split = serde_json::from_str(
                    r#"{"copy_race": {"test_share": 0.1, "window_minutes": 60}}"#,
                )
                .unwrap()
            }),
            "split",
            "a copy race needs at least two variants",
        ),
        (
            Box::new(|d| d.variants[1].template = "{cty}".into()),
            "variants[1].template",
            "unknown field `cty` in table `users`",
        ),
        (
            Box::new(|d| d.variants[0].template = "{phone}".into()),
            "variants[0].template",
            "`phone` is a SENSITIVE field",
        ),
        (
            Box::new(|d| d.audience = Audience::Where("  ".into())),
            "audience.where",
            "the WHERE clause is empty",
        ),
        (
            Box::new(|d| d.audience = Audience::Segment("vips".into())),
            "audience.segment",
            "unknown segment `vips`",
        ),
        (
            Box::new(|d| d.goal = Some("did(veiw, 7 days after send)".into())),
            "goal",
            "unknown field `veiw` in table `users`",
        ),
        (
            Box::new(|d| d.goal = Some("did(age, 7 days after send)".into())),
            "goal",
            "`age` is an INT field; a goal counts an EVENT field",
        ),
        (
            Box::new(|d| d.goal = Some("did(view, 7 days after click)".into())),
            "goal",
            "expected `send` after `after`, found `click`",
        ),
    ];
    for (edit, path, message) in cases {
        let e = refused(edit);
        assert_eq!((e.path.as_str(), e.message.as_str()), (path, message));
    }
}

#[test]
fn a_sensitive_field_is_allowed_when_the_campaign_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3);
    let mut def = base();
    def.variants[0].template = "Call {phone}".into();
    def.allow_sensitive = true;
    assert!(validate(&s, &def, TODAY).is_ok());
}

#[test]
fn audience_errors_point_into_the_where_text() {
    // A syntax error and a binding error, each at its place in the
    // campaign's own clause (not in a statement wrapped around it).
    let e = refused(|d| d.audience = Audience::Where("city = 'c0' AND age >".into()));
    assert_eq!(e.path, "audience.where");
    assert_eq!(e.code, "syntax_error");
    let at = e.at.as_ref().unwrap();
    assert_eq!((at.text.as_str(), at.start), ("city = 'c0' AND age >", 21));
    let e = refused(|d| d.audience = Audience::Where("cty = 'c0'".into()));
    assert_eq!(
        (e.code, e.message.as_str()),
        ("unknown_field", "unknown field `cty` in table `users`")
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `city`?"));
    let at = e.at.as_ref().unwrap();
    assert_eq!((at.start, at.end), (0, 3));
    assert!(e.to_string().contains("1 | cty = 'c0'\n  | ^^^"), "{e}");
    let e = refused(|d| d.audience = Audience::Where("age > 3; DROP TABLE users".into()));
    assert_eq!(
        (e.path.as_str(), e.code),
        ("audience.where", "syntax_error")
    );
    let e = refused(|d| d.audience = Audience::Where("count(view, last 7 days) > 'x'".into()));
    assert_eq!(e.path, "audience.where");
    assert!(e.at.as_ref().unwrap().start >= 27, "{e}");
}

#[test]
fn a_segment_audience_must_exist_on_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 9);
    s.create_segment(
        "c0s",
        "users",
        segdb_engine::SegmentDef::Dynamic {
            text: "city = 'c0'".into(),
            uses: vec![],
        },
        false,
    )
    .unwrap();
    let mut def = base();
    def.audience = Audience::Segment("c0s".into());
    let checked = validate(&s, &def, TODAY).unwrap();
    let t = s.table("users").unwrap();
    assert_eq!(
        crate::audience::freeze(&t, &checked.audience)
            .unwrap()
            .len(),
        3
    );
    def.audience = Audience::Segment("c0z".into());
    match validate(&s, &def, TODAY) {
        Err(CampaignError::Invalid(e)) => {
            assert_eq!(e.hint.as_deref(), Some("did you mean `c0s`?"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc3339_times_read_as_utc_seconds() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
    assert_eq!(
        parse_rfc3339("2026-11-22T09:30:00Z"),
        Ok(20_779 * 86_400 + 9 * 3600 + 1800)
    );
    assert_eq!(
        parse_rfc3339("2026-11-22T10:30:00.25+01:00"),
        Ok(20_779 * 86_400 + 9 * 3600 + 1800)
    );
    assert_eq!(
        parse_rfc3339("2026-11-22t09:30:00-00:30"),
        Ok(20_779 * 86_400 + 10 * 3600)
    );
    assert_eq!(parse_rfc3339("2026-11-22T09:30:00"), Err((0, 19)));
    assert_eq!(parse_rfc3339("2026-11-22T09:30:00+1"), Err((19, 21)));
    assert_eq!(parse_rfc3339("2026-02-30T09:30:00Z"), Err((0, 10)));
    assert_eq!(parse_rfc3339("2026-11-22T25:30:00Z"), Err((11, 19)));
    assert_eq!(parse_hh_mm("00:00"), Some(0));
    assert_eq!(parse_hh_mm("23:59"), Some(1439));
    assert_eq!(parse_hh_mm("12:60"), None);
}

#[test]
fn a_goal_is_checked_and_kept_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3);
    let mut def = base();
    assert_eq!(validate(&s, &def, TODAY).unwrap().goal, None);
    def.goal = Some("DID(view, 14 days after send)".into());
    let checked = validate(&s, &def, TODAY).unwrap();
    assert_eq!(
        checked.goal,
        Some(crate::goal::Goal {
            event: "view".into(),
            days: 14
        })
    );
    // The caret is in the goal's own text.
    let e = refused(|d| d.goal = Some("did(view, 999 days after send)".into()));
    let at = e.at.as_ref().unwrap();
    assert_eq!(
        (at.text.as_str(), at.start, at.end),
        ("did(view, 999 days after send)", 10, 13)
    );
    assert!(e.to_string().contains("--> goal, line 1, column 11"), "{e}");
}
