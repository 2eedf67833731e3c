//! Goals: the text, the check against a schema, and the measure against a
//! naive model that scans rows.

use super::*;
use crate::testutil::{self, TODAY};
use proptest::prelude::*;
use segdb_engine::{FieldDef, ImportFormat, ImportOptions, Store};

fn goal(event: &str, days: u32) -> Goal {
    Goal {
        event: event.into(),
        days,
    }
}

#[test]
fn goals_read_in_any_case_and_spacing() {
    for text in [
        "did(book, 7 days after send)",
        "DID(book,7 DAYS AFTER SEND)",
        "  did ( book , 7\tdays\nafter   send )  ",
        "Did(\"book\", 7 Days After Send)",
    ] {
        assert_eq!(Goal::parse(text), Ok(goal("book", 7)), "{text:?}");
    }
    assert_eq!(
        Goal::parse("did(buy, 1 day after send)"),
        Ok(goal("buy", 1))
    );
    assert_eq!(
        Goal::parse("did(buy, 1 days after send)"),
        Ok(goal("buy", 1))
    );
    assert_eq!(
        Goal::parse("did(b_2, 366 days after send)"),
        Ok(goal("b_2", 366))
    );
    // The canonical text reads back to the same goal.
    for g in [goal("book", 7), goal("buy", 1)] {
        assert_eq!(Goal::parse(&g.to_string()), Ok(g.clone()));
    }
    assert_eq!(goal("buy", 1).to_string(), "did(buy, 1 day after send)");
}

#[test]
fn a_bad_goal_says_what_and_where() {
    // (text, message, the text under the caret)
    let cases = [
        ("", "expected `did`, found the end of the goal", ""),
        (
            "done(book, 7 days after send)",
            "expected `did`, found `done`",
            "done",
        ),
        (
            "did book, 7 days after send)",
            "expected `(` after did, found `book`",
            "book",
        ),
        (
            "did(, 7 days after send)",
            "expected an EVENT field's name after `did(`, found `,`",
            ",",
        ),
        (
            "did(book 7 days after send)",
            "expected `,` after the event's name, found `7`",
            "7",
        ),
        (
            "did(book, seven days after send)",
            "expected a number of days, found `seven`",
            "seven",
        ),
        (
            "did(book, 0 days after send)",
            "a goal's window is 1 to 366 days, found 0",
            "0",
        ),
        (
            "did(book, 367 days after send)",
            "a goal's window is 1 to 366 days, found 367",
            "367",
        ),
        (
            "did(book, 99999999999 days after send)",
            "a goal's window is 1 to 366 days, found 99999999999",
            "99999999999",
        ),
        (
            "did(book, 7 weeks after send)",
            "expected `days` after the number, found `weeks`",
            "weeks",
        ),
        (
            "did(book, 7 days before send)",
            "expected `after`, found `before`",
            "before",
        ),
        (
            "did(book, 7 days after click)",
            "expected `send` after `after`, found `click`",
            "click",
        ),
        (
            "did(book, 7 days after send",
            "expected `)`, found the end of the goal",
            "",
        ),
        (
            "did(book, 7 days after send) and more",
            "unexpected text after the goal",
            "and more",
        ),
        (
            "did(#delivered, 7 days after send)",
            "`#delivered` is a system field; a goal names an EVENT field of the table",
            "#delivered",
        ),
        (
            "did(\"#sent\", 7 days after send)",
            "`#sent` is a system field; a goal names an EVENT field of the table",
            "\"#sent\"",
        ),
        (
            "did(9lives, 7 days after send)",
            "`9lives` is not a field name",
            "9lives",
        ),
        (
            "did(\"bo ok\", 7 days after send)",
            "`bo ok` is not a field name",
            "\"bo ok\"",
        ),
        (
            "did(\"book, 7 days after send)",
            "unclosed quoted name",
            "\"book, 7 days after send)",
        ),
        (
            "did(bøok, 7 days)",
            "expected `,` after the event's name, found `ø`",
            "ø",
        ),
    ];
    for (text, message, under) in cases {
        let e = Goal::parse(text).expect_err(text);
        assert_eq!(
            (e.message.as_str(), &text[e.start..e.end]),
            (message, under),
            "{text:?}"
        );
    }
}

#[test]
fn the_check_names_the_field_and_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3);
    let schema = s.table("users").unwrap().schema().clone();
    assert_eq!(
        check("did(view, 3 days after send)", "users", &schema),
        Ok(goal("view", 3))
    );
    let e = check("did(veiw, 3 days after send)", "users", &schema).unwrap_err();
    assert_eq!(
        (e.path.as_str(), e.message.as_str()),
        ("goal", "unknown field `veiw` in table `users`")
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `view`?"));
    let at = e.at.as_ref().unwrap();
    assert_eq!((at.start, at.end), (4, 8));
    assert!(
        e.to_string()
            .contains("1 | did(veiw, 3 days after send)\n  |     ^^^^"),
        "{e}"
    );
    let e = check("did( city , 3 days after send)", "users", &schema).unwrap_err();
    assert_eq!(
        e.message,
        "`city` is an ENUM field; a goal counts an EVENT field"
    );
    let at = e.at.as_ref().unwrap();
    assert_eq!((at.start, at.end), (5, 9));
    let e = check("did(book, 3 days after sent)", "users", &schema).unwrap_err();
    assert_eq!(e.path, "goal");
    assert_eq!(e.at.as_ref().unwrap().start, 23);
}

#[test]
fn send_days_take_the_first_touch_from_the_run_day() {
    let bm = |v: &[u32]| v.iter().copied().collect::<RoaringBitmap>();
    let touches = BTreeMap::from([
        (TODAY - 1, bm(&[1, 2, 3])),
        (TODAY, bm(&[1])),
        (TODAY + 1, bm(&[1, 2, 9])),
        (TODAY + 3, bm(&[3])),
    ]);
    let groups = send_days(TODAY, &bm(&[1, 2, 3, 4]), &touches);
    assert_eq!(
        groups,
        vec![
            (TODAY, bm(&[1, 4])),
            (TODAY + 1, bm(&[2])),
            (TODAY + 3, bm(&[3]))
        ]
    );
    // Untouched users alone: one group on the run's day.
    assert_eq!(
        send_days(TODAY, &bm(&[5, 6]), &BTreeMap::new()),
        vec![(TODAY, bm(&[5, 6]))]
    );
    assert_eq!(send_days(TODAY, &RoaringBitmap::new(), &touches), vec![]);
    // Untouched users come before later days' groups.
    assert_eq!(
        send_days(TODAY, &bm(&[3, 7]), &touches),
        vec![(TODAY, bm(&[7])), (TODAY + 3, bm(&[3]))]
    );
}

/// The naive send day of `row`: the first touched day from `run_day`.
fn model_send_day(run_day: Day, row: u32, touches: &BTreeMap<Day, RoaringBitmap>) -> Day {
    touches
        .iter()
        .filter(|(d, t)| **d >= run_day && t.contains(row))
        .map(|(d, _)| *d)
        .next()
        .unwrap_or(run_day)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn send_days_match_the_model(
        sent in proptest::collection::btree_set(0u32..200, 0..80),
        touches in proptest::collection::btree_map(
            -3i32..6, proptest::collection::btree_set(0u32..200, 0..60), 0..6),
    ) {
        let sent: RoaringBitmap = sent.into_iter().collect();
        let touches: BTreeMap<Day, RoaringBitmap> = touches
            .into_iter()
            .map(|(d, rows)| (TODAY + d, rows.into_iter().collect()))
            .collect();
        let groups = send_days(TODAY, &sent, &touches);
        let mut union = RoaringBitmap::new();
        for w in groups.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "days ascending");
        }
        for (day, rows) in &groups {
            prop_assert!(!rows.is_empty());
            prop_assert!(union.is_disjoint(rows));
            union |= rows;
            for r in rows {
                prop_assert_eq!(model_send_day(TODAY, r, &touches), *day);
            }
        }
        prop_assert_eq!(union, sent);
    }
}

/// A store with `users` of `n` rows and an EVENT field `book` with
/// `counts[(user, day offset from TODAY)]` events; the row of each user.
fn book_store(
    dir: &std::path::Path,
    n: u32,
    counts: &BTreeMap<(u32, i32), u32>,
) -> (Store, Vec<u32>) {
    let s = Store::open(dir).unwrap();
    let schema = segdb_engine::Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("book", FieldKind::Event),
        ],
    };
    s.create_table("users", &schema).unwrap();
    let mut csv = String::from("user_id,city\n");
    for i in 0..n {
        csv.push_str(&format!("u{i},c{}\n", i % 2));
    }
    s.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    let mut lines = String::new();
    for (&(u, d), &count) in counts {
        if count > 0 {
            let day = segdb_engine::date::format_iso_day(TODAY + d);
            lines.push_str(&format!(
                "{{\"id\":\"u{u}\",\"event\":\"book\",\"day\":\"{day}\",\"count\":{count}}}\n"
            ));
        }
    }
    if !lines.is_empty() {
        let t = s.table("users").unwrap();
        let batch = segdb_engine::write::parse_batch(t.schema(), &lines).unwrap();
        s.ingest("users", batch).unwrap();
    }
    let t = s.table("users").unwrap();
    let rows = (0..n)
        .map(|i| t.row_of(&format!("u{i}")).unwrap().unwrap())
        .collect();
    (s, rows)
}

#[test]
fn the_goal_counts_from_each_users_send_day() {
    let dir = tempfile::tempdir().unwrap();
    // u0 books the day before its send day (too early), u1 on its send
    // day, u2 on the window's last day, u3 the day after (too late), u4
    // never.
    let counts = BTreeMap::from([((0, 1), 1), ((1, 2), 3), ((2, 2 + 6), 1), ((3, 7), 2)]);
    let (s, rows) = book_store(dir.path(), 5, &counts);
    let t = s.table("users").unwrap();
    let groups = vec![
        (TODAY + 2, rows[..2].iter().copied().collect()),
        (TODAY + 2, rows[2..3].iter().copied().collect()),
        (TODAY, rows[3..].iter().copied().collect()),
    ];
    let met = goal_met(&t, &goal("book", 7), &groups).unwrap();
    assert_eq!(met, [rows[1], rows[2]].into_iter().collect());
    // The hold-out, measured from the run's day: u0 booked on TODAY + 1.
    let holdout: RoaringBitmap = rows.iter().copied().collect();
    let met = goal_met(&t, &goal("book", 2), &[(TODAY, holdout)]).unwrap();
    assert_eq!(met, [rows[0]].into_iter().collect());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random events per user and day, random touches: the goal met is
    /// what a scan of the rows finds.
    #[test]
    fn goal_met_matches_a_scan(
        n in 1u32..40,
        counts in proptest::collection::btree_map((0u32..40, -4i32..12), 0u32..3, 0..120),
        touches in proptest::collection::btree_map(
            -2i32..6, proptest::collection::btree_set(0u32..40, 0..30), 0..5),
        sent in proptest::collection::btree_set(0u32..40, 0..40),
        days in 1u32..6,
    ) {
        let counts: BTreeMap<(u32, i32), u32> =
            counts.into_iter().filter(|((u, _), _)| *u < n).collect();
        let dir = tempfile::tempdir().unwrap();
        let (s, rows) = book_store(dir.path(), n, &counts);
        let t = s.table("users").unwrap();
        let row = |u: u32| rows[u as usize];
        let touches: BTreeMap<Day, RoaringBitmap> = touches
            .into_iter()
            .map(|(d, us)| (TODAY + d, us.into_iter().filter(|u| *u < n).map(row).collect()))
            .collect();
        let sent_users: Vec<u32> = sent.into_iter().filter(|u| *u < n).collect();
        let sent: RoaringBitmap = sent_users.iter().map(|&u| row(u)).collect();
        let g = goal("book", days);
        let groups = send_days(TODAY, &sent, &touches);
        let met = goal_met(&t, &g, &groups).unwrap();
        let want: RoaringBitmap = sent_users
            .iter()
            .filter(|&&u| {
                let d0 = model_send_day(TODAY, row(u), &touches) - TODAY;
                (d0..d0 + days as i32).any(|d| counts.get(&(u, d)).is_some_and(|c| *c > 0))
            })
            .map(|&u| row(u))
            .collect();
        prop_assert_eq!(&met, &want);
        // The hold-out way: everyone from the run's day.
        let all: RoaringBitmap = rows.iter().copied().collect();
        let met = goal_met(&t, &g, &[(TODAY, all)]).unwrap();
        let want: RoaringBitmap = (0..n)
            .filter(|&u| (0..days as i32).any(|d| counts.get(&(u, d)).is_some_and(|c| *c > 0)))
            .map(row)
            .collect();
        prop_assert_eq!(met, want);
    }
}
