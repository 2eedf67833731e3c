//! Copy racing: a run of a campaign split `copy_race` sends first to a
//! test share of its audience (after the hold-out and caps), divided
//! evenly over the variants; the rest waits. Once the race window has
//! passed and the test share is delivered, the winner is chosen by the
//! metric, the decision is recorded in the run (durably: a restart goes on
//! from it), and the rest is sent the winner.
//!
//! The rule (README, "Copy racing"):
//! - a variant's rate is CTR (users who clicked / users delivered, both
//!   from reported effects) or the goal rate (users who met the goal /
//!   users sent);
//! - a variant takes part if its denominator reaches `min_deliveries`
//!   (at least 1);
//! - the leader is the taking-part variant with the highest rate (ties: the
//!   first in definition order); it wins if a two-proportion z-test of it
//!   against the runner-up gives p < 0.05;
//! - otherwise (fewer than two take part, or the lead is not significant)
//!   the first variant, the control, wins.

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::definition::{CopyRace, RaceMetric};
use crate::report::stats::{uplift, Rate};

/// The smallest test share.
pub const MIN_TEST_SHARE: f64 = 0.0001;

/// The longest race window, in minutes (7 days).
pub const MAX_WINDOW_MINUTES: u32 = 7 * 24 * 60;

/// The significance level of the winner's lead.
pub const ALPHA: f64 = 0.05;

/// The split weights of a race of `n` variants: each variant
/// `test_share / n` of the rows, and a last group, the rest, the others
/// (weights in units of 1/10,000 of a variant's... share, summing to
/// `n * 10,000`).
pub fn race_weights(n: usize, test_share: f64) -> Vec<u32> {
    let unit = 10_000u32;
    let each = ((test_share * f64::from(unit)).round() as u32).clamp(1, unit - 1);
    let mut w = vec![each; n];
    w.push(unit * n as u32 - each * n as u32);
    w
}

/// A run's race: what waits, until when, and what was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceRecord {
    /// Users waiting for the winner (the rest of the audience, after the
    /// hold-out and caps).
    pub rest: u64,
    /// When the window ends, in seconds since 1970-01-01 UTC.
    pub deadline: i64,
    /// The decision, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<RaceDecision>,
}

/// A race's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceDecision {
    /// When, in seconds since 1970-01-01 UTC.
    pub decided_at: i64,
    /// `ctr` or `goal`.
    pub metric: RaceMetric,
    /// Per variant, in definition order.
    pub variants: Vec<RaceVariant>,
    /// The winner's index.
    pub winner: usize,
    /// The winner's name.
    pub winner_name: String,
    /// The leader (best rate among those taking part), if any.
    pub leader: Option<usize>,
    /// The runner-up, if any.
    pub runner_up: Option<usize>,
    /// z of the leader against the runner-up.
    pub z: Option<f64>,
    /// Its two-sided p-value.
    pub p_value: Option<f64>,
    /// Whether the leader won on a significant lead.
    pub significant: bool,
    /// Why the winner won, in words.
    pub reason: String,
}

/// One variant's standing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceVariant {
    /// Its name.
    pub name: String,
    /// Users who did it (clicked, met the goal).
    pub hits: u64,
    /// Users asked (delivered, sent).
    pub n: u64,
    /// `hits / n`.
    pub rate: Option<f64>,
    /// Whether `n` reached the minimum.
    pub eligible: bool,
}

/// Decides a race from each variant's `(name, hits, n)`.
pub fn decide(race: &CopyRace, standings: Vec<(String, u64, u64)>, now: i64) -> RaceDecision {
    let min = u64::from(race.min_deliveries.max(1));
    let variants: Vec<RaceVariant> = standings
        .into_iter()
        .map(|(name, hits, n)| RaceVariant {
            rate: (n > 0).then(|| hits as f64 / n as f64),
            eligible: n >= min,
            name,
            hits,
            n,
        })
        .collect();
    let mut ranked: Vec<usize> = (0..variants.len())
        .filter(|&i| variants[i].eligible)
        .collect();
    // Highest rate first; ties keep definition order (a stable sort).
    ranked.sort_by(|&a, &b| {
        let (ra, rb) = (
            variants[a].rate.unwrap_or(0.0),
            variants[b].rate.unwrap_or(0.0),
        );
        rb.partial_cmp(&ra).unwrap_or(std::cmp::Ordering::Equal)
    });
    let leader = ranked.first().copied();
    let runner_up = ranked.get(1).copied();
    let test = match (leader, runner_up) {
        (Some(l), Some(r)) => uplift(
            Rate {
                hits: variants[l].hits,
                n: variants[l].n,
            },
            Rate {
                hits: variants[r].hits,
                n: variants[r].n,
            },
        ),
        _ => None,
    };
    let z = test.and_then(|t| t.z);
    let p_value = test.and_then(|t| t.p_value);
    let significant = matches!((test, p_value), (Some(t), Some(p)) if t.diff > 0.0 && p < ALPHA);
    let (winner, reason) = match (leader, runner_up) {
        (Some(l), Some(r)) if significant => (
            l,
            format!(
                "`{}` leads `{}` significantly (p = {:.4} < {ALPHA})",
                variants[l].name,
                variants[r].name,
                p_value.unwrap_or(1.0)
            ),
        ),
        (Some(l), Some(r)) => (
            0,
            format!(
                "no variant is significantly better (`{}` over `{}`: p = {}): the first variant, the control, is sent",
                variants[l].name,
                variants[r].name,
                p_value.map_or("undefined".to_owned(), |p| format!("{p:.4}"))
            ),
        ),
        _ => (
            0,
            format!(
                "fewer than two variants reached {min} deliveries: the first variant, the control, is sent"
            ),
        ),
    };
    RaceDecision {
        decided_at: now,
        metric: race.metric,
        winner_name: variants
            .get(winner)
            .map(|v| v.name.clone())
            .unwrap_or_default(),
        winner,
        leader,
        runner_up,
        z,
        p_value,
        significant,
        reason,
        variants,
    }
}

/// The variants as a decided race makes them: the winner's test users and
/// the rest.
pub fn with_winner(
    mut variants: Vec<RoaringBitmap>,
    rest: &RoaringBitmap,
    winner: usize,
) -> Vec<RoaringBitmap> {
    if let Some(w) = variants.get_mut(winner) {
        *w |= rest;
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn race(min: u32) -> CopyRace {
        CopyRace {
            test_share: 0.1,
            window_minutes: 60,
            metric: RaceMetric::Ctr,
            min_deliveries: min,
        }
    }

    #[test]
    fn weights_give_each_variant_its_even_part_of_the_share() {
        assert_eq!(
            race_weights(4, 0.1),
            vec![1_000, 1_000, 1_000, 1_000, 36_000]
        );
        assert_eq!(race_weights(2, 0.5), vec![5_000, 5_000, 10_000]);
        let w = race_weights(3, 0.1);
        let total: u32 = w.iter().sum();
        assert_eq!(total, 30_000);
        assert!((f64::from(w[0]) / f64::from(total) - 0.1 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_significant_leader_wins_else_the_control() {
        let s = |v: &[(u64, u64)]| -> Vec<(String, u64, u64)> {
            v.iter()
                .enumerate()
                .map(|(i, (h, n))| (format!("v{i}"), *h, *n))
                .collect()
        };
        // b clicks far more: it wins.
        let d = decide(&race(100), s(&[(20, 400), (120, 400), (30, 400)]), 7);
        assert_eq!((d.winner, d.leader, d.runner_up), (1, Some(1), Some(2)));
        assert!(d.significant && d.p_value.unwrap() < 1e-6, "{d:?}");
        assert_eq!(d.winner_name, "v1");
        assert_eq!(d.decided_at, 7);
        // Close rates: the control.
        let d = decide(&race(100), s(&[(40, 400), (44, 400)]), 7);
        assert_eq!((d.winner, d.leader), (0, Some(1)));
        assert!(!d.significant && d.p_value.unwrap() > ALPHA, "{d:?}");
        assert!(
            d.reason.contains("no variant is significantly better"),
            "{}",
            d.reason
        );
        // The leader lacks deliveries: it takes no part.
        let d = decide(&race(100), s(&[(10, 400), (90, 99), (12, 400)]), 7);
        assert!(!d.variants[1].eligible);
        assert_eq!(d.leader, Some(2));
        assert_eq!(d.winner, 0);
        // Nobody delivered: the control, and no test.
        let d = decide(&race(0), s(&[(0, 0), (0, 0)]), 7);
        assert_eq!((d.winner, d.leader, d.z), (0, None, None));
        assert!(d.reason.contains("fewer than two"), "{}", d.reason);
        // Equal rates keep definition order; with no spread there is no z.
        let d = decide(&race(1), s(&[(0, 50), (0, 50)]), 7);
        assert_eq!(
            (d.leader, d.runner_up, d.z, d.winner),
            (Some(0), Some(1), None, 0)
        );
    }

    #[test]
    fn the_rest_goes_to_the_winner() {
        let v: Vec<RoaringBitmap> = vec![
            [1u32, 2].into_iter().collect(),
            [3u32].into_iter().collect(),
        ];
        let rest: RoaringBitmap = [10u32, 11].into_iter().collect();
        let w = with_winner(v, &rest, 1);
        assert_eq!(w[1].iter().collect::<Vec<_>>(), vec![3, 10, 11]);
        assert_eq!(w[0].len(), 2);
    }
}
