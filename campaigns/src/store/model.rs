//! Daily campaigns over several days, through the store (real audiences,
//! runs written and read back, touches recorded and reopened), against a
//! per-user model of audiences, hold-outs, both caps and priorities.

use std::collections::HashMap;

use proptest::prelude::*;
use roaring::RoaringBitmap;

use super::*;
use crate::definition::{Cap, Kind, Role};
use crate::lifecycle::Action;
use crate::plan::assign;
use crate::testutil::{self, TODAY};

const USERS: u32 = 60;
const DAYS: i32 = 4;

#[derive(Debug, Clone)]
struct Gen {
    /// `city = 'c{0}'` if `Some`, else `age >= {1}`.
    city: Option<u32>,
    min_age: u32,
    priority: i32,
    transactional: bool,
    holdout: f64,
    weights: Vec<u32>,
    cap: Option<(u32, u32)>,
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        prop::option::of(0u32..3),
        0u32..40,
        -1i32..3,
        prop::bool::weighted(0.2),
        prop_oneof![Just(0.0), Just(0.25)],
        prop::collection::vec(1u32..4, 1..3),
        prop::option::of((1u32..3, 1u32..4)),
    )
        .prop_map(
            |(city, min_age, priority, transactional, holdout, weights, cap)| Gen {
                city,
                min_age,
                priority,
                transactional,
                holdout,
                weights,
                cap: if transactional { None } else { cap },
            },
        )
}

/// The user `i` is in `g`'s audience (the test store: city c{i % 3}, age
/// i % 50).
fn in_audience(g: &Gen, i: u32) -> bool {
    match g.city {
        Some(c) => i % 3 == c,
        None => i % 50 >= g.min_age,
    }
}

fn definition(k: usize, g: &Gen) -> CampaignDef {
    let audience = match g.city {
        Some(c) => format!("city = 'c{c}'"),
        None => format!("age >= {}", g.min_age),
    };
    let variants: Vec<serde_json::Value> = g
        .weights
        .iter()
        .enumerate()
        .map(|(v, w)| serde_json::json!({"name": format!("v{v}"), "weight": w, "template": "hi {name}"}))
        .collect();
    let mut json = serde_json::json!({
        "name": format!("c{k}"), "table": "users",
        "audience": {"where": audience},
        "channel": {"file": {"dir": "/tmp/o", "format": "jsonl"}},
        "variants": variants, "holdout": g.holdout, "priority": g.priority,
        "kind": if g.transactional { "transactional" } else { "marketing" },
        "schedule": {"daily": "10:00"},
    });
    if let Some((max, days)) = g.cap {
        json["cap"] = serde_json::json!({"max": max, "days": days});
    }
    serde_json::from_value(json).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn daily_runs_over_days_equal_a_per_user_model(
        campaigns in prop::collection::vec(gen(), 1..4),
        table_cap in prop::option::of((1u32..3, 1u32..4)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let s = testutil::store(dir.path(), USERS);
        let t = s.table("users").unwrap();
        let row_of: Vec<u32> = (0..USERS).map(|i| t.row_of(&format!("u{i}")).unwrap().unwrap()).collect();
        let ann = Actor::new("ann", Role::Write);
        let boss = Actor::new("boss", Role::Admin);
        let sched = Actor::new("scheduler", Role::Admin);
        let first = (i64::from(TODAY) - 1) * 86_400;
        {
            let c = CampaignStore::open(dir.path()).unwrap();
            if let Some((max, days)) = table_cap {
                c.set_table_cap(&s, "users", Some(Cap { max, days }), &boss).unwrap();
            }
            for (k, g) in campaigns.iter().enumerate() {
                c.create(&s, definition(k, g), &ann, first).unwrap();
                c.act(&format!("c{k}"), Action::Start, &ann, first).unwrap();
            }
        }
        // The model: touches per (day, user), per campaign too.
        let mut table_touch: HashMap<(i32, u32), u32> = HashMap::new();
        let mut own_touch: HashMap<(usize, i32, u32), u32> = HashMap::new();
        let count = |m: &dyn Fn(i32) -> u32, day: i32, days: u32| -> u32 {
            (day - days as i32 + 1..=day).map(m).sum()
        };
        for d in 0..DAYS {
            let now = first + i64::from(d) * 86_400 + 10 * 3600;
            let day = TODAY - 1 + d;
            // A reopen every day.
            let c = CampaignStore::open(dir.path()).unwrap();
            let due = c.due(now);
            prop_assert_eq!(due.len(), campaigns.len());
            let names: Vec<&str> = due.iter().map(String::as_str).collect();
            c.start_runs(&s, &names, &sched, now).unwrap();
            let mut order: Vec<usize> = (0..campaigns.len()).collect();
            order.sort_by_key(|&k| (-campaigns[k].priority, k));
            let mut batch: HashMap<u32, u32> = HashMap::new();
            let mut sends = Vec::new();
            for k in order {
                let g = &campaigns[k];
                let name = format!("c{k}");
                let id = k as u64 + 1;
                let run = c.load_run(&name, d as u32 + 1).unwrap();
                let mut want_holdout = RoaringBitmap::new();
                let mut want_capped = RoaringBitmap::new();
                let mut want_variants = vec![RoaringBitmap::new(); g.weights.len()];
                for i in (0..USERS).filter(|&i| in_audience(g, i)) {
                    let r = row_of[i as usize];
                    let Some(v) = assign(id, r, g.holdout, &g.weights) else {
                        want_holdout.insert(r);
                        continue;
                    };
                    if !g.transactional {
                        let table_full = table_cap.is_some_and(|(max, days)| {
                            count(&|x| table_touch.get(&(x, r)).copied().unwrap_or(0), day, days)
                                + batch.get(&r).copied().unwrap_or(0) >= max
                        });
                        let own_full = g.cap.is_some_and(|(max, days)| {
                            count(&|x| own_touch.get(&(k, x, r)).copied().unwrap_or(0), day, days) >= max
                        });
                        if table_full || own_full {
                            want_capped.insert(r);
                            continue;
                        }
                        *batch.entry(r).or_insert(0) += 1;
                    }
                    want_variants[v].insert(r);
                }
                prop_assert_eq!(&run.holdout, &want_holdout, "{} day {}", name, d);
                prop_assert_eq!(&run.capped, &want_capped, "{} day {}", name, d);
                prop_assert_eq!(&run.variants, &want_variants, "{} day {}", name, d);
                // Deliver: the sends become touches (none for transactional).
                let sent = run.variants.iter().fold(RoaringBitmap::new(), |a, v| a | v);
                let kind = if g.transactional { Kind::Transactional } else { Kind::Marketing };
                c.record_touches("users", id, kind, day, &sent).unwrap();
                if !g.transactional {
                    sends.push((k, sent));
                }
                c.finish_run(&name, false, &sched, now + 60).unwrap();
            }
            // The day's sends count from the next day's runs on (this
            // day's batch counted them as it went).
            for (k, sent) in sends {
                for r in &sent {
                    *table_touch.entry((day, r)).or_insert(0) += 1;
                    *own_touch.entry((k, day, r)).or_insert(0) += 1;
                }
            }
        }
    }
}
