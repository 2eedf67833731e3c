//! Template syntax, checks against a table, and rendering real rows.

use segdb_engine::date::format_iso_day;

use super::*;
use crate::testutil::{self, TODAY};

fn field(name: &str, start: usize) -> Piece {
    Piece::Field {
        name: name.into(),
        span: (start, start + name.len()),
    }
}

#[test]
fn text_fields_counts_and_escapes_parse() {
    let t = parse("Hi {name}, {{x}} {count(view, last 7 days)}!").unwrap();
    assert_eq!(
        t.pieces,
        vec![
            Piece::Text("Hi ".into()),
            field("name", 4),
            Piece::Text(", {x} ".into()),
            Piece::Count {
                event: "view".into(),
                days: 7,
                span: (17, 43)
            },
            Piece::Text("!".into()),
        ]
    );
    // Spaces inside, any case, `day` for one.
    let t = parse("{ COUNT ( view ,LAST 1 day ) }{ city }").unwrap();
    assert_eq!(t.pieces.len(), 2);
    assert!(matches!(&t.pieces[0], Piece::Count { days: 1, .. }));
    assert_eq!(t.pieces[1], field("city", 32));
    assert_eq!(parse("").unwrap().pieces, vec![]);
    assert_eq!(
        parse("{{}}").unwrap().pieces,
        vec![Piece::Text("{}".into())]
    );
}

/// Each bad template, the error's message and the caret's span.
#[test]
fn bad_placeholders_are_refused_where_they_are() {
    let cases: &[(&str, &str, (usize, usize))] = &[
        ("Hi {name", "`{` is never closed", (3, 8)),
        ("Hi {na{me}", "`{` is never closed", (3, 6)),
        ("a } b", "a lone `}`", (2, 3)),
        (
            "{}",
            "expected a field name or count(EVENT, last N days) in `{…}`",
            (0, 2),
        ),
        (
            "{ 9lives }",
            "expected a field name or count(EVENT, last N days) in `{…}`",
            (0, 10),
        ),
        ("{city name}", "unexpected `name` after `city`", (6, 10)),
        ("{count(view)}", "expected `,` in count(…)", (11, 12)),
        (
            "{count(view, 7 days)}",
            "expected `last` in count(…)",
            (13, 20),
        ),
        (
            "{count(view, last days)}",
            "expected a number of days in count(…)",
            (18, 23),
        ),
        (
            "{count(view, last 0 days)}",
            "a window is 1 to 366 days, found 0",
            (18, 19),
        ),
        (
            "{count(view, last 400 days)}",
            "a window is 1 to 366 days, found 400",
            (18, 21),
        ),
        (
            "{count(view, last 7 weeks)}",
            "expected `days` in count(…)",
            (20, 26),
        ),
        (
            "{count(view, last 7 days}",
            "expected `)` in count(…)",
            (24, 24),
        ),
        (
            "{count(view, last 7 days) x}",
            "expected `}` after `)` in count(…)",
            (26, 27),
        ),
    ];
    for (text, message, span) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!((e.message.as_str(), e.span), (*message, *span), "{text}");
    }
}

fn check(text: &str, allow_sensitive: bool) -> Result<(), TemplateError> {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3);
    let t = s.table("users").unwrap();
    parse(text)?.check("users", t.schema(), allow_sensitive)
}

#[test]
fn names_and_kinds_are_checked_against_the_table() {
    assert_eq!(
        check(
            "{city} {age} {tags} {name} {count(view, last 7 days)}",
            false
        ),
        Ok(())
    );
    let e = check("Hello {cty}!", false).unwrap_err();
    assert_eq!(e.message, "unknown field `cty` in table `users`");
    assert_eq!(e.span, (7, 10));
    assert_eq!(e.hint.as_deref(), Some("did you mean `city`?"));
    // The error with its field path and caret, as a client sees it.
    assert_eq!(
        e.into_def_error("variants[0].template", "Hello {cty}!")
            .to_string(),
        "error: variants[0].template: unknown field `cty` in table `users`\n\
         \x20--> variants[0].template, line 1, column 8\n\
         \x20 |\n\
         1 | Hello {cty}!\n\
         \x20 |        ^^^\n\
         \x20 = hint: did you mean `city`?"
    );
    let e = check("{vip}", false).unwrap_err();
    assert!(e.message.contains("BOOL"), "{}", e.message);
    let e = check("{view}", false).unwrap_err();
    assert_eq!(
        e.hint.as_deref(),
        Some("write `{count(view, last 7 days)}`")
    );
    let e = check("{count(city, last 7 days)}", false).unwrap_err();
    assert_eq!(e.message, "count(…) takes an EVENT field; `city` is ENUM");
    let e = check("Call {phone}", false).unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.span),
        ("`phone` is a SENSITIVE field", (6, 11))
    );
    assert_eq!(check("Call {phone}", true), Ok(()));
}

#[test]
fn rows_render_with_their_values_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 8);
    let t = s.table("users").unwrap();
    let tpl = parse(
        "{name} of {city}, {age}, [{tags}]: {count(view, last 7 days)} this week, \
         {count(view, last 30 days)} this month {{ok}}",
    )
    .unwrap();
    tpl.check("users", t.schema(), false).unwrap();
    assert_eq!(
        tpl.window(TODAY),
        Some(DayRange {
            first: TODAY - 29,
            last: TODAY
        })
    );
    for i in 0..8u32 {
        let row = t.row_of(&format!("u{i}")).unwrap().unwrap();
        let text = tpl.render_row(&t, row, TODAY).unwrap();
        let mut tags = [format!("t{}", i % 4), format!("t{}", i % 5)];
        tags.sort();
        let tags = if tags[0] == tags[1] {
            tags[0].clone()
        } else {
            tags.join(", ")
        };
        let week = i % 4;
        assert_eq!(
            text,
            format!(
                "Name{i} of c{}, {}, [{tags}]: {week} this week, {} this month {{ok}}",
                i % 3,
                i % 50,
                week + 1
            ),
            "row of u{i} on {}",
            format_iso_day(TODAY)
        );
    }
    // A null renders as nothing: a row with only an id.
    let batch =
        segdb_engine::write::parse_batch(t.schema(), "{\"id\":\"nobody\",\"set\":{\"age\":1}}")
            .unwrap();
    s.ingest("users", batch).unwrap();
    let t = s.table("users").unwrap();
    let row = t.row_of("nobody").unwrap().unwrap();
    let tpl = parse("[{city}][{name}][{age}][{count(view, last 3 days)}]").unwrap();
    assert_eq!(tpl.render_row(&t, row, TODAY).unwrap(), "[][][1][0]");
}

proptest::proptest! {
    /// Any text parses or is refused with a span inside it, and the
    /// refusal draws its caret without panicking; literal text with
    /// doubled braces reads back as itself.
    #[test]
    fn any_text_parses_or_is_refused_in_place(text in "[a-z{}(), 0-9é\n]{0,40}") {
        match parse(&text) {
            Ok(t) => {
                for p in &t.pieces {
                    if let Piece::Field { span, .. } | Piece::Count { span, .. } = p {
                        proptest::prop_assert!(span.0 < span.1 && span.1 <= text.len());
                    }
                }
            }
            Err(e) => {
                proptest::prop_assert!(e.span.0 <= e.span.1 && e.span.1 <= text.len(), "{:?}", e);
                let shown = e.into_def_error("variants[0].template", &text).to_string();
                proptest::prop_assert!(shown.contains('^'));
            }
        }
    }

    #[test]
    fn escaped_text_reads_back(text in "[a-z{} é]{0,40}") {
        let escaped = text.replace('{', "{{").replace('}', "}}");
        let t = parse(&escaped).unwrap();
        let back: String = t
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Text(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        proptest::prop_assert_eq!(back, text);
    }
}

/// `render_rows` and each field's [`segdb_engine::FieldReader`] give, for
/// every row and field, what the row's profile holds: over every row of a
/// table (each ENUM block read often enough to be decoded whole), over a
/// sparse subset (probed per row), and for a row of the live delta with
/// nulls.
#[test]
fn rows_read_through_readers_are_their_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3_000);
    let batch = segdb_engine::write::parse_batch(
        s.table("users").unwrap().schema(),
        "{\"id\":\"nobody\",\"set\":{\"age\":1}}",
    )
    .unwrap();
    s.ingest("users", batch).unwrap();
    let t = s.table("users").unwrap();
    let window = DayRange {
        first: TODAY - 29,
        last: TODAY,
    };
    let all: Vec<u32> = (0..t.num_rows() as u32).collect();
    let sparse: Vec<u32> = all.iter().copied().filter(|r| r % 97 == 5).collect();
    assert!(all.len() > 3_000 && sparse.len() > 10);
    for rows in [&all, &sparse] {
        let profiles: Vec<_> = rows
            .iter()
            .map(|&r| t.profile_of_row(r, window).unwrap())
            .collect();
        for fi in 0..t.schema().fields.len() {
            let mut reader = t.field_reader(fi, window).unwrap();
            for (p, &r) in profiles.iter().zip(rows) {
                assert_eq!(
                    reader.value(r).unwrap(),
                    p.fields[fi].1,
                    "row {r} field {fi}"
                );
            }
        }
        let tpl = parse("{name}|{city}|{age}|[{tags}]|{count(view, last 30 days)}|{nope}").unwrap();
        let mut got = Vec::new();
        tpl.render_rows(&t, rows, TODAY, |r, text| got.push((r, text)))
            .unwrap();
        let want: Vec<_> = rows
            .iter()
            .zip(&profiles)
            .map(|(&r, p)| (r, tpl.render(p, TODAY)))
            .collect();
        assert_eq!(got, want);
    }
    assert!(t.field_reader(99, window).is_err());
}

/// A system field (a campaign's `#effects`) is no template's to show: it
/// cannot be written as a placeholder, is unknown to one that spells it
/// through the schema check, and is never suggested.
#[test]
fn system_fields_are_no_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3);
    s.ensure_system_field("users", "#effects", FieldKind::Set)
        .unwrap();
    let t = s.table("users").unwrap();
    let e = parse("Hi {#effects}").unwrap_err();
    assert_eq!(e.span, (3, 13), "{}", e.message);
    let e = parse("{effects}")
        .unwrap()
        .check("users", t.schema(), true)
        .unwrap_err();
    assert_eq!(e.message, "unknown field `effects` in table `users`");
    assert_eq!(e.hint, None);
    // Built by hand, as no text parses to it.
    let tpl = Template {
        pieces: vec![Piece::Field {
            name: "#effects".into(),
            span: (0, 9),
        }],
    };
    let e = tpl.check("users", t.schema(), true).unwrap_err();
    assert_eq!(e.message, "unknown field `#effects` in table `users`");
    // Rendering, one row or many, leaves it out as a field the table lacks.
    let row = t.row_of("u1").unwrap().unwrap();
    s.write_rows(
        "users",
        &segdb_engine::write::RowsWrite {
            rows: vec![row],
            change: segdb_engine::write::RowsChange::AddValue {
                field: "#effects".into(),
                value: "7/1/clicked".into(),
            },
            idempotency_key: None,
        },
    )
    .unwrap();
    let t = s.table("users").unwrap();
    assert_eq!(tpl.render_row(&t, row, TODAY).unwrap(), "");
    let mut got = Vec::new();
    tpl.render_rows(&t, &[row], TODAY, |_, text| got.push(text))
        .unwrap();
    assert_eq!(got, [""]);
}
