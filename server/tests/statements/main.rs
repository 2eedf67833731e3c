//! Every statement kind through `segdb query --format json` on a generated
//! store, with the answers checked against a naive scan of the generated
//! users.csv and events.csv.
//!
//! One test: nextest runs each test in its own process, so a shared data
//! set would be generated once per test. The checks are split by concern
//! into the modules below.

#[path = "../common/mod.rs"]
mod common;
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

pub(crate) use common::{generated_store, p, segdb};
use segdb_tests::generated::{Data, Row};
use serde_json::{json, Value};

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
    let (dir, store, csv, _) = generated_store(5000, 11);
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
