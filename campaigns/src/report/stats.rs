//! The statistics of a campaign's report: a rate (users who did something
//! among users it was asked of), and the uplift of a variant's rate over
//! the hold-out's, with a 95% confidence interval and a two-proportion
//! z-test.
//!
//! With treated `x1` of `n1` and control `x0` of `n0`, `p1 = x1 / n1`,
//! `p0 = x0 / n0`:
//!
//! - uplift `diff = p1 - p0`;
//! - its 95% interval `diff ± 1.959963984540054 · sqrt(p1(1-p1)/n1 +
//!   p0(1-p0)/n0)` (the unpooled, Wald standard error);
//! - `z = diff / sqrt(p(1-p)(1/n1 + 1/n0))` with the pooled `p = (x1 +
//!   x0) / (n1 + n0)`, and the two-sided p-value `erfc(|z| / √2)`. When
//!   the pooled standard error is 0 (`p` is 0 or 1: nobody or everybody
//!   met the goal in both groups) there is no test: `z` and the p-value
//!   are `None`.
//!
//! `erfc` is written here (no dependency), accurate to about 2e-15
//! relative over the whole range (see [`erfc`]).

use serde::Serialize;

/// The 97.5th percentile of the standard normal: a two-sided 95%
/// interval is `± Z_95` standard errors.
pub const Z_95: f64 = 1.959963984540054;

/// `hits` users out of `n` (users, not events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate {
    /// Users who did it.
    pub hits: u64,
    /// Users it was asked of.
    pub n: u64,
}

impl Rate {
    /// `hits / n`, `None` when `n` is 0.
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.hits as f64 / self.n as f64)
    }
}

/// A treated rate's difference from the control's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Uplift {
    /// `p1 - p0`.
    pub diff: f64,
    /// Low end of the 95% confidence interval of `diff`.
    pub ci_low: f64,
    /// High end of the 95% confidence interval of `diff`.
    pub ci_high: f64,
    /// The two-proportion z statistic (pooled), `None` when the pooled
    /// standard error is 0.
    pub z: Option<f64>,
    /// The two-sided p-value of `z`, `None` with it.
    pub p_value: Option<f64>,
}

/// The uplift of `treated` over `control`, `None` when either has no
/// users (`n = 0`). See the module docs for the formulas.
pub fn uplift(treated: Rate, control: Rate) -> Option<Uplift> {
    let (p1, p0) = (treated.value()?, control.value()?);
    let (n1, n0) = (treated.n as f64, control.n as f64);
    let diff = p1 - p0;
    let se = (p1 * (1.0 - p1) / n1 + p0 * (1.0 - p0) / n0).sqrt();
    let pooled = (treated.hits + control.hits) as f64 / (n1 + n0);
    let pooled_se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    let z = (pooled_se > 0.0).then(|| diff / pooled_se);
    Some(Uplift {
        diff,
        ci_low: diff - Z_95 * se,
        ci_high: diff + Z_95 * se,
        z,
        p_value: z.map(normal_two_sided_p),
    })
}

/// The two-sided p-value of a standard normal statistic `z`: `P(|Z| >=
/// |z|) = erfc(|z| / √2)`.
pub fn normal_two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The complementary error function, `erfc(x) = 1 - erf(x)`, to about
/// 2e-15 relative (tested against 40-digit values).
///
/// The method of Numerical Recipes in C, 2nd ed., §6.2 (`erffc`, `gser`,
/// `gcf`): `erfc(x) = Q(1/2, x²)`, the regularized upper incomplete
/// gamma function, for `x >= 0`. Below `x² = 1.5` (`a + 1`), where the
/// series converges fast, `Q = 1 - P` with `P(1/2, x²)` by its series
/// (erfc is at least 0.083 there, so the subtraction loses under one
/// digit); above, `Q` by its continued fraction, evaluated by the
/// modified Lentz method. Both carry the factor `x e^{-x²} / √π`, whose
/// `e^{-x²}` is taken as `e^{-z²} e^{-(x-z)(x+z)}` with `z` = `x`
/// truncated to a multiple of 1/16, so that `z²` is exact and the
/// rounding of `x²` (up to 700 times the unit in the exponent) does not
/// enter (the trick of W. J. Cody's erfc). `erfc(-x) = 2 - erfc(x)`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x > 27.3 {
        // Below the smallest subnormal.
        return 0.0;
    }
    let x2 = x * x;
    if x2 < 1.5 {
        1.0 - erf_series(x)
    } else {
        erfc_fraction(x)
    }
}

/// `x e^{-x²} / √π`, with `e^{-x²}` split as in [`erfc`].
fn prefactor(x: f64) -> f64 {
    let z = (x * 16.0).trunc() / 16.0;
    let e = (-z * z).exp() * (-(x - z) * (x + z)).exp();
    x * e / std::f64::consts::PI.sqrt()
}

/// `erf(x) = P(1/2, x²)` by the series `P(a, y) = e^{-y} y^a / Γ(a) ·
/// Σ_{n>=0} y^n / (a(a+1)…(a+n))`, for `0 <= x² < 1.5`.
fn erf_series(x: f64) -> f64 {
    let y = x * x;
    let a = 0.5;
    let mut ap = a;
    let mut term = 1.0 / a;
    let mut sum = term;
    for _ in 0..200 {
        ap += 1.0;
        term *= y / ap;
        sum += term;
        if term.abs() < sum.abs() * f64::EPSILON {
            break;
        }
    }
    // e^{-y} y^{1/2} / Γ(1/2) is the prefactor.
    prefactor(x) * sum
}

/// `erfc(x) = Q(1/2, x²)` by its continued fraction `Q(a, y) = e^{-y}
/// y^a / Γ(a) · 1/(y+1-a- 1·(1-a)/(y+3-a- 2·(2-a)/(y+5-a- …)))`, by the
/// modified Lentz method, for `x² >= 1.5`.
fn erfc_fraction(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let y = x * x;
    let a = 0.5;
    let mut b = y + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..1000 {
        let i = f64::from(i);
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < f64::EPSILON {
            break;
        }
    }
    prefactor(x) * h
}

#[cfg(test)]
mod tests;
