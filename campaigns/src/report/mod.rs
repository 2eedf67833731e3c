//! A campaign's report: per variant and the hold-out, the counts of users
//! reached, their rates, the goal rate and its uplift over the hold-out.
//!
//! - [`stats`]: rates, the uplift with its 95% confidence interval, the
//!   two-proportion z-test and its p-value (the formulas are in the
//!   README, "Campaign report: the formulas").

//! - [`figures`](mod@figures): the report itself ([`report`]), read from
//!   the run's bitmaps, its delivery, the table's effects and tallies.

mod figures;
pub mod stats;

pub use figures::{report, DayFigures, GoalFigures, GroupReport, Report, RunReport};
