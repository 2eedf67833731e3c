//! The webhook channel: each batch is one `POST` of
//! `{"campaign", "run", "variant", "messages": [{"message_id", "user_id",
//! "text"}]}` with `Content-Type: application/json` and the batch's
//! `Idempotency-Key`.
//!
//! - A 2xx: sent.
//! - A connection error, a timeout (`timeout_ms` for the whole request),
//!   a 5xx, a 408 or a 429: retried up to `max_retries` times after an
//!   exponential backoff with jitter (`base * 2^attempt`, capped, each wait
//!   drawn in its upper half), interruptible by [`Control::stop`]. Then
//!   the batch is [`Outcome::Unavailable`]: nothing is recorded and the run
//!   stops there, to resume later. (408 and 429 are the receiver asking
//!   for time, not refusing the users.)
//! - Any other status (a 4xx, or a 3xx after ureq's redirects): the
//!   batch's users are failed for good, with the status and the first
//!   256 bytes of the response.
//!
//! The client is `ureq` (blocking, rustls): delivery runs in a thread of
//! its own.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Batch, Control, Counters, Outcome, Sink, VariantInfo};
use crate::definition::Webhook;
use crate::error::CampaignError;

/// How much of a refused batch's response is kept.
pub const BODY_PREFIX: usize = 256;

/// The waits between attempts: `base * 2^attempt`, at most `max`, drawn
/// in `[d/2, d]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait's upper bound.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before retry `attempt` (0-based) with a random `draw`.
    pub fn wait(&self, attempt: u32, draw: u64) -> Duration {
        let top = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX))
            .min(self.max);
        let nanos = top.as_nanos() as u64;
        let half = nanos / 2;
        Duration::from_nanos(half + draw % (nanos - half + 1))
    }
}

/// The webhook channel.
#[derive(Debug)]
pub struct WebhookSink {
    agent: ureq::Agent,
    url: String,
    max_retries: u32,
    backoff: Backoff,
    control: Control,
    counters: Arc<Counters>,
    draws: u64,
}

impl WebhookSink {
    /// A channel to `hook`, stopping its waits when `control` stops, and
    /// counting into `counters`.
    pub fn new(hook: &Webhook, control: Control, counters: Arc<Counters>) -> WebhookSink {
        let timeout = Duration::from_millis(u64::from(hook.timeout_ms));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_global(Some(timeout))
            .build()
            .into();
        WebhookSink {
            agent,
            url: hook.url.clone(),
            max_retries: hook.max_retries,
            backoff: Backoff::default(),
            control,
            counters,
            draws: 0x005e_ed0f_d311_7e17,
        }
    }

    /// The same with other waits (tests use a few milliseconds).
    pub fn with_backoff(mut self, backoff: Backoff) -> WebhookSink {
        self.backoff = backoff;
        self
    }

    /// One attempt: the status and the response's first bytes, or the
    /// transport error.
    fn post(&self, key: &str, body: &[u8]) -> Result<(u16, String), String> {
        let started = Instant::now();
        let mut r = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .send(body)
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        // Read the answer to its end (so the connection is reused), keeping
        // its first bytes; a long answer is cut off at 64 KiB.
        let mut head = Vec::new();
        let mut reader = r.body_mut().as_reader().take(64 << 10);
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let room = BODY_PREFIX.saturating_sub(head.len());
                    head.extend_from_slice(&chunk[..n.min(room)]);
                }
                Err(e) => return Err(format!("reading the answer: {e}")),
            }
        }
        let c = &self.counters;
        c.latency_count.fetch_add(1, Ordering::Relaxed);
        c.latency_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let class = (status / 100).clamp(1, 5) as usize - 1;
        c.responses[class].fetch_add(1, Ordering::Relaxed);
        Ok((status, String::from_utf8_lossy(&head).into_owned()))
    }
}

/// The JSON body of a batch.
pub fn batch_json(batch: &Batch) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct M<'a> {
        message_id: &'a str,
        user_id: &'a str,
        text: &'a str,
    }
    #[derive(serde::Serialize)]
    struct B<'a> {
        campaign: &'a str,
        run: u32,
        variant: &'a str,
        messages: Vec<M<'a>>,
    }
    serde_json::to_vec(&B {
        campaign: &batch.campaign,
        run: batch.run,
        variant: &batch.variant,
        messages: batch
            .messages
            .iter()
            .map(|m| M {
                message_id: &m.message_id,
                user_id: &m.user_id,
                text: &m.text,
            })
            .collect(),
    })
    .expect("a batch is JSON")
}

impl Sink for WebhookSink {
    fn start_variant(&mut self, _: &VariantInfo) -> Result<bool, CampaignError> {
        Ok(false)
    }

    fn resend(&mut self, _: &Batch) -> Result<(), CampaignError> {
        Ok(())
    }

    fn send(&mut self, batch: &Batch) -> Outcome {
        let body = batch_json(batch);
        let mut last = String::new();
        for attempt in 0..=self.max_retries {
            if self.control.is_stopped() {
                return Outcome::Stopped;
            }
            match self.post(&batch.key, &body) {
                Ok((status, _)) if (200..300).contains(&status) => return Outcome::Sent,
                Ok((status, head)) if status >= 500 || status == 408 || status == 429 => {
                    tracing::warn!(url = %self.url, status, attempt, "webhook answered an error; retrying");
                    last = format!("{} answered {status}: {head}", self.url);
                }
                Ok((status, body)) => {
                    tracing::warn!(url = %self.url, status, "webhook refused a batch");
                    return Outcome::Rejected { status, body };
                }
                Err(e) => {
                    self.counters
                        .transport_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(url = %self.url, error = %e, attempt, "webhook unreachable; retrying");
                    last = format!("{}: {e}", self.url);
                }
            }
            if attempt < self.max_retries {
                self.draws = super::mix64(self.draws.wrapping_add(0x9e37_79b9_7f4a_7c15));
                if self.control.wait(self.backoff.wait(attempt, self.draws)) {
                    return Outcome::Stopped;
                }
            }
        }
        Outcome::Unavailable(format!("{last} (after {} retries)", self.max_retries))
    }

    fn finish_variant(&mut self, _: &VariantInfo) -> Result<(), CampaignError> {
        Ok(())
    }
}
