//! Golden tests of bad ingest batches: `tests/golden/ingest_bad.txt` holds
//! cases, each opened by a line `-- case: <name>` and followed by the batch
//! (other `--` lines are comments); `tests/golden/ingest_bad.out` holds the
//! error each case gives. `SEGDB_BLESS=1 cargo test -p segdb-engine --test
//! ingest_golden` rewrites the `.out` file; otherwise a difference fails the
//! test and is shown case by case.

use std::fmt::Write as _;
use std::path::PathBuf;

use segdb_engine::write::parse_batch;
use segdb_engine::{EngineError, FieldDef, FieldKind, Schema};

const MARKER: &str = "-- case: ";

fn schema() -> Schema {
    Schema {
        fields: [
            ("city", FieldKind::Enum),
            ("age", FieldKind::Int),
            ("interests", FieldKind::Set),
            ("is_owner", FieldKind::Bool),
            ("search", FieldKind::Event),
            ("phone", FieldKind::Text),
            ("contract_end_days", FieldKind::Int),
        ]
        .into_iter()
        .map(|(n, k)| FieldDef::new(n, k))
        .collect(),
    }
}

#[test]
fn bad_ingest_lines() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let input = std::fs::read_to_string(dir.join("ingest_bad.txt")).unwrap();
    let mut cases: Vec<(String, String)> = Vec::new();
    for line in input.lines() {
        if let Some(name) = line.strip_prefix(MARKER) {
            cases.push((name.trim().to_owned(), String::new()));
        } else if line.starts_with("--") {
            continue;
        } else if let Some((_, text)) = cases.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let schema = schema();
    let mut out = String::new();
    for (name, text) in &cases {
        let err = match parse_batch(&schema, text) {
            Ok(batch) => panic!("case `{name}` parsed: {batch:?}"),
            Err(e) => e,
        };
        assert!(
            matches!(err, EngineError::BadInput { .. }),
            "case `{name}`: {err:?}"
        );
        assert!(err.is_client_error());
        writeln!(out, "{MARKER}{name}\n{err}").unwrap();
    }
    let out_path = dir.join("ingest_bad.out");
    if std::env::var_os("SEGDB_BLESS").is_some() {
        std::fs::write(&out_path, &out).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&out_path).unwrap_or_default();
    if expected != out {
        let exp: Vec<&str> = expected.lines().collect();
        let got: Vec<&str> = out.lines().collect();
        let mut diff = String::new();
        for i in 0..exp.len().max(got.len()) {
            let (e, g) = (exp.get(i), got.get(i));
            if e != g {
                writeln!(
                    diff,
                    "line {}:\n  expected: {e:?}\n  got:      {g:?}",
                    i + 1
                )
                .unwrap();
            }
        }
        panic!("ingest_bad.out differs (SEGDB_BLESS=1 to accept):\n{diff}");
    }
}
