//! Delivery of campaign runs: a worker thread per run in progress, which
//! builds the campaign's channel (webhook or file) and calls the crate's
//! `deliver`; when the run is complete it ends it (`finish_run`: done, or
//! scheduled again for a daily schedule). Every rule of sending (batches,
//! the log, ids, retries) is the `segdb-campaigns` crate's; this module
//! decides when to call it.
//!
//! - Bounded: one worker per campaign with a run in progress (a campaign
//!   has at most one), never on the tokio reactor.
//! - Pause and cancel stop the worker (`Control::stop`: it returns after
//!   the batch in flight is recorded) and wait for it; cancel then
//!   checkpoints the run, so users not sent stay unsent and its touches
//!   count. Resume starts a worker again, which delivers what is left.
//! - A channel that stays unavailable (`CampaignError::Unavailable`, the
//!   webhook's own retries spent) is tried again after a backoff (5 s,
//!   doubling, at most 5 min) for [`GIVE_UP_AFTER`]; then the run is marked
//!   `failed`. Any other error fails the run at once.
//! - At start-up every campaign whose run is `running` gets a worker
//!   (paused ones wait for `resume`); at shutdown every worker is stopped
//!   and joined.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use segdb_campaigns::deliver::{
    deliver, Control, Counters, DeliveryLog, FileSink, RunDelivery, Sink, WebhookSink,
};
use segdb_campaigns::lifecycle::State as CampaignState;
use segdb_campaigns::{Actor, Campaign, CampaignError, CampaignStore, Channel, Role, RunBitmaps};
use serde_json::{json, Value};

use crate::audit::{self, Action, Audit, Entry, Outcome};
use crate::campaigns::SCHEDULER;
use crate::http::AppState;

/// The first wait after a channel stayed unavailable (doubling).
pub const RETRY_FIRST: Duration = Duration::from_secs(5);
/// The longest wait between two tries of an unavailable channel.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// How long a channel may stay unavailable before its run is `failed`.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

struct Worker {
    control: Control,
    handle: JoinHandle<()>,
}

/// The delivery log and the workers.
pub struct Delivery {
    /// The delivery log (`DATA/campaigns.d/wal/`), replayed at open.
    pub log: DeliveryLog,
    /// Totals over every campaign's deliveries, for `/metrics`.
    pub counters: Arc<Counters>,
    /// Runs marked failed by delivery.
    pub runs_failed: AtomicU64,
    /// Runs delivered completely.
    pub runs_delivered: AtomicU64,
    /// Copy races decided.
    pub races_decided: AtomicU64,
    /// Tries of a channel that stayed unavailable (each counted).
    pub unavailable: AtomicU64,
    workers: Mutex<HashMap<String, Worker>>,
    state: OnceLock<Weak<AppState>>,
    stopping: AtomicBool,
    /// (first wait, longest wait, give up after) for an unavailable
    /// channel: [`RETRY_FIRST`], [`RETRY_MAX`], [`GIVE_UP_AFTER`] unless a
    /// test sets others.
    retry: Mutex<(Duration, Duration, Duration)>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("log", &self.log).finish()
    }
}

impl Delivery {
    /// Opens (replaying) the delivery log of the store in `data`.
    pub fn open(data: &Path) -> Result<Delivery, String> {
        let log = DeliveryLog::open(data).map_err(|e| format!("opening the delivery log: {e}"))?;
        Ok(Delivery {
            log,
            counters: Arc::default(),
            runs_failed: AtomicU64::new(0),
            runs_delivered: AtomicU64::new(0),
            races_decided: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            workers: Mutex::new(HashMap::new()),
            state: OnceLock::new(),
            stopping: AtomicBool::new(false),
            retry: Mutex::new((RETRY_FIRST, RETRY_MAX, GIVE_UP_AFTER)),
        })
    }

    /// Other waits for an unavailable channel (tests, which must not wait
    /// minutes): the first wait (doubling up to `max`), and how long
    /// before the run fails. Workers started after it use them.
    #[doc(hidden)]
    pub fn set_retry(&self, first: Duration, max: Duration, give_up: Duration) {
        *self.retry.lock().unwrap_or_else(|p| p.into_inner()) = (first, max, give_up);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Worker>> {
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds the server's state (workers hold only a `Weak` to it while
    /// they wait) and starts a worker for every run left `running`.
    pub fn attach(&self, state: &Arc<AppState>) {
        let _ = self.state.set(Arc::downgrade(state));
        for c in state.campaigns.store.list() {
            if c.state == CampaignState::Running {
                if let Some(r) = c.runs.last() {
                    tracing::info!(campaign = %c.def.name, run = r.number, "resuming a campaign run's delivery");
                    self.start(&c.def.name, r.number);
                }
            }
        }
    }

    /// Starts delivering run `run` of `name` (nothing if a worker of that
    /// campaign is still at work, or the server stops).
    pub fn start(&self, name: &str, run: u32) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let Some(weak) = self.state.get().cloned() else {
            return;
        };
        let mut workers = self.lock();
        if workers.get(name).is_some_and(|w| !w.handle.is_finished()) {
            return;
        }
        let control = Control::new();
        let c2 = control.clone();
        let n = name.to_owned();
        let retry = *self.retry.lock().unwrap_or_else(|p| p.into_inner());
        let spawned = std::thread::Builder::new()
            .name("segdb-deliver".into())
            .spawn(move || work(weak, &n, run, &c2, retry));
        match spawned {
            Ok(handle) => {
                workers.insert(name.to_owned(), Worker { control, handle });
            }
            Err(e) => tracing::error!(campaign = %name, "a delivery worker could not start: {e}"),
        }
    }

    /// A trigger's fire added users to run `run` of `name`: its worker is
    /// nudged (or started if there is none).
    pub fn nudge(&self, name: &str, run: u32) {
        let alive = self
            .lock()
            .get(name)
            .filter(|w| !w.handle.is_finished())
            .map(|w| w.control.clone());
        match alive {
            Some(control) => control.nudge(),
            None => self.start(name, run),
        }
    }

    /// Stops the worker of `name` (if any) and waits for it: it returns
    /// once the batch in flight is recorded.
    pub fn stop(&self, name: &str) {
        let w = self.lock().remove(name);
        if let Some(w) = w {
            w.control.stop();
            join(w.handle);
        }
    }

    /// Stops every worker and waits for them (shutdown); no worker starts
    /// after.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
        let all: Vec<Worker> = self.lock().drain().map(|(_, w)| w).collect();
        for w in &all {
            w.control.stop();
        }
        for w in all {
            join(w.handle);
        }
    }

    /// Runs being delivered now.
    pub fn in_progress(&self) -> usize {
        self.lock()
            .values()
            .filter(|w| !w.handle.is_finished())
            .count()
    }

    /// Cancel: the worker stopped, the run checkpointed (its touches
    /// count, its records stop holding log segments).
    pub fn cancel(&self, campaigns: &CampaignStore, name: &str) -> Result<(), CampaignError> {
        self.stop(name);
        let c = campaigns.get(name)?;
        if let Some(r) = c.runs.last() {
            self.log.checkpoint(campaigns, &c, r.number)?;
        }
        Ok(())
    }

    /// What each run of `c` has recorded, per run in order.
    pub fn progress(
        &self,
        campaigns: &CampaignStore,
        c: &Campaign,
    ) -> Result<Vec<Value>, CampaignError> {
        c.runs
            .iter()
            .map(|r| {
                let d = self.log.progress(campaigns, c, r.number)?;
                let bitmaps = campaigns.load_run(&c.def.name, r.number)?;
                Ok(progress_json(&d, &bitmaps))
            })
            .collect()
    }

    /// `/metrics` lines of delivery.
    pub fn render_metrics(&self, o: &mut String) {
        use std::fmt::Write;
        let c = &self.counters;
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            o,
            "segdb_campaign_messages_sent_total",
            "Campaign messages delivered.",
            c.sent.load(Ordering::Relaxed),
        );
        counter(
            o,
            "segdb_campaign_messages_failed_total",
            "Campaign messages refused for good by their channel.",
            c.failed.load(Ordering::Relaxed),
        );
        counter(
            o,
            "segdb_campaign_messages_capped_total",
            "Users of delivered runs skipped at a frequency cap.",
            c.capped.load(Ordering::Relaxed),
        );
        counter(
            o,
            "segdb_campaign_runs_delivered_total",
            "Campaign runs delivered completely.",
            self.runs_delivered.load(Ordering::Relaxed),
        );
        counter(
            o,
            "segdb_campaign_races_decided_total",
            "Copy races decided (the winner then gets the rest).",
            self.races_decided.load(Ordering::Relaxed),
        );
        counter(
            o,
            "segdb_campaign_runs_failed_total",
            "Campaign runs marked failed by delivery.",
            self.runs_failed.load(Ordering::Relaxed),
        );
        counter(
            o,
            "segdb_campaign_channel_unavailable_total",
            "Deliveries stopped by a channel that stayed unavailable (tried again later).",
            self.unavailable.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP segdb_campaign_webhook_responses_total Webhook requests by outcome.\n# TYPE segdb_campaign_webhook_responses_total counter"
        );
        for (class, v) in [
            ("2xx", c.responses_of(200)),
            ("4xx", c.responses_of(400)),
            ("5xx", c.responses_of(500)),
            ("transport", c.transport_errors.load(Ordering::Relaxed)),
        ] {
            let _ = writeln!(
                o,
                "segdb_campaign_webhook_responses_total{{class=\"{class}\"}} {v}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP segdb_campaign_webhook_latency_seconds Latency of answered webhook requests.\n# TYPE segdb_campaign_webhook_latency_seconds summary\nsegdb_campaign_webhook_latency_seconds_sum {}\nsegdb_campaign_webhook_latency_seconds_count {}",
            c.latency_micros.load(Ordering::Relaxed) as f64 / 1e6,
            c.latency_count.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP segdb_campaign_runs_in_progress Campaign runs being delivered now.\n# TYPE segdb_campaign_runs_in_progress gauge\nsegdb_campaign_runs_in_progress {}",
            self.in_progress()
        );
    }
}

fn join(h: JoinHandle<()>) {
    if h.thread().id() != std::thread::current().id() && h.join().is_err() {
        tracing::error!("a campaign delivery worker panicked");
    }
}

/// Kinds of refusal (status and answer) a run's summary shows at most.
pub const MAX_FAILURE_KINDS: usize = 10;

/// A run's recorded delivery as the API shows it: per variant sent and
/// failed, and the refused batches grouped by status and answer (the
/// first [`MAX_FAILURE_KINDS`] kinds).
pub fn progress_json(d: &RunDelivery, run: &RunBitmaps) -> Value {
    let per: Vec<Value> = run
        .variants
        .iter()
        .map(|v| {
            json!({
                "sent": v.intersection_len(&d.sent),
                "failed": v.intersection_len(&d.failed),
            })
        })
        .collect();
    let mut failures: Vec<(u16, String, u64)> = Vec::new();
    for f in &d.failures {
        if let Some(e) = failures
            .iter_mut()
            .find(|(s, b, _)| *s == f.status && *b == f.body)
        {
            e.2 += f.rows;
        } else if failures.len() < MAX_FAILURE_KINDS {
            failures.push((f.status, f.body.clone(), f.rows));
        }
    }
    json!({
        "sent": d.sent.len(),
        "failed": d.failed.len(),
        "variants": per,
        "failures": failures
            .iter()
            .map(|(s, b, n)| json!({"status": s, "body": b, "users": n}))
            .collect::<Vec<_>>(),
    })
}

fn sink_for(c: &Campaign, control: &Control, counters: &Arc<Counters>) -> Box<dyn Sink> {
    match &c.def.channel {
        Channel::Webhook(w) => Box::new(WebhookSink::new(w, control.clone(), counters.clone())),
        Channel::File(f) => Box::new(FileSink::new(Path::new(&f.dir), f.format)),
    }
}

/// The worker: delivers until the run is complete, stopped, or failed.
fn work(
    weak: Weak<AppState>,
    name: &str,
    run: u32,
    control: &Control,
    (first, max, give_up): (Duration, Duration, Duration),
) {
    let mut since: Option<Instant> = None;
    let mut wait = first;
    loop {
        let Some(s) = weak.upgrade() else { return };
        // Read before delivering: a fire's nudge during it is not lost.
        let seen = control.nudges();
        let d = &s.campaigns.delivery;
        let store = &s.campaigns.store;
        let recorded =
            |c: &Counters| c.sent.load(Ordering::Relaxed) + c.failed.load(Ordering::Relaxed);
        let before = recorded(&d.counters);
        let result = store.get(name).and_then(|c| {
            let mut sink = sink_for(&c, control, &d.counters);
            deliver(
                &s.store,
                store,
                &d.log,
                name,
                run,
                &mut *sink,
                control,
                &d.counters,
            )
        });
        match result {
            Ok(report) if report.complete && trigger_day(&s, name, run).is_some() => {
                // A trigger's run stays open for its day: it ends once the
                // day is over and nothing was added since the delivery.
                let today = segdb_campaigns::store::day_of(s.campaigns.clock.now());
                if trigger_day(&s, name, run).is_some_and(|day| day < today)
                    && control.nudges() == seen
                {
                    d.runs_delivered.fetch_add(1, Ordering::Relaxed);
                    finish(&s, name, run, false, None);
                    return;
                }
                drop(s);
                if control.wait_nudge(seen, TRIGGER_POLL) {
                    return;
                }
            }
            Ok(report) if report.complete => {
                d.runs_delivered.fetch_add(1, Ordering::Relaxed);
                finish(&s, name, run, false, None);
                return;
            }
            Ok(report) if report.awaiting_race.is_some() => {
                // The test share is out: wait for the window's end (by the
                // campaigns' clock, which tests move), decide, and go on
                // delivering the rest to the winner.
                drop(s);
                match await_race(&weak, name, run, control) {
                    Some(()) => continue,
                    None => return,
                }
            }
            Ok(_) => return,
            Err(CampaignError::Unavailable(why)) => {
                d.unavailable.fetch_add(1, Ordering::Relaxed);
                if recorded(&d.counters) != before {
                    // It delivered since the last try (the counters are
                    // every run's, so another run's progress counts too:
                    // the run fails later, never sooner).
                    since = None;
                    wait = first;
                }
                let since = *since.get_or_insert_with(Instant::now);
                if since.elapsed() >= give_up {
                    tracing::error!(campaign = %name, run, "the channel stayed unavailable for {give_up:?}: the run fails ({why})");
                    finish(&s, name, run, true, Some(why));
                    return;
                }
                tracing::warn!(campaign = %name, run, "the channel is unavailable ({why}); trying again in {wait:?}");
                drop(s);
                if control.wait(wait) {
                    return;
                }
                wait = (wait * 2).min(max);
            }
            Err(e) => {
                tracing::error!(campaign = %name, run, error = %e, "a campaign run could not be delivered: it fails");
                finish(&s, name, run, true, Some(e.to_string()));
                return;
            }
        }
    }
}

/// How often the worker of a trigger's run, all delivered, looks at the
/// clock for the day's end (a fire's nudge wakes it at once).
const TRIGGER_POLL: Duration = Duration::from_secs(1);

/// The day of run `run` of `name` if the campaign is a trigger's.
fn trigger_day(s: &AppState, name: &str, run: u32) -> Option<segdb_engine::date::Day> {
    let c = s.campaigns.store.get(name).ok()?;
    if !matches!(c.def.schedule, segdb_campaigns::Schedule::OnEvent(_)) {
        return None;
    }
    c.runs.iter().find(|r| r.number == run).map(|r| r.day)
}

/// How often a worker waiting for a race's window to end looks at the
/// clock (which tests move by hand).
const RACE_POLL: Duration = Duration::from_millis(200);

/// Waits until run `run` of `name` has its race decided (deciding it once
/// the window has passed), audits the decision; `None` if the worker was
/// stopped, the server is gone, or deciding failed (logged: the run stays
/// running, and the next start of a worker tries again).
fn await_race(weak: &Weak<AppState>, name: &str, run: u32, control: &Control) -> Option<()> {
    loop {
        let s = weak.upgrade()?;
        let c = &s.campaigns;
        let now = c.clock.now();
        match c
            .store
            .decide_race(&s.store, Some(&c.delivery.log), name, run, now)
        {
            Ok(Some((d, made))) => {
                if made {
                    record(
                        &s.audit,
                        now,
                        name,
                        json!({
                            "transition": "race_decided",
                            "run": run,
                            "winner": d.winner_name,
                            "significant": d.significant,
                            "z": d.z,
                            "p_value": d.p_value,
                            "reason": d.reason,
                        }),
                    );
                    c.delivery.races_decided.fetch_add(1, Ordering::Relaxed);
                }
                return Some(());
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(campaign = %name, run, error = %e, "a copy race could not be decided");
                return None;
            }
        }
        drop(s);
        if control.wait(RACE_POLL) {
            return None;
        }
    }
}

/// Ends the run (done, scheduled again, or failed), audits it and wakes
/// the scheduler. A campaign paused or cancelled meanwhile is left as it
/// is (a resume delivers the nothing left and ends it then).
fn finish(s: &AppState, name: &str, run: u32, failed: bool, error: Option<String>) {
    let c = &s.campaigns;
    let now = c.clock.now();
    let scheduler = Actor::new(SCHEDULER, Role::Admin);
    match c.store.finish_run(name, failed, &scheduler, now) {
        Ok(after) => {
            if failed {
                c.delivery.runs_failed.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(campaign = %name, run, state = after.state.as_str(), "campaign run ended");
            record(
                &s.audit,
                now,
                name,
                json!({
                    "transition": if failed { "run_failed" } else { "run_finished" },
                    "run": run,
                    "to": after.state.as_str(),
                    "error": error,
                }),
            );
            c.changed();
        }
        Err(CampaignError::Conflict(e)) => {
            tracing::info!(campaign = %name, run, "the run was not ended: {e}");
        }
        Err(e) => {
            tracing::error!(campaign = %name, run, error = %e, "a campaign run could not be ended")
        }
    }
}

fn record(audit: &Audit, now: i64, name: &str, detail: Value) {
    let entry = Entry {
        at: audit::time::format_ms(now.saturating_mul(1000)),
        principal: SCHEDULER.to_owned(),
        role: Some("admin".to_owned()),
        peer: "-".to_owned(),
        action: Action::Campaign,
        target: json!({ "campaign": name }),
        detail,
        outcome: Outcome::Ok,
        status: 0,
        error: None,
    };
    if let Err(e) = audit.record(&entry) {
        tracing::error!("{e}");
    }
}
