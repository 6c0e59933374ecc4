//! Wall-time measurement: warm up, then take samples (each a batch of iterations long enough to time)
//! until the plan's budget or sample cap is reached, and the metrics built from samples (a median or
//! a quantile, each with its interval). Time comes through [`Timer`], so tests script it.

use std::time::{Duration, Instant};

use crate::model::{Direction, Interval, Metric, MetricKind, Summary, Value};
use crate::stats;

/// Where the sampler reads time; [`RealTimer`] in runs, a scripted mock in tests.
#[cfg_attr(test, mockall::automock)]
pub trait Timer {
    /// Time elapsed since some fixed origin.
    fn elapsed(&self) -> Duration;
    /// Called by the samplers before their warm-up and before each timed sample, never inside
    /// one: where an A/B worker hands the CPU to the other build and waits for its turn back, so
    /// base and head samples interleave milliseconds apart. Does nothing by default.
    fn turn(&self) {}
}

/// The process's monotonic clock.
#[derive(Debug)]
pub struct RealTimer(Instant);

impl RealTimer {
    /// A timer whose origin is now.
    pub fn new() -> Self {
        Self(Instant::now())
    }
}

impl Default for RealTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for RealTimer {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// How long and how often to sample one routine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingPlan {
    /// Run the routine (untimed) for at least this long first: caches, page cache, branch predictors.
    pub warm_up: Duration,
    /// Stop sampling once this much time went into samples (after `min_samples`).
    pub budget: Duration,
    /// Never fewer samples than this, whatever the budget: a confidence interval needs them.
    pub min_samples: usize,
    /// Never more samples than this.
    pub max_samples: usize,
    /// A sample repeats the routine until it lasts at least this long, so fast routines are timed
    /// well above the clock's resolution and overhead.
    pub min_sample_time: Duration,
    /// Confidence level of the median's interval.
    pub confidence: f64,
}

impl SamplingPlan {
    /// The smoke suite: quick, still at least 10 samples.
    pub const SMOKE: SamplingPlan = SamplingPlan {
        warm_up: Duration::from_millis(50),
        budget: Duration::from_millis(300),
        min_samples: 10,
        max_samples: 30,
        min_sample_time: Duration::from_micros(500),
        confidence: 0.95,
    };

    /// The full suite: more samples, tighter intervals.
    pub const FULL: SamplingPlan = SamplingPlan {
        warm_up: Duration::from_millis(300),
        budget: Duration::from_secs(3),
        min_samples: 30,
        max_samples: 100,
        min_sample_time: Duration::from_millis(2),
        confidence: 0.95,
    };
}

/// Hard cap on iterations in one batch, so a routine that takes no measurable time cannot spin forever.
pub const MAX_BATCH: u64 = 1 << 20;
/// Hard cap on warm-up batches, for a timer that does not advance.
pub const MAX_WARM_UP_ROUNDS: usize = 10_000;

/// Per-iteration times in nanoseconds, one per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// Nanoseconds per iteration, one entry per sample.
    pub ns_per_iter: Vec<f64>,
    /// Iterations per sample.
    pub batch: u64,
}

impl Samples {
    /// The samples as a wall-time metric (median as value, full summary, raw samples kept).
    pub fn into_metric(self, confidence: f64) -> Metric {
        let summary = stats::summarize(&self.ns_per_iter, confidence);
        Metric {
            kind: MetricKind::WallTime,
            unit: "ns".to_owned(),
            direction: Direction::LowerIsBetter,
            value: Value::Float(summary.median),
            summary: Some(summary),
            samples: self.ns_per_iter,
            rounds: Vec::new(),
            quantile: None,
        }
    }
}

/// Measures `routine` under `plan`: warm-up, batch sizing, then samples.
///
/// Every loop here is bounded: the warm-up by [`MAX_WARM_UP_ROUNDS`] and [`MAX_BATCH`], sampling by
/// `max_samples`.
/// An error from the routine stops measuring and is returned.
pub fn sample<T, E>(
    timer: &T,
    plan: &SamplingPlan,
    mut routine: impl FnMut() -> Result<(), E>,
) -> Result<Samples, E>
where
    T: Timer + ?Sized,
{
    // Warm-up, doubling the batch until one batch lasts min_sample_time: that is the batch size.
    timer.turn();
    let warm_start = timer.elapsed();
    let mut batch: u64 = 1;
    for _round in 0..MAX_WARM_UP_ROUNDS {
        let t0 = timer.elapsed();
        for _ in 0..batch {
            routine()?;
        }
        let took = timer.elapsed().saturating_sub(t0);
        let long_enough = took >= plan.min_sample_time || batch >= MAX_BATCH;
        if long_enough && timer.elapsed().saturating_sub(warm_start) >= plan.warm_up {
            break;
        }
        if !long_enough {
            batch = (batch * 2).min(MAX_BATCH);
        }
    }

    let mut ns_per_iter = Vec::with_capacity(plan.max_samples);
    let mut spent = Duration::ZERO;
    while ns_per_iter.len() < plan.max_samples
        && (ns_per_iter.len() < plan.min_samples || spent < plan.budget)
    {
        timer.turn();
        let t0 = timer.elapsed();
        for _ in 0..batch {
            routine()?;
        }
        let took = timer.elapsed().saturating_sub(t0);
        spent += took;
        ns_per_iter.push(took.as_nanos() as f64 / batch as f64);
    }
    Ok(Samples { ns_per_iter, batch })
}

/// Measures `routine` on a fresh input from `setup` each time, timing only the routine: for
/// operations that change what they work on (a cleanup removes its victims), like criterion's
/// `iter_batched_ref` with one input per iteration; the input is dropped after the timer is read. One iteration per sample, so the routine should take
/// well over the timer's resolution (milliseconds, not nanoseconds).
///
/// Bounded like [`sample`]: at most [`MAX_WARM_UP_ROUNDS`] warm-up iterations (at least one), then
/// `min_samples` to `max_samples` samples within the budget (setup time not counted).
pub fn sample_with_setup<T, S, E>(
    timer: &T,
    plan: &SamplingPlan,
    mut setup: impl FnMut() -> Result<S, E>,
    mut routine: impl FnMut(&mut S) -> Result<(), E>,
) -> Result<Samples, E>
where
    T: Timer + ?Sized,
{
    let mut warmed = Duration::ZERO;
    timer.turn();
    for _round in 0..MAX_WARM_UP_ROUNDS {
        let mut input = setup()?;
        let t0 = timer.elapsed();
        routine(&mut input)?;
        warmed += timer.elapsed().saturating_sub(t0);
        drop(input);
        if warmed >= plan.warm_up {
            break;
        }
    }
    let mut ns_per_iter = Vec::with_capacity(plan.max_samples);
    let mut spent = Duration::ZERO;
    while ns_per_iter.len() < plan.max_samples
        && (ns_per_iter.len() < plan.min_samples || spent < plan.budget)
    {
        timer.turn();
        let mut input = setup()?;
        let t0 = timer.elapsed();
        routine(&mut input)?;
        let took = timer.elapsed().saturating_sub(t0);
        drop(input);
        spent += took;
        ns_per_iter.push(took.as_nanos() as f64);
    }
    Ok(Samples {
        ns_per_iter,
        batch: 1,
    })
}

/// Nearest-rank quantile `q` of `samples` as a wall-time metric. The summary's interval is the
/// distribution-free order-statistic interval of the quantile, which the gate uses for significance;
/// `median` in the summary holds the quantile itself, as for the in-run ratios. The samples are kept
/// with their `quantile`, so an A/B can pool repeated runs; the gate's bootstrap of medians leaves
/// them alone.
pub fn quantile_metric(samples: &[f64], q: f64, confidence: f64) -> Metric {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let at = |rank: usize| {
        v.get(rank.clamp(1, n.max(1)) - 1)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let value = at((q * n as f64).ceil() as usize);
    let (lo, hi) = stats::quantile_ci_ranks(n, q, confidence);
    let whole = stats::summarize(&v, confidence);
    Metric {
        kind: MetricKind::WallTime,
        unit: "ns".to_owned(),
        direction: Direction::LowerIsBetter,
        value: Value::Float(value),
        summary: Some(Summary {
            median: value,
            ci: Interval {
                level: confidence,
                lower: at(lo),
                upper: at(hi),
            },
            ..whole
        }),
        samples: samples.iter().copied().filter(|x| x.is_finite()).collect(),
        rounds: Vec::new(),
        quantile: Some(q),
    }
}

/// The same metric recomputed from `samples`, for a metric whose value is a statistic of its samples
/// (the median, or its [`Metric::quantile`]): kind, unit and direction stay, value, summary and
/// samples follow the new samples, rounds are cleared.
pub fn resample(metric: &Metric, samples: Vec<f64>) -> Metric {
    let confidence = metric.summary.as_ref().map_or(0.95, |s| s.ci.level);
    let fresh = match metric.quantile {
        Some(q) => quantile_metric(&samples, q, confidence),
        None => Samples {
            ns_per_iter: samples,
            batch: 1,
        }
        .into_metric(confidence),
    };
    Metric {
        kind: metric.kind,
        unit: metric.unit.clone(),
        direction: metric.direction,
        ..fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A mock timer that reads a shared virtual clock, with no turn expected yet.
    fn virtual_clock() -> (MockTimer, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(0));
        let mut timer = MockTimer::new();
        let seen = Arc::clone(&now);
        timer
            .expect_elapsed()
            .returning(move || Duration::from_nanos(seen.load(Ordering::SeqCst)));
        (timer, now)
    }

    /// [`virtual_clock`] whose turns do nothing: only the routines below advance it.
    fn scripted() -> (MockTimer, Arc<AtomicU64>) {
        let (mut timer, now) = virtual_clock();
        timer.expect_turn().return_const(());
        (timer, now)
    }

    fn tick(now: &AtomicU64, by: Duration) {
        now.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    #[test]
    fn the_samplers_offer_a_turn_before_the_warm_up_and_each_sample_never_inside_one() {
        // A turn costs a whole virtual second: inside a timed sample it would show.
        let (mut timer, now) = virtual_clock();
        let turns = Arc::new(AtomicU64::new(0));
        let (clock, count) = (Arc::clone(&now), Arc::clone(&turns));
        timer.expect_turn().returning(move || {
            count.fetch_add(1, Ordering::SeqCst);
            tick(&clock, Duration::from_secs(1));
        });
        let plan = SamplingPlan {
            min_samples: 5,
            max_samples: 5,
            ..SamplingPlan::SMOKE
        };
        let ms = || {
            tick(&now, Duration::from_millis(1));
            Ok::<(), Infallible>(())
        };
        let samples = sample(&timer, &plan, ms).expect("sampled");
        assert_eq!(samples.ns_per_iter, vec![1e6; 5]);
        assert_eq!(turns.load(Ordering::SeqCst), 6, "warm-up and five samples");
        let samples = sample_with_setup(&timer, &plan, || Ok::<(), Infallible>(()), |_| ms())
            .expect("sampled");
        assert_eq!(samples.ns_per_iter, vec![1e6; 5]);
        assert_eq!(turns.load(Ordering::SeqCst), 12);
    }

    #[test]
    fn fast_routines_are_batched_and_timed_exactly() {
        let (timer, now) = scripted();
        let plan = SamplingPlan::SMOKE;
        let calls = Cell::new(0u64);
        let s = sample(&timer, &plan, || {
            calls.set(calls.get() + 1);
            tick(&now, Duration::from_nanos(1000));
            Ok::<_, Infallible>(())
        })
        .expect("infallible");
        // 1 µs per call: a batch must last >= 500 µs, so 512 iterations (powers of two).
        assert_eq!(s.batch, 512);
        assert!(s.ns_per_iter.iter().all(|&x| x == 1000.0), "{s:?}");
        assert!(s.ns_per_iter.len() >= plan.min_samples && s.ns_per_iter.len() <= plan.max_samples);
        assert!(calls.get() > 512 * plan.min_samples as u64);
    }

    #[test]
    fn slow_routines_stop_at_min_samples_once_over_budget() {
        let (timer, now) = scripted();
        let plan = SamplingPlan::SMOKE;
        let s = sample(&timer, &plan, || {
            tick(&now, Duration::from_millis(100));
            Ok::<_, Infallible>(())
        })
        .expect("infallible");
        assert_eq!(s.batch, 1);
        // 10 x 100 ms is past the 300 ms budget, but a CI needs the minimum of 10.
        assert_eq!(s.ns_per_iter.len(), plan.min_samples);
    }

    #[test]
    fn a_routine_that_takes_no_time_still_terminates() {
        let (timer, _now) = scripted();
        let plan = SamplingPlan {
            warm_up: Duration::ZERO,
            ..SamplingPlan::SMOKE
        };
        let s = sample(&timer, &plan, || Ok::<_, Infallible>(())).expect("infallible");
        assert_eq!(s.batch, MAX_BATCH);
        assert_eq!(s.ns_per_iter.len(), plan.max_samples);
    }

    #[test]
    fn routine_errors_stop_measurement() {
        let (timer, now) = scripted();
        let mut left = 5;
        let r = sample(&timer, &SamplingPlan::SMOKE, || {
            tick(&now, Duration::from_millis(1));
            left -= 1;
            if left == 0 { Err("disk full") } else { Ok(()) }
        });
        assert_eq!(r, Err("disk full"));
    }

    #[test]
    fn samples_become_a_wall_time_metric() {
        let m = Samples {
            ns_per_iter: vec![3.0, 1.0, 2.0],
            batch: 1,
        }
        .into_metric(0.95);
        assert_eq!(m.kind, MetricKind::WallTime);
        assert_eq!(m.value, Value::Float(2.0));
        assert_eq!(m.summary.as_ref().map(|s| s.n), Some(3));
    }

    #[test]
    fn setup_is_not_timed_and_each_sample_gets_a_fresh_input() {
        let (timer, now) = scripted();
        let plan = SamplingPlan::SMOKE;
        let made = Cell::new(0u64);
        let s = sample_with_setup(
            &timer,
            &plan,
            || {
                // Setup takes 1 s of (virtual) time: none of it may show in a sample.
                tick(&now, Duration::from_secs(1));
                made.set(made.get() + 1);
                Ok::<_, Infallible>(made.get())
            },
            |input| {
                tick(&now, Duration::from_millis(*input));
                Ok(())
            },
        )
        .expect("infallible");
        assert_eq!(s.batch, 1);
        // Warm-up: inputs 1..=9 take 1+2+...+9 = 45 ms < 50 ms, the 10th brings it to 55 ms.
        // Samples: inputs 11, 12, ... until the 300 ms budget, after at least 10.
        assert_eq!(s.ns_per_iter[0], 11e6);
        // 11 + 12 + ... + 26 = 296 ms, 27 ms brings it to 323 ms: 17 samples.
        assert_eq!(s.ns_per_iter.len(), 17);
        assert!(s.ns_per_iter.windows(2).all(|w| w[1] == w[0] + 1e6));
    }

    #[test]
    fn p99_is_the_nearest_rank_and_its_interval_holds_it() {
        let samples: Vec<f64> = (1..=200).map(f64::from).collect();
        let m = quantile_metric(&samples, 0.99, 0.95);
        assert_eq!(m.value, Value::Float(198.0));
        let s = m.summary.expect("summary");
        assert!(s.ci.lower <= 198.0 && s.ci.upper >= 198.0, "{:?}", s.ci);
        assert!(s.ci.lower < s.ci.upper);
        assert_eq!(m.samples, samples, "kept, for pooling");
        assert_eq!(m.quantile, Some(0.99));
    }

    #[test]
    fn resample_recomputes_the_same_statistic_from_new_samples() {
        let mut cpu = quantile_metric(&[1.0, 2.0, 3.0], 0.99, 0.9);
        cpu.kind = MetricKind::CpuTime;
        let p99 = resample(&cpu, (1..=200).map(f64::from).collect());
        assert_eq!(p99.value, Value::Float(198.0));
        assert_eq!(
            (p99.kind, p99.quantile, p99.samples.len()),
            (MetricKind::CpuTime, Some(0.99), 200)
        );
        assert_eq!(p99.summary.expect("summary").ci.level, 0.9);
        let wall = Samples {
            ns_per_iter: vec![5.0, 1.0],
            batch: 1,
        }
        .into_metric(0.95);
        let median = resample(&wall, vec![4.0, 8.0, 6.0]);
        assert_eq!((median.value, median.quantile), (Value::Float(6.0), None));
    }
}
