//! One user's campaigns, for a profile: the runs that held the user in
//! their audience, the group each put them in (a variant, the hold-out,
//! a cap, a copy race's waiting rest), whether and on which day the
//! message was sent, and the effects reported for them.
//!
//! Bounded: only the most recent [`USER_VIEW_RUNS`] runs of the table's
//! campaigns are read (the answer says how many there are), and of each
//! only the files needed: the audience first, the other groups only for
//! a run whose audience holds the user; the effects are row lookups of
//! the table's effects field, never bitmaps.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use segdb_engine::date::Day;
use segdb_engine::{Expr, Table};

use super::{Campaign, CampaignStore};
use crate::checked;
use crate::deliver::DeliveryLog;
use crate::effects::{effect_value, Effect, EFFECTS_FIELD};
use crate::error::CampaignError;
use crate::lifecycle::State;

/// The most runs (of all the table's campaigns, newest first) a user's
/// view reads.
pub const USER_VIEW_RUNS: usize = 50;

/// Where a run put the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserGroup {
    /// Variant `index`, named `name` (of a decided copy race, the winner
    /// for a user of the rest).
    Variant {
        /// Its index in the definition.
        index: usize,
        /// Its name.
        name: String,
    },
    /// The hold-out: messaged nothing, measured.
    Holdout,
    /// Skipped at a frequency cap.
    Capped,
    /// A copy race's rest, waiting for its winner.
    Waiting,
}

/// One run that held the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRun {
    /// The campaign's name.
    pub campaign: String,
    /// Its id.
    pub campaign_id: u64,
    /// Its state now.
    pub state: State,
    /// The run's number.
    pub run: u32,
    /// The run's day.
    pub run_day: Day,
    /// Where the run put the user.
    pub group: UserGroup,
    /// The day the message left (`None`: not sent). As the report's goal
    /// counts it: the first day from the run's day on which the
    /// campaign's touches hold the user, else the run's day (a
    /// transactional campaign records no touches; touch files older than
    /// the longest cap window are removed).
    pub sent_day: Option<Day>,
    /// The effects reported for the user in this run, in [`Effect::ALL`]
    /// order.
    pub effects: Vec<Effect>,
}

/// A user's campaigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    /// The runs that held the user, newest first.
    pub runs: Vec<UserRun>,
    /// Runs read (at most [`USER_VIEW_RUNS`]).
    pub runs_read: usize,
    /// Runs the table's campaigns shown have in all.
    pub runs_total: usize,
}

impl CampaignStore {
    /// The campaigns of `table` that held row `row`, among
    /// the campaigns `shown` accepts (the caller's permissions): the most
    /// recent `max_runs` runs, newest first (by start, then number).
    /// `log` adds the batches delivered since the runs' checkpoints;
    /// `today` bounds the touch files read for send days.
    pub fn user_view(
        &self,
        log: Option<&DeliveryLog>,
        table: &Table,
        row: u32,
        today: Day,
        max_runs: usize,
        shown: impl Fn(&Campaign) -> bool,
    ) -> Result<UserView, CampaignError> {
        let table_name = table.name();
        let campaigns: Vec<Campaign> = self
            .list()
            .into_iter()
            .filter(|c| c.def.table == table_name && shown(c))
            .collect();
        let mut runs: Vec<(&Campaign, &super::RunRecord)> = campaigns
            .iter()
            .flat_map(|c| c.runs.iter().map(move |r| (c, r)))
            .collect();
        runs.sort_by(|a, b| {
            (b.1.started_at, b.1.number, b.0.id).cmp(&(a.1.started_at, a.1.number, a.0.id))
        });
        let runs_total = runs.len();
        runs.truncate(max_runs);
        let has_effects = table.schema().field(EFFECTS_FIELD).is_some();
        // The campaigns' touches per day (first level), read once when a
        // sent run needs them.
        let mut touches: Option<super::TableTouches> = None;
        let mut out = Vec::new();
        for &(c, r) in &runs {
            let dir = super::fire::generation_dir(&self.run_dir(c.id, r.number), r.generation);
            let has = |file: &str| -> Result<bool, CampaignError> {
                Ok(checked::read_bitmap(&dir.join(file))?.contains(row))
            };
            if !has("audience.roar")? {
                continue;
            }
            let mut group = None;
            if has("holdout.roar")? {
                group = Some(UserGroup::Holdout);
            } else if has("capped.roar")? {
                group = Some(UserGroup::Capped);
            } else {
                for i in 0..r.variants.len() {
                    if has(&format!("variant-{i}.roar"))? {
                        group = Some(variant(c, i));
                        break;
                    }
                }
            }
            if group.is_none() {
                if let Some(race) = &r.race {
                    if has("rest.roar")? {
                        group = Some(match &race.decision {
                            Some(d) => variant(c, d.winner),
                            None => UserGroup::Waiting,
                        });
                    }
                }
            }
            let Some(group) = group else {
                return Err(checked::corrupt(
                    &dir,
                    format!("row {row} is in the audience and in none of its groups"),
                ));
            };
            let sent = match log {
                Some(log) => log.progress(self, c, r.number)?.sent.contains(row),
                None => self
                    .load_delivered(c.id, r.number)?
                    .is_some_and(|d| d.sent.contains(row)),
            };
            let sent_day = if sent {
                let t = match &mut touches {
                    Some(t) => t,
                    None => touches.insert(self.touches(table_name, today)?),
                };
                let mut own: BTreeMap<Day, RoaringBitmap> = BTreeMap::new();
                if let Some(ts) = t.campaigns.get(&c.id) {
                    for d in ts.days() {
                        if let Some(first) = ts.day(d).first() {
                            own.insert(d, first.clone());
                        }
                    }
                }
                if let Some(log) = log {
                    for (d, rows) in log.pending_touches(c.id) {
                        *own.entry(d).or_default() |= rows;
                    }
                }
                Some(
                    own.range(r.day..)
                        .find(|(_, rows)| rows.contains(row))
                        .map_or(r.day, |(&d, _)| d),
                )
            } else {
                None
            };
            let mut effects = Vec::new();
            if has_effects {
                for e in Effect::ALL {
                    let expr = Expr::Value {
                        field: EFFECTS_FIELD.to_owned(),
                        value: effect_value(c.id, r.number, e),
                    };
                    if table.row_matches(row, &expr)? {
                        effects.push(e);
                    }
                }
            }
            out.push(UserRun {
                campaign: c.def.name.clone(),
                campaign_id: c.id,
                state: c.state,
                run: r.number,
                run_day: r.day,
                group,
                sent_day,
                effects,
            });
        }
        Ok(UserView {
            runs: out,
            runs_read: runs.len(),
            runs_total,
        })
    }
}

fn variant(c: &Campaign, index: usize) -> UserGroup {
    UserGroup::Variant {
        index,
        name: c
            .def
            .variants
            .get(index)
            .map_or_else(|| format!("#{index}"), |v| v.name.clone()),
    }
}

#[cfg(test)]
mod tests;
