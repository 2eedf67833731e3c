//! Delivery: sending a run's messages through its channel, each user at
//! most once, resumable after a crash at any moment.
//!
//! - [`log`]: the delivery log, a WAL of one record per completed batch
//!   (rows, outcome, the day's marketing touches), replayed on open into
//!   per-run `sent` and `failed` bitmaps, and checkpointed into the run's
//!   directory and the touch files when the run's delivery completes.
//! - [`Sink`]: a channel behind a small trait; [`file`](mod@file) (JSON lines or CSV,
//!   complete files only) and [`webhook`] (POSTs with an
//!   `Idempotency-Key`, timeouts, retries with backoff, 4xx recorded).
//! - [`run`]: the executor, [`deliver`], which walks each variant's rows
//!   not yet sent nor failed, in row order and in batches, renders, sends,
//!   logs, and stops promptly when told to.
//! - [`receiver`]: a small HTTP/1.1 receiver on 127.0.0.1 for tests and
//!   benchmarks.
//!
//! A message's id is a hash of (campaign id, run, row id) ([`message_id`]),
//! so the one batch that may be sent again after a crash (sent, and the
//! crash before its record was durable) carries the same ids and the same
//! [`idempotency_key`], and no user gets two ids in one run.

pub mod file;
pub mod log;
pub mod receiver;
pub mod run;
pub mod webhook;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use file::FileSink;
pub use log::{DeliveryLog, FailedBatch, RunDelivery};
pub use run::{deliver, Report, VariantReport};
pub use webhook::{Backoff, WebhookSink};

use crate::error::CampaignError;

/// One message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The user's row id (not sent; the log records rows).
    pub row: u32,
    /// Stable per campaign, run and user ([`message_id`]).
    pub message_id: String,
    /// The user's external id.
    pub user_id: String,
    /// The rendered template.
    pub text: String,
}

/// A batch of messages of one variant of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The campaign's name.
    pub campaign: String,
    /// The run's number.
    pub run: u32,
    /// The variant's name.
    pub variant: String,
    /// The same for the same batch sent again ([`idempotency_key`]).
    pub key: String,
    /// The messages, in row order.
    pub messages: Vec<Message>,
}

/// What sending a batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered: its users are recorded sent.
    Sent,
    /// Refused for good (a 4xx): its users are recorded failed with the
    /// status and the response's first bytes.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The first (at most 256) bytes of the response, as text.
        body: String,
    },
    /// Not delivered after the channel's retries: nothing is recorded, the
    /// run stops and resumes from this batch.
    Unavailable(String),
    /// Told to stop (pause, cancel) while waiting: nothing is recorded.
    Stopped,
}

/// One variant of a run, as a channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantInfo {
    /// The campaign's name.
    pub campaign: String,
    /// The run's number.
    pub run: u32,
    /// The variant's name.
    pub variant: String,
}

/// A channel: where a run's batches go.
pub trait Sink {
    /// A variant's delivery starts (or resumes). Returns whether the
    /// channel needs the messages already recorded sent to be given again
    /// (through [`Sink::resend`]) before the rest: the file channel
    /// rewrites its unfinished file from them, so a resumed run never
    /// duplicates a line.
    fn start_variant(&mut self, variant: &VariantInfo) -> Result<bool, CampaignError>;
    /// Messages already recorded sent, given again after
    /// [`Sink::start_variant`] asked for them (not logged again).
    fn resend(&mut self, batch: &Batch) -> Result<(), CampaignError>;
    /// Sends one batch.
    fn send(&mut self, batch: &Batch) -> Outcome;
    /// Every batch of the variant is recorded (sent or failed).
    fn finish_variant(&mut self, variant: &VariantInfo) -> Result<(), CampaignError>;
}

/// Pause or cancel: a shared flag the executor and the channels' waits
/// (backoff, rate limit) watch. Clones share it. It also carries nudges:
/// a trigger's fire tells the worker of its run that users were added.
#[derive(Debug, Clone, Default)]
pub struct Control {
    inner: Arc<(Mutex<ControlState>, Condvar)>,
}

#[derive(Debug, Default)]
struct ControlState {
    stopped: bool,
    nudges: u64,
}

impl Control {
    /// A control not stopped.
    pub fn new() -> Control {
        Control::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks every delivery watching it to stop at once (after the batch in
    /// flight is recorded); waits end early.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.inner.1.notify_all();
    }

    /// Whether [`Control::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Tells the worker there is more to deliver; ends a
    /// [`Control::wait_nudge`].
    pub fn nudge(&self) {
        self.lock().nudges += 1;
        self.inner.1.notify_all();
    }

    /// Nudges so far (read before delivering, so that a nudge during the
    /// delivery is not missed by the wait after it).
    pub fn nudges(&self) -> u64 {
        self.lock().nudges
    }

    /// Waits `d`, or less if stopped meanwhile. Returns whether stopped.
    pub fn wait(&self, d: Duration) -> bool {
        self.wait_until(d, |_| false)
    }

    /// Waits `d`, or less if stopped or nudged since `seen` nudges.
    /// Returns whether stopped.
    pub fn wait_nudge(&self, seen: u64, d: Duration) -> bool {
        self.wait_until(d, |s| s.nudges != seen)
    }

    fn wait_until(&self, d: Duration, done: impl Fn(&ControlState) -> bool) -> bool {
        let end = Instant::now() + d;
        let mut s = self.lock();
        loop {
            if s.stopped {
                return true;
            }
            let now = Instant::now();
            if now >= end || done(&s) {
                return false;
            }
            s = self
                .inner
                .1
                .wait_timeout(s, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Figures of one campaign's deliveries, for `/metrics` (the server keeps
/// one per campaign and exports them).
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages recorded sent.
    pub sent: AtomicU64,
    /// Messages recorded failed (a 4xx).
    pub failed: AtomicU64,
    /// Users skipped at a cap, added when a run's delivery completes.
    pub capped: AtomicU64,
    /// Webhook answers by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub responses: [AtomicU64; 5],
    /// Webhook requests that got no answer (connection error, timeout).
    pub transport_errors: AtomicU64,
    /// Webhook requests answered, and the sum of their latencies in µs.
    pub latency_count: AtomicU64,
    /// See `latency_count`.
    pub latency_micros: AtomicU64,
}

impl Counters {
    /// The count of responses of `status`'s class.
    pub fn responses_of(&self, status: u16) -> u64 {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.responses[class].load(Ordering::Relaxed)
    }
}

/// SplitMix64's finalizer: a bijection of `u64`.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The message id of row `row` in run `run` of campaign `campaign_id`:
/// `c<id>-r<run>-<16 hex digits>`. The digits are a bijective hash of the
/// row under a key of (campaign, run), so two users of one run never share
/// an id, and the same user always gets the same one.
pub fn message_id(campaign_id: u64, run: u32, row: u32) -> String {
    let key = mix64(campaign_id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(run));
    format!("c{campaign_id}-r{run}-{:016x}", mix64(u64::from(row) ^ key))
}

/// The `Idempotency-Key` of a batch: its variant and its first message's
/// id, so the same batch sent again (after a crash before its record) has
/// the same key.
pub fn idempotency_key(campaign_id: u64, run: u32, variant: usize, first_row: u32) -> String {
    format!("{}-v{variant}", message_id(campaign_id, run, first_row))
}

/// A token bucket of `rate` messages per second, with a burst of one
/// second's worth: a pure calculation over the time since its start.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket of `rate` (>= 1) messages per second.
    pub fn new(rate: u32) -> TokenBucket {
        let rate = f64::from(rate.max(1));
        TokenBucket {
            rate,
            tokens: rate,
            at: Duration::ZERO,
        }
    }

    /// Takes `n` tokens at `now` (time since any fixed start, never going
    /// back): how long to wait before sending them. A batch bigger than
    /// the burst waits for the deficit.
    pub fn take(&mut self, n: u32, now: Duration) -> Duration {
        if now > self.at {
            let refill = (now - self.at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + refill).min(self.rate);
            self.at = now;
        }
        self.tokens -= f64::from(n);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests;
