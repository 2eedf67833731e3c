//! When a scheduled campaign's next run is due: the pure half of the
//! scheduler. The thread that wakes and calls
//! [`CampaignStore::start_runs`](crate::CampaignStore::start_runs) for what
//! [`CampaignStore::due`](crate::CampaignStore::due) returns comes with
//! delivery.
//!
//! - `now`: at once, the moment it is scheduled; one run.
//! - `at`: at that time (at once if it has passed); one run.
//! - `daily` HH:MM UTC: the first HH:MM at or after the moment it was
//!   (last) scheduled, and after a run, the first HH:MM after that run's
//!   start. Runs missed while nothing was running are not made up one by
//!   one: the next is the first HH:MM after the last run, so a server down
//!   for three days runs once when it comes back.
//! - `on_event`: never by the clock; its timers start and extend its runs
//!   ([`crate::trigger`]).

use crate::definition::Schedule;
use crate::lifecycle::State;
use crate::store::Campaign;
use crate::validate::{parse_hh_mm, parse_rfc3339};

/// The time (seconds since 1970-01-01 UTC) of the campaign's next run, or
/// `None` if it is not scheduled or its schedule has no run left.
pub fn next_run_at(c: &Campaign) -> Option<i64> {
    if c.state != State::Scheduled {
        return None;
    }
    // When it last became scheduled (start, approve, resume, a run's end).
    let scheduled_at = c
        .history
        .iter()
        .rev()
        .find(|h| h.to == State::Scheduled)
        .map_or(c.created_at, |h| h.at);
    let last_start = c.runs.last().map(|r| r.started_at);
    match &c.def.schedule {
        Schedule::Now => last_start.is_none().then_some(scheduled_at),
        Schedule::At(text) => {
            let at = parse_rfc3339(text).ok()?;
            last_start.is_none().then_some(at)
        }
        Schedule::Daily(text) => {
            let minute = i64::from(parse_hh_mm(text)?);
            let from = match last_start {
                Some(started) => (started + 1).max(scheduled_at),
                None => scheduled_at,
            };
            Some(daily_at_or_after(from, minute))
        }
        // A trigger's runs are started by its timers, not by the clock.
        Schedule::OnEvent(_) => None,
    }
}

/// The first instant at or after `t` that is `minute` minutes after a
/// midnight UTC.
fn daily_at_or_after(t: i64, minute: i64) -> i64 {
    let day_start = t.div_euclid(86_400) * 86_400;
    let today = day_start + minute * 60;
    if today >= t {
        today
    } else {
        today + 86_400
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Actor, CampaignDef, Role};
    use crate::lifecycle::Action;
    use crate::store::{HistoryEntry, RunRecord};

    const DAY: i64 = 86_400;
    const T0: i64 = 20_779 * DAY; // 2026-11-22 00:00 UTC

    fn campaign(schedule: Schedule, scheduled_at: i64, runs: &[i64]) -> Campaign {
        let def: CampaignDef = serde_json::from_value(serde_json::json!({
            "name": "c", "table": "users", "audience": {"where": "age > 1"},
            "channel": {"file": {"dir": "/o", "format": "csv"}},
            "variants": [{"name": "a", "weight": 1, "template": "x"}],
            "schedule": schedule,
        }))
        .unwrap();
        let ann = Actor::new("ann", Role::Write);
        Campaign {
            id: 1,
            def,
            created_by: ann.clone(),
            created_at: T0,
            state: State::Scheduled,
            history: vec![HistoryEntry {
                at: scheduled_at,
                actor: ann,
                action: Some(Action::Start),
                from: Some(State::Draft),
                to: State::Scheduled,
                reason: None,
            }],
            runs: runs
                .iter()
                .enumerate()
                .map(|(i, &started_at)| RunRecord {
                    number: i as u32 + 1,
                    day: started_at.div_euclid(DAY) as i32,
                    started_at,
                    finished_at: Some(started_at + 60),
                    audience: 0,
                    holdout: 0,
                    capped: 0,
                    variants: vec![0],
                    race: None,
                    generation: 0,
                })
                .collect(),
            fired_through_ms: None,
        }
    }

    #[test]
    fn now_and_at_run_once() {
        let t = T0 + 3600;
        assert_eq!(next_run_at(&campaign(Schedule::Now, t, &[])), Some(t));
        assert_eq!(next_run_at(&campaign(Schedule::Now, t, &[t])), None);
        let at = Schedule::At("2026-11-24T08:00:00+01:00".into());
        assert_eq!(
            next_run_at(&campaign(at.clone(), t, &[])),
            Some(T0 + 2 * DAY + 7 * 3600)
        );
        assert_eq!(next_run_at(&campaign(at, t, &[T0 + 2 * DAY])), None);
    }

    #[test]
    fn daily_runs_at_the_next_hh_mm_after_the_last_run() {
        let daily = Schedule::Daily("09:30".into());
        let at_930 = |day: i64| T0 + day * DAY + 9 * 3600 + 1800;
        // Scheduled at 08:00: today 09:30; at 10:00: tomorrow's; at 09:30 sharp: now.
        assert_eq!(
            next_run_at(&campaign(daily.clone(), T0 + 8 * 3600, &[])),
            Some(at_930(0))
        );
        assert_eq!(
            next_run_at(&campaign(daily.clone(), T0 + 10 * 3600, &[])),
            Some(at_930(1))
        );
        assert_eq!(
            next_run_at(&campaign(daily.clone(), at_930(0), &[])),
            Some(at_930(0))
        );
        // After a run at 09:30:02: tomorrow; after a late one at 23:00: tomorrow.
        let c = campaign(daily.clone(), T0, &[at_930(0) + 2]);
        assert_eq!(next_run_at(&c), Some(at_930(1)));
        let c = campaign(daily.clone(), T0, &[T0 + 23 * 3600]);
        assert_eq!(next_run_at(&c), Some(at_930(1)));
        // Down for three days after a run: one run, the next 09:30 after it.
        let c = campaign(daily.clone(), T0, &[at_930(0)]);
        assert_eq!(next_run_at(&c), Some(at_930(1)));
        // Paused and resumed later: from the resume.
        let mut c = campaign(daily, T0, &[at_930(0)]);
        c.history.last_mut().unwrap().at = at_930(3) + 60;
        assert_eq!(next_run_at(&c), Some(at_930(4)));
        // Not scheduled: none.
        c.state = State::Running;
        assert_eq!(next_run_at(&c), None);
    }
}
