//! Event triggers in the server: the crate's [`TriggerSet`] (timers and
//! their log), fed by every acknowledged ingest batch, and one thread
//! (`segdb-triggers`) that fires due timers into their campaign's day's
//! run and hands the run to its delivery worker. Every rule (arming,
//! cancelling, re-entry, planning a fire) is the `segdb-campaigns`
//! crate's; this module decides when to call it.
//!
//! - The ingest route calls [`Triggers::observe`] after the engine
//!   acknowledged the batch and before answering: the timers are durable
//!   when the client gets its 200.
//! - The thread sleeps until the earliest deadline (at most
//!   [`MAX_SLEEP`]), or until woken (a timer armed, a campaign changed,
//!   the clock set by a test), then takes what is due and fires it: a
//!   started run is handed on like the scheduler's, an extended one
//!   nudges its worker. A fire that cannot happen yet (paused, the
//!   previous day's run still delivering) puts the timers back and is
//!   tried again after [`RETRY`].
//! - The log is checkpointed (a snapshot of the timers) once it holds
//!   [`CHECKPOINT_BYTES`], and at shutdown.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use segdb_campaigns::store::Fired;
use segdb_campaigns::trigger::{DueFire, Observed, TriggerSet, LATENESS_BUCKETS};
use segdb_campaigns::{Actor, Campaign, CampaignError, Role, StartedRun};
use segdb_engine::write::Op;
use segdb_engine::Store;

use crate::background::{Background, Wake};
use crate::campaigns::SCHEDULER;
use crate::http::AppState;

/// The longest the thread sleeps without looking at the clock.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The wait before a fire that could not happen is tried again.
pub const RETRY: Duration = Duration::from_millis(250);

/// The trigger log is checkpointed once its segments hold this much.
pub const CHECKPOINT_BYTES: u64 = 64 << 20;

/// The server's triggers.
#[derive(Debug)]
pub struct Triggers {
    /// The timers.
    pub set: TriggerSet,
    thread: Background,
}

impl Triggers {
    /// Opens the timers of the store in `data` for `campaigns` (replaying
    /// their log); damage is an error naming the file.
    pub fn open(data: &std::path::Path, campaigns: &[Campaign]) -> Result<Triggers, String> {
        let set = TriggerSet::open(data, campaigns)
            .map_err(|e| format!("opening the trigger timers: {e}"))?;
        Ok(Triggers {
            set,
            thread: Background::new("segdb-triggers"),
        })
    }

    /// Wakes the thread (a timer may be due sooner, a campaign changed).
    pub fn wake(&self) {
        self.thread.wake();
    }

    /// Arms and cancels the timers of an acknowledged batch (see
    /// [`TriggerSet::observe`]); a no-op unless a trigger watches the
    /// table.
    pub fn observe(
        &self,
        store: &Store,
        table: &str,
        ops: &[Op],
        now_ms: i64,
    ) -> Result<Observed, CampaignError> {
        let o = self.set.observe(store, table, ops, now_ms)?;
        if o.armed > 0 {
            self.wake();
        }
        Ok(o)
    }

    /// Starts the thread for `state` (it holds no strong reference while
    /// it sleeps).
    pub fn start(state: &Arc<AppState>) {
        let weak = Arc::downgrade(state);
        state
            .campaigns
            .triggers
            .thread
            .spawn(move |wake| fire_loop(weak, wake));
    }

    /// Stops the thread (a fire in progress finishes) and checkpoints the
    /// timers.
    pub fn stop(&self) {
        self.thread.stop();
        if let Err(e) = self.set.checkpoint() {
            tracing::error!(error = %e, "the trigger timers could not be checkpointed");
        }
    }

    /// `/metrics` lines of triggers.
    pub fn render_metrics(&self, o: &mut String) {
        use std::fmt::Write;
        let s = &self.set.stats;
        for (name, help, v) in [
            (
                "segdb_trigger_timers_pending",
                "Trigger timers waiting for their deadline.",
                self.set.pending(None),
            ),
            (
                "segdb_trigger_reentry_users",
                "Users kept for their trigger's re-entry interval.",
                self.set.remembered(),
            ),
            (
                "segdb_trigger_log_bytes",
                "Bytes of the trigger log's segments.",
                self.set.log_bytes(),
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        for (name, help, v) in [
            (
                "segdb_trigger_timers_armed_total",
                "Trigger timers armed by an acknowledged event.",
                &s.armed,
            ),
            (
                "segdb_trigger_timers_cancelled_total",
                "Trigger timers cancelled by the AND NOT event before their deadline.",
                &s.cancelled,
            ),
            (
                "segdb_trigger_timers_fired_total",
                "Trigger timers fired into their campaign's run.",
                &s.fired,
            ),
            (
                "segdb_trigger_outside_audience_total",
                "Trigger timers fired for a user no longer in the campaign's audience (sent nothing).",
                &s.outside,
            ),
            (
                "segdb_trigger_fires_deferred_total",
                "Trigger fires put off (campaign paused, the previous day's run still delivering).",
                &s.deferred,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let name = "segdb_trigger_lateness_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} How long after its deadline a trigger timer fired.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, le) in LATENESS_BUCKETS.iter().enumerate() {
            cumulative += s.lateness[i].load(Ordering::Relaxed);
            let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += s.lateness[LATENESS_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = s.lateness_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(o, "{name}_sum {sum}\n{name}_count {cumulative}");
        let max = "segdb_trigger_lateness_max_seconds";
        let _ = writeln!(
            o,
            "# HELP {max} The latest a trigger timer has fired.\n# TYPE {max} gauge\n{max} {}",
            s.lateness_max_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
    }
}

/// Fires one campaign's due timers; returns whether to retry soon.
fn fire(s: &AppState, d: DueFire) -> bool {
    let c = &s.campaigns;
    let set = &c.triggers.set;
    let scheduler = Actor::new(SCHEDULER, Role::Admin);
    let now = c.clock.now();
    let result = c.store.fire(
        &s.store,
        &d.name,
        &d.due.rows,
        d.due.through,
        &scheduler,
        now,
        Some(&c.delivery.log),
    );
    match result {
        Ok(Fired::Done {
            run,
            started,
            due,
            outside,
            holdout,
            capped,
            sendable,
            ..
        }) => {
            set.fired(d.id, d.due.through, due);
            set.stats.outside.fetch_add(outside, Ordering::Relaxed);
            set.stats
                .observe_lateness(&d.due.deadlines, c.clock.now_ms());
            tracing::debug!(campaign = %d.name, run, due, outside, holdout, capped, sendable, "trigger fired");
            let record = c
                .store
                .get(&d.name)
                .ok()
                .and_then(|camp| camp.runs.iter().find(|r| r.number == run).cloned());
            match record {
                Some(record) if started => c.on_run_started(
                    &StartedRun {
                        name: d.name.clone(),
                        id: d.id,
                        run: record,
                    },
                    &s.audit,
                ),
                _ => {
                    let k = &c.counters;
                    k.users_frozen
                        .fetch_add(holdout + capped + sendable, Ordering::Relaxed);
                    k.users_held_out.fetch_add(holdout, Ordering::Relaxed);
                    k.users_capped.fetch_add(capped, Ordering::Relaxed);
                    k.users_assigned.fetch_add(sendable, Ordering::Relaxed);
                    c.delivery.nudge(&d.name, run);
                }
            }
            c.delivery
                .counters
                .capped
                .fetch_add(capped, Ordering::Relaxed);
            false
        }
        Ok(Fired::Wait) => {
            set.release(d.id);
            set.stats.deferred.fetch_add(1, Ordering::Relaxed);
            true
        }
        Ok(Fired::Gone) => {
            set.release(d.id);
            set.refresh(&c.store.list());
            false
        }
        Err(e) => {
            set.release(d.id);
            tracing::error!(campaign = %d.name, error = %e, "trigger timers could not fire; trying again");
            true
        }
    }
}

fn fire_loop(state: Weak<AppState>, wake: Arc<Wake>) {
    tracing::info!("trigger thread started");
    loop {
        if wake.stopped() {
            break;
        }
        let seen = wake.changes();
        let wait = {
            let Some(s) = state.upgrade() else { break };
            let c = &s.campaigns;
            let mut retry = false;
            for d in c.triggers.set.take_due(c.clock.now_ms()) {
                retry |= fire(&s, d);
            }
            if c.triggers.set.log_bytes() >= CHECKPOINT_BYTES {
                if let Err(e) = c.triggers.set.checkpoint() {
                    tracing::error!(error = %e, "the trigger timers could not be checkpointed");
                }
            }
            let now = c.clock.now_ms();
            let until_next = match c.triggers.set.next_deadline() {
                Some(d) => Duration::from_millis((d - now).max(0) as u64).min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            if retry {
                until_next.max(RETRY)
            } else if until_next.is_zero() {
                continue;
            } else {
                until_next
            }
        };
        if wake.sleep(seen, wait) {
            break;
        }
    }
    tracing::info!("trigger thread stopped");
}
