//! One user's rows of `events.csv`: daily behaviour counts over 30 days.

use super::distributions::{beta_binomial_pmf, random_subset, Bernoulli, Categorical, GenRng};
use super::text::{day_date, Label, RowBuf};
use segdb_engine::date::{format_iso_day, Day};

/// The header line of `events.csv`, with its newline.
pub(crate) const EVENTS_HEADER: &str = "user_id,event,day,count\n";

/// The events, in the order their rows are written within a day.
pub(crate) const EVENT_NAMES: [&str; 4] = ["search", "view", "favorite", "book"];

/// Days in the window, day 0 = 2026-10-24 .. day 29 = 2026-11-22.
pub(crate) const NUM_DAYS: u32 = 30;

/// Poisson tables are cut here; the tail mass (< 1e-20) goes to the cap.
const POISSON_CAP: u32 = 40;

/// The event distributions and the text between id and count of every
/// (event, day) row, built once per run.
pub(crate) struct EventModel {
    /// The number of active days: Beta(0.3, 20)-binomial over 30 days.
    active_days: Categorical,
    search_extra: Categorical,
    views: Categorical,
    favorite_some: Bernoulli,
    favorite_extra: Categorical,
    book: Bernoulli,
    /// `,event,date,` for event `e` and day `d` at index `e * NUM_DAYS + d`.
    middles: Vec<Label>,
}

impl EventModel {
    /// Builds the tables, for the standard days (2026-10-24 to 2026-11-22).
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        EventModel::ending(None)
    }

    /// Builds the tables; the 30 days end on `last_day` (the standard
    /// 2026-11-22 if `None`). Only the dates differ: the draws are the same.
    pub(crate) fn ending(last_day: Option<Day>) -> Self {
        let date = move |d: u32| match last_day {
            None => day_date(d),
            Some(last) => format_iso_day(last - (NUM_DAYS - 1 - d) as Day),
        };
        let middles = EVENT_NAMES
            .iter()
            .flat_map(|event| (0..NUM_DAYS).map(move |d| format!(",{event},{},", date(d))))
            .map(|s| Label::new(&s))
            .collect();
        EventModel {
            active_days: Categorical::new(&beta_binomial_pmf(NUM_DAYS, 0.3, 20.0)),
            search_extra: Categorical::poisson_clipped(2.0, POISSON_CAP),
            views: Categorical::poisson_clipped(3.0, POISSON_CAP),
            favorite_some: Bernoulli::new(0.3),
            favorite_extra: Categorical::poisson_clipped(0.5, POISSON_CAP),
            book: Bernoulli::new(0.05),
            middles,
        }
    }

    /// Draws one user's activity and appends its rows, in day then event
    /// order, to `out`; returns the number of rows written.
    ///
    /// DATASET.md draws an activity a ~ Beta(0.3, 20) per user, then makes
    /// each day active with probability a. Drawn that way, the number of
    /// active days follows the beta-binomial law and, given that number,
    /// every set of active days is equally likely; this draws exactly that,
    /// from a precomputed table, without drawing a itself (one word for most
    /// users instead of a beta draw and 30 trials).
    pub(crate) fn write_events(
        &self,
        rng: &mut GenRng,
        user_id: &Label,
        row: &mut RowBuf,
        out: &mut Vec<u8>,
    ) -> u64 {
        let num_active = self.active_days.sample(rng);
        if num_active == 0 {
            return 0;
        }
        let mut days = random_subset(rng, num_active, NUM_DAYS);
        let mut rows = 0;
        while days != 0 {
            let day = days.trailing_zeros();
            days &= days - 1;
            rows += self.write_day(rng, user_id, day, row, out);
        }
        rows
    }

    /// Draws the counts of one active day and writes the non-zero ones.
    #[inline]
    fn write_day(
        &self,
        rng: &mut GenRng,
        user_id: &Label,
        day: u32,
        row: &mut RowBuf,
        out: &mut Vec<u8>,
    ) -> u64 {
        let search = 1 + self.search_extra.sample(rng);
        let view = self.views.sample(rng);
        let favorite = if self.favorite_some.sample(rng) {
            1 + self.favorite_extra.sample(rng)
        } else {
            0
        };
        let book = u32::from(self.book.sample(rng));
        let mut rows = 0;
        row.clear();
        for (event, count) in [search, view, favorite, book].into_iter().enumerate() {
            if count > 0 {
                row.label(user_id);
                row.label(&self.middles[event * NUM_DAYS as usize + day as usize]);
                row.int(i64::from(count));
                row.byte(b'\n');
                rows += 1;
            }
        }
        out.extend_from_slice(row.as_bytes());
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::distributions::block_rng;

    #[test]
    fn middles_cover_every_event_and_day() {
        let model = EventModel::new();
        assert_eq!(model.middles.len(), 120);
        assert_eq!(model.middles[0].as_bytes(), b",search,2026-10-24,");
        assert_eq!(model.middles[3 * 30 + 29].as_bytes(), b",book,2026-11-22,");
        let day = segdb_engine::date::parse_iso_day("2027-03-01").unwrap();
        let shifted = EventModel::ending(Some(day));
        assert_eq!(shifted.middles[0].as_bytes(), b",search,2027-01-31,");
        assert_eq!(
            shifted.middles[3 * 30 + 29].as_bytes(),
            b",book,2027-03-01,"
        );
    }

    #[test]
    fn rows_are_well_formed() {
        let model = EventModel::new();
        let mut rng = block_rng(5, 0);
        let mut row = RowBuf::new();
        let mut out = Vec::new();
        let mut rows = 0;
        let id = crate::gen::text::user_id(7);
        for _ in 0..5000 {
            rows += model.write_events(&mut rng, &id, &mut row, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count() as u64, rows);
        assert!(rows > 1000, "{rows} rows for 5000 users");
        for line in text.lines() {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 4);
            assert!(EVENT_NAMES.contains(&fields[1]));
            assert!(fields[3].parse::<u32>().unwrap() > 0);
        }
    }
}
