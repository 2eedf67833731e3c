//! Marketing touches per user and day, for frequency caps.
//!
//! [`Touches`] holds one scope's touches (a table's, for the table-wide
//! cap, or one campaign's, for its own cap): per day, *levels*, where
//! level `k` is the bitmap of rows touched at least `k + 1` times that
//! day. A day keeps at most [`MAX_CAP`] levels: a cap never asks past its
//! `max`, so counts above it need not be told apart. Adding a touch to a
//! set of rows is one union and one intersection per level.
//!
//! [`WindowCounts`] sums the days of a cap's window the same way: `at[j]`
//! holds the rows with at least `j + 1` touches in the window, for `j <
//! max`, built by merging each day's levels (`at'[j] = at[j] ∪ day[j] ∪
//! ⋃ (at[a] ∩ day[j - a - 1])`). Its last level is the set of rows at the
//! cap. Adding a run's sendable rows as one more touch shifts them up a
//! level, which is how runs starting at the same moment see the touches of
//! the higher-priority ones.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use segdb_engine::date::Day;

/// The largest cap's `max`.
pub const MAX_CAP: u32 = 100;

/// The longest cap window, in days.
pub const MAX_CAP_DAYS: u32 = 90;

/// One scope's touches, per day, as levels (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Touches {
    days: BTreeMap<Day, Vec<RoaringBitmap>>,
}

impl Touches {
    /// No touches.
    pub fn new() -> Touches {
        Touches::default()
    }

    /// Records one touch on `day` for every row of `rows`.
    pub fn add(&mut self, day: Day, rows: &RoaringBitmap) {
        if rows.is_empty() {
            return;
        }
        let levels = self.days.entry(day).or_default();
        add_one(levels, rows, MAX_CAP as usize);
    }

    /// The levels of `day` (level `k`: rows touched at least `k + 1`
    /// times), empty if none.
    pub fn day(&self, day: Day) -> &[RoaringBitmap] {
        self.days.get(&day).map_or(&[], Vec::as_slice)
    }

    /// Replaces the levels of `day` (as read back from disk).
    pub fn set_day(&mut self, day: Day, levels: Vec<RoaringBitmap>) {
        if levels.is_empty() {
            self.days.remove(&day);
        } else {
            self.days.insert(day, levels);
        }
    }

    /// The days with touches, in order.
    pub fn days(&self) -> impl Iterator<Item = Day> + '_ {
        self.days.keys().copied()
    }

    /// How many times `row` was touched on `day` (up to [`MAX_CAP`]).
    pub fn count(&self, day: Day, row: u32) -> u32 {
        self.day(day).iter().take_while(|l| l.contains(row)).count() as u32
    }

    /// The counts over the `days` days ending on `last`, up to `max`.
    pub fn window(&self, last: Day, days: u32, max: u32) -> WindowCounts {
        let mut w = WindowCounts::empty(max);
        let first = last - (days as Day - 1);
        for (_, levels) in self.days.range(first..=last) {
            w.merge_day(levels);
        }
        w
    }
}

/// Adds one touch to `rows` in `levels`, keeping at most `cap` levels.
fn add_one(levels: &mut Vec<RoaringBitmap>, rows: &RoaringBitmap, cap: usize) {
    if levels.len() < cap {
        if let Some(top) = levels.last() {
            let above = top & rows;
            if !above.is_empty() {
                levels.push(above);
            }
        }
    }
    // From the top down, so each level grows by the rows of the old level
    // below it.
    for k in (1..levels.len()).rev() {
        let grown = &levels[k - 1] & rows;
        levels[k] |= grown;
    }
    match levels.first_mut() {
        Some(first) => *first |= rows,
        None => levels.push(rows.clone()),
    }
}

/// Per row, the touches in a cap's window, up to its `max`: `at[j]` is
/// the set of rows with at least `j + 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowCounts {
    at: Vec<RoaringBitmap>,
}

impl WindowCounts {
    /// No touches, counting up to `max` (at least 1).
    pub fn empty(max: u32) -> WindowCounts {
        WindowCounts {
            at: vec![RoaringBitmap::new(); max.max(1) as usize],
        }
    }

    /// Adds a day's levels.
    pub fn merge_day(&mut self, day: &[RoaringBitmap]) {
        let n = self.at.len();
        // New at[j] uses old at[a] for a < j: go from the top down, in
        // place (the levels below j are still the old ones).
        for j in (0..n).rev() {
            let (lower, upper) = self.at.split_at_mut(j);
            let target = &mut upper[0];
            if let Some(d) = day.get(j) {
                *target |= d;
            }
            for (a, below) in lower.iter().enumerate() {
                // a + 1 touches before and j - a this day: j + 1 in all.
                if let Some(d) = day.get(j - a - 1) {
                    *target |= below & d;
                }
            }
        }
    }

    /// Adds one touch to every row of `rows`.
    pub fn add_touch(&mut self, rows: &RoaringBitmap) {
        let n = self.at.len();
        for j in (1..n).rev() {
            let grown = &self.at[j - 1] & rows;
            self.at[j] |= grown;
        }
        self.at[0] |= rows;
    }

    /// The rows at the cap: `max` touches or more.
    pub fn at_cap(&self) -> &RoaringBitmap {
        self.at.last().expect("max is at least 1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Counts per row and day, and window totals capped at `max`,
        /// equal a plain tally.
        #[test]
        fn levels_and_windows_count_like_a_tally(
            adds in prop::collection::vec((0i32..6, prop::collection::vec(0u32..40, 0..30)), 0..25),
            last in 0i32..8,
            days in 1u32..6,
            max in 1u32..5,
            extra in prop::collection::vec(prop::collection::vec(0u32..40, 0..30), 0..4),
        ) {
            let mut t = Touches::new();
            let mut tally = std::collections::HashMap::<(Day, u32), u32>::new();
            for (day, rows) in &adds {
                let rows: RoaringBitmap = rows.iter().copied().collect();
                t.add(*day, &rows);
                for r in &rows {
                    *tally.entry((*day, r)).or_default() += 1;
                }
            }
            for ((day, row), n) in &tally {
                prop_assert_eq!(t.count(*day, *row), (*n).min(MAX_CAP));
            }
            let mut w = t.window(last, days, max);
            let mut extra_tally = std::collections::HashMap::<u32, u32>::new();
            for rows in &extra {
                let rows: RoaringBitmap = rows.iter().copied().collect();
                w.add_touch(&rows);
                for r in &rows {
                    *extra_tally.entry(r).or_default() += 1;
                }
            }
            let first = last - (days as Day - 1);
            for row in 0..40u32 {
                let in_window: u32 = (first..=last)
                    .map(|d| tally.get(&(d, row)).copied().unwrap_or(0))
                    .sum::<u32>()
                    + extra_tally.get(&row).copied().unwrap_or(0);
                prop_assert_eq!(w.at_cap().contains(row), in_window >= max, "row {}", row);
            }
        }
    }
}
