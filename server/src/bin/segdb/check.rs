//! `segdb check --data STORE [--json]`: verifies every checksum of every
//! live file and the manifest's consistency (`segdb_engine::check`), prints
//! each problem with its file, offset, table, field and shard, and exits
//! non-zero if there is one.

use std::path::Path;

use segdb_campaigns::store::CAMPAIGNS_DIR;
use segdb_campaigns::{CampaignError, CampaignStore};
use segdb_engine::check::{check_store, CheckReport, Problem};
use segdb_storage_format::FormatError;

use crate::AnyError;

pub fn check(data: &Path, json: bool) -> Result<(), AnyError> {
    let mut report = check_store(data)?;
    check_campaigns(data, &mut report);
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

/// Adds the campaign files (`DATA/campaigns.d/`: the catalog, every run's
/// bitmaps, every touch file) to `report`, each damaged one a problem
/// naming it.
fn check_campaigns(data: &Path, report: &mut CheckReport) {
    let problem = |e: CampaignError| {
        let (file, offset, what) = match e {
            CampaignError::Corrupt { path, what } => (path, None, what),
            CampaignError::Storage(FormatError::Corrupt { path, offset, what }) => {
                (path, Some(offset), what)
            }
            other => (data.join(CAMPAIGNS_DIR), None, other.to_string()),
        };
        Problem {
            file,
            offset,
            table: None,
            field: None,
            shard: None,
            block: None,
            what,
        }
    };
    match CampaignStore::open_read_only(data) {
        Ok(None) => {}
        Ok(Some(c)) => {
            report.files += 1;
            let (files, damage) = c.verify();
            report.files += files;
            report.problems.extend(damage.into_iter().map(problem));
        }
        Err(e) => {
            report.files += 1;
            report.problems.push(problem(e));
        }
    }
    // The delivery log: every record's checksum.
    match segdb_campaigns::deliver::log::verify(data) {
        Ok(None) => {}
        Ok(Some(log)) => {
            report.files += log.files;
            if let Some(t) = log.summary.torn_tail {
                report.notes.push(format!(
                    "{} at offset {}: a torn last delivery record ({}); the next open cuts its {} bytes, as after any crash",
                    t.path.display(),
                    t.offset,
                    t.what,
                    t.bytes_removed
                ));
            }
        }
        Err(e) => report.problems.push(problem(e)),
    }
    // The trigger timers: their snapshot and every record of their log.
    match segdb_campaigns::trigger::verify(data) {
        Ok(None) => {}
        Ok(Some(log)) => {
            report.files += log.files;
            if let Some(t) = log.summary.torn_tail {
                report.notes.push(format!(
                    "{} at offset {}: a torn last trigger record ({}); the next open cuts its {} bytes, as after any crash",
                    t.path.display(),
                    t.offset,
                    t.what,
                    t.bytes_removed
                ));
            }
        }
        Err(e) => report.problems.push(problem(e)),
    }
}
