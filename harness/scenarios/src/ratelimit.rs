//! Rate limiter (seed `core-improvements.md`, section 1): 1 / 4 / 16 threads share one 50-per-second
//! bucket (burst 1) for 20 grants in real time, 10 ms polling against the condition variable: wakeups,
//! CPU, lateness, and how many of the contending threads sit in a timed wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use components::clock::{Clock, SystemClock};
use components::ratelimit::{CondvarLimiter, PollingLimiter, Rate, RateLimiter};
use fixtures::probe::threads::{WaitProbe, WaitSeries};

use super::cpu::{exact_rate, process_cpu, single_cpu_ns, thread_cpu};
use super::pool::{TIMED_WAIT_METRICS, WAIT_HORIZON, WAIT_SAMPLES, timed_wait_metrics, wait_probe};
use perfgate::measure::quantile_metric;
use perfgate::model::{Claim, Metric, MetricName};
use perfgate::scenario::{Registry, RunContext};

const SEED: &str = "core-improvements.md";

/// Tokens per second. Below the pollers' 100 retries a second, so the polling limiter keeps the rate
/// and the difference is in what waiting costs, not in throughput.
pub const RATE_PER_S: u32 = 50;
/// The original's default burst.
pub const BURST: u32 = 1;
/// Grants counted per run: 19 intervals of 20 ms, then each other thread's last wait (one more
/// interval each): 0.44 s of real time with 4 threads, 0.68 s with 16.
pub const GRANTS: u64 = 20;
/// Contending threads; the smoke suite runs [`SMOKE_THREADS`] only.
pub const THREAD_SCALES: [usize; 3] = [1, 4, 16];
/// The scale the smoke suite (and the claims) use.
pub const SMOKE_THREADS: usize = 4;

/// Wakeups (sleeps and condition-variable waits that returned) per grant.
pub const WAKEUPS_PER_GRANT: MetricName = MetricName::new("wakeups_per_grant");
/// Process CPU time (user + system) per grant, ns.
pub const CPU_PER_GRANT: MetricName = MetricName::new("cpu_per_grant");
/// Median time a whole token sat in the bucket before a thread took it, ns.
pub const LATENESS_P50: MetricName = MetricName::new("lateness_p50");
/// 99th percentile (nearest rank: of 19 gaps, the largest) of the same, ns.
pub const LATENESS_P99: MetricName = MetricName::new("lateness_p99");

/// The contending threads are first looked at this long after they start (all of them waiting by
/// then)…
pub const WAIT_FROM: Duration = Duration::from_millis(40);
/// …then every so often: 7 looks end about 130 ms in, well before the 20th grant (380 ms).
pub const WAIT_GAP: Duration = Duration::from_millis(15);

pair_variants! {
    /// Which limiter a scenario measures.
    pub enum LimiterVariant {
        /// `PollingLimiter`: try, sleep 10 ms, retry (the original).
        Polling => PollingLimiter::<SystemClock>::NAME,
        /// `CondvarLimiter`: the head sleeps until the token is due, the rest wait on the condvar.
        Condvar => CondvarLimiter::<SystemClock>::NAME,
    }
}

impl LimiterVariant {
    /// The limiter at [`RATE_PER_S`] and [`BURST`] on `clock`.
    pub fn limiter<C: Clock + 'static>(self, clock: C) -> Result<Arc<dyn RateLimiter>, String> {
        let rate = Rate::per_second(RATE_PER_S).map_err(|e| e.to_string())?;
        Ok(match self {
            Self::Polling => {
                Arc::new(PollingLimiter::new(rate, BURST, clock).map_err(|e| e.to_string())?)
            }
            Self::Condvar => {
                Arc::new(CondvarLimiter::new(rate, BURST, clock).map_err(|e| e.to_string())?)
            }
        })
    }
}

/// Threads contending: the scale of a contention scenario (`threads=4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads(pub usize);

impl std::fmt::Display for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "threads={}", self.0)
    }
}

/// What one contention run saw, up to and including the last counted grant.
#[derive(Debug)]
pub struct Contention {
    /// When each counted grant returned, on the run's clock, in order.
    pub grant_times: Vec<Duration>,
    /// The limiter's wakeup counter when the last counted grant returned.
    pub wakeups: u64,
    /// The limiter's grant counter at that moment.
    pub grants: u64,
    /// Process CPU time from the start signal to that moment.
    pub cpu: Duration,
    /// Grants after it: each other thread finishes the wait it is in (at most `threads - 1`).
    pub tail_grants: u64,
    /// The contending threads, looked at while they contend (with a probe only).
    pub waits: Option<WaitSeries>,
}

/// `threads` threads take tokens from `limiter` (untimed `acquire`) until `grants` were handed out
/// between them, so all of them contend to the end. The counters and process CPU time are read by
/// the thread that got the last counted grant; the other threads then finish their wait and stop.
pub fn contend(
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    threads: usize,
    grants: u64,
) -> Result<Contention, String> {
    contend_observed(limiter, clock, threads, grants, None)
}

/// [`contend`], and with a `probe` (made before the threads start, so it looks at them) this thread
/// looks at the contending threads [`WAIT_SAMPLES`] times from [`WAIT_FROM`] after the start, in real
/// time. The CPU this costs (this thread's) is taken out of the process CPU time reported.
pub fn contend_observed(
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    threads: usize,
    grants: u64,
    probe: Option<&WaitProbe>,
) -> Result<Contention, String> {
    #[derive(Default)]
    struct Shared {
        times: Vec<Duration>,
        at_last: Option<(u64, u64, Duration)>,
    }
    let given = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(Shared::default()));
    let start = Arc::new(Barrier::new(threads + 1));
    let handles = (0..threads)
        .map(|i| {
            let (l, c, g, d, sh, st) = (
                Arc::clone(&limiter),
                Arc::clone(&clock),
                Arc::clone(&given),
                Arc::clone(&done),
                Arc::clone(&shared),
                Arc::clone(&start),
            );
            std::thread::Builder::new()
                .name(format!("contend-{i}"))
                .spawn(move || -> Result<(), String> {
                    st.wait();
                    // No thread takes more than `grants` tokens: the loop is bounded.
                    for _ in 0..grants {
                        if d.load(Ordering::Acquire) {
                            break;
                        }
                        l.acquire().map_err(|e| e.to_string())?;
                        let at = c.now().since_origin();
                        let k = g.fetch_add(1, Ordering::AcqRel) + 1;
                        if k > grants {
                            continue;
                        }
                        let mut s = sh.lock().map_err(|_| "grant times poisoned")?;
                        s.times.push(at);
                        if k == grants {
                            s.at_last =
                                Some((l.stats().wakeups(), l.stats().grants(), process_cpu()));
                            d.store(true, Ordering::Release);
                        }
                    }
                    Ok(())
                })
                .map_err(|e| format!("cannot start contending thread {i}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    start.wait();
    let cpu0 = process_cpu();
    let own0 = thread_cpu();
    let waits = probe
        .map(|p| {
            std::thread::sleep(WAIT_FROM);
            p.observe(WAIT_SAMPLES, WAIT_GAP, WAIT_HORIZON)
        })
        .transpose()
        .map_err(|e| e.to_string());
    let own = thread_cpu().saturating_sub(own0);
    for h in handles {
        h.join()
            .map_err(|_| "a contending thread panicked".to_owned())??;
    }
    let s = shared
        .lock()
        .map_err(|_| "grant times poisoned".to_owned())?;
    let (wakeups, counted, cpu) = s
        .at_last
        .ok_or_else(|| format!("the threads ended before {grants} grants"))?;
    let mut grant_times = s.times.clone();
    grant_times.sort();
    Ok(Contention {
        grant_times,
        wakeups,
        grants: counted,
        cpu: cpu.saturating_sub(cpu0).saturating_sub(own),
        tail_grants: limiter.stats().grants().saturating_sub(counted),
        waits: waits?,
    })
}

/// How long each token after the first sat in a burst-1 bucket before a thread took it, in ns.
///
/// With burst 1 the bucket is empty after every grant, so the next token is due exactly one
/// `interval` after it: lateness = gap between consecutive grants − interval (never below zero; the
/// stamps are taken just after `acquire` returns, so two can be a few µs closer than the interval).
pub fn lateness_ns(sorted_times: &[Duration], interval: Duration) -> Vec<f64> {
    sorted_times
        .windows(2)
        .map(|w| {
            w[1].saturating_sub(w[0])
                .saturating_sub(interval)
                .as_nanos() as f64
        })
        .collect()
}

/// Checks that a run gave exactly `grants` tokens and never faster than the rate allows.
fn check_run(c: &Contention, grants: u64, interval: Duration) -> Result<(), String> {
    if c.grants < grants || c.grant_times.len() as u64 != grants {
        return Err(format!(
            "{} grants counted and {} stamped, expected {grants}",
            c.grants,
            c.grant_times.len()
        ));
    }
    let span = match (c.grant_times.first(), c.grant_times.last()) {
        (Some(a), Some(b)) => b.saturating_sub(*a),
        _ => Duration::ZERO,
    };
    // Burst 1: the last grant is at least (grants - 1) intervals after the first (5 ms slack for
    // stamping after `acquire` returns).
    let least = interval * u32::try_from(grants.saturating_sub(1)).unwrap_or(u32::MAX);
    if span + Duration::from_millis(5) < least {
        return Err(format!(
            "{grants} grants within {span:?}: faster than {RATE_PER_S}/s allows ({least:?})"
        ));
    }
    Ok(())
}

/// `ratelimit/contend/{polling,condvar}/threads=N`: N threads take 20 grants at 50/s, burst 1.
pub fn contend_once(
    variant: LimiterVariant,
    &Threads(threads): &Threads,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    // Real time: a thread's poll is a real sleep, and the CPU it costs is the point. (Under
    // `MockClock` every poller's sleep would advance the one shared clock, hiding contention.)
    let clock = Arc::new(SystemClock::new());
    let limiter = variant.limiter(Arc::clone(&clock))?;
    let interval = Rate::per_second(RATE_PER_S)
        .map_err(|e| e.to_string())?
        .interval();
    let probe = wait_probe();
    let run = contend_observed(limiter, clock, threads, GRANTS, probe.as_ref())?;
    check_run(&run, GRANTS, interval)?;
    if run.tail_grants >= threads as u64 {
        return Err(format!(
            "{} grants after the last counted one: a thread kept going after the stop",
            run.tail_grants
        ));
    }
    let late = lateness_ns(&run.grant_times, interval);
    let confidence = ctx.plan.confidence;
    let grants = GRANTS as f64;
    let mut m = BTreeMap::from([
        (
            WAKEUPS_PER_GRANT.into(),
            exact_rate(run.wakeups as f64 / grants, "wakeups/grant"),
        ),
        (
            CPU_PER_GRANT.into(),
            single_cpu_ns(run.cpu.as_nanos() as f64 / grants),
        ),
        (LATENESS_P50.into(), quantile_metric(&late, 0.5, confidence)),
        (
            LATENESS_P99.into(),
            quantile_metric(&late, 0.99, confidence),
        ),
    ]);
    m.extend(timed_wait_metrics(run.waits.as_ref()));
    Ok(m)
}

/// Registers the rate-limiter scenarios and claims.
pub fn register(r: &mut Registry) {
    let pair = r
        .pair(
            "ratelimit/contend",
            LimiterVariant::Polling,
            LimiterVariant::Condvar,
        )
        .cases(THREAD_SCALES.map(Threads))
        .smoke(|_, t| t.0 == SMOKE_THREADS)
        .metrics([WAKEUPS_PER_GRANT, CPU_PER_GRANT, LATENESS_P50, LATENESS_P99])
        .metrics(TIMED_WAIT_METRICS)
        .measure(contend_once);
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 17,
        text:
            "Much lower CPU usage under contention (read as: at most half the CPU time per grant \
               with 4 threads)"
                .to_owned(),
        check: pair.ratio_at_most(Threads(SMOKE_THREADS), CPU_PER_GRANT, 0.5),
    });
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 18,
        text: "Improved wake efficiency when many threads are waiting (read as: at most half the \
               wakeups per grant with 4 threads)"
            .to_owned(),
        check: pair.ratio_at_most(Threads(SMOKE_THREADS), WAKEUPS_PER_GRANT, 0.5),
    });
    let many = THREAD_SCALES[THREAD_SCALES.len() - 1];
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 18,
        text: format!(
            "Improved wake efficiency when many threads are waiting (read as: at most half the \
             wakeups per grant with {many} threads; full suite)"
        ),
        check: pair.ratio_at_most(Threads(many), WAKEUPS_PER_GRANT, 0.5),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures::clock::MockClock;
    use perfgate::scenario::{PairVariant, Role, Suite};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn lateness_is_the_gap_beyond_the_interval_and_never_negative() {
        let times = [0, 20, 45, 64, 84].map(|ms| ms * MS);
        let late = lateness_ns(&times, 20 * MS);
        assert_eq!(late, vec![0.0, 5e6, 0.0, 0.0]);
        assert!(lateness_ns(&times[..1], 20 * MS).is_empty());
        let m = quantile_metric(&late, 0.99, 0.95);
        assert_eq!(m.value.as_f64(), 5e6, "p99 of 4 gaps is the largest");
        assert_eq!(quantile_metric(&late, 0.5, 0.95).value.as_f64(), 0.0);
    }

    #[test]
    fn a_run_faster_than_the_rate_or_short_of_grants_is_an_error() {
        let ok = Contention {
            grant_times: (0..5).map(|k| k * 20 * MS).collect(),
            wakeups: 4,
            grants: 5,
            cpu: Duration::ZERO,
            tail_grants: 0,
            waits: None,
        };
        assert!(check_run(&ok, 5, 20 * MS).is_ok());
        let fast = Contention {
            grant_times: (0..5).map(|k| k * 10 * MS).collect(),
            ..ok
        };
        let e = check_run(&fast, 5, 20 * MS).expect_err("too fast");
        assert!(e.contains("faster than"), "{e}");
        let e = check_run(&fast, 6, 20 * MS).expect_err("short");
        assert!(e.contains("expected 6"), "{e}");
    }

    /// The contention driver in virtual time: every ticket becomes exactly one grant and all
    /// threads end, for both limiters (the real-time figures come from `cargo perfgate run`).
    #[test]
    fn contention_hands_out_exactly_the_tickets_in_virtual_time() {
        for variant in [LimiterVariant::Polling, LimiterVariant::Condvar] {
            let clock = Arc::new(MockClock::new());
            let limiter = variant.limiter(Arc::clone(&clock)).expect("valid");
            let run = contend(limiter, clock.clone(), 4, 10).expect("runs");
            assert_eq!(run.grant_times.len(), 10, "{}", variant.name());
            // The limiter's counter is read by the thread of the 10th ticket; in virtual time
            // other threads' acquires can return before that read and before it raises `done`
            // (they count as tail grants), so the counter is at least the tickets and the total is
            // bounded only by each thread's loop (10 acquires).
            assert!(run.grants >= 10, "{}: {}", variant.name(), run.grants);
            assert!(run.grants + run.tail_grants <= 40, "{}", variant.name());
            assert!(run.wakeups >= 9, "{}: {}", variant.name(), run.wakeups);
            // Virtual time: 9 intervals of 20 ms at least.
            assert!(clock.elapsed() >= 180 * MS, "{}", variant.name());
            check_run(&run, 10, 20 * MS).expect("within the rate");
        }
    }

    #[test]
    fn smoke_runs_the_four_thread_pair_and_claims_name_registered_ids() {
        let r = Registry::of(register);
        let ids = r.ids(Suite::Full);
        assert_eq!(
            r.ids(Suite::Smoke),
            vec![
                "ratelimit/contend/polling/threads=4",
                "ratelimit/contend/condvar/threads=4"
            ]
        );
        for s in r.scenarios() {
            if let Role::After { before } = s.role() {
                assert!(ids.contains(&before.as_str()), "{before}");
            }
        }
    }
}
