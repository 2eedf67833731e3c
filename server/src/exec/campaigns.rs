//! The language's view of campaigns: `SHOW CAMPAIGNS` and `CALL
//! campaign_status('name')`. They read the campaign catalog of the store's
//! directory read only (the catalog file is the commit point, replaced
//! atomically, so it is what the server holds), which works the same in
//! `segdb serve`, `segdb query` and the console.

use segdb_campaigns::store::Campaign;
use segdb_campaigns::{CampaignError, CampaignStore};
use segdb_engine::{EngineError, Store};
use serde_json::{json, Value};

use super::{ExecError, ResultSet};

fn engine_error(e: CampaignError) -> ExecError {
    match e {
        CampaignError::Storage(f) => EngineError::Storage(f).into(),
        CampaignError::Engine(e) => e.into(),
        other => EngineError::Internal(other.to_string()).into(),
    }
}

fn campaigns(store: &Store) -> Result<Vec<Campaign>, ExecError> {
    Ok(CampaignStore::open_read_only(store.dir())
        .map_err(engine_error)?
        .map(|c| c.list())
        .unwrap_or_default())
}

fn at(secs: i64) -> Value {
    json!(crate::audit::time::format_ms(secs.saturating_mul(1000)))
}

/// `SHOW CAMPAIGNS`: name, table, state, kind, priority, creator, the next
/// run's time (null if none is due) and the number of runs, in creation
/// order.
pub fn show_campaigns(store: &Store) -> Result<ResultSet, ExecError> {
    let rows = campaigns(store)?
        .iter()
        .map(|c| {
            vec![
                json!(c.def.name),
                json!(c.def.table),
                json!(c.state.as_str()),
                json!(c.def.kind),
                json!(c.def.priority),
                json!(c.created_by.name),
                segdb_campaigns::schedule::next_run_at(c).map_or(Value::Null, at),
                json!(c.runs.len()),
            ]
        })
        .collect();
    Ok(ResultSet {
        columns: [
            "campaign",
            "table",
            "state",
            "kind",
            "priority",
            "created_by",
            "next_run_at",
            "runs",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// `CALL campaign_status('name')`: per run, one row for its audience,
/// hold-out and capped users and one per variant (`group` `variant`,
/// `variant` its name), with the run's start and end.
pub fn campaign_status(store: &Store, name: &str) -> Result<ResultSet, ExecError> {
    let list = campaigns(store)?;
    let Some(c) = list.iter().find(|c| c.def.name == name) else {
        return Err(EngineError::InvalidArgument(format!(
            "no campaign named `{name}`; SHOW CAMPAIGNS lists them"
        ))
        .into());
    };
    let mut rows = Vec::new();
    for r in &c.runs {
        let row = |group: &str, variant: Value, users: u64| {
            vec![
                json!(r.number),
                at(r.started_at),
                r.finished_at.map_or(Value::Null, at),
                json!(group),
                variant,
                json!(users),
            ]
        };
        rows.push(row("audience", Value::Null, r.audience));
        rows.push(row("holdout", Value::Null, r.holdout));
        rows.push(row("capped", Value::Null, r.capped));
        for (v, n) in c.def.variants.iter().zip(&r.variants) {
            rows.push(row("variant", json!(v.name), *n));
        }
    }
    Ok(ResultSet {
        columns: [
            "run",
            "started_at",
            "finished_at",
            "group",
            "variant",
            "users",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}
