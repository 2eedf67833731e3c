//! One trigger campaign's pending timers, in memory: at most one per user
//! (row), each with its deadline (milliseconds since 1970-01-01 UTC), and
//! when each user's last timer came due (for the re-entry interval).
//!
//! About 40 bytes per pending timer (a map entry and a heap entry), and
//! 16 per user in their re-entry interval, so a million pending timers
//! take tens of MB: measured by `benches/src/bin/trigger_timers.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use roaring::RoaringBitmap;

/// What came due, taken out until [`Timers::fired`] or
/// [`Timers::release`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Due {
    /// The users.
    pub rows: RoaringBitmap,
    /// Each timer's deadline (in the order they came due).
    pub deadlines: Vec<i64>,
    /// Every timer due by this instant is in `rows`.
    pub through: i64,
}

/// (row, instant in ms) pairs.
pub(crate) type Pairs = Vec<(u32, i64)>;

/// A campaign's timers.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    pending: HashMap<u32, i64>,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    last_due: HashMap<u32, i64>,
    /// Timers due by this instant have been fired (the catalog says so).
    fired_through: Option<i64>,
    /// A fire in progress: what it took.
    in_flight: Option<HashMap<u32, i64>>,
    in_flight_through: Option<i64>,
}

impl Timers {
    /// A campaign's timers, every timer due by `fired_through` fired.
    pub(crate) fn new(fired_through: Option<i64>) -> Timers {
        Timers {
            fired_through,
            ..Timers::default()
        }
    }

    /// Pending timers.
    pub(crate) fn len(&self) -> usize {
        self.pending.len() + self.in_flight.as_ref().map_or(0, HashMap::len)
    }

    /// Users in their re-entry interval (kept for it).
    pub(crate) fn remembered(&self) -> usize {
        self.last_due.len()
    }

    /// The earliest instant a new timer may be due: after every fire done
    /// or in progress, so that a fire's `through` covers exactly the
    /// timers it took.
    fn floor(&self) -> i64 {
        let done = self.fired_through.unwrap_or(i64::MIN);
        let flying = self.in_flight_through.unwrap_or(i64::MIN);
        done.max(flying).saturating_add(1)
    }

    /// Arms a timer due `within` ms after `at` for each of `rows` not
    /// pending and not in its re-entry interval (`reentry` ms after its
    /// last timer came due). Returns the rows armed and their deadline.
    pub(crate) fn arm(
        &mut self,
        rows: &[u32],
        at: i64,
        within: i64,
        reentry: i64,
    ) -> (Vec<u32>, i64) {
        let deadline = at.saturating_add(within).max(self.floor());
        (self.arm_at(rows, at, deadline, reentry), deadline)
    }

    /// [`Timers::arm`] with the deadline given (replaying the log).
    pub(crate) fn arm_at(
        &mut self,
        rows: &[u32],
        at: i64,
        deadline: i64,
        reentry: i64,
    ) -> Vec<u32> {
        let mut armed = Vec::new();
        for &r in rows {
            if self.pending.contains_key(&r) || self.is_in_flight(r) {
                continue;
            }
            if let Some(&t) = self.last_due.get(&r) {
                if at < t.saturating_add(reentry) {
                    continue;
                }
            }
            self.pending.insert(r, deadline);
            self.heap.push(Reverse((deadline, r)));
            armed.push(r);
        }
        armed
    }

    fn is_in_flight(&self, r: u32) -> bool {
        self.in_flight.as_ref().is_some_and(|f| f.contains_key(&r))
    }

    /// Cancels the pending timers of `rows` whose deadline is after `at`
    /// (one due by then is due, not cancelled). Returns the rows
    /// cancelled.
    pub(crate) fn cancel(&mut self, rows: &[u32], at: i64) -> Vec<u32> {
        let mut out = Vec::new();
        for &r in rows {
            if let Some(&d) = self.pending.get(&r) {
                if d > at {
                    self.pending.remove(&r);
                    out.push(r);
                }
            }
        }
        self.compact_heap();
        out
    }

    /// Cancelled timers leave stale heap entries; rebuild the heap when
    /// they outnumber the live ones, so memory follows the pending count.
    fn compact_heap(&mut self) {
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.pending.len() {
            self.heap = self
                .pending
                .iter()
                .map(|(&r, &d)| Reverse((d, r)))
                .collect();
        }
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<i64> {
        while let Some(&Reverse((d, r))) = self.heap.peek() {
            if self.pending.get(&r) == Some(&d) {
                return Some(d);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes every timer due by `now` for a fire (none if a fire is in
    /// progress or nothing is due): they are no longer pending, and no
    /// new timer will be due by `now`.
    pub(crate) fn take_due(&mut self, now: i64) -> Option<Due> {
        if self.in_flight.is_some() {
            return None;
        }
        let taken = self.pop_due(now);
        if taken.is_empty() {
            return None;
        }
        let mut rows: Vec<u32> = taken.iter().map(|&(_, r)| r).collect();
        rows.sort_unstable();
        let due = Due {
            rows: RoaringBitmap::from_sorted_iter(rows).expect("sorted, distinct"),
            deadlines: taken.iter().map(|&(d, _)| d).collect(),
            through: now,
        };
        self.in_flight = Some(taken.into_iter().map(|(d, r)| (r, d)).collect());
        self.in_flight_through = Some(now);
        Some(due)
    }

    fn pop_due(&mut self, now: i64) -> Vec<(i64, u32)> {
        let mut taken = Vec::new();
        while let Some(&Reverse((d, r))) = self.heap.peek() {
            if d > now {
                break;
            }
            self.heap.pop();
            if self.pending.get(&r) == Some(&d) {
                self.pending.remove(&r);
                taken.push((d, r));
            }
        }
        taken
    }

    /// The fire of what [`Timers::take_due`] took is committed (through
    /// `through`): its users enter their re-entry interval.
    pub(crate) fn fired(&mut self, through: i64) {
        for (r, d) in self.in_flight.take().unwrap_or_default() {
            self.last_due.insert(r, d);
        }
        self.in_flight_through = None;
        self.fired_through = Some(through.max(self.fired_through.unwrap_or(i64::MIN)));
    }

    /// The fire did not happen: what it took is pending again.
    pub(crate) fn release(&mut self) {
        for (r, d) in self.in_flight.take().unwrap_or_default() {
            self.pending.insert(r, d);
            self.heap.push(Reverse((d, r)));
        }
        self.in_flight_through = None;
    }

    /// Replay: the timers due by `min(at, fired_through)` were fired
    /// before anything written at `at` (fires take every due timer).
    pub(crate) fn catch_up(&mut self, at: i64) {
        let Some(ft) = self.fired_through else {
            return;
        };
        for (d, r) in self.pop_due(at.min(ft)) {
            self.last_due.insert(r, d);
        }
    }

    /// Forgets users whose re-entry interval ended by `now`.
    pub(crate) fn prune(&mut self, now: i64, reentry: i64) {
        if self.last_due.len() > 1024 {
            self.last_due.retain(|_, t| now < t.saturating_add(reentry));
        }
    }

    /// Every pending timer and remembered user (for a snapshot).
    pub(crate) fn entries(&self) -> (Pairs, Pairs) {
        let mut pending: Vec<(u32, i64)> = self.pending.iter().map(|(&r, &d)| (r, d)).collect();
        if let Some(f) = &self.in_flight {
            pending.extend(f.iter().map(|(&r, &d)| (r, d)));
        }
        pending.sort_unstable();
        let mut last: Vec<(u32, i64)> = self.last_due.iter().map(|(&r, &t)| (r, t)).collect();
        last.sort_unstable();
        (pending, last)
    }

    /// Timers read back from a snapshot.
    pub(crate) fn restore(&mut self, pending: Vec<(u32, i64)>, last: Vec<(u32, i64)>) {
        for (r, d) in pending {
            self.pending.insert(r, d);
            self.heap.push(Reverse((d, r)));
        }
        self.last_due.extend(last);
    }

    /// The pending timer of `row`, if any (tests).
    #[cfg(test)]
    pub(crate) fn deadline_of(&self, row: u32) -> Option<i64> {
        self.pending.get(&row).copied()
    }
}
