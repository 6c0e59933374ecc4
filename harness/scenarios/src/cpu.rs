//! Process CPU time (user + system, every thread) from `CLOCK_PROCESS_CPUTIME_ID`, and the real-time
//! helpers the rate limiter, pool and watcher scenarios share.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

use perfgate::model::{Direction, Metric, MetricKind, Value};

/// CPU time the whole process has used so far (all threads, user + system), in nanoseconds' precision.
pub fn process_cpu() -> Duration {
    timespec(clock_gettime(ClockId::ProcessCPUTime))
}

/// CPU time the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    timespec(clock_gettime(ClockId::ThreadCPUTime))
}

fn timespec(t: rustix::time::Timespec) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec).unwrap_or(0).min(999_999_999);
    Duration::new(secs, nanos)
}

/// Blocks the calling thread until `at` (returns at once if it passed): the scenarios' real-time
/// windows are measured from fixed points, so a late wake-up does not shift the next one.
pub fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// A single measured nanosecond figure (a latency) as a noisy metric with no samples: it
/// shows in reports, and gates only through a hard limit in `perfgate.toml`.
pub fn single_ns(ns: f64) -> Metric {
    Metric {
        kind: MetricKind::WallTime,
        unit: "ns".to_owned(),
        direction: Direction::LowerIsBetter,
        value: Value::Float(ns),
        summary: None,
        samples: Vec::new(),
        rounds: Vec::new(),
        quantile: None,
    }
}

/// A CPU time in nanoseconds (per grant, per idle second) as a noisy metric with no samples, like
/// [`single_ns`] but of kind [`MetricKind::CpuTime`].
pub fn single_cpu_ns(ns: f64) -> Metric {
    Metric {
        kind: MetricKind::CpuTime,
        ..single_ns(ns)
    }
}

/// A count per unit of work or time that need not be a whole number (wakeups per grant), gated
/// like an exact count.
pub fn exact_rate(value: f64, unit: &str) -> Metric {
    Metric {
        kind: MetricKind::Exact,
        unit: unit.to_owned(),
        direction: Direction::LowerIsBetter,
        value: if value.fract() == 0.0 && (0.0..9e15).contains(&value) {
            Value::Int(value as u64)
        } else {
            Value::Float(value)
        },
        summary: None,
        samples: Vec::new(),
        rounds: Vec::new(),
        quantile: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_grows_with_work_and_covers_this_thread() {
        let (p0, t0) = (process_cpu(), thread_cpu());
        // Bounded busy work (no sleeping): a few milliseconds of CPU.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let (p1, t1) = (process_cpu(), thread_cpu());
        assert!(t1 > t0, "thread CPU did not move: {t0:?} -> {t1:?}");
        // Other test threads may run too, so the process used at least what this thread used.
        assert!(
            p1 - p0 >= t1 - t0,
            "process {:?} < thread {:?}",
            p1 - p0,
            t1 - t0
        );
    }

    #[test]
    fn whole_rates_stay_integers() {
        assert_eq!(exact_rate(8.0, "wakeups/grant").value, Value::Int(8));
        assert_eq!(exact_rate(2.05, "wakeups/grant").value, Value::Float(2.05));
        assert_eq!(exact_rate(0.0, "x").kind, MetricKind::Exact);
    }
}
