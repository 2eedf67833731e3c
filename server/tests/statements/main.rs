//! Every statement kind through `segdb query --format json` on a generated
//! store, with the answers checked against a naive scan of the generated
//! users.csv and events.csv.
//!
//! One test: nextest runs each test in its own process, so a shared data
//! set would be generated once per test. The checks are split by concern
//! into the modules below.

mod insight;
mod queries;
mod schema;
mod segments;

use insight::{compare_statements, insight_statements, quantiles};
use queries::{counts, explain, group_by, ids_and_aggregates, naive_groups, plan_rows};
use schema::schema_statements;
use segments::segments_and_calls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use segdb_tests::generated::{Data, Row};
use serde_json::{json, Value};

pub(crate) fn segdb(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `text`; one JSON answer per statement.
pub(crate) fn query(store: &Path, text: &str) -> Vec<Value> {
    let (ok, out, err) = segdb(&["query", "--data", p(store), "--format", "json", text]);
    assert!(ok, "{text}\n{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs one statement; its answer.
pub(crate) fn one(store: &Path, text: &str) -> Value {
    let mut answers = query(store, text);
    assert_eq!(answers.len(), 1, "{text}");
    answers.pop().unwrap()
}

/// The single number a `SELECT COUNT(*)` answers.
pub(crate) fn count(store: &Path, text: &str) -> u64 {
    let v = one(store, text);
    assert_eq!(v["columns"], json!(["count"]), "{text}");
    v["rows"][0][0].as_u64().unwrap()
}

pub(crate) fn setup() -> (tempfile::TempDir, PathBuf, Data) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let store = dir.path().join("store");
    let (ok, _, err) = segdb(&["gen", "--scale", "5000", "--seed", "11", "--out", p(&csv)]);
    assert!(ok, "{err}");
    let (ok, _, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "users",
        "--schema",
        p(&csv.join("schema.sql")),
        "--events",
        p(&csv.join("events.csv")),
        p(&csv.join("users.csv")),
    ]);
    assert!(ok, "{err}");
    let data = Data::read(&csv);
    (dir, store, data)
}

#[test]
fn every_statement_kind_against_a_scan_of_the_data() {
    let (dir, store, data) = setup();
    let store = store.as_path();
    assert_eq!(data.rows.len(), 5000);

    counts(store, &data);
    ids_and_aggregates(store, &data);
    group_by(store, &data);
    explain(store, &data);
    // Before the statements below change the table.
    insight_statements(store, &data);
    compare_statements(store, &data);
    quantiles(store, &data);
    schema_statements(store, &data, dir.path());
    segments_and_calls(store, &data, dir.path());
}

/// Which rows of users.csv a WHERE clause keeps.
pub(crate) type Naive = dyn Fn(&Row<'_>) -> bool;
