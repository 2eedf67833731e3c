//! Run planning: from frozen audiences to hold-out, capped and per-variant
//! bitmaps, for every run that starts at the same moment on one table.
//!
//! For each campaign, in priority order (highest first, then the lower
//! campaign id):
//! 1. **hold-out**: the audience rows whose hash falls under the hold-out
//!    share;
//! 2. **caps** (marketing only): the rest, less the rows at the table-wide
//!    cap or at the campaign's own cap over their windows ending on the
//!    run's day, are *capped*; the table-wide window counts the touches of
//!    the campaigns planned before it in this batch as one more each, so a
//!    higher-priority campaign gets a user first;
//! 3. **assignment**: every remaining row goes to a variant by weight, by
//!    a second part of the same hash.
//!
//! The hash is SplitMix64 of the campaign id and the **row id**. The issue
//! asks for the external id; a row id is permanent for its external id in
//! a store (the dictionary is append-only and a row id is never reused,
//! not even after a delete: `storage-format/src/dictionary.rs`,
//! `Op::Delete`), so the assignment is as stable across restarts and
//! re-runs, and hashing row ids needs no dictionary read: reading 10M
//! external ids costs about 0.3 to 4 s (the engine's bulk id lookups run
//! at tens to hundreds of ns per id, ARCHITECTURE.md "Ids in bulk"),
//! against a 50 ms budget for the whole plan. The one thing lost is that
//! the same external id in two different stores (a reimport into a fresh
//! store) may land in another variant.

use rayon::prelude::*;
use roaring::RoaringBitmap;
use segdb_engine::date::Day;

use crate::definition::{Cap, Kind};
use crate::touches::{Touches, WindowCounts};

/// One campaign of a batch of runs starting together.
#[derive(Debug, Clone)]
pub struct PlanCampaign<'a> {
    /// The campaign's permanent id (the hash's seed).
    pub id: u64,
    /// Higher goes first.
    pub priority: i32,
    /// Marketing is capped and counts as a touch; transactional neither.
    pub kind: Kind,
    /// Hold-out share, `0.0..=0.5`.
    pub holdout: f64,
    /// The variants' weights (each at least 1).
    pub weights: Vec<u32>,
    /// The campaign's own cap.
    pub cap: Option<Cap>,
    /// The campaign's own past touches (for its cap).
    pub own_touches: &'a Touches,
    /// The frozen audience (row ids).
    pub audience: RoaringBitmap,
}

/// A planned run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// The campaign.
    pub campaign: u64,
    /// The frozen audience.
    pub audience: RoaringBitmap,
    /// Held out: in the audience, messaged nothing.
    pub holdout: RoaringBitmap,
    /// Skipped: at a cap.
    pub capped: RoaringBitmap,
    /// Per variant, the rows it messages (disjoint).
    pub variants: Vec<RoaringBitmap>,
}

impl RunPlan {
    /// Every row the run messages: the union of the variants.
    pub fn sendable(&self) -> RoaringBitmap {
        let mut all = RoaringBitmap::new();
        for v in &self.variants {
            all |= v;
        }
        all
    }
}

/// Plans every run of one table that starts on `day`. Returns one plan per
/// campaign, in the order they were taken (priority, highest first; then
/// the lower id). `table_touches` are the table's past marketing touches.
pub fn plan_runs(
    mut campaigns: Vec<PlanCampaign<'_>>,
    table_cap: Option<Cap>,
    table_touches: &Touches,
    day: Day,
) -> Vec<RunPlan> {
    campaigns.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let marketing = |c: &PlanCampaign<'_>| c.kind == Kind::Marketing;
    let any_marketing = campaigns.iter().any(marketing);
    // The splits do not depend on the caps: they are made (in parallel,
    // shard by shard) while the table's window is merged, which is serial
    // work on one thread.
    let (mut table_window, split) = rayon::join(
        || {
            table_cap
                .filter(|_| any_marketing)
                .map(|c| table_touches.window(day, c.days, c.max))
        },
        || {
            campaigns
                .par_iter()
                .map(|c| {
                    let own = c
                        .cap
                        .filter(|_| marketing(c))
                        .map(|cap| c.own_touches.window(day, cap.days, cap.max));
                    (split(c.id, &c.audience, c.holdout, &c.weights), own)
                })
                .collect::<Vec<_>>()
        },
    );
    let count = campaigns.len();
    let mut plans = Vec::with_capacity(count);
    for (i, (c, ((holdout, mut variants), own))) in campaigns.into_iter().zip(split).enumerate() {
        let mut capped = RoaringBitmap::new();
        if marketing(&c) {
            let rest = &c.audience - &holdout;
            let caps = [table_window.as_ref(), own.as_ref()];
            for at_cap in caps.into_iter().flatten().map(WindowCounts::at_cap) {
                capped |= &rest & at_cap;
            }
            if !capped.is_empty() {
                for v in &mut variants {
                    *v -= &capped;
                }
            }
            // The variants are `rest` less the capped, split: that is
            // what this run sends, one more touch for the campaigns after
            // it (none after the last).
            if i + 1 < count {
                if let Some(w) = &mut table_window {
                    w.add_touch(&(rest - &capped));
                }
            }
        }
        plans.push(RunPlan {
            campaign: c.id,
            audience: c.audience,
            holdout,
            capped,
            variants,
        });
    }
    plans
}

/// SplitMix64's finalizer of the campaign id and the row id.
pub fn mix(campaign: u64, row: u32) -> u64 {
    let mut z = campaign
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(row))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where one row goes: `None` for the hold-out, else its variant index.
/// The high 32 bits of the hash decide the hold-out, the low 32 the
/// variant.
pub fn assign(campaign: u64, row: u32, holdout: f64, weights: &[u32]) -> Option<usize> {
    let h = mix(campaign, row);
    if (h >> 32) < holdout_threshold(holdout) {
        return None;
    }
    Some(pick(h as u32, &cumulative(weights)))
}

fn holdout_threshold(share: f64) -> u64 {
    (share.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64
}

fn cumulative(weights: &[u32]) -> Vec<u64> {
    weights
        .iter()
        .scan(0u64, |acc, &w| {
            *acc += u64::from(w);
            Some(*acc)
        })
        .collect()
}

/// The variant of a 32-bit draw: the first whose cumulative weight
/// exceeds `draw * total / 2^32`.
fn pick(draw: u32, cumulative: &[u64]) -> usize {
    let total = *cumulative.last().unwrap_or(&1);
    let x = (u64::from(draw) * total) >> 32;
    cumulative.partition_point(|&c| c <= x)
}

/// The hold-out and the variants of `audience` (before caps). Shards of
/// 2^20 rows are hashed in parallel, each row setting a bit in its
/// group's dense 128 KiB buffer (a 64-row word at a time, the variant
/// picked without branches); the buffers become Roaring containers at
/// once (`from_lsb0_bytes`), and the shards' bitmaps, over disjoint
/// ranges, are joined in order.
fn split(
    campaign: u64,
    audience: &RoaringBitmap,
    holdout: f64,
    weights: &[u32],
) -> (RoaringBitmap, Vec<RoaringBitmap>) {
    let threshold = holdout_threshold(holdout);
    let cumulative = cumulative(weights);
    let n = weights.len();
    let (first, last) = match (audience.min(), audience.max()) {
        (Some(a), Some(b)) => (a >> SHARD_BITS, b >> SHARD_BITS),
        _ => return (RoaringBitmap::new(), vec![RoaringBitmap::new(); n]),
    };
    let total = *cumulative.last().unwrap_or(&1);
    let bounds = dense::bounds(&cumulative);
    let parts: Vec<Vec<RoaringBitmap>> = (first..=last)
        .into_par_iter()
        .map(|shard| {
            let lo = shard << SHARD_BITS;
            let hi = lo | ((1 << SHARD_BITS) - 1);
            if (1..=dense::MAX_DENSE_VARIANTS).contains(&n)
                && audience.range_cardinality(lo..=hi) >= DENSE_ROWS
            {
                return dense::split_shard(campaign, lo, audience, threshold, &bounds);
            }
            // Group 0 is the hold-out, group 1 + v variant v: group g's
            // bits are words[g * WORDS..][..WORDS]. The bits of one 64-row
            // word are gathered in `acc` and stored when the rows move on
            // to the next word.
            const WORDS: usize = 1 << (SHARD_BITS - 6);
            let mut words = vec![0u64; WORDS * (n + 1)];
            let mut acc = vec![0u64; n + 1];
            let mut word = None;
            let mut store = |w: usize, acc: &mut [u64]| {
                for (g, a) in acc.iter_mut().enumerate() {
                    words[g * WORDS + w] |= *a;
                    *a = 0;
                }
            };
            for row in audience.range(lo..=hi) {
                let local = (row - lo) as usize;
                if word != Some(local >> 6) {
                    if let Some(w) = word {
                        store(w, &mut acc);
                    }
                    word = Some(local >> 6);
                }
                let h = mix(campaign, row);
                // `pick` without branches: the cumulative weights are
                // increasing, so the count of those `<= x` is the first
                // one above it.
                let x = (u64::from(h as u32) * total) >> 32;
                let v = 1 + cumulative.iter().filter(|&&c| c <= x).count();
                let g = if (h >> 32) < threshold { 0 } else { v };
                acc[g] |= 1 << (local & 63);
            }
            if let Some(w) = word {
                store(w, &mut acc);
            }
            let mut bytes = vec![0u8; WORDS * 8];
            words
                .chunks_exact(WORDS)
                .map(|group| {
                    for (b, w) in bytes.chunks_exact_mut(8).zip(group) {
                        b.copy_from_slice(&w.to_le_bytes());
                    }
                    RoaringBitmap::from_lsb0_bytes(lo, &bytes)
                })
                .collect()
        })
        .collect();
    let mut groups = vec![RoaringBitmap::new(); n + 1];
    for part in parts {
        for (g, p) in groups.iter_mut().zip(part) {
            *g |= p;
        }
    }
    let held = groups.remove(0);
    (held, groups)
}

/// Rows per unit of parallel work (an engine shard).
const SHARD_BITS: u32 = 20;

/// A shard with at least this many audience rows is split by hashing all
/// its rows ([`dense`]): at a quarter of the shard, hashing the other
/// three quarters costs about what listing the audience's rows one at a
/// time does.
const DENSE_ROWS: u64 = 1 << (SHARD_BITS - 2);

mod dense;
#[cfg(test)]
mod tests;
