//! The server's handle on campaigns: the [`CampaignStore`] opened with the
//! store, the clock, the scheduler thread, and what happens when a run
//! starts. Every rule (validation, transitions, freezing, caps,
//! assignment) is the `segdb-campaigns` crate's; this module only decides
//! *when* to call it and records what it did (log, audit, metrics).
//!
//! The scheduler is one thread. It sleeps until the earliest next run of a
//! scheduled campaign (at most [`MAX_SLEEP`]) or until it is woken (a
//! campaign changed, the server stops), then starts every due run in one
//! [`CampaignStore::start_runs`] (so priority decides between runs that
//! start together). A transition over HTTP that leaves a campaign
//! scheduled ticks at once in the request, so `start` of a campaign with
//! schedule `now` answers with its run frozen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use segdb_campaigns::{Actor, CampaignError, CampaignStore, Role, StartedRun};
use segdb_engine::Store;
use serde_json::{json, Value};

use crate::audit::{self, Action, Audit, Entry, Outcome};
use crate::background::{Background, Wake};

/// The longest the scheduler sleeps without looking again (a clock that
/// jumps, a campaign made by another process: neither can happen today,
/// but a bounded sleep costs nothing).
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How long the scheduler waits after a failed tick before trying again
/// (a run that cannot start must not spin the thread).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// How long a due run may keep failing to start before its campaign is
/// `failed` (as long as a channel may stay unavailable).
pub const START_GIVE_UP: Duration = Duration::from_secs(3600);

/// The actor the scheduler's transitions are recorded with.
pub const SCHEDULER: &str = "scheduler";

/// The clock campaigns are run by: the system's, or one a test sets.
#[derive(Debug, Default)]
pub struct Clock {
    /// Seconds since 1970-01-01 UTC if set; `i64::MIN`: the system clock.
    fixed: AtomicI64,
    set: AtomicBool,
}

impl Clock {
    /// Now, in seconds since 1970-01-01 UTC.
    pub fn now(&self) -> i64 {
        if self.set.load(Ordering::Acquire) {
            return self.fixed.load(Ordering::Acquire);
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// Now, in milliseconds since 1970-01-01 UTC (a fixed clock's second
    /// times 1,000).
    pub fn now_ms(&self) -> i64 {
        if self.set.load(Ordering::Acquire) {
            return self.fixed.load(Ordering::Acquire).saturating_mul(1000);
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Fixes the clock at `t` (tests).
    fn set(&self, t: i64) {
        self.fixed.store(t, Ordering::Release);
        self.set.store(true, Ordering::Release);
    }
}

/// What one [`Campaigns::tick`] did.
#[derive(Debug, Default)]
pub struct Tick {
    /// The runs it started.
    pub runs: Vec<StartedRun>,
    /// The due campaigns whose run could not start, with why.
    pub failed: Vec<(String, CampaignError)>,
}

/// Figures for `/metrics` (totals over every campaign: campaign names are
/// not a closed set, so they are never a label).
#[derive(Debug, Default)]
pub struct CampaignCounters {
    /// Runs started.
    pub runs_started: AtomicU64,
    /// Users frozen into runs' audiences.
    pub users_frozen: AtomicU64,
    /// Users held out.
    pub users_held_out: AtomicU64,
    /// Users skipped at a frequency cap.
    pub users_capped: AtomicU64,
    /// Users assigned to a variant.
    pub users_assigned: AtomicU64,
    /// Due runs that could not start (each try counted).
    pub scheduler_failures: AtomicU64,
    /// Effects reported and attributed to a run.
    pub effects_attributed: AtomicU64,
    /// Effects reported for users a campaign never sent to.
    pub effects_unattributed: AtomicU64,
}

/// The campaigns of the server's store.
pub struct Campaigns {
    /// The crate's store of campaigns, in `DATA/campaigns.d/`.
    pub store: CampaignStore,
    /// The clock runs are started by.
    pub clock: Clock,
    /// Counters for `/metrics`.
    pub counters: CampaignCounters,
    /// The delivery log and the runs' delivery workers.
    pub delivery: crate::campaign_delivery::Delivery,
    /// Event triggers: the timers and the thread that fires them.
    pub triggers: crate::campaign_triggers::Triggers,
    /// One tick at a time (the scheduler's and a request's).
    tick_lock: Mutex<()>,
    /// The wait after a failed tick and the give-up time of a run that
    /// keeps failing to start ([`RETRY_AFTER_FAILURE`],
    /// [`START_GIVE_UP`]; tests shorten them).
    start_retry: Mutex<(Duration, Duration)>,
    /// The due campaigns whose run failed to start at every tick since
    /// the instant given (a tick where one is not due, or starts, ends
    /// its streak).
    failing: Mutex<HashMap<String, Instant>>,
    /// The scheduler's thread (it holds no strong reference to the
    /// server's state while it sleeps).
    scheduler: Background,
}

impl std::fmt::Debug for Campaigns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Campaigns")
            .field("store", &self.store)
            .finish()
    }
}

/// The crate's actor for a principal.
pub fn actor(name: &str, role: crate::http::Role) -> Actor {
    let role = match role {
        crate::http::Role::Read => Role::Read,
        crate::http::Role::Write => Role::Write,
        crate::http::Role::Admin => Role::Admin,
    };
    Actor::new(name, role)
}

impl Campaigns {
    /// Opens the campaigns of the store in `data`; damage is an error
    /// naming the file.
    pub fn open(data: &std::path::Path) -> Result<Campaigns, String> {
        let store = CampaignStore::open(data).map_err(|e| format!("opening the campaigns: {e}"))?;
        let delivery = crate::campaign_delivery::Delivery::open(data)?;
        let triggers = crate::campaign_triggers::Triggers::open(data, &store.list())?;
        Ok(Campaigns {
            store,
            delivery,
            triggers,
            clock: Clock::default(),
            counters: CampaignCounters::default(),
            tick_lock: Mutex::new(()),
            start_retry: Mutex::new((RETRY_AFTER_FAILURE, START_GIVE_UP)),
            failing: Mutex::default(),
            scheduler: Background::new("segdb-campaigns"),
        })
    }

    /// Fixes the clock at `t` (seconds since 1970-01-01 UTC) and wakes the
    /// scheduler: for tests, which must not wait for real time.
    #[doc(hidden)]
    pub fn set_clock(&self, t: i64) {
        self.clock.set(t);
        self.changed();
    }

    /// Sets the wait after a failed tick and how long a due run may keep
    /// failing to start before its campaign fails: for tests.
    #[doc(hidden)]
    pub fn set_start_retry(&self, retry: Duration, give_up: Duration) {
        *self.start_retry.lock().unwrap_or_else(|p| p.into_inner()) = (retry, give_up);
    }

    fn start_retry(&self) -> (Duration, Duration) {
        *self.start_retry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the scheduler and the trigger thread: a campaign changed
    /// (the triggers follow the catalog).
    pub fn changed(&self) {
        self.scheduler.wake();
        self.triggers.set.refresh(&self.store.list());
        self.triggers.wake();
    }

    /// Starts every due run now, together (priority decides between
    /// them): what the scheduler does when it wakes, and what a request
    /// that leaves a campaign scheduled does at once. Each run started is
    /// handed to [`Campaigns::on_run_started`].
    ///
    /// If the batch cannot start (a campaign whose table was dropped),
    /// each campaign is started alone, in the batch's order (time, then
    /// priority), so that one bad campaign does not hold back the others;
    /// those runs are then planned one after the other, so caps between
    /// them count only recorded touches. The campaigns that failed are in
    /// [`Tick::failed`] and stay scheduled (the scheduler tries again
    /// after [`RETRY_AFTER_FAILURE`]).
    pub fn tick(&self, store: &Store, audit: &Audit) -> Tick {
        let _one = self.tick_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now();
        let due = self.store.due(now);
        let mut tick = Tick::default();
        if due.is_empty() {
            self.give_up_failing(&tick, audit, now);
            return tick;
        }
        let names: Vec<&str> = due.iter().map(String::as_str).collect();
        let scheduler = Actor::new(SCHEDULER, Role::Admin);
        let log = Some(&self.delivery.log);
        match self
            .store
            .start_runs_with(store, &names, &scheduler, now, log)
        {
            Ok(runs) => tick.runs = runs,
            Err(e) if names.len() == 1 => tick.failed.push((names[0].to_owned(), e)),
            Err(e) => {
                tracing::warn!(campaigns = ?names, error = %e, "campaign runs could not start together; starting each alone");
                for name in &names {
                    match self
                        .store
                        .start_runs_with(store, &[name], &scheduler, now, log)
                    {
                        Ok(runs) => tick.runs.extend(runs),
                        Err(e) => tick.failed.push(((*name).to_owned(), e)),
                    }
                }
            }
        }
        for (name, e) in &tick.failed {
            self.counters
                .scheduler_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(campaign = %name, error = %e, "a campaign run could not start");
        }
        self.give_up_failing(&tick, audit, now);
        for run in &tick.runs {
            self.on_run_started(run, audit);
        }
        tick
    }

    /// Follows the campaigns whose due run failed to start in `tick`: one
    /// that has failed at every tick for the give-up time
    /// ([`START_GIVE_UP`]) is `failed`, with the error in its history and
    /// in the audit log, so that it is not tried forever.
    fn give_up_failing(&self, tick: &Tick, audit: &Audit, now: i64) {
        let (_, give_up) = self.start_retry();
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        failing.retain(|name, _| tick.failed.iter().any(|(n, _)| n == name));
        let scheduler = Actor::new(SCHEDULER, Role::Admin);
        for (name, e) in &tick.failed {
            let since = *failing.entry(name.clone()).or_insert_with(Instant::now);
            if since.elapsed() < give_up {
                continue;
            }
            failing.remove(name);
            let reason = format!("the run could not start for {give_up:?}: {e}");
            let (outcome, error) = match self.store.fail_start(name, &reason, &scheduler, now) {
                Ok(_) => {
                    tracing::error!(campaign = %name, "{reason}: the campaign fails");
                    (Outcome::Ok, None)
                }
                Err(e) => {
                    tracing::error!(campaign = %name, error = %e, "a campaign that cannot start could not be failed");
                    (Outcome::Error, Some(e.to_string()))
                }
            };
            let entry = Entry {
                at: audit::time::format_ms(now.saturating_mul(1000)),
                principal: SCHEDULER.to_owned(),
                role: Some("admin".to_owned()),
                peer: "-".to_owned(),
                action: Action::Campaign,
                target: json!({ "campaign": name }),
                detail: json!({
                    "transition": "start_failed",
                    "from": "scheduled",
                    "to": "failed",
                    "reason": reason,
                }),
                outcome,
                status: 0,
                error,
            };
            if let Err(e) = audit.record(&entry) {
                tracing::error!("{e}");
            }
        }
    }

    /// What happens when a run has started (its audience frozen, hold-out,
    /// caps and variants decided and on disk): logged, counted, audited,
    /// and handed to a delivery worker.
    pub fn on_run_started(&self, run: &StartedRun, audit: &Audit) {
        let r = &run.run;
        let c = &self.counters;
        c.runs_started.fetch_add(1, Ordering::Relaxed);
        c.users_frozen.fetch_add(r.audience, Ordering::Relaxed);
        c.users_held_out.fetch_add(r.holdout, Ordering::Relaxed);
        c.users_capped.fetch_add(r.capped, Ordering::Relaxed);
        c.users_assigned
            .fetch_add(r.variants.iter().sum::<u64>(), Ordering::Relaxed);
        tracing::info!(
            campaign = %run.name,
            run = r.number,
            audience = r.audience,
            holdout = r.holdout,
            capped = r.capped,
            "campaign run started"
        );
        let entry = Entry {
            at: audit::time::format_ms(r.started_at.saturating_mul(1000)),
            principal: SCHEDULER.to_owned(),
            role: Some("admin".to_owned()),
            peer: "-".to_owned(),
            action: Action::Campaign,
            target: json!({ "campaign": run.name }),
            detail: run_detail(run),
            outcome: Outcome::Ok,
            status: 0,
            error: None,
        };
        if let Err(e) = audit.record(&entry) {
            tracing::error!("{e}");
        }
        self.delivery.start(&run.name, r.number);
    }

    /// Starts the scheduler thread for `state` (it holds no strong
    /// reference: when the server's state is gone, it ends).
    pub fn start_scheduler(state: &Arc<crate::http::AppState>) {
        state.campaigns.delivery.attach(state);
        crate::campaign_triggers::Triggers::start(state);
        let weak: Weak<crate::http::AppState> = Arc::downgrade(state);
        state
            .campaigns
            .scheduler
            .spawn(move |wake| scheduler_loop(weak, wake));
    }

    /// Stops the scheduler and waits for it (a tick in progress finishes
    /// first: a run is started whole or not at all), then stops the
    /// delivery workers and waits for them (each records the batch in
    /// flight; the runs resume at the next start).
    pub fn stop(&self) {
        self.scheduler.stop();
        self.triggers.stop();
        self.delivery.stop_all();
    }

    /// Whether the scheduler thread is running.
    pub fn scheduler_running(&self) -> bool {
        self.scheduler.running()
    }

    /// How long to sleep before the next due run (bounded).
    fn sleep_for(&self) -> Duration {
        let now = self.clock.now();
        let next = self
            .store
            .list()
            .iter()
            .filter_map(segdb_campaigns::schedule::next_run_at)
            .min();
        match next {
            Some(at) if at <= now => Duration::ZERO,
            Some(at) => Duration::from_secs((at - now) as u64).min(MAX_SLEEP),
            None => MAX_SLEEP,
        }
    }

    /// `/metrics` lines of campaigns: campaigns by state (every state of
    /// the closed set, zeros too), and the run totals.
    pub fn render_metrics(&self, o: &mut String) {
        use std::fmt::Write;
        let list = self.store.list();
        let _ = writeln!(
            o,
            "# HELP segdb_campaigns Campaigns by state.\n# TYPE segdb_campaigns gauge"
        );
        for name in STATES {
            let n = list.iter().filter(|c| c.state.as_str() == name).count();
            let _ = writeln!(o, "segdb_campaigns{{state=\"{name}\"}} {n}");
        }
        let c = &self.counters;
        for (name, help, v) in [
            (
                "segdb_campaign_runs_started_total",
                "Campaign runs started.",
                &c.runs_started,
            ),
            (
                "segdb_campaign_users_frozen_total",
                "Users frozen into campaign runs' audiences.",
                &c.users_frozen,
            ),
            (
                "segdb_campaign_users_held_out_total",
                "Users held out of campaign runs.",
                &c.users_held_out,
            ),
            (
                "segdb_campaign_users_capped_total",
                "Users skipped at a frequency cap.",
                &c.users_capped,
            ),
            (
                "segdb_campaign_users_assigned_total",
                "Users assigned to a variant.",
                &c.users_assigned,
            ),
            (
                "segdb_campaign_scheduler_failures_total",
                "Campaign runs that could not start when due (tried again later).",
                &c.scheduler_failures,
            ),
            (
                "segdb_campaign_effects_attributed_total",
                "Campaign effects reported and attributed to a run (retries not counted).",
                &c.effects_attributed,
            ),
            (
                "segdb_campaign_effects_unattributed_total",
                "Campaign effects reported for users the campaign never sent to.",
                &c.effects_unattributed,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        self.delivery.render_metrics(o);
        self.triggers.render_metrics(o);
    }
}

/// The states as `/metrics` labels them (the closed set).
pub const STATES: [&str; 8] = [
    "draft",
    "pending_approval",
    "scheduled",
    "running",
    "paused",
    "done",
    "cancelled",
    "failed",
];

/// A started run's figures for the audit log and answers.
pub fn run_detail(run: &StartedRun) -> Value {
    let r = &run.run;
    json!({
        "transition": "run_started",
        "run": r.number,
        "audience": r.audience,
        "holdout": r.holdout,
        "capped": r.capped,
        "assigned": r.variants,
    })
}

fn scheduler_loop(state: Weak<crate::http::AppState>, wake: Arc<Wake>) {
    tracing::info!("campaign scheduler started");
    loop {
        if wake.stopped() {
            break;
        }
        let seen = wake.changes();
        let wait = {
            let Some(s) = state.upgrade() else { break };
            let c = &s.campaigns;
            let wait = c.sleep_for();
            if !wait.is_zero() {
                wait
            } else if !c.tick(&s.store, &s.audit).failed.is_empty() {
                let (retry, _) = c.start_retry();
                tracing::warn!("the scheduler tries again in {retry:?}");
                retry
            } else {
                continue;
            }
        };
        if wake.sleep(seen, wait) {
            break;
        }
    }
    tracing::info!("campaign scheduler stopped");
}
