//! The report's figures, read from the run's frozen bitmaps, its delivery,
//! the table's `#effects` field and tallies, and for the goal the table's
//! EVENT counts. Everything is a bitmap operation or a tally lookup: no row
//! is listed.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use segdb_engine::date::{format_iso_day, Day};
use segdb_engine::{Expr, Store, Table};
use serde::Serialize;

use super::stats::{uplift, Rate, Uplift};
use crate::audience::freeze;
use crate::deliver::DeliveryLog;
use crate::effects::{effect_value, tally_key, unattributed_key, Effect, EFFECTS_FIELD};
use crate::error::CampaignError;
use crate::goal::{goal_met, send_days, Goal};
use crate::store::{Campaign, CampaignStore, RunRecord};

/// A campaign's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The campaign's name.
    pub campaign: String,
    /// Its goal's text, if it has one.
    pub goal: Option<String>,
    /// Per run, oldest first.
    pub runs: Vec<RunReport>,
    /// Effects reported for users the campaign never sent to (or ids the
    /// table does not have): events by effect.
    pub unattributed: BTreeMap<&'static str, u64>,
    /// The same, per day.
    pub unattributed_days: Vec<DayFigures>,
}

/// One run's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run's number.
    pub run: u32,
    /// Its day (`YYYY-MM-DD`).
    pub day: String,
    /// Its audience, frozen at its start.
    pub audience: u64,
    /// Users at a frequency cap (in no variant and not held out).
    pub capped: u64,
    /// Each variant, in definition order, then the hold-out.
    pub groups: Vec<GroupReport>,
    /// A copy race's rest, deadline and decision (per-variant rates,
    /// winner, z, p), for a run split `copy_race`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race: Option<crate::race::RaceRecord>,
}

/// A variant's or the hold-out's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// The variant's name, or `holdout`.
    pub group: String,
    /// Whether this is the hold-out.
    pub holdout: bool,
    /// Users assigned to it.
    pub audience: u64,
    /// Users a message was delivered to (0 for the hold-out).
    pub sent: u64,
    /// Users whose batch the receiver refused.
    pub failed: u64,
    /// Per effect, the users who had it (each once).
    pub users: BTreeMap<&'static str, u64>,
    /// Per effect, every event reported (repeats included).
    pub events: BTreeMap<&'static str, u64>,
    /// delivered / sent (users).
    pub delivery_rate: Option<f64>,
    /// clicked / delivered (users).
    pub ctr: Option<f64>,
    /// converted / delivered (users).
    pub conversion_rate: Option<f64>,
    /// The goal, if the campaign has one.
    pub goal: Option<GoalFigures>,
    /// Events per day and effect.
    pub days: Vec<DayFigures>,
}

/// The goal's figures of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalFigures {
    /// Users who met it, of the users measured (a variant's sent users;
    /// the whole hold-out).
    pub rate: Rate,
    /// `rate.hits / rate.n`.
    pub value: Option<f64>,
    /// Against the hold-out (variants only; `None` without a hold-out).
    pub uplift: Option<Uplift>,
}

/// One day's events per effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigures {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// Events per effect (effects with none left out).
    pub events: BTreeMap<&'static str, u64>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Per day, events per effect, from tallies `key(effect)`.
fn days_of(
    table: &Table,
    key: impl Fn(Effect) -> String,
) -> (BTreeMap<&'static str, u64>, Vec<DayFigures>) {
    let mut totals = BTreeMap::new();
    let mut by_day: BTreeMap<Day, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for e in Effect::ALL {
        let k = key(e);
        let mut total = 0;
        if let Some(days) = table.tallies().with_prefix(&k).get(&k) {
            for (d, c) in days {
                *by_day.entry(*d).or_default().entry(e.as_str()).or_default() += c;
                total += c;
            }
        }
        totals.insert(e.as_str(), total);
    }
    let days = by_day
        .into_iter()
        .map(|(d, events)| DayFigures {
            day: format_iso_day(d),
            events,
        })
        .collect();
    (totals, days)
}

/// The report of campaign `name`: its runs' groups from the campaign's
/// files and `log` (every batch recorded; without, as of the last
/// checkpoint), its effects from its table, `today` bounding the touches
/// read for send days.
pub fn report(
    store: &Store,
    campaigns: &CampaignStore,
    log: Option<&DeliveryLog>,
    name: &str,
    today: Day,
) -> Result<Report, CampaignError> {
    let c = campaigns.get(name)?;
    let table = store.table(&c.def.table)?;
    let goal = c
        .def
        .goal
        .as_deref()
        .map(Goal::parse)
        .transpose()
        .map_err(|e| {
            CampaignError::Engine(segdb_engine::EngineError::Internal(format!(
                "the goal of campaign `{name}` no longer parses: {}",
                e.message
            )))
        })?;
    let mut touches: BTreeMap<Day, RoaringBitmap> = BTreeMap::new();
    if goal.is_some() && !c.runs.is_empty() {
        let t = campaigns.touches(&c.def.table, today)?;
        if let Some(own) = t.campaigns.get(&c.id) {
            for d in own.days() {
                if let Some(first) = own.day(d).first() {
                    *touches.entry(d).or_default() |= first;
                }
            }
        }
        if let Some(log) = log {
            for (d, rows) in log.pending_touches(c.id) {
                *touches.entry(d).or_default() |= rows;
            }
        }
    }
    let mut runs = Vec::with_capacity(c.runs.len());
    for r in &c.runs {
        runs.push(run_report(
            &table,
            campaigns,
            log,
            &c,
            r,
            goal.as_ref(),
            &touches,
        )?);
    }
    let (unattributed, unattributed_days) = days_of(&table, |e| unattributed_key(c.id, e));
    Ok(Report {
        campaign: c.def.name.clone(),
        goal: goal.map(|g| g.to_string()),
        runs,
        unattributed,
        unattributed_days,
    })
}

fn run_report(
    table: &Table,
    campaigns: &CampaignStore,
    log: Option<&DeliveryLog>,
    c: &Campaign,
    r: &RunRecord,
    goal: Option<&Goal>,
    touches: &BTreeMap<Day, RoaringBitmap>,
) -> Result<RunReport, CampaignError> {
    let frozen = campaigns.load_run_of(c, r.number)?;
    let delivery = match log {
        Some(log) => log.progress(campaigns, c, r.number)?,
        None => campaigns
            .load_delivered(c.id, r.number)?
            .unwrap_or_default(),
    };
    let has_field = table.schema().field(EFFECTS_FIELD).is_some();
    let mut who = BTreeMap::new();
    for e in Effect::ALL {
        let rows = if has_field {
            freeze(
                table,
                &Expr::Value {
                    field: EFFECTS_FIELD.to_owned(),
                    value: effect_value(c.id, r.number, e),
                },
            )?
        } else {
            RoaringBitmap::new()
        };
        who.insert(e, rows);
    }
    let holdout_goal = match goal {
        Some(g) => Some(Rate {
            hits: goal_met(table, g, &[(r.day, frozen.holdout.clone())])?.len(),
            n: frozen.holdout.len(),
        }),
        None => None,
    };
    let mut groups = Vec::with_capacity(frozen.variants.len() + 1);
    for (i, (v, rows)) in c.def.variants.iter().zip(&frozen.variants).enumerate() {
        let sent = &delivery.sent & rows;
        let users: BTreeMap<&'static str, u64> = who
            .iter()
            .map(|(e, w)| (e.as_str(), w.intersection_len(rows)))
            .collect();
        let (events, days) = days_of(table, |e| tally_key(c.id, r.number, i, e));
        let goal = match goal {
            Some(g) => {
                let met = goal_met(table, g, &send_days(r.day, &sent, touches))?;
                let rate = Rate {
                    hits: met.len(),
                    n: sent.len(),
                };
                Some(GoalFigures {
                    value: rate.value(),
                    uplift: holdout_goal.and_then(|h| uplift(rate, h)),
                    rate,
                })
            }
            None => None,
        };
        let delivered = users["delivered"];
        groups.push(GroupReport {
            group: v.name.clone(),
            holdout: false,
            audience: rows.len(),
            sent: sent.len(),
            failed: delivery.failed.intersection_len(rows),
            delivery_rate: ratio(delivered, sent.len()),
            ctr: ratio(users["clicked"], delivered),
            conversion_rate: ratio(users["converted"], delivered),
            users,
            events,
            goal,
            days,
        });
    }
    let zero: BTreeMap<&'static str, u64> = Effect::ALL.iter().map(|e| (e.as_str(), 0)).collect();
    groups.push(GroupReport {
        group: "holdout".into(),
        holdout: true,
        audience: frozen.holdout.len(),
        sent: 0,
        failed: 0,
        users: zero.clone(),
        events: zero,
        delivery_rate: None,
        ctr: None,
        conversion_rate: None,
        goal: holdout_goal.map(|rate| GoalFigures {
            value: rate.value(),
            uplift: None,
            rate,
        }),
        days: Vec::new(),
    });
    Ok(RunReport {
        run: r.number,
        day: format_iso_day(r.day),
        audience: frozen.audience.len(),
        capped: frozen.capped.len(),
        groups,
        race: r.race.clone(),
    })
}
