//! A trigger campaign's fire: the users whose timers came due join the
//! day's run (a new run if the campaign is waiting for one), planned as
//! a run's audience is (hold-out, caps, variants), in one catalog write.
//!
//! A run of a trigger grows: its groups are rewritten whole at each fire
//! into a new generation directory `g<k>/` of the run's directory
//! (written and fsynced first), and the catalog write that names
//! generation `k` is the commit, with the campaign's `fired_through_ms`
//! (every timer due by then is fired). The older generation is removed
//! after; a crash leaves at most an unnamed one, removed on open. So the
//! run's users after a kill -9 are those of the last committed fire, and
//! a timer is fired exactly when the catalog says so.

use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use segdb_engine::Store;
use segdb_storage_format::fsutil;

use super::{apply, day_of, find_mut, CampaignStore, RunRecord};
use crate::audience::{bind_audience, Groups};
use crate::definition::{Actor, Schedule};
use crate::deliver::DeliveryLog;
use crate::error::CampaignError;
use crate::lifecycle::{Action, State};
use crate::plan::{plan_runs, PlanCampaign, RunPlan};

/// What one fire did.
#[derive(Debug, Clone, PartialEq)]
pub enum Fired {
    /// The due users were planned into run `run`.
    Done {
        /// The run (new if `started`).
        run: u32,
        /// Whether the fire started it (the campaign was scheduled).
        started: bool,
        /// Users whose timers came due.
        due: u64,
        /// Of them, outside the campaign's audience now (sent nothing).
        outside: u64,
        /// Of them, already in the run (a fire done again after a crash).
        already: u64,
        /// Added to the run: held out.
        holdout: u64,
        /// Added to the run: at a cap.
        capped: u64,
        /// Added to the run: to be sent.
        sendable: u64,
    },
    /// Not now: the campaign is paused, waiting for approval, or its run
    /// of an earlier day is still delivering. The timers stay pending.
    Wait,
    /// The campaign is over or deleted: its timers can be dropped.
    Gone,
}

/// The directory of a run's groups of `generation` (0: the run's own).
pub(crate) fn generation_dir(run_dir: &Path, generation: u32) -> PathBuf {
    if generation == 0 {
        run_dir.to_path_buf()
    } else {
        run_dir.join(format!("g{generation}"))
    }
}

/// Removes the generation directories of `run_dir` other than `keep`'s.
pub(crate) fn remove_other_generations(run_dir: &Path, keep: u32) -> Result<(), CampaignError> {
    let io = |e, p: &Path| segdb_storage_format::FormatError::io("remove", p, e);
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(g) = name.strip_prefix('g').and_then(|g| g.parse::<u32>().ok()) else {
            continue;
        };
        if g != keep {
            std::fs::remove_dir_all(entry.path()).map_err(|e| io(e, &entry.path()))?;
        }
    }
    Ok(())
}

impl CampaignStore {
    /// Fires the trigger campaign `name` at `now` (seconds) for the users
    /// `due` (row ids) whose timers came due by `through_ms`: those still
    /// in its audience and not yet in the day's run are held out, capped
    /// or assigned a variant as a run's audience is, and join the day's
    /// run (started if the campaign is scheduled). One catalog write
    /// commits the users and `fired_through_ms`; an error changes
    /// nothing (the timers stay pending and fire later).
    #[allow(clippy::too_many_arguments)]
    pub fn fire(
        &self,
        store: &Store,
        name: &str,
        due: &RoaringBitmap,
        through_ms: i64,
        actor: &Actor,
        now: i64,
        log: Option<&DeliveryLog>,
    ) -> Result<Fired, CampaignError> {
        let day = day_of(now);
        let mut guard = self.lock();
        let mut next = guard.clone();
        let c = match find_mut(&mut next, name) {
            Ok(c) => c,
            Err(CampaignError::NotFound(_)) => return Ok(Fired::Gone),
            Err(e) => return Err(e),
        };
        if !matches!(c.def.schedule, Schedule::OnEvent(_)) || c.state.is_final() {
            return Ok(Fired::Gone);
        }
        let extend = match (c.state, c.runs.last()) {
            (State::Scheduled, _) => false,
            (State::Running, Some(r)) if r.day == day => true,
            _ => return Ok(Fired::Wait),
        };
        let table_name = c.def.table.clone();
        let table = store.table(&table_name)?;
        let c = c.clone();
        let groups = Groups {
            store: self,
            campaigns: &guard.campaigns,
            log,
        };
        let audience = bind_audience(store, &table_name, &c.def.audience, day, Some(&groups))?;
        let due_rows: Vec<u32> = due.iter().collect();
        let inside = table.rows_matching(&due_rows, &audience)?;
        let mut rows = RoaringBitmap::from_sorted_iter(inside).expect("ascending rows");
        let outside = due.len() - rows.len();
        let existing = if extend {
            let number = c.runs.last().expect("a run").number;
            Some((number, self.load_run_of(&c, number)?))
        } else {
            None
        };
        let mut already = 0;
        if let Some((_, ex)) = &existing {
            already = rows.intersection_len(&ex.audience);
            rows -= &ex.audience;
        }
        let touches = self.touches_with_log(&next, &table_name, day, log)?;
        let plan = plan_runs(
            vec![PlanCampaign {
                id: c.id,
                priority: c.def.priority,
                kind: c.def.kind,
                holdout: c.def.holdout,
                weights: c.def.variants.iter().map(|v| v.weight).collect(),
                cap: c.def.cap,
                own_touches: touches.campaign(c.id),
                audience: rows,
            }],
            next.table_caps.get(&table_name).copied(),
            &touches.table,
            day,
        )
        .pop()
        .expect("a plan per campaign");
        let added = (plan.holdout.len(), plan.capped.len(), plan.sendable().len());
        let (number, generation, merged) = match existing {
            Some((number, ex)) => {
                let record = c.runs.last().expect("a run");
                let merged = RunPlan {
                    campaign: c.id,
                    audience: ex.audience | &plan.audience,
                    holdout: ex.holdout | &plan.holdout,
                    capped: ex.capped | &plan.capped,
                    variants: ex
                        .variants
                        .into_iter()
                        .zip(&plan.variants)
                        .map(|(a, b)| a | b)
                        .collect(),
                };
                (number, record.generation + 1, merged)
            }
            None => (c.runs.len() as u32 + 1, 1, plan),
        };
        let run_dir = self.run_dir(c.id, number);
        let gen_dir = generation_dir(&run_dir, generation);
        let io = |what, p: &Path, e| segdb_storage_format::FormatError::io(what, p, e);
        if !extend && run_dir.exists() {
            std::fs::remove_dir_all(&run_dir).map_err(|e| io("remove", &run_dir, e))?;
        }
        if gen_dir.exists() {
            std::fs::remove_dir_all(&gen_dir).map_err(|e| io("remove", &gen_dir, e))?;
        }
        std::fs::create_dir_all(&gen_dir).map_err(|e| io("create", &gen_dir, e))?;
        if !extend {
            fsutil::fsync_dir(run_dir.parent().expect("runs/"))?;
        }
        fsutil::fsync_dir(&run_dir)?;
        self.write_groups(&gen_dir, &merged, None)?;
        let sizes = |r: &mut RunRecord| {
            r.audience = merged.audience.len();
            r.holdout = merged.holdout.len();
            r.capped = merged.capped.len();
            r.variants = merged.variants.iter().map(RoaringBitmap::len).collect();
            r.generation = generation;
        };
        let cm = find_mut(&mut next, name)?;
        if extend {
            sizes(cm.runs.last_mut().expect("a run"));
        } else {
            apply(cm, Action::RunStarted, actor, now)?;
            let mut r = RunRecord {
                number,
                day,
                started_at: now,
                finished_at: None,
                audience: 0,
                holdout: 0,
                capped: 0,
                variants: Vec::new(),
                race: None,
                generation,
            };
            sizes(&mut r);
            cm.runs.push(r);
        }
        cm.fired_through_ms = Some(through_ms.max(cm.fired_through_ms.unwrap_or(i64::MIN)));
        self.commit(&mut guard, next)?;
        if let Err(e) = remove_other_generations(&run_dir, generation) {
            tracing::warn!(campaign = %name, run = number, error = %e, "an older generation of a trigger run was not removed (it will be at the next open)");
        }
        Ok(Fired::Done {
            run: number,
            started: !extend,
            due: due.len(),
            outside,
            already,
            holdout: added.0,
            capped: added.1,
            sendable: added.2,
        })
    }
}
