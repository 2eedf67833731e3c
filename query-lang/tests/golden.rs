//! Golden tests: `tests/golden/<name>.txt` holds cases, each opened by a
//! line `-- case: <name>` and followed by the query text (other `--` lines
//! are comments of the query). `tests/golden/<name>.out` holds what each
//! case prints:
//!
//! - `good.txt`: every statement in its canonical text (which must parse
//!   back to the same tree) and bound form, then any warnings;
//! - `bad.txt`: the error code and the full error, caret and hint included.
//!
//! `SEGDB_BLESS=1 cargo test -p segdb-query-lang --test golden` rewrites
//! the `.out` files; otherwise a difference fails the test and is shown
//! case by case.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use segdb_query_lang::ast::ClearSpans;
use segdb_query_lang::{bind, parse, parse_and_bind};

use common::{today, TestCatalog};

const MARKER: &str = "-- case: ";

struct Case {
    name: String,
    text: String,
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read_cases(file: &str) -> Vec<Case> {
    let path = golden_dir().join(file);
    let input = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut cases: Vec<Case> = Vec::new();
    for line in input.lines() {
        if let Some(name) = line.strip_prefix(MARKER) {
            cases.push(Case {
                name: name.trim().to_string(),
                text: String::new(),
            });
        } else if let Some(case) = cases.last_mut() {
            case.text.push_str(line);
            case.text.push('\n');
        }
    }
    for case in &mut cases {
        case.text = case.text.trim_end().to_string();
    }
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        panic!("{file}: case `{}` is named twice", w[0]);
    }
    cases
}

/// A good case: canonical text and bound form of each statement. Returns
/// whether it went as a good case should.
fn run_good(text: &str, out: &mut String) -> bool {
    let statements = match parse(text) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "UNEXPECTED ERROR\n{e}").unwrap();
            return false;
        }
    };
    let mut ok = true;
    for stmt in &statements {
        let printed = stmt.to_string();
        writeln!(out, "{printed}").unwrap();
        // The canonical text must parse back to the same tree.
        match parse(&printed) {
            Ok(again) if again.len() == 1 => {
                let (mut a, mut b) = (stmt.clone(), again[0].clone());
                a.clear_spans();
                b.clear_spans();
                if a.kind != b.kind {
                    writeln!(
                        out,
                        "ROUND TRIP CHANGED THE TREE\n{:?}\n{:?}",
                        a.kind, b.kind
                    )
                    .unwrap();
                    ok = false;
                }
            }
            other => {
                writeln!(out, "ROUND TRIP FAILED: {other:?}").unwrap();
                ok = false;
            }
        }
        match bind(stmt, &TestCatalog, today()) {
            Ok(bound) => {
                writeln!(out, "=> {bound}").unwrap();
                let warnings = match &bound {
                    segdb_query_lang::Statement::Select(select)
                    | segdb_query_lang::Statement::Explain(select) => &select.warnings[..],
                    segdb_query_lang::Statement::CreateSegment(segment) => &segment.warnings[..],
                    segdb_query_lang::Statement::Insight(insight) => &insight.warnings[..],
                    segdb_query_lang::Statement::Compare(compare) => &compare.warnings[..],
                    _ => &[],
                };
                for w in warnings {
                    writeln!(out, "{w}").unwrap();
                }
            }
            Err(e) => {
                writeln!(out, "UNEXPECTED ERROR\n{e}").unwrap();
                ok = false;
            }
        }
    }
    ok
}

/// A bad case: its error. Returns whether it failed as it should.
fn run_bad(text: &str, out: &mut String) -> bool {
    match parse_and_bind(text, &TestCatalog, today()) {
        Ok(statements) => {
            writeln!(out, "UNEXPECTED SUCCESS").unwrap();
            for s in statements {
                writeln!(out, "=> {s}").unwrap();
            }
            false
        }
        Err(e) => {
            // The accessors agree with the rendering.
            let rendered = e.to_string();
            assert!(rendered.starts_with(&format!("error: {}\n", e.message())));
            assert!(rendered.contains(&format!("line {}, column {}", e.line(), e.column())));
            if let Some(hint) = e.hint() {
                assert!(rendered.ends_with(&format!("= help: {hint}")));
            }
            writeln!(out, "code: {}\n{rendered}", e.code()).unwrap();
            true
        }
    }
}

fn check(file: &str, run: fn(&str, &mut String) -> bool) {
    let cases = read_cases(&format!("{file}.txt"));
    let mut actual = String::new();
    let mut wrong = Vec::new();
    let mut outputs = Vec::new();
    for case in &cases {
        let mut out = String::new();
        if !run(&case.text, &mut out) {
            wrong.push(case.name.clone());
        }
        write!(
            actual,
            "{MARKER}{}\n{}\n--\n{}\n",
            case.name, case.text, out
        )
        .unwrap();
        outputs.push((case, out));
    }
    let out_path = golden_dir().join(format!("{file}.out"));
    if std::env::var_os("SEGDB_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&out_path, &actual).unwrap();
    } else {
        let expected = std::fs::read_to_string(&out_path).unwrap_or_default();
        if expected != actual {
            panic!(
                "{} differs from what the cases print (SEGDB_BLESS=1 rewrites it):\n{}",
                out_path.display(),
                diff(&expected, &actual)
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "{file}.txt: these cases did not {} as they should: {wrong:?}",
        if file == "good" { "succeed" } else { "fail" }
    );
    println!("{file}: {} cases", cases.len());
}

/// The cases whose block differs, expected then actual.
fn diff(expected: &str, actual: &str) -> String {
    let blocks = |s: &str| -> Vec<String> {
        s.split(MARKER)
            .filter(|b| !b.is_empty())
            .map(|b| format!("{MARKER}{b}"))
            .collect()
    };
    let (old, new) = (blocks(expected), blocks(actual));
    let name = |b: &str| b.lines().next().unwrap_or_default().to_string();
    let mut report = String::new();
    for block in &new {
        match old.iter().find(|o| name(o) == name(block)) {
            Some(o) if o == block => {}
            Some(o) => {
                let _ = write!(report, "\n--- expected\n{o}+++ actual\n{block}");
            }
            None => {
                let _ = write!(report, "\n+++ new case\n{block}");
            }
        }
    }
    for block in &old {
        if !new.iter().any(|b| name(b) == name(block)) {
            let _ = write!(report, "\n--- removed case\n{block}");
        }
    }
    if report.is_empty() {
        report = "(the same cases, in another order)".to_string();
    }
    report
}

#[test]
fn good_queries() {
    check("good", run_good);
}

#[test]
fn bad_queries() {
    check("bad", run_bad);
}
