//! `bind_filter` and `bind_segment_definition`: a bare WHERE text and a
//! segment's definition bound on their own, each checked against the same
//! text bound inside a statement, and errors whose line, column and caret
//! are in the caller's text.

mod common;

use segdb_engine::Expr;
use segdb_query_lang::{
    bind_filter, bind_segment, bind_segment_definition, parse_and_bind, SegmentBody, Statement,
};

use common::{today, TestCatalog};

/// What `text` binds to as the WHERE of a SELECT on `users`.
fn as_select(text: &str) -> Expr {
    let wrapped = format!("SELECT COUNT(*) FROM users WHERE {text}");
    match parse_and_bind(&wrapped, &TestCatalog, today())
        .unwrap()
        .pop()
    {
        Some(Statement::Select(s)) => s.filter,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_filter_binds_as_it_does_in_a_select() {
    for text in [
        "city = 'c000'",
        "city = 'c000' AND age BETWEEN 25 AND 35",
        "NOT is_owner OR count(search, last 7 days) > 3",
        "IN SEGMENT bj_active AND os = 'ios'",
        "-- a comment\ncity IN ('c000', 'c001')\n",
    ] {
        let bound = bind_filter(&TestCatalog, "users", text, today()).unwrap();
        assert_eq!(bound.filter, as_select(text), "{text}");
    }
}

#[test]
fn a_blank_filter_keeps_every_row() {
    for text in ["", "  \n", "-- nothing\n"] {
        let bound = bind_filter(&TestCatalog, "users", text, today()).unwrap();
        assert_eq!(bound.filter, Expr::All, "{text:?}");
        assert!(bound.warnings.is_empty());
    }
}

#[test]
fn a_filter_error_points_into_the_callers_text() {
    let err = bind_filter(
        &TestCatalog,
        "users",
        "age > 3 AND\n  cty = 'c000'",
        today(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unknown_field");
    assert_eq!((err.line(), err.column()), (2, 3));
    assert_eq!(err.hint().as_deref(), Some("did you mean `city`?"));
    let shown = err.to_string();
    assert!(
        shown.contains("2 |   cty = 'c000'\n  |   ^^^"),
        "the caret is under `cty` in the caller's text:\n{shown}"
    );
    assert!(!shown.contains("SELECT"), "{shown}");
}

#[test]
fn a_filter_is_one_expression_not_a_statement() {
    for (text, column) in [
        ("city = 'c000'; DROP TABLE users", 14),
        ("city = 'c000' LIMIT 3", 15),
        ("city = 'c000')", 14),
    ] {
        let err = bind_filter(&TestCatalog, "users", text, today()).unwrap_err();
        assert_eq!(err.code(), "syntax_error", "{text}");
        assert_eq!((err.line(), err.column()), (1, column), "{text}: {err}");
    }
}

#[test]
fn a_filter_on_an_unknown_table_names_it() {
    let err = bind_filter(&TestCatalog, "usrs", "age > 3", today()).unwrap_err();
    assert_eq!(err.code(), "unknown_table");
    assert_eq!(err.hint().as_deref(), Some("did you mean `users`?"));
}

#[test]
fn a_filter_warns_with_positions_in_its_text() {
    let bound = bind_filter(
        &TestCatalog,
        "users",
        "age > 3 AND\ncity = 'nowhere'",
        today(),
    )
    .unwrap();
    let w = bound
        .warnings
        .first()
        .expect("a warning for a value no row has");
    assert_eq!((w.line(), w.column()), (2, 8), "{w:?}");
}

#[test]
fn a_definition_binds_as_create_or_replace_segment() {
    let definition = "SELECT FROM users WHERE IN SEGMENT bj_active AND os = 'ios'";
    let own =
        bind_segment_definition(&TestCatalog, "ios_fans", definition, false, today()).unwrap();
    let wrapped = format!("CREATE OR REPLACE SEGMENT ios_fans AS {definition}");
    let mut stmts = parse_and_bind(&wrapped, &TestCatalog, today()).unwrap();
    assert_eq!(Some(own), stmts.pop());
    let snap = bind_segment_definition(&TestCatalog, "s", definition, true, today()).unwrap();
    assert!(
        matches!(&snap, Statement::CreateSegment(s) if s.snapshot && s.replace),
        "{snap:?}"
    );
}

#[test]
fn a_definition_error_points_into_the_definition() {
    let err = bind_segment_definition(
        &TestCatalog,
        "s",
        "SELECT FROM users\nWHERE cty = 'c000'",
        false,
        today(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unknown_field");
    assert_eq!((err.line(), err.column()), (2, 7));
}

#[test]
fn a_definition_is_one_statement() {
    let err = bind_segment_definition(
        &TestCatalog,
        "s",
        "SELECT FROM users WHERE is_owner; DROP TABLE users",
        false,
        today(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "syntax_error");
    assert_eq!((err.line(), err.column()), (1, 35));
    // A trailing `;` is allowed.
    bind_segment_definition(
        &TestCatalog,
        "s",
        "SELECT FROM users WHERE is_owner;",
        false,
        today(),
    )
    .unwrap();
    // A name the store refuses is refused before anything else.
    let err = bind_segment_definition(
        &TestCatalog,
        "1st",
        "SELECT FROM users WHERE is_owner",
        false,
        today(),
    )
    .unwrap_err();
    assert!(err.message().contains("`1st`"), "{err}");
}

#[test]
fn a_snapshot_segment_in_a_filter_is_its_rows() {
    let bound = bind_filter(&TestCatalog, "users", "IN SEGMENT promo_1122", today()).unwrap();
    let Some(SegmentBody::Snapshot(rows)) = stored_segment("promo_1122") else {
        panic!("promo_1122 is a snapshot")
    };
    assert_eq!(bound.filter, rows);
}

fn stored_segment(name: &str) -> Option<SegmentBody> {
    common::segments()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, b)| b)
}

#[test]
fn a_segment_by_name_binds_as_in_segment_does() {
    for name in ["active_ios", "promo_1122", "churned"] {
        let (table, expr) = bind_segment(name, &TestCatalog, today()).unwrap();
        assert_eq!(table, "users");
        assert_eq!(expr, as_select(&format!("IN SEGMENT {name}")), "{name}");
    }
    let (table, _) = bind_segment("big_houses", &TestCatalog, today()).unwrap();
    assert_eq!(table, "houses");
    let err = bind_segment("bj_activ", &TestCatalog, today()).unwrap_err();
    assert_eq!(err.code(), "unknown_segment");
    assert_eq!(err.hint().as_deref(), Some("did you mean `bj_active`?"));
    assert_eq!(
        (err.line(), err.column()),
        (1, 12),
        "the caret is under the name"
    );
    // A name that needs quoting is a name, not text to parse.
    let err = bind_segment("x\" OR is_owner OR \"", &TestCatalog, today()).unwrap_err();
    assert_eq!(err.code(), "unknown_segment");
    // A segment whose stored text no longer binds names the segment.
    let err = bind_segment("broken", &TestCatalog, today()).unwrap_err();
    assert!(
        err.message().contains("segment `broken` no longer binds"),
        "{err}"
    );
}
