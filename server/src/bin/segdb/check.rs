//! `segdb check --data STORE [--json]`: verifies every checksum of every
//! live file and the manifest's consistency (`segdb_engine::check`), prints
//! each problem with its file, offset, table, field and shard, and exits
//! non-zero if there is one.

use std::path::Path;

use segdb_engine::check::check_store;

use crate::AnyError;

pub fn check(data: &Path, json: bool) -> Result<(), AnyError> {
    let report = check_store(data)?;
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["ok"] = serde_json::Value::Bool(report.is_ok());
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!(
            "checked {}: {} files, {} blocks, {} WAL records",
            report.dir.display(),
            report.files,
            report.blocks,
            report.wal_records
        );
        for n in &report.notes {
            outln!("note: {n}");
        }
        for p in &report.problems {
            outln!("problem: {p}");
        }
        if report.is_ok() {
            outln!("no problems found");
        }
    }
    match report.problems.len() {
        0 => Ok(()),
        1 => Err(format!("{} has a problem (above)", data.display()).into()),
        n => Err(format!("{} has {n} problems (above)", data.display()).into()),
    }
}
