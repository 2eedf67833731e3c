//! Exports are rate-limited per principal (`export_ids_per_minute`): a
//! token bucket per principal name, holding at most a minute's ids and
//! refilled continuously, charged with every id that leaves the server (a
//! segment's ids as CSV or Roaring, a query's ids as CSV or JSON). The
//! rows are counted before the export starts and the whole export is
//! charged at once, or refused with 429 `rate_limited` and `Retry-After`.
//! An export larger than a minute's ids passes only on a full bucket,
//! which it leaves in debt: the principal then waits for the refill.
//! Principals are independent; 0 turns the limit off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use segdb_engine::{Expr, Table};

use super::api_error::ApiError;

/// One principal's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    ids: f64,
    at: Instant,
}

/// The buckets of every principal that exported.
pub struct ExportLimit {
    per_minute: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Added to the clock: tests move time on instead of waiting.
    skew_ms: AtomicU64,
    /// Exports refused.
    pub refused: Arc<AtomicU64>,
}

impl ExportLimit {
    /// `per_minute` ids a minute per principal (0: unlimited); refusals
    /// counted in `refused`.
    pub fn new(per_minute: u64, refused: Arc<AtomicU64>) -> ExportLimit {
        ExportLimit {
            per_minute,
            buckets: Mutex::default(),
            skew_ms: AtomicU64::new(0),
            refused,
        }
    }

    fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Moves this limiter's clock on by `d` (tests: a refill without
    /// waiting).
    #[doc(hidden)]
    pub fn advance_clock(&self, d: Duration) {
        self.skew_ms
            .fetch_add(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Whether exports are limited at all (`export_ids_per_minute` > 0).
    pub fn is_on(&self) -> bool {
        self.per_minute > 0
    }

    /// Takes `bound` ids from `principal`'s bucket if it holds them all
    /// (always, with no limit): a stream that sends at most `bound` ids
    /// starts at once, without counting them first, and gives back what
    /// it did not send ([`ExportLimit::refund`]). `false`: nothing taken;
    /// count the export and [`ExportLimit::charge`] it.
    pub fn reserve(&self, principal: &str, bound: u64) -> bool {
        if self.per_minute == 0 || bound == 0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.refilled(&mut buckets, principal);
        if b.ids >= bound as f64 {
            b.ids -= bound as f64;
            true
        } else {
            false
        }
    }

    /// Reserves what a stream of `filter`'s ids from `offset` (at most
    /// `limit`) can send: with a limit, the filter's upper bound (read
    /// from the parts' headers), without one the table's rows (nothing
    /// read). The ids reserved, or `None` if the bucket cannot hold them
    /// (then count the export and [`ExportLimit::charge`] it).
    pub fn reserve_stream(
        &self,
        principal: &str,
        table: &Table,
        filter: &Expr,
        offset: u64,
        limit: Option<u64>,
    ) -> segdb_engine::Result<Option<u64>> {
        let most = if self.is_on() {
            table.upper_bound(filter)?
        } else {
            table.num_rows()
        };
        let bound = most.saturating_sub(offset).min(limit.unwrap_or(u64::MAX));
        Ok(self.reserve(principal, bound).then_some(bound))
    }

    /// Gives back `ids` reserved but not sent.
    pub fn refund(&self, principal: &str, ids: u64) {
        if self.per_minute == 0 || ids == 0 {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.refilled(&mut buckets, principal);
        b.ids = (b.ids + ids as f64).min(self.per_minute as f64);
    }

    /// `principal`'s bucket, refilled up to now.
    fn refilled<'a>(
        &self,
        buckets: &'a mut HashMap<String, Bucket>,
        principal: &str,
    ) -> &'a mut Bucket {
        let cap = self.per_minute as f64;
        let now = self.now();
        let b = buckets
            .entry(principal.to_owned())
            .or_insert(Bucket { ids: cap, at: now });
        b.ids = (b.ids + now.saturating_duration_since(b.at).as_secs_f64() * cap / 60.0).min(cap);
        b.at = now;
        b
    }

    /// Charges `principal` with `ids` ids, or 429 with `Retry-After` (in
    /// seconds, until the bucket covers them) if it cannot.
    pub fn charge(&self, principal: &str, ids: u64) -> Result<(), ApiError> {
        if self.per_minute == 0 || ids == 0 {
            return Ok(());
        }
        let cap = self.per_minute as f64;
        let rate_per_s = cap / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.refilled(&mut buckets, principal);
        let need = ids as f64;
        if b.ids >= need || b.ids >= cap {
            b.ids -= need;
            return Ok(());
        }
        let wait_s = ((need.min(cap) - b.ids) / rate_per_s).ceil().max(1.0) as u64;
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::info!(principal, ids, wait_s, "export refused: rate limit");
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this export of {ids} ids passes the export limit of {} ids per minute for \
                 principal `{principal}`; try again in {wait_s} s",
                self.per_minute
            ),
        )
        .with_retry_after(wait_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_are_per_principal() {
        let l = ExportLimit::new(600, Arc::default());
        l.charge("ana", 500).unwrap();
        let e = l.charge("ana", 200).unwrap_err();
        assert_eq!(e.status(), 429);
        assert_eq!(e.code(), "rate_limited");
        l.charge("bo", 600).unwrap();
        // 10 ids a second: 100 more after 10 s.
        l.advance_clock(Duration::from_secs(10));
        l.charge("ana", 200).unwrap();
        // Larger than a minute's ids: only on a full bucket.
        assert!(l.charge("ana", 1000).is_err());
        l.advance_clock(Duration::from_secs(60));
        l.charge("ana", 1000).unwrap();
        assert!(l.charge("ana", 1).is_err());
        assert!(ExportLimit::new(0, Arc::default())
            .charge("ana", u64::MAX)
            .is_ok());
    }
}
