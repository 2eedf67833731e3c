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
        e @ CampaignError::Corrupt { .. } => ExecError::DataCorruption(e.to_string()),
        other => EngineError::Internal(other.to_string()).into(),
    }
}

fn catalog(store: &Store) -> Result<Option<CampaignStore>, ExecError> {
    CampaignStore::open_read_only(store.dir()).map_err(engine_error)
}

/// Every campaign of the store, read from its catalog on disk.
pub fn list(store: &Store) -> Result<Vec<Campaign>, ExecError> {
    campaigns(store)
}

fn campaigns(store: &Store) -> Result<Vec<Campaign>, ExecError> {
    Ok(catalog(store)?.map(|c| c.list()).unwrap_or_default())
}

fn at(secs: i64) -> Value {
    json!(crate::audit::time::format_ms(secs.saturating_mul(1000)))
}

/// What keeps campaign `name` from being deleted, in words: the dynamic
/// segments ([`segments_using`]) and the other campaigns whose audience
/// WHERE names one of its groups (a campaign whose audience is a segment
/// is kept by the segment).
pub fn users_of_campaign(
    store: &Store,
    campaigns: &[segdb_campaigns::Campaign],
    name: &str,
) -> Vec<String> {
    let mut out: Vec<String> = segments_using(store, name)
        .into_iter()
        .map(|s| format!("segment `{s}`"))
        .collect();
    for c in campaigns {
        if c.def.name == name {
            continue;
        }
        if let segdb_campaigns::Audience::Where(text) = &c.def.audience {
            if segdb_query_lang::parse_expr(text)
                .is_ok_and(|e| e.campaigns().iter().any(|n| n == name))
            {
                out.push(format!("campaign `{}`", c.def.name));
            }
        }
    }
    out
}

/// Drops segment `name` unless a campaign's audience names it (its
/// segment, or `IN SEGMENT name` in its WHERE): its next run would no
/// longer bind. Then the store's own rules (segments using it).
pub fn drop_segment(store: &Store, name: &str) -> Result<(), ExecError> {
    let users: Vec<String> = campaigns(store)?
        .iter()
        .filter(|c| match &c.def.audience {
            segdb_campaigns::Audience::Segment(s) => s == name,
            segdb_campaigns::Audience::Where(text) => segdb_query_lang::parse_expr(text)
                .is_ok_and(|e| e.segments().iter().any(|s| s == name)),
        })
        .map(|c| format!("`{}`", c.def.name))
        .collect();
    if !users.is_empty() {
        let (s, them) = if users.len() == 1 {
            ("", "it")
        } else {
            ("s", "them")
        };
        return Err(ExecError::InUse(format!(
            "segment `{name}` is the audience of campaign{s} {}: delete {them} first",
            users.join(", ")
        )));
    }
    Ok(store.drop_segment(name)?)
}

/// The dynamic segments whose text names campaign `name` (`sent(name)`),
/// in the store's order: a campaign they use is not deleted (they would
/// no longer bind). Snapshots hold their rows and use nothing.
pub fn segments_using(store: &Store, name: &str) -> Vec<String> {
    store
        .segments()
        .into_iter()
        .filter(|s| s.kind == segdb_engine::SegmentKind::Dynamic)
        .filter(|s| {
            s.text
                .as_deref()
                .and_then(|t| segdb_query_lang::parse_expr(t).ok())
                .is_some_and(|e| e.campaigns().iter().any(|c| c == name))
        })
        .map(|s| s.name)
        .collect()
}

/// `SHOW CAMPAIGNS`: name, table, state, kind, priority, creator, the next
/// run's time (null if none is due) and the number of runs, in creation
/// order.
pub fn show_campaigns(store: &Store) -> Result<ResultSet, ExecError> {
    Ok(campaign_rows(&campaigns(store)?))
}

/// SHOW CAMPAIGNS' answer for `list`: one row per campaign (what `CREATE
/// CAMPAIGN` answers with, for the new one).
pub fn campaign_rows(list: &[Campaign]) -> ResultSet {
    let rows = list
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
    ResultSet {
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
    }
}

/// `CALL campaign_status('name')`: per run, one row for its audience,
/// hold-out and capped users and one per variant (`group` `variant`,
/// `variant` its name), with the run's start and end, and the users sent
/// and failed (the audience row: the run's; a variant's: its own; null
/// for hold-out and capped) as of the run's last checkpoint (its end, a
/// cancel, or every 16 MiB of delivery records): a run still delivering
/// shows its progress in `GET /v1/campaigns/{name}`.
pub fn campaign_status(store: &Store, name: &str) -> Result<ResultSet, ExecError> {
    let cat = catalog(store)?;
    let list = cat.as_ref().map(|c| c.list()).unwrap_or_default();
    let Some(c) = list.iter().find(|c| c.def.name == name) else {
        return Err(EngineError::InvalidArgument(format!(
            "no campaign named `{name}`; SHOW CAMPAIGNS lists them"
        ))
        .into());
    };
    let mut rows = Vec::new();
    for r in &c.runs {
        let row = |group: &str, variant: Value, users: u64, sent: Value, failed: Value| {
            vec![
                json!(r.number),
                at(r.started_at),
                r.finished_at.map_or(Value::Null, at),
                json!(group),
                variant,
                json!(users),
                sent,
                failed,
            ]
        };
        let (delivered, bitmaps) = match &cat {
            Some(cat) => (
                cat.load_delivered(c.id, r.number)
                    .map_err(engine_error)?
                    .unwrap_or_default(),
                Some(cat.load_run(name, r.number).map_err(engine_error)?),
            ),
            None => (Default::default(), None),
        };
        rows.push(row(
            "audience",
            Value::Null,
            r.audience,
            json!(delivered.sent.len()),
            json!(delivered.failed.len()),
        ));
        rows.push(row(
            "holdout",
            Value::Null,
            r.holdout,
            Value::Null,
            Value::Null,
        ));
        rows.push(row(
            "capped",
            Value::Null,
            r.capped,
            Value::Null,
            Value::Null,
        ));
        for (i, v) in c.def.variants.iter().enumerate() {
            let n = &r.assigned(i);
            let of = |set: &segdb_campaigns::deliver::RunDelivery, failed: bool| {
                let b = bitmaps.as_ref().and_then(|b| b.variants.get(i));
                let other = if failed { &set.failed } else { &set.sent };
                json!(b.map_or(0, |b| b.intersection_len(other)))
            };
            rows.push(row(
                "variant",
                json!(v.name),
                *n,
                of(&delivered, false),
                of(&delivered, true),
            ));
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
            "sent",
            "failed",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// `CALL campaign_report('name')`: one row per run and group (each
/// variant, then the hold-out) with the figures of
/// `GET /v1/campaigns/{name}/report` but the per-day series; sends as of
/// each run's last checkpoint.
pub fn campaign_report(store: &Store, name: &str) -> Result<ResultSet, ExecError> {
    let Some(cat) = catalog(store)? else {
        return Err(no_campaign(name));
    };
    if let Err(CampaignError::NotFound(_)) = cat.get(name) {
        return Err(no_campaign(name));
    }
    let today = segdb_engine::date::today();
    let r =
        segdb_campaigns::report::report(store, &cat, None, name, today).map_err(engine_error)?;
    let mut rows = Vec::new();
    for run in &r.runs {
        for g in &run.groups {
            let goal = g.goal.as_ref();
            let up = goal.and_then(|x| x.uplift);
            let mut row = vec![
                json!(run.run),
                json!(g.group),
                json!(g.audience),
                json!(g.sent),
                json!(g.failed),
            ];
            row.extend(g.users.values().map(|n| json!(n)));
            row.extend([
                json!(g.delivery_rate),
                json!(g.ctr),
                json!(g.conversion_rate),
                json!(goal.map(|x| x.rate.hits)),
                json!(goal.and_then(|x| x.value)),
                json!(up.map(|u| u.diff)),
                json!(up.map(|u| u.ci_low)),
                json!(up.map(|u| u.ci_high)),
                json!(up.and_then(|u| u.z)),
                json!(up.and_then(|u| u.p_value)),
            ]);
            rows.push(row);
        }
    }
    let mut columns: Vec<String> = ["run", "group", "audience", "sent", "failed"]
        .map(String::from)
        .to_vec();
    // The effects in the order the report's maps hold them (by name).
    let mut effects: Vec<&str> = segdb_campaigns::effects::Effect::ALL
        .iter()
        .map(|e| e.as_str())
        .collect();
    effects.sort_unstable();
    columns.extend(effects.iter().map(|e| e.to_string()));
    columns.extend(
        [
            "delivery_rate",
            "ctr",
            "conversion_rate",
            "goal_met",
            "goal_rate",
            "uplift",
            "uplift_ci_low",
            "uplift_ci_high",
            "z",
            "p_value",
        ]
        .map(String::from),
    );
    Ok(ResultSet { columns, rows })
}

fn no_campaign(name: &str) -> ExecError {
    EngineError::InvalidArgument(format!(
        "no campaign named `{name}`; SHOW CAMPAIGNS lists them"
    ))
    .into()
}
