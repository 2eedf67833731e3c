//! Event triggers: a campaign scheduled `ON EVENT a [AND NOT b WITHIN n
//! MINUTES] [WHERE condition] [REENTRY n HOURS]` sends to each user who
//! records `a` once their timer comes due.
//!
//! - [`TriggerSet::observe`] is called with every acknowledged ingest
//!   batch: per trigger campaign watching the table (scheduled or
//!   running), a user whose batch records `a` (after any `b` of the same
//!   batch) and who meets the condition (evaluated on the table with the
//!   batch applied, only the users' chunks) gets a timer due `n` after
//!   the write (at once without `AND NOT`), unless one is pending or the
//!   user's last timer came due less than the re-entry interval ago; a
//!   `b` cancels a pending timer not yet due. The changes are one record
//!   of the trigger log (a WAL, fsynced), appended before the ingest is
//!   answered: an acknowledged write's timers are durable.
//! - [`TriggerSet::take_due`] gives each campaign's due timers to a fire
//!   ([`CampaignStore::fire`](crate::CampaignStore::fire)); the catalog
//!   write of the fire records `fired_through_ms`, then
//!   [`TriggerSet::fired`] forgets them (or [`TriggerSet::release`] puts
//!   them back when the fire could not happen).
//! - On open: the last snapshot (`timers.camp`), then the log's records
//!   after it, each after the timers due by then and by the campaign's
//!   `fired_through_ms` are taken out (a fire takes every due timer), and
//!   at the end every timer due by `fired_through_ms`. So after a kill -9
//!   a timer fired before it is not fired again, and one whose deadline
//!   passed while the server was down is due at once: late, not never.
//! - [`TriggerSet::checkpoint`] writes the snapshot and drops the log
//!   segments it covers.

mod check;
mod log;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use segdb_engine::write::Op;
use segdb_engine::Store;
use segdb_storage_format::wal::{
    replay, RealFs, ReplayOptions, SyncPolicy, WalFs, WalOptions, WalWriter,
};

pub use check::check;
pub use timers::Due;

use crate::audience::bind_audience;
use crate::checked::{self, FileKind};
use crate::definition::{Audience, Schedule, Trigger};
use crate::error::CampaignError;
use crate::lifecycle::State;
use crate::store::{day_of, Campaign, CAMPAIGNS_DIR};
use log::Entry;
use timers::Timers;

/// The trigger log's directory and snapshot, under `campaigns.d/`.
pub const TRIGGERS_DIR: &str = "triggers";

/// Reads the timers' snapshot and checks every record of the trigger log
/// of the store in `store_dir` (changing nothing): what `segdb check`
/// runs. `None` if the store has no triggers yet.
pub fn verify(store_dir: &Path) -> Result<Option<crate::deliver::log::LogCheck>, CampaignError> {
    let dir = store_dir.join(CAMPAIGNS_DIR).join(TRIGGERS_DIR);
    let wal_dir = dir.join("wal");
    if !wal_dir.is_dir() {
        return Ok(None);
    }
    let snapshot = dir.join("timers.camp");
    let mut files = 0;
    let mut seq = 0;
    if snapshot.exists() {
        files += 1;
        let payload = checked::read(&snapshot, FileKind::Timers)?;
        seq = log::decode_snapshot(&snapshot, &payload)?.0;
    }
    files += std::fs::read_dir(&wal_dir)
        .map_err(|e| segdb_storage_format::FormatError::io("read", &wal_dir, e))?
        .count() as u64;
    let summary = segdb_storage_format::wal::verify(&wal_dir, seq)?;
    Ok(Some(crate::deliver::log::LogCheck { files, summary }))
}

/// A trigger campaign as the set watches it.
#[derive(Debug, Clone)]
struct Watch {
    id: u64,
    name: String,
    table: String,
    trigger: Trigger,
    /// Scheduled or running: its event arms timers.
    active: bool,
}

impl Watch {
    fn within_ms(&self) -> i64 {
        self.trigger
            .and_not
            .as_ref()
            .map_or(0, |a| i64::from(a.within_seconds) * 1000)
    }
    fn reentry_ms(&self) -> i64 {
        i64::from(self.trigger.reentry_seconds) * 1000
    }
}

/// What one batch did to the timers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    /// Timers armed.
    pub armed: u64,
    /// Timers cancelled.
    pub cancelled: u64,
}

/// Totals for `/metrics`.
#[derive(Debug, Default)]
pub struct TriggerStats {
    /// Timers armed.
    pub armed: AtomicU64,
    /// Timers cancelled by the `AND NOT` event.
    pub cancelled: AtomicU64,
    /// Timers fired (whatever became of their user).
    pub fired: AtomicU64,
    /// Timers fired for a user no longer in the campaign's audience.
    pub outside: AtomicU64,
    /// Fires that could not happen yet (paused, a run of an earlier day
    /// still delivering), their timers kept.
    pub deferred: AtomicU64,
    /// How late timers fired: counts per bucket of
    /// [`LATENESS_BUCKETS`] (and one past the last), the sum in ms.
    pub lateness: [AtomicU64; LATENESS_BUCKETS.len() + 1],
    /// See `lateness`.
    pub lateness_sum_ms: AtomicU64,
    /// The latest timer so far, in ms.
    pub lateness_max_ms: AtomicU64,
}

/// Upper bounds (seconds) of the lateness histogram's buckets.
pub const LATENESS_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

impl TriggerStats {
    /// Counts timers whose deadlines were `deadlines`, fired at `now` (ms).
    pub fn observe_lateness(&self, deadlines: &[i64], now: i64) {
        for &d in deadlines {
            let ms = (now - d).max(0) as u64;
            let i = LATENESS_BUCKETS
                .iter()
                .position(|&b| ms as f64 <= b * 1000.0)
                .unwrap_or(LATENESS_BUCKETS.len());
            self.lateness[i].fetch_add(1, Ordering::Relaxed);
            self.lateness_sum_ms.fetch_add(ms, Ordering::Relaxed);
            self.lateness_max_ms.fetch_max(ms, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Default)]
struct SetState {
    watches: Vec<Watch>,
    timers: HashMap<u64, Timers>,
}

/// The timers of every trigger campaign of a store, and their log.
#[derive(Debug)]
pub struct TriggerSet {
    dir: PathBuf,
    wal: WalWriter,
    fs: Arc<dyn WalFs>,
    state: Mutex<SetState>,
    /// Totals for `/metrics`.
    pub stats: TriggerStats,
}

/// One campaign's due timers, taken for a fire.
#[derive(Debug, Clone)]
pub struct DueFire {
    /// The campaign's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// What came due.
    pub due: Due,
}

fn watches_of(campaigns: &[Campaign]) -> Vec<Watch> {
    campaigns
        .iter()
        .filter_map(|c| match &c.def.schedule {
            Schedule::OnEvent(t) if !c.state.is_final() => Some(Watch {
                id: c.id,
                name: c.def.name.clone(),
                table: c.def.table.clone(),
                trigger: t.clone(),
                active: matches!(c.state, State::Scheduled | State::Running),
            }),
            _ => None,
        })
        .collect()
}

impl TriggerSet {
    /// Opens the trigger timers of the store in `store_dir` for
    /// `campaigns` (the catalog as it stands): the snapshot, then the log
    /// replayed (see the module's docs). Damage is an error naming the
    /// file.
    pub fn open(store_dir: &Path, campaigns: &[Campaign]) -> Result<TriggerSet, CampaignError> {
        TriggerSet::open_with(store_dir, campaigns, Arc::new(RealFs))
    }

    /// [`TriggerSet::open`] through `fs` (tests inject faults).
    pub fn open_with(
        store_dir: &Path,
        campaigns: &[Campaign],
        fs: Arc<dyn WalFs>,
    ) -> Result<TriggerSet, CampaignError> {
        let dir = store_dir.join(CAMPAIGNS_DIR).join(TRIGGERS_DIR);
        let wal_dir = dir.join("wal");
        fs.create_dir_all(&wal_dir)
            .map_err(|e| segdb_storage_format::FormatError::io("create", &wal_dir, e))?;
        let watches = watches_of(campaigns);
        let mut timers: HashMap<u64, Timers> = campaigns
            .iter()
            .filter(|c| watches.iter().any(|w| w.id == c.id))
            .map(|c| (c.id, Timers::new(c.fired_through_ms)))
            .collect();
        let snapshot = dir.join("timers.camp");
        let mut seq = 0;
        if snapshot.exists() {
            let payload = checked::read(&snapshot, FileKind::Timers)?;
            let (s, saved) = log::decode_snapshot(&snapshot, &payload)?;
            seq = s;
            for (id, pending, last) in saved {
                if let Some(t) = timers.get_mut(&id) {
                    t.restore(pending, last);
                }
            }
        }
        let reentry: HashMap<u64, i64> = watches.iter().map(|w| (w.id, w.reentry_ms())).collect();
        let options = ReplayOptions {
            truncate_at_corruption: false,
            fs: fs.clone(),
        };
        replay::<CampaignError, _>(&wal_dir, seq, &options, |s, payload| {
            let entries = log::decode(payload)
                .map_err(|what| checked::corrupt(&wal_dir, format!("record {s}: {what}")))?;
            for e in entries {
                let id = match &e {
                    Entry::Arm { campaign, .. } | Entry::Cancel { campaign, .. } => *campaign,
                };
                let Some(t) = timers.get_mut(&id) else {
                    continue;
                };
                match e {
                    Entry::Arm {
                        at, deadline, rows, ..
                    } => {
                        t.catch_up(at);
                        let rows: Vec<u32> = rows.iter().collect();
                        t.arm_at(&rows, at, deadline, reentry[&id]);
                    }
                    Entry::Cancel { at, rows, .. } => {
                        t.catch_up(at);
                        let rows: Vec<u32> = rows.iter().collect();
                        t.cancel(&rows, at);
                    }
                }
            }
            Ok(())
        })?;
        for t in timers.values_mut() {
            t.catch_up(i64::MAX);
        }
        let wal = WalWriter::open(
            &wal_dir,
            WalOptions {
                sync: SyncPolicy::Always,
                segment_bytes: 8 << 20,
                start_seq: seq + 1,
                fs: fs.clone(),
            },
        )?;
        let pending: usize = timers.values().map(Timers::len).sum();
        if pending > 0 {
            tracing::info!(pending, "trigger timers recovered");
        }
        Ok(TriggerSet {
            dir,
            wal,
            fs,
            state: Mutex::new(SetState { watches, timers }),
            stats: TriggerStats::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows the catalog: campaigns that became trigger campaigns,
    /// started, paused or ended. An ended or deleted campaign's timers are
    /// dropped; a paused one's are kept (they fire once it resumes).
    pub fn refresh(&self, campaigns: &[Campaign]) {
        let watches = watches_of(campaigns);
        let mut s = self.lock();
        s.timers.retain(|id, _| watches.iter().any(|w| w.id == *id));
        for c in campaigns {
            if watches.iter().any(|w| w.id == c.id) {
                s.timers
                    .entry(c.id)
                    .or_insert_with(|| Timers::new(c.fired_through_ms));
            }
        }
        s.watches = watches;
    }

    /// Whether a trigger campaign watches `table` (a cheap test before
    /// [`TriggerSet::observe`]).
    pub fn watches(&self, table: &str) -> bool {
        self.lock()
            .watches
            .iter()
            .any(|w| w.active && w.table == table)
    }

    /// Arms and cancels timers for an acknowledged batch of `table`
    /// (`ops`, written at `now_ms`), and makes the changes durable before
    /// returning. `store` reads the table with the batch applied.
    pub fn observe(
        &self,
        store: &Store,
        table: &str,
        ops: &[Op],
        now_ms: i64,
    ) -> Result<Observed, CampaignError> {
        let watches: Vec<Watch> = self
            .lock()
            .watches
            .iter()
            .filter(|w| w.active && w.table == table)
            .cloned()
            .collect();
        if watches.is_empty() {
            return Ok(Observed::default());
        }
        let t = store.table(table)?;
        let schema = t.schema();
        // Per watch, the users to cancel and to arm.
        let mut plans = Vec::new();
        for w in &watches {
            let a = schema.field_index(&w.trigger.event).map(|i| i as u32);
            let b = w
                .trigger
                .and_not
                .as_ref()
                .and_then(|n| schema.field_index(&n.event))
                .map(|i| i as u32);
            // The last `a` and the last `b` of each user, by position.
            let mut last: HashMap<&str, (Option<usize>, Option<usize>)> = HashMap::new();
            for (i, op) in ops.iter().enumerate() {
                if let Op::Event { id, field, .. } = op {
                    if Some(*field) == a {
                        last.entry(id).or_default().0 = Some(i);
                    }
                    if Some(*field) == b {
                        last.entry(id).or_default().1 = Some(i);
                    }
                }
            }
            if last.is_empty() {
                continue;
            }
            let mut cancel = Vec::new();
            let mut arm = Vec::new();
            for (id, (la, lb)) in last {
                let Some(row) = t.row_of(id)? else { continue };
                if lb.is_some() {
                    cancel.push(row);
                }
                if la.is_some() && la > lb {
                    arm.push(row);
                }
            }
            cancel.sort_unstable();
            arm.sort_unstable();
            if let (Some(cond), false) = (&w.trigger.condition, arm.is_empty()) {
                let day = day_of(now_ms.div_euclid(1000));
                let expr = bind_audience(store, table, &Audience::Where(cond.clone()), day, None)?;
                arm = t.rows_matching(&arm, &expr)?;
            }
            plans.push((w, cancel, arm));
        }
        let mut entries = Vec::new();
        let mut out = Observed::default();
        {
            let mut s = self.lock();
            for (w, cancel, arm) in plans {
                let Some(timers) = s.timers.get_mut(&w.id) else {
                    continue;
                };
                let cancelled = timers.cancel(&cancel, now_ms);
                let (armed, deadline) = timers.arm(&arm, now_ms, w.within_ms(), w.reentry_ms());
                out.cancelled += cancelled.len() as u64;
                out.armed += armed.len() as u64;
                if !cancelled.is_empty() {
                    entries.push(Entry::Cancel {
                        campaign: w.id,
                        at: now_ms,
                        rows: cancelled.into_iter().collect(),
                    });
                }
                if !armed.is_empty() {
                    entries.push(Entry::Arm {
                        campaign: w.id,
                        at: now_ms,
                        deadline,
                        rows: armed.into_iter().collect(),
                    });
                }
            }
        }
        if !entries.is_empty() {
            // Applied first, then logged: a snapshot taken in between holds
            // the change, and replaying its record again changes nothing.
            self.wal.append(&log::encode(&entries))?;
        }
        self.stats.armed.fetch_add(out.armed, Ordering::Relaxed);
        self.stats
            .cancelled
            .fetch_add(out.cancelled, Ordering::Relaxed);
        Ok(out)
    }

    /// Takes every campaign's timers due by `now_ms` for a fire (a
    /// campaign with a fire in progress, or paused, is skipped).
    pub fn take_due(&self, now_ms: i64) -> Vec<DueFire> {
        let mut s = self.lock();
        let SetState { watches, timers } = &mut *s;
        let mut out = Vec::new();
        for w in watches.iter().filter(|w| w.active) {
            let Some(t) = timers.get_mut(&w.id) else {
                continue;
            };
            t.prune(now_ms, w.reentry_ms());
            if let Some(due) = t.take_due(now_ms) {
                out.push(DueFire {
                    id: w.id,
                    name: w.name.clone(),
                    due,
                });
            }
        }
        out
    }

    /// The fire of campaign `id`'s due timers is committed.
    pub fn fired(&self, id: u64, through_ms: i64, count: u64) {
        if let Some(t) = self.lock().timers.get_mut(&id) {
            t.fired(through_ms);
        }
        self.stats.fired.fetch_add(count, Ordering::Relaxed);
    }

    /// The fire of campaign `id` did not happen: its timers are pending
    /// again.
    pub fn release(&self, id: u64) {
        if let Some(t) = self.lock().timers.get_mut(&id) {
            t.release();
        }
    }

    /// The earliest pending deadline of a campaign that can fire (not
    /// paused), in ms.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut s = self.lock();
        let SetState { watches, timers } = &mut *s;
        watches
            .iter()
            .filter(|w| w.active)
            .filter_map(|w| timers.get_mut(&w.id).and_then(Timers::next_deadline))
            .min()
    }

    /// Pending timers: in all, and of campaign `id`.
    pub fn pending(&self, id: Option<u64>) -> u64 {
        let s = self.lock();
        match id {
            Some(id) => s.timers.get(&id).map_or(0, |t| t.len() as u64),
            None => s.timers.values().map(|t| t.len() as u64).sum(),
        }
    }

    /// Users kept for their re-entry interval, in all.
    pub fn remembered(&self) -> u64 {
        self.lock()
            .timers
            .values()
            .map(|t| t.remembered() as u64)
            .sum()
    }

    /// Bytes of the trigger log's segments on disk.
    pub fn log_bytes(&self) -> u64 {
        self.wal
            .segments()
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Writes the snapshot of every campaign's timers and removes the log
    /// segments it covers.
    pub fn checkpoint(&self) -> Result<(), CampaignError> {
        let (seq, saved) = {
            let s = self.lock();
            let seq = self.wal.next_seq() - 1;
            let saved: Vec<log::Saved> = s
                .timers
                .iter()
                .map(|(&id, t)| {
                    let (pending, last) = t.entries();
                    (id, pending, last)
                })
                .collect();
            (seq, saved)
        };
        let path = self.dir.join("timers.camp");
        checked::write(
            &*self.fs,
            &path,
            FileKind::Timers,
            &log::encode_snapshot(seq, &saved),
        )?;
        self.wal.remove_before(seq + 1)?;
        Ok(())
    }
}
