//! Shared setup of the delivery tests: a store of `n` users and a
//! campaign started on it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use segdb_campaigns::deliver::{deliver, Control, Counters, DeliveryLog, Report, Sink};
use segdb_campaigns::{Action, RunBitmaps};
use segdb_campaigns::{Actor, Campaign, CampaignDef, CampaignError, CampaignStore, Role};
use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

/// Now, in seconds since 1970-01-01 UTC.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `users` with `n` rows `u0..`: `city` c{i % 3}, `name` "Name{i}" (with a
/// comma and a quote for every 7th, to test quoting), `age` i % 50.
pub fn store(dir: &Path, n: u32) -> Store {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("name", FieldKind::Text),
            FieldDef::new("age", FieldKind::Int),
        ],
    };
    s.create_table("users", &schema).unwrap();
    let mut csv = String::from("user_id,city,name,age\n");
    for i in 0..n {
        csv.push_str(&format!("u{i},c{},{},{}\n", i % 3, name(i), i % 50));
    }
    s.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    s
}

/// The name of user `u{i}` as the store's CSV holds it (quoted as CSV).
fn name(i: u32) -> String {
    if i.is_multiple_of(7) {
        format!("\"Name{i}, \"\"the\"\" 7th\"")
    } else {
        format!("Name{i}")
    }
}

/// The name of user `u{i}` as a template renders it.
pub fn plain_name(i: u32) -> String {
    if i.is_multiple_of(7) {
        format!("Name{i}, \"the\" 7th")
    } else {
        format!("Name{i}")
    }
}

/// Creates, starts and begins run 1 of a campaign over `users` with
/// `channel` (JSON), two variants "a" ("Hi {name}") and "b" ("Yo {name}
/// from {city}"), a hold-out of 0.2 and `extra` keys.
pub fn campaign(
    store: &Store,
    campaigns: &CampaignStore,
    name: &str,
    channel: serde_json::Value,
    extra: serde_json::Value,
) -> Campaign {
    let mut def = serde_json::json!({
        "name": name, "table": "users",
        "audience": {"where": "age >= 10"},
        "channel": channel,
        "variants": [
            {"name": "a", "weight": 1, "template": "Hi {name}"},
            {"name": "b", "weight": 1, "template": "Yo {name} from {city}"}
        ],
        "holdout": 0.2,
        "schedule": "now"
    });
    for (k, v) in extra.as_object().unwrap() {
        def[k] = v.clone();
    }
    let def: CampaignDef = serde_json::from_value(def).unwrap();
    let ann = Actor::new("ann", Role::Write);
    let t = now();
    campaigns.create(store, def, &ann, t).unwrap();
    campaigns.act(name, Action::Start, &ann, t).unwrap();
    let sched = Actor::new("scheduler", Role::Admin);
    campaigns.start_runs(store, &[name], &sched, t).unwrap();
    campaigns.get(name).unwrap()
}

/// The text user row `row` (`u{row}`) gets in variant `v`.
pub fn text(v: usize, row: u32) -> String {
    match v {
        0 => format!("Hi {}", plain_name(row)),
        _ => format!("Yo {} from c{}", plain_name(row), row % 3),
    }
}

/// Runs [`deliver`] for run 1 of `name`.
pub fn run(
    store: &Store,
    campaigns: &CampaignStore,
    log: &DeliveryLog,
    name: &str,
    sink: &mut dyn Sink,
    control: &Control,
    counters: &Counters,
) -> Result<Report, CampaignError> {
    deliver(store, campaigns, log, name, 1, sink, control, counters)
}

/// Per user row, the variant the run assigned it.
pub fn assigned(frozen: &RunBitmaps) -> HashMap<u32, usize> {
    let mut out = HashMap::new();
    for (v, rows) in frozen.variants.iter().enumerate() {
        for r in rows {
            out.insert(r, v);
        }
    }
    out
}

/// A fresh log for `dir`.
pub fn log(dir: &Path) -> Arc<DeliveryLog> {
    Arc::new(DeliveryLog::open(dir).unwrap())
}
