//! Campaigns on disk, in the store's directory:
//!
//! ```text
//! DATA/campaigns.d/
//!   catalog.camp                 every campaign (definition, state, history, runs),
//!                               the table-wide caps and the next id: JSON in a checked envelope
//!   runs/<id>-<run>/            one run's frozen bitmaps, written before the catalog names the run
//!     audience.roar holdout.roar capped.roar variant-<i>.roar
//!     sent.roar failed.roar failures.camp   its delivery, at its checkpoint
//!   wal/                        the delivery log ([`crate::deliver::log`])
//!   touches/table-<table>/<day>.camp   a table's marketing touches of one day (levels)
//!   touches/campaign-<id>/<day>.camp   one campaign's touches of one day
//! ```
//!
//! The directory's name has a `.`, which no table name has, so a table
//! can never be given the same directory.
//!
//! Every file is a [checked envelope](crate::checked) replaced atomically.
//! The catalog is the commit point: a change is made on a copy, written,
//! and only then becomes the state in memory, so a failed write changes
//! nothing and a crash leaves the old or the new catalog. A run directory
//! the catalog does not name (a crash between the bitmaps and the
//! catalog) is removed on open.

mod delivered;
mod fire;
mod groups;
mod race;
mod runs;
mod user_view;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use segdb_engine::date::Day;
use segdb_engine::Store;
use segdb_storage_format::fsutil;
use segdb_storage_format::wal::{RealFs, WalFs};
use serde::{Deserialize, Serialize};

pub use fire::Fired;
pub use runs::{RunBitmaps, StartedRun};
pub use user_view::{UserGroup, UserRun, UserView, USER_VIEW_RUNS};

use crate::checked::{self, FileKind};
use crate::definition::{Actor, CampaignDef, Cap, Kind, Role};
use crate::error::CampaignError;
use crate::lifecycle::{self, Action, Forbidden, State};
use crate::touches::{Touches, MAX_CAP_DAYS};
use crate::validate::check_cap;

/// The campaigns' directory in the store's (not a possible table name).
pub const CAMPAIGNS_DIR: &str = "campaigns.d";

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Its permanent id (never reused; the assignment hash's seed).
    pub id: u64,
    /// Its definition.
    pub def: CampaignDef,
    /// Who created it.
    pub created_by: Actor,
    /// When, in seconds since 1970-01-01 UTC.
    pub created_at: i64,
    /// Its state.
    pub state: State,
    /// Every change of state, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Its runs, oldest first.
    pub runs: Vec<RunRecord>,
    /// A trigger campaign's (`on_event`) timers that came due up to this
    /// instant (milliseconds since 1970-01-01 UTC) are fired: every timer
    /// due by then was taken by the fire that recorded it, in the same
    /// catalog write as the users it added to the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_through_ms: Option<i64>,
}

/// One entry of a campaign's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When, in seconds since 1970-01-01 UTC.
    pub at: i64,
    /// Who.
    pub actor: Actor,
    /// What (`None`: the creation).
    pub action: Option<Action>,
    /// The state before (`None` at the creation).
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// Why, for a transition forced by an error (`start_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a run froze at its start (its bitmaps are in its directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// 1, 2, … per campaign.
    pub number: u32,
    /// The run's day (caps count back from it).
    pub day: Day,
    /// When it started, in seconds since 1970-01-01 UTC.
    pub started_at: i64,
    /// When it ended, if it has.
    pub finished_at: Option<i64>,
    /// Rows in the frozen audience.
    pub audience: u64,
    /// Rows held out.
    pub holdout: u64,
    /// Rows skipped at a cap.
    pub capped: u64,
    /// Rows per variant, in variant order (of a copy race: the test
    /// share's, the rest waiting in `race`).
    pub variants: Vec<u64>,
    /// A copy race's state (`None` for a run split by weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub race: Option<crate::race::RaceRecord>,
    /// A trigger run grows as timers fire: its bitmaps are rewritten whole
    /// into `g<generation>/` of the run's directory at each fire, which the
    /// catalog then names (0: the files sit in the run's directory, as a
    /// run frozen once has them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RunRecord {
    /// Users of variant `i` as the run stands: its frozen rows, and the
    /// rest once a race made it the winner.
    pub fn assigned(&self, i: usize) -> u64 {
        let won = self
            .race
            .as_ref()
            .and_then(|r| r.decision.as_ref().map(|d| (d.winner, r.rest)));
        self.variants.get(i).copied().unwrap_or(0)
            + match won {
                Some((w, rest)) if w == i => rest,
                _ => 0,
            }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct CatalogFile {
    next_id: u64,
    campaigns: Vec<Campaign>,
    table_caps: BTreeMap<String, Cap>,
}

/// The campaigns of one store.
pub struct CampaignStore {
    dir: PathBuf,
    fs: Arc<dyn WalFs>,
    catalog: Mutex<CatalogFile>,
}

/// The marketing touches of one table: the table's, and each campaign's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableTouches {
    /// Every marketing message to the table's users (the table-wide cap).
    pub table: Touches,
    /// Per campaign id, its own messages (its cap).
    pub campaigns: HashMap<u64, Touches>,
}

/// Removes the touch files of `dir` older than the longest cap window
/// ending on `day`: no cap reads them.
fn prune_touch_days(dir: &Path, day: Day) -> Result<(), CampaignError> {
    let first = day - (MAX_CAP_DAYS as Day - 1);
    let entries = std::fs::read_dir(dir)
        .map_err(|e| segdb_storage_format::FormatError::io("read", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| segdb_storage_format::FormatError::io("read", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(d) = name
            .strip_suffix(".camp")
            .and_then(|d| d.parse::<Day>().ok())
        {
            if d < first {
                std::fs::remove_file(entry.path()).map_err(|e| {
                    segdb_storage_format::FormatError::io("remove", entry.path(), e)
                })?;
            }
        }
    }
    Ok(())
}

impl TableTouches {
    /// The touches of campaign `id` (none if it has none).
    pub fn campaign(&self, id: u64) -> &Touches {
        static NONE: std::sync::OnceLock<Touches> = std::sync::OnceLock::new();
        self.campaigns
            .get(&id)
            .unwrap_or_else(|| NONE.get_or_init(Touches::new))
    }
}

impl std::fmt::Debug for CampaignStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignStore")
            .field("dir", &self.dir)
            .finish()
    }
}

impl CampaignStore {
    /// Opens (creating if need be) the campaigns of the store in
    /// `store_dir`. A damaged catalog is an error naming it.
    pub fn open(store_dir: &Path) -> Result<CampaignStore, CampaignError> {
        CampaignStore::open_with(store_dir, Arc::new(RealFs))
    }

    /// [`CampaignStore::open`] with every file write going through `fs`
    /// (tests inject faults with `FaultyFs`, as the store's own do).
    pub fn open_with(store_dir: &Path, fs: Arc<dyn WalFs>) -> Result<CampaignStore, CampaignError> {
        let dir = store_dir.join(CAMPAIGNS_DIR);
        for d in [dir.clone(), dir.join("runs"), dir.join("touches")] {
            if !d.is_dir() {
                std::fs::create_dir_all(&d)
                    .map_err(|e| segdb_storage_format::FormatError::io("create", &d, e))?;
                fsutil::fsync_dir(&d)?;
            }
        }
        let path = dir.join("catalog.camp");
        let catalog = if path.exists() {
            let payload = checked::read(&path, FileKind::Catalog)?;
            serde_json::from_slice(&payload)
                .map_err(|e| checked::corrupt(&path, format!("not a campaign catalog: {e}")))?
        } else {
            CatalogFile {
                next_id: 1,
                ..CatalogFile::default()
            }
        };
        let store = CampaignStore {
            dir,
            fs,
            catalog: Mutex::new(catalog),
        };
        store.remove_unnamed_runs()?;
        Ok(store)
    }

    /// The campaigns of the store in `store_dir` read only (`segdb check`, `SHOW CAMPAIGNS`):
    /// changing nothing (no directory made, no leftover run removed);
    /// `None` if the store has no campaigns directory. A damaged catalog
    /// is an error naming it.
    pub fn open_read_only(store_dir: &Path) -> Result<Option<CampaignStore>, CampaignError> {
        let dir = store_dir.join(CAMPAIGNS_DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        let path = dir.join("catalog.camp");
        let catalog = if path.exists() {
            let payload = checked::read(&path, FileKind::Catalog)?;
            serde_json::from_slice(&payload)
                .map_err(|e| checked::corrupt(&path, format!("not a campaign catalog: {e}")))?
        } else {
            CatalogFile::default()
        };
        Ok(Some(CampaignStore {
            dir,
            fs: Arc::new(RealFs),
            catalog: Mutex::new(catalog),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, CatalogFile> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `next` as the catalog, then makes it the state in memory.
    fn commit(&self, guard: &mut CatalogFile, next: CatalogFile) -> Result<(), CampaignError> {
        let json = serde_json::to_vec(&next).map_err(|e| {
            segdb_engine::EngineError::Internal(format!("campaign catalog to JSON: {e}"))
        })?;
        checked::write(
            &*self.fs,
            &self.dir.join("catalog.camp"),
            FileKind::Catalog,
            &json,
        )?;
        *guard = next;
        Ok(())
    }

    /// Every campaign, in creation order.
    pub fn list(&self) -> Vec<Campaign> {
        self.lock().campaigns.clone()
    }

    /// The campaign `name`.
    pub fn get(&self, name: &str) -> Result<Campaign, CampaignError> {
        self.lock()
            .campaigns
            .iter()
            .find(|c| c.def.name == name)
            .cloned()
            .ok_or_else(|| CampaignError::NotFound(name.to_owned()))
    }

    /// Validates `def` against `store` and stores it as a draft created by
    /// `actor` at `now` (seconds since 1970-01-01 UTC). Needs the write
    /// role; a taken name is [`CampaignError::AlreadyExists`].
    pub fn create(
        &self,
        store: &Store,
        def: CampaignDef,
        actor: &Actor,
        now: i64,
    ) -> Result<Campaign, CampaignError> {
        need_write(actor, "create a campaign")?;
        let all = self.list();
        let groups = crate::audience::Groups {
            store: self,
            campaigns: &all,
            log: None,
        };
        crate::validate::validate_among(store, &def, day_of(now), Some(&groups))?;
        let mut guard = self.lock();
        if guard.campaigns.iter().any(|c| c.def.name == def.name) {
            return Err(CampaignError::AlreadyExists(def.name));
        }
        let mut next = guard.clone();
        let campaign = Campaign {
            id: next.next_id,
            def,
            created_by: actor.clone(),
            created_at: now,
            state: State::Draft,
            history: vec![HistoryEntry {
                at: now,
                actor: actor.clone(),
                action: None,
                from: None,
                to: State::Draft,
                reason: None,
            }],
            runs: Vec::new(),
            fired_through_ms: None,
        };
        next.next_id += 1;
        next.campaigns.push(campaign.clone());
        self.commit(&mut guard, next)?;
        tracing::info!(campaign = %campaign.def.name, id = campaign.id, by = %actor.name, "campaign created");
        Ok(campaign)
    }

    /// The scheduled campaigns whose next run is due at `now` (see
    /// [`schedule`](crate::schedule)), the earliest first, then by
    /// priority (highest first) and id. The scheduler passes them to one
    /// [`CampaignStore::start_runs`], so that priority decides between
    /// them.
    pub fn due(&self, now: i64) -> Vec<String> {
        let mut due: Vec<(i64, i32, u64, String)> = self
            .lock()
            .campaigns
            .iter()
            .filter_map(|c| {
                let at = crate::schedule::next_run_at(c)?;
                (at <= now).then(|| (at, -c.def.priority, c.id, c.def.name.clone()))
            })
            .collect();
        due.sort();
        due.into_iter().map(|(.., name)| name).collect()
    }

    /// Applies a person's action (start, approve, pause, resume, cancel)
    /// and records it with `actor` in the campaign's history. Scheduler
    /// actions go through [`CampaignStore::start_runs`] and
    /// [`CampaignStore::finish_run`].
    pub fn act(
        &self,
        name: &str,
        action: Action,
        actor: &Actor,
        now: i64,
    ) -> Result<Campaign, CampaignError> {
        if action.is_scheduler() {
            return Err(CampaignError::Forbidden(Forbidden {
                actor: actor.name.clone(),
                action: action.as_str().to_owned(),
                reason: "only the scheduler starts and ends runs".into(),
            }));
        }
        let mut guard = self.lock();
        let mut next = guard.clone();
        let c = find_mut(&mut next, name)?;
        apply(c, action, actor, now)?;
        let out = c.clone();
        self.commit(&mut guard, next)?;
        tracing::info!(campaign = %name, action = action.as_str(), by = %actor.name, state = out.state.as_str(), "campaign transition");
        Ok(out)
    }

    /// Deletes the campaign `name` (the write role; not while a run is in
    /// progress, even paused: cancel it first). Its runs' bitmaps go with
    /// it; the touches it made stay, since caps count every message sent.
    /// Its id is never given again, so a new campaign of the same name
    /// splits its users afresh.
    pub fn delete(&self, name: &str, actor: &Actor) -> Result<Campaign, CampaignError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let i = next
            .campaigns
            .iter()
            .position(|c| c.def.name == name)
            .ok_or_else(|| CampaignError::NotFound(name.to_owned()))?;
        let c = &next.campaigns[i];
        lifecycle::transition(
            c.state,
            Action::Delete,
            actor,
            &c.created_by.name,
            c.def.approval_required,
        )?;
        let gone = next.campaigns.remove(i);
        self.commit(&mut guard, next)?;
        for r in &gone.runs {
            let dir = self.run_dir(gone.id, r.number);
            // The catalog no longer names it: if this fails, the next open
            // removes it.
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted campaign's run");
            }
        }
        tracing::info!(campaign = %name, id = gone.id, by = %actor.name, "campaign deleted");
        Ok(gone)
    }

    /// Sets (or with `None` removes) the table-wide frequency cap of
    /// `table`: at most `max` marketing messages per user in `days` days.
    /// Needs the admin role.
    pub fn set_table_cap(
        &self,
        store: &Store,
        table: &str,
        cap: Option<Cap>,
        actor: &Actor,
    ) -> Result<(), CampaignError> {
        if actor.role != Role::Admin {
            return Err(CampaignError::Forbidden(Forbidden {
                actor: actor.name.clone(),
                action: "set a table's frequency cap".into(),
                reason: "only an admin does".into(),
            }));
        }
        store.table(table)?;
        if let Some(cap) = cap {
            check_cap("cap", cap)?;
        }
        let mut guard = self.lock();
        let mut next = guard.clone();
        match cap {
            Some(cap) => next.table_caps.insert(table.to_owned(), cap),
            None => next.table_caps.remove(table),
        };
        self.commit(&mut guard, next)
    }

    /// The table-wide cap of `table`, if any.
    pub fn table_cap(&self, table: &str) -> Option<Cap> {
        self.lock().table_caps.get(table).copied()
    }

    /// Records one touch on `day` for every row of `rows`, sent by the
    /// campaign `campaign_id` of `kind` on `table`: in the table's touches
    /// and the campaign's, both in the table's file of that day, replaced
    /// atomically (both or neither). A transactional campaign records
    /// nothing.
    pub fn record_touches(
        &self,
        table: &str,
        campaign_id: u64,
        kind: Kind,
        day: Day,
        rows: &roaring::RoaringBitmap,
    ) -> Result<(), CampaignError> {
        if kind == Kind::Transactional || rows.is_empty() {
            return Ok(());
        }
        self.add_touches(table, campaign_id, day, &[(0, rows.clone())], None)
            .map(|_| ())
    }

    /// Adds one touch on `day` for the table and the campaign
    /// `campaign_id` per row of the union of `records` (each: a delivery-log
    /// sequence number and rows). With `fold_run = Some(run)`, they are a
    /// run's delivery records: only those above the sequence number the
    /// day's file records as folded for that run are added, and the file
    /// records the new highest in the same atomic write, so a checkpoint
    /// done again after a crash (with more records or not) counts each
    /// once. Returns whether it added any.
    fn add_touches(
        &self,
        table: &str,
        campaign_id: u64,
        day: Day,
        records: &[(u64, roaring::RoaringBitmap)],
        fold_run: Option<u32>,
    ) -> Result<bool, CampaignError> {
        // One writer of touch files at a time.
        let _guard = self.lock();
        let dir = self.touch_dir(table);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| segdb_storage_format::FormatError::io("create", &dir, e))?;
            fsutil::fsync_dir(&dir)?;
        }
        let path = dir.join(format!("{day}.camp"));
        let (mut scopes, mut folded) = if path.exists() {
            checked::read_touch_day_folded(&path)?
        } else {
            // A new day: days no cap window reaches any more go.
            prune_touch_days(&dir, day)?;
            (Vec::new(), Vec::new())
        };
        let mut rows = roaring::RoaringBitmap::new();
        match fold_run {
            None => records.iter().for_each(|(_, r)| rows |= r),
            Some(run) => {
                let i = match folded
                    .iter()
                    .position(|&(c, r, _)| (c, r) == (campaign_id, run))
                {
                    Some(i) => i,
                    None => {
                        folded.push((campaign_id, run, 0));
                        folded.len() - 1
                    }
                };
                let done = folded[i].2;
                for (seq, r) in records.iter().filter(|(seq, _)| *seq > done) {
                    rows |= r;
                    folded[i].2 = folded[i].2.max(*seq);
                }
            }
        }
        if rows.is_empty() {
            return Ok(false);
        }
        let rows = &rows;
        for scope in [0, campaign_id] {
            let i = match scopes.iter().position(|(s, _)| *s == scope) {
                Some(i) => i,
                None => {
                    scopes.push((scope, Vec::new()));
                    scopes.len() - 1
                }
            };
            let mut t = Touches::new();
            t.set_day(day, std::mem::take(&mut scopes[i].1));
            t.add(day, rows);
            scopes[i].1 = t.day(day).to_vec();
        }
        checked::write_touch_day_folded(&*self.fs, &path, &scopes, &folded)?;
        Ok(true)
    }

    /// The marketing touches on `table` of the [`MAX_CAP_DAYS`] days ending
    /// on `today`.
    pub fn touches(&self, table: &str, today: Day) -> Result<TableTouches, CampaignError> {
        let mut out = TableTouches::default();
        let dir = self.touch_dir(table);
        if !dir.is_dir() {
            return Ok(out);
        }
        let first = today - (MAX_CAP_DAYS as Day - 1);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| segdb_storage_format::FormatError::io("read", &dir, e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| segdb_storage_format::FormatError::io("read", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(day) = name
                .strip_suffix(".camp")
                .and_then(|d| d.parse::<Day>().ok())
            else {
                continue;
            };
            if !(first..=today).contains(&day) {
                continue;
            }
            for (scope, levels) in checked::read_touch_day(&entry.path())? {
                let t = if scope == 0 {
                    &mut out.table
                } else {
                    out.campaigns.entry(scope).or_default()
                };
                t.set_day(day, levels);
            }
        }
        Ok(out)
    }

    fn touch_dir(&self, table: &str) -> PathBuf {
        self.dir.join("touches").join(table)
    }

    fn run_dir(&self, id: u64, run: u32) -> PathBuf {
        self.dir.join("runs").join(format!("{id}-{run}"))
    }

    /// Removes run directories the catalog does not name (left by a crash
    /// after a run's bitmaps were written and before the catalog named it).
    fn remove_unnamed_runs(&self) -> Result<(), CampaignError> {
        let runs = self.dir.join("runs");
        let generations: HashMap<String, u32> = self
            .lock()
            .campaigns
            .iter()
            .flat_map(|c| {
                c.runs
                    .iter()
                    .map(move |r| (format!("{}-{}", c.id, r.number), r.generation))
            })
            .collect();
        let entries = std::fs::read_dir(&runs)
            .map_err(|e| segdb_storage_format::FormatError::io("read", &runs, e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| segdb_storage_format::FormatError::io("read", &runs, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match generations.get(&name) {
                None => {
                    tracing::warn!(dir = %entry.path().display(), "removing a run the catalog does not name");
                    std::fs::remove_dir_all(entry.path()).map_err(|e| {
                        segdb_storage_format::FormatError::io("remove", entry.path(), e)
                    })?;
                }
                Some(&g) => fire::remove_other_generations(&entry.path(), g)?,
            }
        }
        Ok(())
    }
}

/// Applies `action` to `c` in place, with its history entry.
fn apply(c: &mut Campaign, action: Action, actor: &Actor, now: i64) -> Result<(), CampaignError> {
    let to = lifecycle::transition(
        c.state,
        action,
        actor,
        &c.created_by.name,
        c.def.approval_required,
    )?;
    c.history.push(HistoryEntry {
        at: now,
        actor: actor.clone(),
        action: Some(action),
        from: Some(c.state),
        to,
        reason: None,
    });
    c.state = to;
    Ok(())
}

fn find_mut<'c>(
    catalog: &'c mut CatalogFile,
    name: &str,
) -> Result<&'c mut Campaign, CampaignError> {
    catalog
        .campaigns
        .iter_mut()
        .find(|c| c.def.name == name)
        .ok_or_else(|| CampaignError::NotFound(name.to_owned()))
}

fn need_write(actor: &Actor, what: &str) -> Result<(), CampaignError> {
    if actor.role < Role::Write {
        return Err(CampaignError::Forbidden(Forbidden {
            actor: actor.name.clone(),
            action: what.to_owned(),
            reason: "the read role only reads campaigns".into(),
        }));
    }
    Ok(())
}

/// The day of `now` (seconds since 1970-01-01 UTC).
pub fn day_of(now: i64) -> Day {
    now.div_euclid(86_400) as Day
}

#[cfg(test)]
mod crash;
#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
