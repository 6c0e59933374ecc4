//! Worker pool (seed `core-improvements.md`, section 2): 100 ms polling workers against blocking ones,
//! in real time: wakeups and timed waits of an idle pool, shutdown with a full and an empty queue,
//! 10k-task throughput. Also the timed-wait metrics the watcher and rate-limiter scenarios share.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use components::pool::{BlockingPool, PollingPool, PoolConfig, WorkerPool};
use fixtures::probe::threads::{ThreadSet, WaitProbe, WaitSeries};

use super::cpu::{exact_rate, sleep_until};
use perfgate::measure::Samples;
use perfgate::model::{Claim, Metric, MetricName};
use perfgate::scenario::{Registry, WALL_TIME};

const SEED: &str = "core-improvements.md";

/// The original's pool: 4 workers, a queue of 100, 100 ms polls.
pub fn config() -> PoolConfig {
    PoolConfig::default()
}

/// Idle wakeups are counted from this long after the pool started (mid-way between two 100 ms polls)…
pub const IDLE_FROM: Duration = Duration::from_millis(150);
/// …for this long: two whole poll periods, so the count is exact whatever the polls' phase.
pub const IDLE_WINDOW: Duration = Duration::from_millis(200);
/// With a full queue, the workers are released this long after shutdown was called.
pub const RELEASE_AFTER: Duration = Duration::from_millis(20);
/// Shutdowns timed per shutdown scenario.
pub const SHUTDOWN_REPS: usize = 5;
/// Tasks per throughput run.
pub const THROUGHPUT_TASKS: u64 = 10_000;
/// Throughput runs per scenario.
pub const THROUGHPUT_REPS: usize = 15;
/// Longest any wait for the pool may take before the scenario reports it stuck.
const STUCK: Duration = Duration::from_secs(30);

/// Times a worker woke with no task, per second of an idle pool.
pub const IDLE_WAKEUPS_PER_S: MetricName = MetricName::new("idle_wakeups_per_s");
/// Time from releasing the busy workers (full queue; shutdown was called [`RELEASE_AFTER`] before)
/// or from the call (empty queue) until `shutdown` returned with every task run, ns.
pub const SHUTDOWN_LATENCY: MetricName = MetricName::new("shutdown_latency");
/// Times shutdown slept before looking at the queue again, per shutdown.
pub const SHUTDOWN_POLLS: MetricName = MetricName::new("shutdown_polls");
/// Idle wakeups while the throughput run's tasks were flowing.
pub const IDLE_WAKEUPS: MetricName = MetricName::new("idle_wakeups");

/// The component's threads (those started since the scenario began) blocked in a wait with a
/// deadline armed: median over [`WAIT_SAMPLES`] looks from the operating system. A wait that ends by
/// itself is a wakeup to come, however long its period: a `recv_timeout(30 s)` loop moves no wakeup
/// counter in a 200 ms window, but shows here.
pub const TIMED_WAITS: MetricName = MetricName::new("timed_waits");
/// As [`TIMED_WAITS`], counting only the waits due within [`WAIT_HORIZON`]: a wait of an hour
/// (a starvation guard) is left out, a 5 s or 20 s period is not. Not emitted where a deadline could
/// not be read.
pub const TIMED_WAITS_SOON: MetricName = MetricName::new("timed_waits_under_10min");
/// What [`timed_wait_metrics`] may return.
pub const TIMED_WAIT_METRICS: [MetricName; 2] = [TIMED_WAITS, TIMED_WAITS_SOON];
/// See [`TIMED_WAITS_SOON`].
pub const WAIT_HORIZON: Duration = Duration::from_secs(600);
/// Looks at the threads per measurement (odd, so the median is one of them).
pub const WAIT_SAMPLES: usize = 7;
/// Between two looks at an idle pool: 7 looks span 150 ms of the 200 ms window.
pub const WAIT_GAP: Duration = Duration::from_millis(25);

/// A probe of the threads started from now on; `None`, with a note on stderr (once), where this
/// machine cannot show what a thread is blocked in: the metrics are then left out, not zero.
pub fn wait_probe() -> Option<WaitProbe> {
    static NOTED: AtomicBool = AtomicBool::new(false);
    match ThreadSet::current().and_then(WaitProbe::new) {
        Ok(p) => Some(p),
        Err(e) => {
            if !NOTED.swap(true, Ordering::Relaxed) {
                eprintln!("note: {TIMED_WAITS} not measured: {e}");
            }
            None
        }
    }
}

/// [`TIMED_WAITS`] and, where every deadline was read, [`TIMED_WAITS_SOON`] of a series of looks.
pub fn timed_wait_metrics(series: Option<&WaitSeries>) -> Vec<(String, Metric)> {
    let Some(series) = series else {
        return Vec::new();
    };
    let mut out = vec![(TIMED_WAITS.into(), Metric::count(series.timed(), "threads"))];
    if let Some(soon) = series.timed_within() {
        out.push((TIMED_WAITS_SOON.into(), Metric::count(soon, "threads")));
    }
    out
}

pair_variants! {
    /// Which pool a scenario measures.
    pub enum PoolVariant {
        /// `PollingPool`: `get(timeout = 0.1)` workers, shutdown polling `empty()` (the original).
        Polling => PollingPool::NAME,
        /// `BlockingPool`: blocking receive, shutdown closes the queue and the workers drain it.
        Blocking => BlockingPool::NAME,
    }
}

impl PoolVariant {
    /// A started pool of this variant.
    pub fn pool(self, config: PoolConfig) -> Result<Box<dyn WorkerPool>, String> {
        Ok(match self {
            Self::Polling => Box::new(PollingPool::new(config).map_err(|e| e.to_string())?),
            Self::Blocking => Box::new(BlockingPool::new(config).map_err(|e| e.to_string())?),
        })
    }
}

/// About 10 µs of work that the optimiser cannot remove.
fn short_task() {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    for i in 0..5_000u64 {
        x = std::hint::black_box(x ^ i).rotate_left(7);
    }
    std::hint::black_box(x);
}

/// What an idle pool did in its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdleRun {
    /// Times a worker woke with no task.
    pub wakeups: u64,
    /// The pool's threads, looked at [`WAIT_SAMPLES`] times in the window (`None`: not measurable
    /// here).
    pub waits: Option<WaitSeries>,
}

/// Idle wakeups of a pool of `variant` in the window [`IDLE_FROM`] .. + [`IDLE_WINDOW`] after its
/// start, and what its threads are blocked in meanwhile.
pub fn idle_run(variant: PoolVariant) -> Result<IdleRun, String> {
    let probe = wait_probe();
    let t0 = Instant::now();
    let pool = variant.pool(config())?;
    sleep_until(t0 + IDLE_FROM);
    let before = pool.stats().idle_wakeups();
    let waits = probe
        .map(|p| p.observe(WAIT_SAMPLES, WAIT_GAP, WAIT_HORIZON))
        .transpose()
        .map_err(|e| e.to_string())?;
    sleep_until(t0 + IDLE_FROM + IDLE_WINDOW);
    let woke = pool.stats().idle_wakeups() - before;
    pool.shutdown().map_err(|e| e.to_string())?;
    Ok(IdleRun {
        wakeups: woke,
        waits,
    })
}

/// One timed shutdown: how long it took and how often it polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownRun {
    /// From releasing the workers (full queue) or from the call (empty queue) until `shutdown` returned.
    pub latency: Duration,
    /// Times shutdown slept before looking at the queue again.
    pub polls: u64,
}

/// Workers held on their first task until opened.
#[derive(Default)]
struct Hold {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Hold {
    /// Waits until opened (at most [`STUCK`]).
    fn wait(&self) {
        let g = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        drop(self.opened.wait_timeout_while(g, STUCK, |open| !*open));
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }
}

/// Starts a pool of `variant` and shuts it down. With `full`, every worker is held on a task and the
/// queue filled with short tasks first; shutdown is called while they wait, and a helper releases
/// the workers `hold` later, so shutdown always starts on a full queue (releasing them first let
/// the queue drain before a preempted shutdown looked at it). The latency runs from the release (or,
/// empty, from the call) to `shutdown` returning. Checks that every task ran.
pub fn shutdown_once(
    variant: PoolVariant,
    full: bool,
    hold: Duration,
) -> Result<ShutdownRun, String> {
    let c = config();
    let pool = variant.pool(c)?;
    let done = Arc::new(AtomicU64::new(0));
    if !full {
        let t0 = Instant::now();
        pool.shutdown().map_err(|e| e.to_string())?;
        return Ok(ShutdownRun {
            latency: t0.elapsed(),
            polls: pool.stats().shutdown_polls(),
        });
    }
    let gate = Arc::new(Hold::default());
    let (go, went) = mpsc::channel::<()>();
    let g = Arc::clone(&gate);
    // Opens the gate `hold` after the go, or at once if this function returns early (go dropped).
    let releaser = std::thread::Builder::new()
        .name("pool-release".to_owned())
        .spawn(move || {
            if went.recv().is_ok() {
                std::thread::sleep(hold);
            }
            let at = Instant::now();
            g.open();
            at
        })
        .map_err(|e| format!("cannot start the releasing thread: {e}"))?;
    let (started_tx, started) = mpsc::sync_channel::<()>(c.workers);
    for _ in 0..c.workers {
        let (s, g) = (started_tx.clone(), Arc::clone(&gate));
        pool.execute(Box::new(move || {
            let _ = s.send(());
            g.wait();
        }))
        .map_err(|e| e.to_string())?;
    }
    for i in 0..c.workers {
        started
            .recv_timeout(STUCK)
            .map_err(|_| format!("worker {i} of {} never took a task", c.workers))?;
    }
    for i in 0..c.queue {
        let d = Arc::clone(&done);
        pool.try_execute(Box::new(move || {
            short_task();
            d.fetch_add(1, Ordering::Relaxed);
        }))
        .map_err(|e| format!("queueing task {i} of {}: {e}", c.queue))?;
    }
    go.send(())
        .map_err(|_| "the releasing thread ended early".to_owned())?;
    pool.shutdown().map_err(|e| e.to_string())?;
    let end = Instant::now();
    let released = releaser
        .join()
        .map_err(|_| "the releasing thread panicked".to_owned())?;
    let ran = done.load(Ordering::Relaxed);
    let completed = pool.stats().completed();
    let (expected, want_completed) = (c.queue as u64, (c.queue + c.workers) as u64);
    if ran != expected || completed != want_completed {
        return Err(format!(
            "shutdown returned with {ran} of {expected} queued tasks run ({completed} completed, \
             expected {want_completed}): queued work was lost"
        ));
    }
    Ok(ShutdownRun {
        latency: end.saturating_duration_since(released),
        polls: pool.stats().shutdown_polls(),
    })
}

/// One throughput run: submits [`THROUGHPUT_TASKS`] tiny tasks and waits until the last one ran.
/// Returns the time that took and the idle wakeups meanwhile.
pub fn throughput_once(variant: PoolVariant) -> Result<(Duration, u64), String> {
    let pool = variant.pool(config())?;
    let left = Arc::new(AtomicU64::new(THROUGHPUT_TASKS));
    let (finished_tx, finished) = mpsc::sync_channel::<()>(1);
    let woke0 = pool.stats().idle_wakeups();
    let t0 = Instant::now();
    for i in 0..THROUGHPUT_TASKS {
        let (l, f) = (Arc::clone(&left), finished_tx.clone());
        pool.execute(Box::new(move || {
            if l.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = f.send(());
            }
        }))
        .map_err(|e| format!("submitting task {i}: {e}"))?;
    }
    finished.recv_timeout(STUCK).map_err(|_| {
        format!(
            "{} of {THROUGHPUT_TASKS} tasks still pending after {STUCK:?}",
            left.load(Ordering::Relaxed)
        )
    })?;
    let took = t0.elapsed();
    let woke = pool.stats().idle_wakeups() - woke0;
    pool.shutdown().map_err(|e| e.to_string())?;
    Ok((took, woke))
}

fn samples_metric(times: &[Duration], confidence: f64) -> Metric {
    Samples {
        ns_per_iter: times.iter().map(|d| d.as_nanos() as f64).collect(),
        batch: 1,
    }
    .into_metric(confidence)
}

/// Registers the worker-pool scenarios and claims. The smoke suite keeps the two situations where
/// the pools differ: idle wakeups and shutdown with a full queue (0.35 s each, and 0.5 s / 0.1 s for
/// the five shutdowns).
pub fn register(r: &mut Registry) {
    use PoolVariant::{Blocking, Polling};
    let idle_scale = format!("workers={}", config().workers);
    let idle = r
        .pair("pool/idle", Polling, Blocking)
        .scales([idle_scale.clone()])
        .metrics([IDLE_WAKEUPS_PER_S])
        .metrics(TIMED_WAIT_METRICS)
        .measure(|variant, _, _| {
            let run = idle_run(variant)?;
            let mut m = BTreeMap::from([(
                IDLE_WAKEUPS_PER_S.into(),
                exact_rate(run.wakeups as f64 / IDLE_WINDOW.as_secs_f64(), "wakeups/s"),
            )]);
            m.extend(timed_wait_metrics(run.waits.as_ref()));
            Ok(m)
        });
    let shutdown = r
        .pair("pool/shutdown", Polling, Blocking)
        .scales(["queue=full", "queue=empty"])
        .smoke(|_, scale| scale == "queue=full")
        .metrics([SHUTDOWN_LATENCY, SHUTDOWN_POLLS])
        .measure(|variant, scale, ctx| {
            let full = scale == "queue=full";
            // Each shutdown is a sample: in an A/B the other build takes its turn in between.
            let runs = (0..SHUTDOWN_REPS)
                .map(|_| {
                    ctx.timer.turn();
                    shutdown_once(variant, full, RELEASE_AFTER)
                })
                .collect::<Result<Vec<_>, String>>()?;
            let latencies: Vec<Duration> = runs.iter().map(|r| r.latency).collect();
            let polls: u64 = runs.iter().map(|r| r.polls).sum();
            Ok(BTreeMap::from([
                (
                    SHUTDOWN_LATENCY.into(),
                    samples_metric(&latencies, ctx.plan.confidence),
                ),
                (
                    SHUTDOWN_POLLS.into(),
                    exact_rate(polls as f64 / SHUTDOWN_REPS as f64, "polls/shutdown"),
                ),
            ]))
        });
    r.pair("pool/throughput", Polling, Blocking)
        .scales([format!("tasks={THROUGHPUT_TASKS}")])
        .smoke(|_, _| false)
        .metrics([WALL_TIME, IDLE_WAKEUPS])
        .measure(|variant, _, ctx| {
            let runs = (0..THROUGHPUT_REPS)
                .map(|_| throughput_once(variant))
                .collect::<Result<Vec<_>, String>>()?;
            let times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
            let woke: u64 = runs.iter().map(|r| r.1).sum();
            Ok(BTreeMap::from([
                (
                    WALL_TIME.into(),
                    samples_metric(&times, ctx.plan.confidence),
                ),
                (IDLE_WAKEUPS.into(), Metric::count(woke, "wakeups")),
            ]))
        });
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 31,
        text: "Eliminated unnecessary wakeups in worker threads (read as: an idle pool's workers \
               never wake)"
            .to_owned(),
        check: idle.after_at_most(&idle_scale, IDLE_WAKEUPS_PER_S, 0.0),
    });
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 32,
        text: "Cleaner shutdown with proper task completion waiting (read as: with a full queue, \
               every task runs and shutdown returns in at most half the time)"
            .to_owned(),
        check: shutdown.ratio_at_most("queue=full", SHUTDOWN_LATENCY, 0.5),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::scenario::Suite;

    /// The blocking pool's shutdown waits for events only, so it runs here: a full queue drains
    /// completely without a single poll, and an empty pool shuts down too.
    #[test]
    fn blocking_shutdown_runs_every_queued_task_without_polling() {
        let full = shutdown_once(PoolVariant::Blocking, true, Duration::ZERO).expect("drains");
        assert_eq!(full.polls, 0);
        let empty = shutdown_once(PoolVariant::Blocking, false, Duration::ZERO).expect("stops");
        assert_eq!(empty.polls, 0);
    }

    #[test]
    fn timed_wait_metrics_leave_out_what_was_not_measured() {
        use fixtures::probe::threads::WaitCounts;
        assert!(timed_wait_metrics(None).is_empty(), "no probe, no metric");
        let sample = |timed, within| WaitCounts {
            threads: 4,
            timed,
            timed_within: within,
            ..WaitCounts::default()
        };
        let series = WaitSeries {
            horizon: WAIT_HORIZON,
            samples: vec![sample(4, Some(1)), sample(3, Some(1)), sample(4, Some(1))],
        };
        let m: BTreeMap<String, Metric> = timed_wait_metrics(Some(&series)).into_iter().collect();
        assert_eq!(m[TIMED_WAITS.as_str()], Metric::count(4, "threads"));
        assert_eq!(m[TIMED_WAITS_SOON.as_str()], Metric::count(1, "threads"));
        let unread = WaitSeries {
            samples: vec![sample(2, None)],
            ..series
        };
        let m: BTreeMap<String, Metric> = timed_wait_metrics(Some(&unread)).into_iter().collect();
        assert_eq!(m.len(), 1, "a deadline that was not read is not guessed");
        assert_eq!(m[TIMED_WAITS.as_str()], Metric::count(2, "threads"));
    }

    #[test]
    fn blocking_throughput_runs_every_task() {
        let (_, woke) = throughput_once(PoolVariant::Blocking).expect("runs");
        assert_eq!(woke, 0);
    }

    #[test]
    fn smoke_keeps_the_differing_pairs_and_claims_name_registered_ids() {
        let r = Registry::of(register);
        let ids = r.ids(Suite::Full);
        assert_eq!(
            r.ids(Suite::Smoke),
            vec![
                "pool/idle/polling/workers=4",
                "pool/idle/blocking/workers=4",
                "pool/shutdown/polling/queue=full",
                "pool/shutdown/blocking/queue=full",
            ]
        );
        assert!(ids.contains(&"pool/throughput/blocking/tasks=10000"));
    }
}
