//! Statistics over samples: quantiles, dispersion, confidence intervals, outliers.
//!
//! Definitions match numpy/scipy defaults so they can be checked against them
//! (`tests/stats_golden.rs`): quantiles interpolate linearly between order statistics
//! (numpy `method="linear"`), the standard deviation uses `n - 1`, and the MAD is unscaled
//! (scipy `median_abs_deviation(scale=1.0)`).

use crate::artifact::{Interval, Outliers, Stats};

/// Confidence level of every interval the harness computes.
pub const CONFIDENCE: f64 = 0.95;

/// Bootstrap resamples for the mean's interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Returns a sorted copy (NaN sorts last; callers never pass NaN).
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Quantile `q` in [0, 1] of sorted data, linear interpolation (numpy default).
/// Returns NaN for empty input.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    let frac = h - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Arithmetic mean (NaN for empty input).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    // Kahan summation: sample sets reach 10^4 values of very different magnitudes.
    let mut sum = 0.0f64;
    let mut c = 0.0f64;
    for &x in xs {
        let y = x - c;
        let t = sum + y;
        c = (t - sum) - y;
        sum = t;
    }
    sum / xs.len() as f64
}

/// Sample standard deviation with `n - 1` denominator (0 for fewer than two values).
pub fn stddev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Unscaled median absolute deviation.
pub fn mad_sorted(sorted: &[f64]) -> f64 {
    let med = quantile_sorted(sorted, 0.5);
    let dev = self::sorted(&sorted.iter().map(|x| (x - med).abs()).collect::<Vec<_>>());
    quantile_sorted(&dev, 0.5)
}

/// Tukey-fence outlier counts of sorted data.
pub fn tukey_outliers(sorted: &[f64]) -> Outliers {
    let mut out = Outliers::default();
    if sorted.len() < 4 {
        return out;
    }
    let q1 = quantile_sorted(sorted, 0.25);
    let q3 = quantile_sorted(sorted, 0.75);
    let iqr = q3 - q1;
    for &x in sorted {
        if x < q1 - 3.0 * iqr {
            out.low_severe += 1;
        } else if x < q1 - 1.5 * iqr {
            out.low_mild += 1;
        } else if x > q3 + 3.0 * iqr {
            out.high_severe += 1;
        } else if x > q3 + 1.5 * iqr {
            out.high_mild += 1;
        }
    }
    out
}

/// CDF of Binomial(n, p) at every k in 0..=n, computed in log space so that large `n`
/// does not underflow.
fn binomial_cdf_table(n: usize, p: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(n + 1);
    if p <= 0.0 {
        return vec![1.0; n + 1];
    }
    if p >= 1.0 {
        let mut v = vec![0.0; n + 1];
        v[n] = 1.0;
        return v;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_pmf = n as f64 * lq;
    let mut acc = 0.0;
    for k in 0..=n {
        acc += log_pmf.exp();
        cdf.push(acc.min(1.0));
        if k < n {
            log_pmf += ((n - k) as f64).ln() - ((k + 1) as f64).ln() + lp - lq;
        }
    }
    cdf
}

/// Distribution-free confidence interval for the `q` quantile from order statistics.
///
/// With `K ~ Binomial(n, q)` the number of samples below the true quantile, the interval
/// `[x_(l), x_(u)]` (1-based ranks) has coverage `F(u-1) - F(l-1)`. `l` is the largest rank
/// with `F(l-1) <= alpha/2`, `u` the smallest with `F(u-1) >= 1 - alpha/2`. When `n` is too
/// small for a rank to exist the interval is clamped to the sample minimum or maximum.
/// Returns `(lo, hi, l, u)`.
pub fn quantile_ci_sorted(sorted: &[f64], q: f64, confidence: f64) -> (f64, f64, usize, usize) {
    let n = sorted.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, 0, 0);
    }
    let alpha = 1.0 - confidence;
    let cdf = binomial_cdf_table(n, q);
    // Rank l (1-based): largest l >= 1 with F(l-1) <= alpha/2.
    let mut l = 1;
    for rank in 1..=n {
        if cdf[rank - 1] <= alpha / 2.0 {
            l = rank;
        } else {
            break;
        }
    }
    // Rank u: smallest u with F(u-1) >= 1 - alpha/2.
    let mut u = n;
    for rank in 1..=n {
        if cdf[rank - 1] >= 1.0 - alpha / 2.0 {
            u = rank;
            break;
        }
    }
    (sorted[l - 1], sorted[u - 1], l, u)
}

/// SplitMix64: a small deterministic generator so bootstrap intervals are reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Percentile-bootstrap confidence interval of the mean, deterministic (fixed seed).
pub fn bootstrap_mean_ci(xs: &[f64], confidence: f64, resamples: usize) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    if n == 1 {
        return (xs[0], xs[0]);
    }
    let mut rng = SplitMix64::new(0x5EED_BE7C_u64 ^ n as u64);
    let mut means = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += xs[rng.below(n)];
        }
        means.push(sum / n as f64);
    }
    let means = sorted(&means);
    let alpha = 1.0 - confidence;
    (
        quantile_sorted(&means, alpha / 2.0),
        quantile_sorted(&means, 1.0 - alpha / 2.0),
    )
}

/// An interval that carries no uncertainty estimate (one observation, or the maximum).
pub fn exact_interval(value: f64) -> Interval {
    Interval {
        lo: value,
        hi: value,
        confidence: CONFIDENCE,
        method: "exact".into(),
    }
}

/// The order-statistic interval of quantile `q`.
pub fn quantile_interval(sorted: &[f64], q: f64) -> Interval {
    let (lo, hi, _, _) = quantile_ci_sorted(sorted, q, CONFIDENCE);
    Interval {
        lo,
        hi,
        confidence: CONFIDENCE,
        method: "order_statistic".into(),
    }
}

/// The bootstrap interval of the mean.
pub fn mean_interval(xs: &[f64]) -> Interval {
    if xs.len() < 2 {
        return exact_interval(mean(xs));
    }
    let (lo, hi) = bootstrap_mean_ci(xs, CONFIDENCE, BOOTSTRAP_RESAMPLES);
    Interval {
        lo,
        hi,
        confidence: CONFIDENCE,
        method: "bootstrap_percentile".into(),
    }
}

/// Every summary statistic of a sample set. `xs` must be non-empty and NaN-free.
pub fn summarize(xs: &[f64]) -> Stats {
    let s = sorted(xs);
    Stats {
        n: xs.len(),
        mean: mean(xs),
        median: quantile_sorted(&s, 0.5),
        min: s.first().copied().unwrap_or(f64::NAN),
        max: s.last().copied().unwrap_or(f64::NAN),
        stddev: stddev(xs),
        mad: mad_sorted(&s),
        p90: quantile_sorted(&s, 0.90),
        p95: quantile_sorted(&s, 0.95),
        p99: quantile_sorted(&s, 0.99),
        mean_ci: mean_interval(xs),
        median_ci: quantile_interval(&s, 0.5),
        outliers: tukey_outliers(&s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_linear_definition() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&s, 0.5), 2.5);
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 1.0), 4.0);
        assert!((quantile_sorted(&s, 0.9) - 3.7).abs() < 1e-12);
    }

    #[test]
    fn median_ci_brackets_median() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        let (lo, hi, l, u) = quantile_ci_sorted(&s, 0.5, 0.95);
        assert!(lo <= 50.5 && hi >= 50.5);
        // Textbook ranks for n = 100, 95 %: 40 and 61.
        assert_eq!((l, u), (40, 61));
    }

    #[test]
    fn tiny_inputs_do_not_panic() {
        let st = summarize(&[5.0]);
        assert_eq!(st.median, 5.0);
        assert_eq!(st.stddev, 0.0);
        assert_eq!(st.mean_ci.lo, 5.0);
        let st = summarize(&[1.0, 9.0]);
        assert_eq!(st.median, 5.0);
    }

    #[test]
    fn tukey_counts_both_tails() {
        let mut v: Vec<f64> = (0..20).map(|i| 100.0 + i as f64).collect();
        v.push(1000.0);
        v.push(-1000.0);
        v.push(135.0);
        let o = tukey_outliers(&sorted(&v));
        assert_eq!(o.high_severe, 1);
        assert_eq!(o.low_severe, 1);
    }
}
