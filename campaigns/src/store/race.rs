//! Deciding a run's copy race ([`crate::race`]): the standings read from
//! the table's effects (CTR) or the goal, the decision committed in the
//! run's record, after which the run's winner holds the rest.

use roaring::RoaringBitmap;
use segdb_engine::{Expr, Store};

use super::{find_mut, CampaignStore};
use crate::audience::freeze;
use crate::definition::{RaceMetric, Split};
use crate::deliver::DeliveryLog;
use crate::effects::{effect_value, Effect, EFFECTS_FIELD};
use crate::error::CampaignError;
use crate::goal::{goal_met, Goal};
use crate::race::{decide, RaceDecision};

impl CampaignStore {
    /// Decides the race of run `run` of campaign `name` if its window has
    /// passed by `now` and it is not decided yet: reads each variant's
    /// standing (its test users' effects, or its sent users' goal), picks
    /// the winner ([`crate::race::decide`]) and records the decision.
    /// Returns the run's decision and whether this call made it, or
    /// `None` while the window is open (or the run has no race).
    pub fn decide_race(
        &self,
        store: &Store,
        log: Option<&DeliveryLog>,
        name: &str,
        run: u32,
        now: i64,
    ) -> Result<Option<(RaceDecision, bool)>, CampaignError> {
        let c = self.get(name)?;
        let Split::CopyRace(race) = &c.def.split else {
            return Ok(None);
        };
        let Some(record) = c.runs.iter().find(|r| r.number == run) else {
            return Err(CampaignError::NotFound(format!("{name} run {run}")));
        };
        let Some(state) = &record.race else {
            return Ok(None);
        };
        if let Some(d) = &state.decision {
            return Ok(Some((d.clone(), false)));
        }
        if now < state.deadline {
            return Ok(None);
        }
        let frozen = self.load_run_of(&c, run)?;
        let table = store.table(&c.def.table)?;
        let effect_rows = |e: Effect| -> Result<RoaringBitmap, CampaignError> {
            if table.schema().field(EFFECTS_FIELD).is_none() {
                return Ok(RoaringBitmap::new());
            }
            freeze(
                &table,
                &Expr::Value {
                    field: EFFECTS_FIELD.to_owned(),
                    value: effect_value(c.id, run, e),
                },
            )
        };
        let standings: Vec<(String, u64, u64)> = match race.metric {
            RaceMetric::Ctr => {
                let delivered = effect_rows(Effect::Delivered)?;
                let clicked = effect_rows(Effect::Clicked)?;
                c.def
                    .variants
                    .iter()
                    .zip(&frozen.variants)
                    .map(|(v, rows)| {
                        let d = &delivered & rows;
                        (v.name.clone(), clicked.intersection_len(&d), d.len())
                    })
                    .collect()
            }
            RaceMetric::Goal => {
                let goal = c
                    .def
                    .goal
                    .as_deref()
                    .map(Goal::parse)
                    .transpose()
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        CampaignError::Engine(segdb_engine::EngineError::Internal(format!(
                            "campaign `{name}` races on its goal but has none that parses"
                        )))
                    })?;
                let sent = match log {
                    Some(log) => log.progress(self, &c, run)?.sent,
                    None => self.load_delivered(c.id, run)?.unwrap_or_default().sent,
                };
                let mut out = Vec::with_capacity(c.def.variants.len());
                for (v, rows) in c.def.variants.iter().zip(&frozen.variants) {
                    let s = &sent & rows;
                    let met = goal_met(&table, &goal, &[(record.day, s.clone())])?;
                    out.push((v.name.clone(), met.len(), s.len()));
                }
                out
            }
        };
        let decision = decide(race, standings, now);
        let mut guard = self.lock();
        let mut next = guard.clone();
        let c = find_mut(&mut next, name)?;
        let Some(state) = c
            .runs
            .iter_mut()
            .find(|r| r.number == run)
            .and_then(|r| r.race.as_mut())
        else {
            return Err(CampaignError::NotFound(format!("{name} run {run}")));
        };
        if let Some(d) = &state.decision {
            // Decided meanwhile (another caller): that decision stands.
            return Ok(Some((d.clone(), false)));
        }
        state.decision = Some(decision.clone());
        self.commit(&mut guard, next)?;
        tracing::info!(
            campaign = %name, run, winner = %decision.winner_name,
            significant = decision.significant, "copy race decided"
        );
        Ok(Some((decision, true)))
    }
}
