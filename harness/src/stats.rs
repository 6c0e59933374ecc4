//! Robust statistics for samples: median, MAD, a distribution-free confidence interval of the median,
//! a seeded bootstrap for the ratio of two medians, and the log-log slope behind growth exponents.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{Interval, Summary};

/// Resamples drawn by [`ratio_of_medians_ci`]: enough for stable 2.5 % / 97.5 % quantiles.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Fixed seed: the same samples always give the same interval, so a verdict never flips by chance.
pub const BOOTSTRAP_SEED: u64 = 0x5eed_ba5e;

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn median_of_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Nearest-rank quantile `q` (0 < q <= 1) of values sorted ascending: the smallest value with at
/// least `q` of them at or below it. `None` for no values.
pub fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
    sorted.get(rank - 1).copied()
}

/// The median; NaN for no samples. Non-finite samples are ignored.
pub fn median(samples: &[f64]) -> f64 {
    median_of_sorted(&sorted(samples))
}

/// Median absolute deviation from the median (unscaled).
pub fn mad(samples: &[f64]) -> f64 {
    let m = median(samples);
    let dev: Vec<f64> = samples.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// P(X <= k) for X ~ Binomial(n, 1/2), exact enough for n up to a few thousand.
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    // Work in logs to avoid overflow: ln C(n, i) - n ln 2.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0_f64; // ln C(n, 0)
    let mut total = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_c - ln2n).exp();
    }
    total.min(1.0)
}

/// Confidence interval of the median from order statistics (no assumption on the distribution):
/// the widest-coverage-at-least-`level` pair `(x_(j), x_(n-1-j))`. With fewer than 6 samples the
/// interval is the sample range.
pub fn median_ci(samples: &[f64], level: f64) -> Interval {
    let v = sorted(samples);
    let n = v.len();
    if n == 0 {
        return Interval {
            level,
            lower: f64::NAN,
            upper: f64::NAN,
        };
    }
    let alpha = 1.0 - level;
    // Largest j with P(X <= j) <= alpha / 2, where X ~ Bin(n, 1/2): then [x_(j), x_(n-1-j)]
    // (0-based) covers the median with probability >= 1 - 2 P(X <= j) >= level. None: the range.
    let mut j = 0;
    for candidate in 0..n.div_ceil(2) {
        if binomial_half_cdf(n, candidate) > alpha / 2.0 {
            break;
        }
        j = candidate;
    }
    Interval {
        level,
        lower: v[j],
        upper: v[n - 1 - j],
    }
}

/// The full summary of a sample set.
pub fn summarize(samples: &[f64], level: f64) -> Summary {
    let v = sorted(samples);
    let n = v.len();
    let mean = if n == 0 {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / n as f64
    };
    Summary {
        n,
        median: median_of_sorted(&v),
        mad: mad(&v),
        mean,
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
        ci: median_ci(&v, level),
    }
}

/// Bootstrap confidence interval of `median(num) / median(den)` (percentile method, fixed seed).
/// `None` when either side has no samples or a zero median makes the ratio meaningless.
pub fn ratio_of_medians_ci(num: &[f64], den: &[f64], level: f64) -> Option<Interval> {
    let (num, den) = (sorted(num), sorted(den));
    if num.is_empty() || den.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut a = vec![0.0; num.len()];
    let mut b = vec![0.0; den.len()];
    let mut ratios = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for x in a.iter_mut() {
            *x = num[rng.random_range(0..num.len())];
        }
        for x in b.iter_mut() {
            *x = den[rng.random_range(0..den.len())];
        }
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let d = median_of_sorted(&b);
        if d > 0.0 {
            ratios.push(median_of_sorted(&a) / d);
        }
    }
    if ratios.len() < BOOTSTRAP_RESAMPLES / 2 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Some(Interval {
        level,
        lower: at(tail),
        upper: at(1.0 - tail),
    })
}

/// Least-squares slope of `ln y` against `ln x`: the growth exponent of cost `y` over size `x`.
/// `None` with fewer than two distinct sizes or any non-positive value.
pub fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 || points.iter().any(|&(x, y)| x <= 0.0 || y <= 0.0) {
        return None;
    }
    let logs: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x.ln(), y.ln())).collect();
    let n = logs.len() as f64;
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn median_and_mad() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        // deviations from 3: 2,1,0,1,97 -> median 1
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), 1.0);
    }

    #[test]
    fn median_ci_matches_tables() {
        // For n = 20 at 95 %, the classic table gives ranks 6 and 15 (1-based): x_(5)..x_(14) 0-based.
        let v: Vec<f64> = (0..20).map(f64::from).collect();
        let ci = median_ci(&v, 0.95);
        assert_eq!((ci.lower, ci.upper), (5.0, 14.0));
        // Tiny sets fall back to the range.
        let ci = median_ci(&[1.0, 2.0, 3.0], 0.95);
        assert_eq!((ci.lower, ci.upper), (1.0, 3.0));
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_ratio() {
        let base: Vec<f64> = (0..30).map(|i| 100.0 + f64::from(i % 7)).collect();
        let slow: Vec<f64> = base.iter().map(|x| x * 2.0).collect();
        let a = ratio_of_medians_ci(&slow, &base, 0.95).expect("interval");
        let b = ratio_of_medians_ci(&slow, &base, 0.95).expect("interval");
        assert_eq!(a, b);
        assert!(a.lower <= 2.0 && 2.0 <= a.upper, "{a:?}");
        assert!(
            a.lower > 1.8,
            "a clean 2x slowdown is clearly above 1: {a:?}"
        );
        assert!(ratio_of_medians_ci(&[], &base, 0.95).is_none());
        assert!(ratio_of_medians_ci(&base, &[0.0, 0.0], 0.95).is_none());
    }

    #[test]
    fn slope_of_power_laws() {
        let linear: Vec<(f64, f64)> = [1e3, 1e4, 5e4].iter().map(|&x| (x, 3.0 * x)).collect();
        let flat: Vec<(f64, f64)> = [1e3, 1e4, 5e4].iter().map(|&x| (x, 7.0)).collect();
        let quad: Vec<(f64, f64)> = [10.0, 20.0, 50.0].iter().map(|&x| (x, x * x)).collect();
        assert!((log_log_slope(&linear).expect("fit") - 1.0).abs() < 1e-9);
        assert!(log_log_slope(&flat).expect("fit").abs() < 1e-9);
        assert!((log_log_slope(&quad).expect("fit") - 2.0).abs() < 1e-9);
        assert!(log_log_slope(&[(1.0, 0.0), (2.0, 1.0)]).is_none());
        assert!(log_log_slope(&[(1.0, 1.0)]).is_none());
    }

    proptest! {
        #[test]
        fn ci_contains_median_and_lies_within_range(v in proptest::collection::vec(0.0f64..1e9, 1..200)) {
            let s = summarize(&v, 0.95);
            prop_assert!(s.min <= s.ci.lower && s.ci.lower <= s.median);
            prop_assert!(s.median <= s.ci.upper && s.ci.upper <= s.max);
            prop_assert!(s.mad >= 0.0);
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 0.5), Some(50));
        assert_eq!(nearest_rank(&v, 0.99), Some(99));
        assert_eq!(nearest_rank(&v, 1.0), Some(100));
        assert_eq!(nearest_rank(&[7], 0.01), Some(7));
        assert_eq!(nearest_rank::<u32>(&[], 0.5), None);
    }
}
