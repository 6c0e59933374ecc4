//! Robust statistics for samples: median, MAD, a distribution-free confidence interval of the median,
//! a seeded bootstrap for the ratio of two medians, the log-log slope behind growth exponents, and the
//! paired tests of two builds (Student t on per-round log ratios, Holm's adjustment).

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
        // Halved first so that two huge values cannot overflow (the same value otherwise: halving
        // is exact).
        n => v[n / 2 - 1] / 2.0 + v[n / 2] / 2.0,
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

/// P(X <= 0), P(X <= 1), … for X ~ Binomial(n, 1/2), each from the last in O(1) (in logs, to avoid
/// overflow: ln C(n, i) - n ln 2).
fn binomial_half_cdfs(n: usize) -> impl Iterator<Item = f64> {
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0_f64; // ln C(n, 0)
    let mut total = 0.0;
    (0..=n).map(move |i| {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_c - ln2n).exp();
        total.min(1.0)
    })
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
    // One pass over the cumulative probabilities: a sample.json of a million values answers in
    // milliseconds (recomputing each from 0 took O(n^2), hours for a million).
    let mut j = 0;
    for (candidate, cdf) in binomial_half_cdfs(n).take(n.div_ceil(2)).enumerate() {
        if cdf > alpha / 2.0 {
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

/// Natural log of the gamma function for `x > 0` (Lanczos approximation, g = 7, 9 terms; ~15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function `I_x(a, b)` (continued fraction, modified Lentz; at most
/// 300 terms, which converges to ~1e-14 for the degrees of freedom used here).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for num in [
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * h / a
}

/// `P(T > t)` for Student's t distribution with `df` degrees of freedom (the one-sided p-value of `t`).
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 0.0 } else { 1.0 };
    }
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// The `t` with `P(T > t) = p` for Student's t with `df` degrees of freedom (bisection to 1e-10).
pub fn student_t_quantile_upper(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (-1e3, 1e3);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if student_t_sf(mid, df) > p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-10 {
            break;
        }
    }
    (lo + hi) / 2.0
}

/// A paired comparison of two builds over interleaved rounds: per round the ratio `worse` of the
/// head's value to the base's (above 1 is worse whatever the metric's direction), tested on logs.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedTest {
    /// Rounds with a usable pair (both values finite and positive).
    pub n: usize,
    /// The trimmed geometric mean of the per-round ratios head / base ([`TRIM`] cut at each end).
    pub ratio: f64,
    /// Two-sided interval of that estimate at the requested level (Yuen's trimmed t).
    pub interval: Interval,
    /// Winsorized standard deviation of the per-round log ratios: the metric's round-to-round
    /// noise, not inflated by the odd pair that straddled a change of the machine's speed.
    pub sd_log: f64,
    /// One-sided p-value that the head is worse than the base by more than the margin.
    pub p_worse: f64,
    /// One-sided p-value that the head is better than the base by more than the margin.
    pub p_better: f64,
}

/// The share of pairs cut at each end before the paired test (Yuen's 20 % trimmed mean). On a VM
/// about one pair in ten straddles a change between the CPU's fast and slow phases and reads
/// 1.3-1.6x either way; the mean and its t test follow such a pair, the trimmed mean does not,
/// and with normal noise it keeps ~95 % of the t test's efficiency.
pub const TRIM: f64 = 0.2;

/// Tests paired `(base, head)` values of one metric (one pair per round) for a change beyond
/// `margin` (0.1: worse by more than 10 %, or better by more than 1/1.1): Yuen's one-sample
/// trimmed t test on the per-round log ratios ([`TRIM`] cut at each end, the spread from the
/// winsorized variance, `n - 2g - 1` degrees of freedom), whose trimmed mean is the estimate.
/// `higher_is_better` flips what "worse" means. `None` with fewer than three usable rounds.
pub fn paired_log_ratio(
    pairs: &[(f64, f64)],
    higher_is_better: bool,
    margin: f64,
    level: f64,
) -> Option<PairedTest> {
    let logs = sorted(
        &pairs
            .iter()
            .filter(|(b, h)| b.is_finite() && h.is_finite() && *b > 0.0 && *h > 0.0)
            .map(|(b, h)| (h / b).ln())
            .collect::<Vec<_>>(),
    );
    let n = logs.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let g = (TRIM * nf).floor() as usize;
    let kept = &logs[g..n - g];
    let h = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / h;
    let (lo, hi) = (logs[g], logs[n - 1 - g]);
    let winsorized: Vec<f64> = logs.iter().map(|x| x.clamp(lo, hi)).collect();
    let wmean = winsorized.iter().sum::<f64>() / nf;
    let var_w = winsorized.iter().map(|x| (x - wmean).powi(2)).sum::<f64>() / (nf - 1.0);
    let se = (var_w * (nf - 1.0) / (h * (h - 1.0))).sqrt();
    let df = h - 1.0;
    let bound = (1.0 + margin).ln();
    // Worse is a larger log ratio for lower-is-better metrics, a smaller one otherwise.
    let worse = if higher_is_better { -mean } else { mean };
    let p = |excess: f64| {
        if se > 0.0 {
            student_t_sf(excess / se, df)
        } else if excess > 0.0 {
            0.0
        } else {
            1.0
        }
    };
    let half = student_t_quantile_upper((1.0 - level) / 2.0, df) * se;
    Some(PairedTest {
        n,
        ratio: mean.exp(),
        interval: Interval {
            level,
            lower: (mean - half).exp(),
            upper: (mean + half).exp(),
        },
        sd_log: var_w.sqrt(),
        p_worse: p(worse - bound),
        p_better: p(-worse - bound),
    })
}

/// Holm's step-down adjustment: adjusted p-values in the input's order. Rejecting every hypothesis
/// whose adjusted p is at most `alpha` keeps the family-wise error rate at `alpha`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let v = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(if v.is_nan() { 1.0 } else { v });
        adjusted[i] = running;
    }
    adjusted
}

/// 1-based ranks `(l, u)` with `P(l <= X < u) >= level` as nearly as the sample allows, where
/// `X ~ Binomial(n, q)` counts the samples below the true quantile; `u` is capped at `n` (then the
/// interval's top is the largest sample and the coverage is what `n` samples can give).
pub fn quantile_ci_ranks(n: usize, q: f64, level: f64) -> (usize, usize) {
    if n == 0 {
        return (1, 1);
    }
    let alpha = (1.0 - level) / 2.0;
    // cdf[k] = P(X <= k), in logs to stay finite for large n.
    let (lq, lp) = (q.ln(), (1.0 - q).ln());
    let mut ln_c = 0.0_f64;
    let mut total = 0.0_f64;
    let mut cdf = Vec::with_capacity(n + 1);
    for i in 0..=n {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_c + i as f64 * lq + (n - i) as f64 * lp).exp();
        cdf.push(total.min(1.0));
    }
    // Lower: the largest l with P(X <= l - 1) <= alpha; upper: the smallest u with P(X <= u - 1) >= 1 - alpha.
    let lower = (1..=n).rev().find(|&l| cdf[l - 1] <= alpha).unwrap_or(1);
    let upper = (1..=n).find(|&u| cdf[u - 1] >= 1.0 - alpha).unwrap_or(n);
    (lower, upper)
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
        assert_eq!(
            median(&[f64::MAX, f64::MAX]),
            f64::MAX,
            "no overflow to inf"
        );
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

    /// Regression (issue 18's fuzzing): a criterion sample.json of 10 MiB holds ~2 million values;
    /// the interval recomputed each cumulative probability from 0, O(n^2): hours. Now one pass.
    #[test]
    fn median_ci_of_a_huge_sample_set_is_one_pass_and_matches_the_normal_approximation() {
        let n = 200_000;
        let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let ci = median_ci(&v, 0.95);
        // j ≈ n/2 - 1.96 sqrt(n)/2 (0-based), within a rank or two.
        let expect = n as f64 / 2.0 - 1.96 * (n as f64).sqrt() / 2.0;
        assert!((ci.lower - expect).abs() < 3.0, "{ci:?} vs {expect}");
        assert_eq!(ci.lower + ci.upper, (n - 1) as f64);
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
    fn student_t_matches_tables() {
        // Two-sided 95 % critical values: df 1 -> 12.706, df 5 -> 2.571, df 30 -> 2.042.
        for (df, t) in [(1.0, 12.706), (5.0, 2.571), (30.0, 2.042)] {
            assert!((student_t_sf(t, df) - 0.025).abs() < 2e-5, "df {df}");
            assert!(
                (student_t_quantile_upper(0.025, df) - t).abs() < 2e-3,
                "df {df}"
            );
        }
        assert!((student_t_sf(0.0, 7.0) - 0.5).abs() < 1e-12);
        assert!((student_t_sf(-2.571, 5.0) - 0.975).abs() < 2e-5);
    }

    #[test]
    fn paired_test_finds_a_known_ratio_and_its_direction() {
        // Head 1.5x the base with ±3 % round-to-round noise: found, significant beyond a 10 % margin.
        let noise = [1.0, 1.03, 0.97, 1.01, 0.99, 1.02, 0.98, 1.0];
        let pairs: Vec<(f64, f64)> = noise
            .iter()
            .enumerate()
            .map(|(i, e)| (100.0 + i as f64, (100.0 + i as f64) * 1.5 * e))
            .collect();
        let t = paired_log_ratio(&pairs, false, 0.1, 0.95).expect("enough rounds");
        assert!((t.ratio - 1.5).abs() < 0.02, "{t:?}");
        assert!(t.interval.lower < 1.5 && 1.5 < t.interval.upper);
        assert!(t.p_worse < 1e-6 && t.p_better > 0.99, "{t:?}");
        // The same data for a higher-is-better metric is an improvement.
        let t = paired_log_ratio(&pairs, true, 0.1, 0.95).expect("enough rounds");
        assert!(t.p_better < 1e-6 && t.p_worse > 0.99, "{t:?}");
        // Within the margin: 5 % slower is not "worse by more than 10 %".
        let small: Vec<(f64, f64)> = pairs.iter().map(|&(b, _)| (b, b * 1.05)).collect();
        let t = paired_log_ratio(&small, false, 0.1, 0.95).expect("enough rounds");
        assert_eq!(t.p_worse, 1.0);
        assert!(paired_log_ratio(&pairs[..2], false, 0.1, 0.95).is_none());
    }

    #[test]
    fn a_a_data_fail_at_about_the_configured_rate() {
        // 2,000 A/A trials of 8 rounds of lognormal noise (sigma 0.1), margin 0: a 5 % one-sided test
        // should reject about 5 % of them.
        let rate = a_a_rejection_rate(7, |rng| {
            (0..8)
                .map(|_| {
                    let b = (0.1 * normal(rng)).exp();
                    (b, (0.1 * normal(rng)).exp())
                })
                .collect()
        });
        assert!((0.03..0.07).contains(&rate), "A/A rejection rate {rate}");
    }

    #[test]
    fn a_pair_that_straddles_a_phase_change_neither_hides_nor_fakes_a_change() {
        // 12 pairs, ±3 % noise, one pair reading 1.57x the other way (the head ran in the CPU's
        // fast phase, the base in its slow one).
        let noise = [
            1.0, 1.03, 0.97, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.02, 0.98,
        ];
        let with = |ratio: f64, odd: f64| -> Vec<(f64, f64)> {
            noise
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let b = 100.0 + i as f64;
                    (b, b * ratio * e * if i == 3 { odd } else { 1.0 })
                })
                .collect()
        };
        // A real 1.25x stays clearly significant (a plain t test on these logs: t = 5.0, p ~ 2e-4).
        let t = paired_log_ratio(&with(1.25, 1.0 / 1.57), false, 0.0, 0.95).expect("rounds");
        assert!(t.p_worse < 1e-5, "{t:?}");
        assert!((t.ratio - 1.25).abs() < 0.02, "{t:?}");
        // No change with one slow-phase pair: no evidence of a slowdown.
        let t = paired_log_ratio(&with(1.0, 1.57), false, 0.0, 0.95).expect("rounds");
        assert!(t.p_worse > 0.05, "{t:?}");
        assert!(t.interval.lower < 1.0 && 1.0 < t.interval.upper, "{t:?}");
    }

    #[test]
    fn a_a_data_with_phase_outliers_fail_at_about_the_configured_rate() {
        // 2,000 A/A trials of 12 pairs: sigma 0.04 noise, and each pair with a 10 % chance of
        // straddling a phase change (±0.4 in log). A 5 % one-sided test should reject about 5 %.
        let rate = a_a_rejection_rate(11, |rng| {
            (0..12)
                .map(|_| {
                    let z = normal(rng);
                    let jump = if rng.random_bool(0.1) {
                        if rng.random_bool(0.5) { 0.4 } else { -0.4 }
                    } else {
                        0.0
                    };
                    (1.0, (0.04 * z + jump).exp())
                })
                .collect()
        });
        assert!((0.02..0.08).contains(&rate), "A/A rejection rate {rate}");
    }

    /// A standard normal draw (Box-Muller).
    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// The share of 2,000 A/A data sets, drawn by `pairs` from a generator seeded with `seed`, that a
    /// 5 % one-sided test (margin 0) finds worse.
    fn a_a_rejection_rate(seed: u64, pairs: impl Fn(&mut ChaCha8Rng) -> Vec<(f64, f64)>) -> f64 {
        let trials = 2000;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rejected = 0;
        for _ in 0..trials {
            let t = paired_log_ratio(&pairs(&mut rng), false, 0.0, 0.95).expect("rounds");
            if t.p_worse <= 0.05 {
                rejected += 1;
            }
        }
        f64::from(rejected) / f64::from(trials)
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_order() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
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

    #[test]
    fn quantile_interval_brackets_the_quantile() {
        let (l, u) = quantile_ci_ranks(90, 0.99, 0.95);
        assert!(l <= 89 && u == 90, "{l} {u}");
        let (l, u) = quantile_ci_ranks(100, 0.5, 0.95);
        assert!((39..=41).contains(&l) && (60..=62).contains(&u), "{l} {u}");
        assert_eq!(quantile_ci_ranks(0, 0.99, 0.95), (1, 1));
    }
}
