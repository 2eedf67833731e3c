//! Samplers for the data set's distributions, built for speed and determinism.
//!
//! Every sampler draws from a caller-supplied [`Pcg64Mcg`] and consumes a
//! fixed, documented number of 64-bit words per draw where it can, so the
//! output depends only on the generator's state. Discrete distributions are
//! tables precomputed once per run: cumulative 64-bit thresholds for short
//! categorical lists (including Poisson, whose tail goes into the last
//! bucket) and Vose alias tables for the long Zipf lists.

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64Mcg;

/// 2^64 as a float, to turn probabilities into 64-bit thresholds.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// The generator every sampler draws from.
pub(crate) type GenRng = Pcg64Mcg;

/// The 64-bit finaliser of splitmix64: a bijection on `u64` that scatters
/// nearby inputs over the whole range.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator of one block of users, a function of `(seed, block)` only.
///
/// The low half of the 128-bit state is a bijection of the block index and
/// the high half, given the block, a bijection of the seed, so different
/// `(seed, block)` pairs get different states.
pub(crate) fn block_rng(seed: u64, block: u64) -> GenRng {
    let lo = mix64(block.wrapping_add(0x9e37_79b9_7f4a_7c15));
    let hi = mix64(seed ^ mix64(block));
    Pcg64Mcg::new((u128::from(hi) << 64) | u128::from(lo))
}

/// A uniform float in `(0, 1]` from one 64-bit word (53 bits of precision).
#[inline]
pub(crate) fn uniform_open0(rng: &mut GenRng) -> f64 {
    let bits = rng.next_u64() >> 11;
    (bits + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A Bernoulli trial as a 64-bit threshold: one word per draw.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bernoulli {
    threshold: u64,
}

impl Bernoulli {
    /// True with probability `p` (clamped to `[0, 1]`).
    pub(crate) fn new(p: f64) -> Self {
        // The float-to-int cast saturates, so p = 1 gives u64::MAX.
        Bernoulli {
            threshold: (p.clamp(0.0, 1.0) * TWO_POW_64) as u64,
        }
    }

    /// One trial.
    #[inline]
    pub(crate) fn sample(self, rng: &mut GenRng) -> bool {
        rng.next_u64() < self.threshold
    }
}

/// A categorical distribution over `0..n` for small `n`, sampled by a linear
/// scan of cumulative 64-bit thresholds: one word per draw. Meant for lists
/// whose mass sits in the first few values.
#[derive(Clone, Debug)]
pub(crate) struct Categorical {
    /// `cumulative[i]`: the threshold below which the draw is at most `i`;
    /// the last value takes every word at or above the last threshold.
    cumulative: Vec<u64>,
}

impl Categorical {
    /// From non-negative weights (need not sum to 1); at least one weight.
    pub(crate) fn new(weights: &[f64]) -> Self {
        assert!(!weights.is_empty(), "a categorical needs a value");
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cumulative = weights[..weights.len() - 1]
            .iter()
            .map(|w| {
                running += w;
                (running / total * TWO_POW_64) as u64
            })
            .collect();
        Categorical { cumulative }
    }

    /// Poisson(`lambda`) clipped to `[0, max]`: the tail above `max` is
    /// folded into `max`.
    pub(crate) fn poisson_clipped(lambda: f64, max: u32) -> Self {
        let mut weights = Vec::with_capacity(max as usize + 1);
        let mut p = (-lambda).exp();
        let mut below = 0.0;
        for k in 0..max {
            weights.push(p);
            below += p;
            p *= lambda / f64::from(k + 1);
        }
        weights.push((1.0 - below).max(0.0));
        Categorical::new(&weights)
    }

    /// One draw.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut GenRng) -> u32 {
        let x = rng.next_u64();
        let mut k = 0;
        for &t in &self.cumulative {
            if x < t {
                break;
            }
            k += 1;
        }
        k
    }
}

/// A categorical distribution over `0..n` sampled in constant time with
/// Vose's alias method: one word per draw (the high 32 bits pick a column,
/// the low 32 bits decide between it and its alias).
#[derive(Clone, Debug)]
pub(crate) struct AliasTable {
    /// Per column: the low-word threshold below which the column itself wins.
    keep: Vec<u64>,
    /// Per column: the value drawn when the column does not win.
    alias: Vec<u32>,
}

impl AliasTable {
    /// From non-negative weights (need not sum to 1); at least one weight.
    pub(crate) fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        assert!(n > 0 && n <= u32::MAX as usize, "bad alias table size");
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left is 1 up to rounding: keep it always.
        for i in small.into_iter().chain(large) {
            scaled[i] = 1.0;
        }
        let keep = scaled
            .iter()
            .map(|&p| ((p.clamp(0.0, 1.0) * 4_294_967_296.0) as u64).min(1 << 32))
            .collect();
        AliasTable { keep, alias }
    }

    /// The Zipf law by rank over `n` values: P(k) proportional to
    /// `1 / (k + 1)^s` for `k` in `0..n`.
    pub(crate) fn zipf(n: usize, s: f64) -> Self {
        let weights: Vec<f64> = (0..n).map(|k| ((k + 1) as f64).powf(-s)).collect();
        AliasTable::new(&weights)
    }

    /// One draw.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut GenRng) -> u32 {
        let x = rng.next_u64();
        let column = (((x >> 32) * self.keep.len() as u64) >> 32) as usize;
        if (x & 0xffff_ffff) < self.keep[column] {
            column as u32
        } else {
            self.alias[column]
        }
    }
}

/// A standard normal draw (ziggurat).
#[inline]
pub(crate) fn standard_normal(rng: &mut GenRng) -> f64 {
    StandardNormal.sample(rng)
}

/// `round(x)` clipped to `[lo, hi]`; NaN goes to `lo`.
#[inline]
pub(crate) fn round_clip(x: f64, lo: i64, hi: i64) -> i64 {
    // The float-to-int cast saturates and maps NaN to 0.
    if x.is_nan() {
        lo
    } else {
        (x.round() as i64).clamp(lo, hi)
    }
}

/// The number of failures before the first success of trials that succeed
/// with probability `p` (`Geometric(p) - 1` on `1, 2, …`), capped at `cap`.
/// `ln_q` is `ln(1 - p)`, passed in precomputed. One word per draw.
#[inline]
pub(crate) fn failures_before_success(rng: &mut GenRng, ln_q: f64, cap: u64) -> u64 {
    let k = (uniform_open0(rng).ln() / ln_q).floor();
    if k >= cap as f64 {
        cap
    } else {
        k as u64
    }
}

/// The beta-binomial law: the number of successes in `n` trials that each
/// succeed with probability a, where a ~ Beta(`alpha`, `beta`). Returns the
/// probabilities of `0..=n`.
pub(crate) fn beta_binomial_pmf(n: u32, alpha: f64, beta: f64) -> Vec<f64> {
    // P(0) = B(alpha, n + beta) / B(alpha, beta)
    //      = prod over i in 0..n of (beta + i) / (alpha + beta + i),
    // P(k + 1) / P(k) = (n - k) / (k + 1) * (k + alpha) / (n - k - 1 + beta).
    let mut p: f64 = (0..n)
        .map(|i| (beta + f64::from(i)) / (alpha + beta + f64::from(i)))
        .product();
    let mut pmf = Vec::with_capacity(n as usize + 1);
    for k in 0..=n {
        pmf.push(p);
        if k < n {
            let (k, n) = (f64::from(k), f64::from(n));
            p *= (n - k) / (k + 1.0) * (k + alpha) / (n - k - 1.0 + beta);
        }
    }
    pmf
}

/// A uniformly random subset of `k` of the values `0..n` (`n` at most 64),
/// as a bit set. Draws distinct values by rejection, choosing the
/// complement when `k` is more than half of `n`.
#[inline]
pub(crate) fn random_subset(rng: &mut GenRng, k: u32, n: u32) -> u64 {
    debug_assert!(k <= n && n <= 64);
    let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let (draws, complement) = if 2 * k > n { (n - k, true) } else { (k, false) };
    let mut set = 0u64;
    let mut held = 0;
    while held < draws {
        let value = ((rng.next_u64() >> 32) * u64::from(n)) >> 32;
        let bit = 1u64 << value;
        if set & bit == 0 {
            set |= bit;
            held += 1;
        }
    }
    if complement {
        all & !set
    } else {
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> GenRng {
        block_rng(7, 3)
    }

    #[test]
    fn mix64_is_not_identity() {
        assert_ne!(mix64(1), 1);
        assert_ne!(mix64(1), mix64(2));
    }

    #[test]
    fn block_rngs_differ() {
        let a = block_rng(1, 0).next_u64();
        let b = block_rng(1, 1).next_u64();
        let c = block_rng(2, 0).next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, block_rng(1, 0).next_u64());
    }

    #[test]
    fn categorical_matches_weights() {
        let cat = Categorical::new(&[0.2, 0.5, 0.3]);
        let mut r = rng();
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[cat.sample(&mut r) as usize] += 1;
        }
        for (c, p) in counts.iter().zip([0.2, 0.5, 0.3]) {
            assert!((f64::from(*c) / 100_000.0 - p).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn certain_and_impossible_bernoulli() {
        let mut r = rng();
        assert!((0..1000).all(|_| Bernoulli::new(1.0).sample(&mut r)));
        assert!((0..1000).all(|_| !Bernoulli::new(0.0).sample(&mut r)));
    }

    #[test]
    fn poisson_mean_and_clip() {
        let cat = Categorical::poisson_clipped(2.0, 8);
        let mut r = rng();
        let draws: Vec<u32> = (0..100_000).map(|_| cat.sample(&mut r)).collect();
        let mean = draws.iter().map(|&k| f64::from(k)).sum::<f64>() / draws.len() as f64;
        assert!((mean - 2.0).abs() < 0.03, "mean {mean}");
        assert!(draws.iter().all(|&k| k <= 8));
    }

    #[test]
    fn alias_zipf_matches_law() {
        let n = 50;
        let table = AliasTable::zipf(n, 1.0);
        let h: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        let mut r = rng();
        let mut counts = vec![0u32; n];
        let draws = 200_000;
        for _ in 0..draws {
            counts[table.sample(&mut r) as usize] += 1;
        }
        for k in [0usize, 1, 4, 49] {
            let expected = 1.0 / ((k + 1) as f64 * h);
            let got = f64::from(counts[k]) / f64::from(draws);
            assert!(
                (got - expected).abs() < 0.005,
                "rank {k}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn alias_single_value() {
        let table = AliasTable::new(&[3.0]);
        let mut r = rng();
        assert!((0..100).all(|_| table.sample(&mut r) == 0));
    }

    #[test]
    fn geometric_mean() {
        let ln_q = (1.0f64 - 0.05).ln();
        let mut r = rng();
        let n = 100_000;
        let sum: u64 = (0..n)
            .map(|_| failures_before_success(&mut r, ln_q, 10_000))
            .sum();
        let mean = sum as f64 / n as f64;
        // Failures before success: mean (1 - p) / p = 19.
        assert!((mean - 19.0).abs() < 0.4, "mean {mean}");
    }

    #[test]
    fn round_clip_edges() {
        assert_eq!(round_clip(2.5, 0, 10), 3);
        assert_eq!(round_clip(-3.0, 0, 10), 0);
        assert_eq!(round_clip(f64::INFINITY, 0, 10), 10);
        assert_eq!(round_clip(f64::NAN, 1, 10), 1);
    }

    #[test]
    fn beta_binomial_sums_to_one() {
        let pmf = beta_binomial_pmf(30, 0.3, 20.0);
        assert_eq!(pmf.len(), 31);
        assert!((pmf.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let mean: f64 = pmf.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
        assert!((mean - 30.0 * 0.3 / 20.3).abs() < 1e-12, "mean {mean}");
        // Beta(1, 1) makes every count equally likely.
        for p in beta_binomial_pmf(9, 1.0, 1.0) {
            assert!((p - 0.1).abs() < 1e-12);
        }
    }

    #[test]
    fn subsets_are_uniform() {
        let mut r = rng();
        let mut hits = [0u32; 30];
        for k in 0..=30 {
            for _ in 0..200 {
                let set = random_subset(&mut r, k, 30);
                assert_eq!(set.count_ones(), k);
                assert_eq!(set >> 30, 0);
            }
        }
        for _ in 0..30_000 {
            let set = random_subset(&mut r, 20, 30);
            for (day, hit) in hits.iter_mut().enumerate() {
                *hit += u32::from(set >> day & 1 == 1);
            }
        }
        for hit in hits {
            assert!(
                (f64::from(hit) / 30_000.0 - 2.0 / 3.0).abs() < 0.02,
                "{hits:?}"
            );
        }
    }
}
