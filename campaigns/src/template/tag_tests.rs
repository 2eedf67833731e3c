//! Derived tags in templates: `{tag}` checked against the store's tags and
//! rendered per row as the tag's value on the run's day.

use super::*;
use crate::audience::StoreCatalog;
use crate::testutil::{self, TODAY};

/// A store of `n` users with the tags `stage` (ENUM, no ELSE: a row of
/// none of its WHENs has no value), `adult` (BOOL) and `broken` (over a
/// field the table lacks), and a table `vault` with the tag `rich` over
/// its SENSITIVE field `score`.
fn store_with_tags(dir: &std::path::Path, n: u32) -> segdb_engine::Store {
    let s = testutil::store(dir, n);
    s.create_tag(
        "stage",
        "users",
        "CASE WHEN count(view, last 1 days) >= 2 THEN 'fan' WHEN age >= 30 THEN 'older' END",
        Vec::new(),
        false,
    )
    .unwrap();
    s.create_tag("adult", "users", "age >= 18", Vec::new(), false)
        .unwrap();
    s.create_tag("broken", "users", "cty = 'c0'", Vec::new(), false)
        .unwrap();
    let mut score = segdb_engine::FieldDef::new("score", FieldKind::Int);
    score.sensitive = true;
    let schema = Schema {
        fields: vec![score, segdb_engine::FieldDef::new("age", FieldKind::Int)],
    };
    s.create_table("vault", &schema).unwrap();
    s.create_tag("rich", "vault", "score > 5", Vec::new(), false)
        .unwrap();
    s
}

#[test]
fn a_tag_is_checked_against_the_stores_tags() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with_tags(dir.path(), 3);
    let t = s.table("users").unwrap();
    let catalog = StoreCatalog(&s, None);
    let check = |text: &str, sensitive: bool| {
        parse(text)
            .unwrap()
            .check_with_tags("users", t.schema(), &catalog, sensitive)
    };
    assert_eq!(check("{stage} {adult} {city}", false), Ok(()));
    // Without the catalog a tag is an unknown field.
    let e = parse("{stage}")
        .unwrap()
        .check("users", t.schema(), false)
        .unwrap_err();
    assert_eq!(e.message, "unknown field `stage` in table `users`");
    // A definition that no longer binds is refused at the placeholder.
    let e = check("Hi {broken}", false).unwrap_err();
    assert_eq!(e.span, (4, 10));
    assert!(e.message.starts_with("tag `broken`: "), "{}", e.message);
    assert!(e.message.contains("`cty`"), "{}", e.message);
    // A tag of another table is no field of this one.
    let e = check("{rich}", false).unwrap_err();
    assert_eq!(e.message, "unknown field `rich` in table `users`");
    // A tag reading a SENSITIVE field needs allow_sensitive, as the field.
    let v = s.table("vault").unwrap();
    let vault = |text: &str, sensitive: bool| {
        parse(text)
            .unwrap()
            .check_with_tags("vault", v.schema(), &catalog, sensitive)
    };
    let e = vault("Hi {rich}", false).unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.span),
        ("tag `rich` reads the SENSITIVE field `score`", (4, 8))
    );
    assert_eq!(vault("Hi {rich}", true), Ok(()));
    // An unknown name is still an unknown field.
    let e = check("{stag}", false).unwrap_err();
    assert_eq!(e.message, "unknown field `stag` in table `users`");
}

#[test]
fn a_tag_renders_each_rows_value_on_the_day() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let s = store_with_tags(dir.path(), n);
    let t = s.table("users").unwrap();
    let catalog = StoreCatalog(&s, None);
    let tpl = parse("{city}: {stage}/{adult}/{stage}").unwrap();
    tpl.check_with_tags("users", t.schema(), &catalog, false)
        .unwrap();
    let tags = tpl.bind_tags(&catalog, "users", t.schema(), TODAY).unwrap();
    // Every row at once, then in two batches out of order: the same text.
    let mut rows: Vec<u32> = (0..n)
        .map(|i| t.row_of(&format!("u{i}")).unwrap().unwrap())
        .collect();
    rows.sort_unstable();
    let mut whole = HashMap::new();
    tpl.render_rows_tagged(&t, &rows, TODAY, &tags, |row, text| {
        whole.insert(row, text);
    })
    .unwrap();
    let mut parts = HashMap::new();
    let (a, b) = rows.split_at(13);
    for batch in [b, a] {
        let mut batch = batch.to_vec();
        batch.reverse();
        tpl.render_rows_tagged(&t, &batch, TODAY, &tags, |row, text| {
            parts.insert(row, text);
        })
        .unwrap();
    }
    assert_eq!(whole, parts);
    for i in 0..n {
        let row = t.row_of(&format!("u{i}")).unwrap().unwrap();
        // testutil: u{i} has `i % 4` views today, age `i % 50`.
        let stage = if i % 4 >= 2 {
            "fan"
        } else if i % 50 >= 30 {
            "older"
        } else {
            ""
        };
        let adult = i % 50 >= 18;
        assert_eq!(
            whole[&row],
            format!("c{}: {stage}/{adult}/{stage}", i % 3),
            "u{i}"
        );
    }
    // On a later day the views have left the one-day window.
    let later = tpl
        .bind_tags(&catalog, "users", t.schema(), TODAY + 5)
        .unwrap();
    let row = t.row_of("u3").unwrap().unwrap();
    let mut text = String::new();
    tpl.render_rows_tagged(&t, &[row], TODAY + 5, &later, |_, m| text = m)
        .unwrap();
    assert_eq!(text, "c0: /false/");
    // Without its bound tags a tag renders as nothing.
    assert_eq!(tpl.render_row(&t, row, TODAY).unwrap(), "c0: //");
}
