//! Starting runs (freeze, plan, write the bitmaps, then name the run in
//! the catalog), reading a run's bitmaps back, and ending runs.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use segdb_engine::Store;
use segdb_storage_format::fsutil;

use super::{apply, day_of, find_mut, Campaign, CampaignStore, RunRecord};
use crate::audience::{bind_audience, freeze};
use crate::checked;
use crate::definition::{Actor, Schedule, Split};
use crate::deliver::DeliveryLog;
use crate::error::CampaignError;
use crate::lifecycle::{self, Action};
use crate::plan::{plan_runs, PlanCampaign, RunPlan};
use crate::race::{race_weights, RaceRecord};

/// A run that [`CampaignStore::start_runs`] started.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedRun {
    /// The campaign's name.
    pub name: String,
    /// The campaign's id.
    pub id: u64,
    /// What the run froze.
    pub run: RunRecord,
}

/// A run's frozen bitmaps, read back and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RunBitmaps {
    /// The audience at the run's start.
    pub audience: RoaringBitmap,
    /// Held out.
    pub holdout: RoaringBitmap,
    /// At a cap.
    pub capped: RoaringBitmap,
    /// Per variant (of a decided copy race, the winner's holds the rest).
    pub variants: Vec<RoaringBitmap>,
    /// A copy race's rest: the users who get the winner (empty for a run
    /// split by weights).
    pub rest: RoaringBitmap,
}

impl CampaignStore {
    /// Starts a run of every campaign named (each must be scheduled), all
    /// at `now`: per table, the audiences are frozen, the hold-out removed,
    /// caps applied in priority order and users assigned to variants
    /// ([`plan_runs`]); each run's bitmaps are written and fsynced, and
    /// only then one catalog write names the runs and moves the campaigns
    /// to running, recording `actor` (the scheduler). Any error changes
    /// nothing (a run directory written before it is removed at the next
    /// open).
    pub fn start_runs(
        &self,
        store: &Store,
        names: &[&str],
        actor: &Actor,
        now: i64,
    ) -> Result<Vec<StartedRun>, CampaignError> {
        self.start_runs_with(store, names, actor, now, None)
    }

    /// [`CampaignStore::start_runs`], with the caps also counting the
    /// touches that `log` holds and no checkpoint has folded into the touch
    /// files yet (runs still delivering): what the server calls.
    pub fn start_runs_with(
        &self,
        store: &Store,
        names: &[&str],
        actor: &Actor,
        now: i64,
        log: Option<&DeliveryLog>,
    ) -> Result<Vec<StartedRun>, CampaignError> {
        let day = day_of(now);
        let mut guard = self.lock();
        let mut next = guard.clone();
        // Check every state first: nothing is frozen for a batch with an
        // illegal member.
        let mut by_table: BTreeMap<String, Vec<Campaign>> = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                continue;
            }
            let c = find_mut(&mut next, name)?;
            lifecycle::transition(c.state, Action::RunStarted, actor, "", false)?;
            by_table
                .entry(c.def.table.clone())
                .or_default()
                .push(c.clone());
        }
        let mut started = Vec::new();
        for (table_name, campaigns) in by_table {
            let table = match store.table(&table_name) {
                Err(segdb_engine::EngineError::UnknownTable(_)) => {
                    // Dropped since the campaign was made: its definition
                    // no longer holds.
                    return Err(crate::DefError::new(
                        "table",
                        format!(
                            "unknown table `{table_name}` (dropped since the campaign was made)"
                        ),
                    )
                    .into());
                }
                other => other?,
            };
            let touches = self.touches_with_log(&next, &table_name, day, log)?;
            let mut audiences = Vec::with_capacity(campaigns.len());
            // The campaigns as they stand before these runs: an audience
            // that names a campaign starting now reads its last run.
            let groups = crate::audience::Groups {
                store: self,
                campaigns: &guard.campaigns,
                log,
            };
            for c in &campaigns {
                let expr = bind_audience(store, &table_name, &c.def.audience, day, Some(&groups))?;
                audiences.push(freeze(&table, &expr)?);
            }
            let input = campaigns
                .iter()
                .zip(audiences)
                .map(|(c, audience)| PlanCampaign {
                    id: c.id,
                    priority: c.def.priority,
                    kind: c.def.kind,
                    holdout: c.def.holdout,
                    // A race: each variant an even part of the test share,
                    // and a last group, the rest, which waits.
                    weights: match &c.def.split {
                        Split::CopyRace(r) => race_weights(c.def.variants.len(), r.test_share),
                        Split::Weights => c.def.variants.iter().map(|v| v.weight).collect(),
                    },
                    cap: c.def.cap,
                    own_touches: touches.campaign(c.id),
                    audience,
                })
                .collect();
            let cap = next.table_caps.get(&table_name).copied();
            for mut plan in plan_runs(input, cap, &touches.table, day) {
                let c = campaigns
                    .iter()
                    .find(|c| c.id == plan.campaign)
                    .expect("a plan per campaign");
                let number = c.runs.len() as u32 + 1;
                let race = match &c.def.split {
                    Split::CopyRace(r) => {
                        let rest = plan.variants.pop().unwrap_or_default();
                        Some((rest, now + i64::from(r.window_minutes) * 60))
                    }
                    Split::Weights => None,
                };
                self.write_run(c.id, number, &plan, race.as_ref().map(|r| &r.0))?;
                let run = RunRecord {
                    number,
                    day,
                    started_at: now,
                    finished_at: None,
                    audience: plan.audience.len(),
                    holdout: plan.holdout.len(),
                    capped: plan.capped.len(),
                    variants: plan.variants.iter().map(RoaringBitmap::len).collect(),
                    race: race.map(|(rest, deadline)| RaceRecord {
                        rest: rest.len(),
                        deadline,
                        decision: None,
                    }),
                    generation: 0,
                };
                started.push(StartedRun {
                    name: c.def.name.clone(),
                    id: c.id,
                    run,
                });
            }
        }
        for s in &started {
            let c = find_mut(&mut next, &s.name)?;
            apply(c, Action::RunStarted, actor, now)?;
            c.runs.push(s.run.clone());
        }
        self.commit(&mut guard, next)?;
        for s in &started {
            tracing::info!(
                campaign = %s.name, run = s.run.number, audience = s.run.audience,
                holdout = s.run.holdout, capped = s.run.capped, "campaign run started"
            );
        }
        Ok(started)
    }

    /// The touches of `table` for caps on `day`: the touch files, and
    /// those `log` holds that no checkpoint folded yet.
    pub(super) fn touches_with_log(
        &self,
        catalog: &super::CatalogFile,
        table: &str,
        day: segdb_engine::date::Day,
        log: Option<&DeliveryLog>,
    ) -> Result<super::TableTouches, CampaignError> {
        let mut touches = self.touches(table, day)?;
        if let Some(log) = log {
            let on_table = catalog.campaigns.iter().filter(|c| c.def.table == table);
            for c in on_table {
                for (d, rows) in log.pending_touches(c.id) {
                    touches.table.add(d, &rows);
                    touches.campaigns.entry(c.id).or_default().add(d, &rows);
                }
            }
        }
        Ok(touches)
    }

    /// Writes a run's bitmaps into a fresh directory, each fsynced, and
    /// the directory's entry too.
    fn write_run(
        &self,
        id: u64,
        number: u32,
        plan: &RunPlan,
        rest: Option<&RoaringBitmap>,
    ) -> Result<(), CampaignError> {
        let dir = self.run_dir(id, number);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| segdb_storage_format::FormatError::io("remove", &dir, e))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| segdb_storage_format::FormatError::io("create", &dir, e))?;
        fsutil::fsync_dir(&dir)?;
        self.write_groups(&dir, plan, rest)
    }

    /// Writes a run's groups into `dir` (which exists), each fsynced.
    pub(super) fn write_groups(
        &self,
        dir: &std::path::Path,
        plan: &RunPlan,
        rest: Option<&RoaringBitmap>,
    ) -> Result<(), CampaignError> {
        let fs = &*self.fs;
        checked::write_bitmap(fs, &dir.join("audience.roar"), &plan.audience)?;
        checked::write_bitmap(fs, &dir.join("holdout.roar"), &plan.holdout)?;
        checked::write_bitmap(fs, &dir.join("capped.roar"), &plan.capped)?;
        for (i, v) in plan.variants.iter().enumerate() {
            checked::write_bitmap(fs, &dir.join(format!("variant-{i}.roar")), v)?;
        }
        if let Some(rest) = rest {
            checked::write_bitmap(fs, &dir.join("rest.roar"), rest)?;
        }
        Ok(())
    }

    /// The frozen bitmaps of run `number` of campaign `name`. Each file is
    /// checked (checksum, kind) and its size against the run's record, and
    /// the groups against the audience: a damaged or swapped file is
    /// [`CampaignError::Corrupt`] naming it, never a smaller audience.
    pub fn load_run(&self, name: &str, number: u32) -> Result<RunBitmaps, CampaignError> {
        let c = self.get(name)?;
        self.load_run_of(&c, number)
    }

    /// [`CampaignStore::load_run`] of a campaign the caller holds (no
    /// lock taken).
    pub(crate) fn load_run_of(
        &self,
        c: &Campaign,
        number: u32,
    ) -> Result<RunBitmaps, CampaignError> {
        let name = &c.def.name;
        let Some(record) = c.runs.iter().find(|r| r.number == number) else {
            return Err(CampaignError::NotFound(format!("{name} run {number}")));
        };
        let dir = super::fire::generation_dir(&self.run_dir(c.id, number), record.generation);
        let read = |file: String, want: u64| {
            let path = dir.join(&file);
            let b = checked::read_bitmap(&path)?;
            if b.len() != want {
                return Err(checked::corrupt(
                    &path,
                    format!("holds {} rows, the run recorded {want}", b.len()),
                ));
            }
            Ok((path, b))
        };
        let (_, audience) = read("audience.roar".into(), record.audience)?;
        let inside = |file: String, want: u64| {
            let (path, b) = read(file, want)?;
            if !b.is_subset(&audience) {
                return Err(checked::corrupt(
                    &path,
                    "holds rows outside the run's audience",
                ));
            }
            Ok(b)
        };
        let holdout = inside("holdout.roar".into(), record.holdout)?;
        let capped = inside("capped.roar".into(), record.capped)?;
        let mut variants = record
            .variants
            .iter()
            .enumerate()
            .map(|(i, &n)| inside(format!("variant-{i}.roar"), n))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rest = RoaringBitmap::new();
        if let Some(race) = &record.race {
            rest = inside("rest.roar".into(), race.rest)?;
            if let Some(d) = &race.decision {
                variants = crate::race::with_winner(variants, &rest, d.winner);
            }
        }
        Ok(RunBitmaps {
            audience,
            holdout,
            capped,
            variants,
            rest,
        })
    }

    /// Reads and checks every campaign file: every run's bitmaps (as
    /// [`CampaignStore::load_run`] does), its checkpointed delivery, and
    /// every touch file. Returns how
    /// many files were checked, and the damage found, each naming its
    /// file: what `segdb check` will run for campaigns.
    pub fn verify(&self) -> (u64, Vec<CampaignError>) {
        let mut files = 0;
        let mut damage = Vec::new();
        for c in self.list() {
            for r in &c.runs {
                files += 3 + r.variants.len() as u64 + u64::from(r.race.is_some());
                if let Err(e) = self.load_run(&c.def.name, r.number) {
                    damage.push(e);
                }
                // A checkpointed delivery: sent, failed, failures.
                match self.load_delivered(c.id, r.number) {
                    Ok(Some(_)) => files += 3,
                    Ok(None) => {}
                    Err(e) => {
                        files += 3;
                        damage.push(e);
                    }
                }
            }
        }
        let touches = self.dir.join("touches");
        let tables = std::fs::read_dir(&touches).into_iter().flatten().flatten();
        for table in tables {
            for day in std::fs::read_dir(table.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if day.file_name().to_string_lossy().ends_with(".camp") {
                    files += 1;
                    if let Err(e) = checked::read_touch_day(&day.path()) {
                        damage.push(e);
                    }
                }
            }
        }
        (files, damage)
    }

    /// Fails the scheduled campaign `name` whose due run could not start
    /// (for longer than the scheduler's give-up time): `failed`, with
    /// `reason` in its history, by `actor` (the scheduler).
    pub fn fail_start(
        &self,
        name: &str,
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Campaign, CampaignError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let c = find_mut(&mut next, name)?;
        apply(c, Action::StartFailed, actor, now)?;
        if let Some(h) = c.history.last_mut() {
            h.reason = Some(reason.to_owned());
        }
        let out = c.clone();
        self.commit(&mut guard, next)?;
        Ok(out)
    }

    /// Ends the running run of `name`: done (or scheduled again, for a
    /// daily schedule), or failed. Records `actor` (the scheduler).
    pub fn finish_run(
        &self,
        name: &str,
        failed: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<Campaign, CampaignError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let c = find_mut(&mut next, name)?;
        let action = if failed {
            Action::RunFailed
        } else {
            Action::RunFinished {
                more: matches!(c.def.schedule, Schedule::Daily(_) | Schedule::OnEvent(_)),
            }
        };
        apply(c, action, actor, now)?;
        if let Some(run) = c.runs.last_mut() {
            run.finished_at = Some(now);
        }
        let out = c.clone();
        self.commit(&mut guard, next)?;
        Ok(out)
    }
}
