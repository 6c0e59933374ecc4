//! The two worker pools: every task runs exactly once, also across shutdown; panics reach the caller
//! and spare the worker; idle polling and shutdown polling are counted. No test sleeps: waits are
//! for events (a result, a counter reaching a value), each with a bounded deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use components::pool::{BlockingPool, PollingPool, PoolConfig, PoolError, TaskError, WorkerPool};
use crossbeam_channel::bounded;
use fixtures::clock::MockClock;

const LONG: Duration = Duration::from_secs(20);

fn config(workers: usize, queue: usize) -> PoolConfig {
    PoolConfig {
        workers,
        queue,
        poll: Duration::from_millis(1),
    }
}

fn both(workers: usize, queue: usize) -> Vec<Box<dyn WorkerPool>> {
    let clock = Arc::new(MockClock::new());
    vec![
        Box::new(PollingPool::with_clock(config(workers, queue), clock).expect("starts")),
        Box::new(BlockingPool::new(config(workers, queue)).expect("starts")),
    ]
}

/// Spins (yielding) until `done` holds, for at most [`LONG`]: waiting for an event, not for time.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < LONG, "timed out waiting for {what}");
        thread::yield_now();
    }
}

#[test]
fn every_task_runs_exactly_once_across_shutdown() {
    for pool in both(4, 16) {
        let runs: Arc<Vec<AtomicU32>> = Arc::new((0..500).map(|_| AtomicU32::new(0)).collect());
        for i in 0..500 {
            let runs = Arc::clone(&runs);
            pool.execute(Box::new(move || {
                runs[i].fetch_add(1, Ordering::Relaxed);
            }))
            .expect("queued");
        }
        pool.shutdown().expect("clean shutdown");
        let counts: Vec<u32> = runs.iter().map(|r| r.load(Ordering::Relaxed)).collect();
        assert!(
            counts.iter().all(|&c| c == 1),
            "{}: {counts:?}",
            pool.name()
        );
        assert_eq!(pool.stats().completed(), 500, "{}", pool.name());
        let late = pool.execute(Box::new(|| ()));
        assert!(matches!(late, Err(PoolError::ShutDown)), "{}", pool.name());
        pool.shutdown().expect("idempotent");
    }
}

#[test]
fn a_panicking_task_reaches_its_caller_and_spares_the_worker() {
    for pool in both(1, 32) {
        let handles: Vec<_> = (0..20u32)
            .map(|i| {
                pool.submit(move || {
                    assert!(i % 3 != 0, "task {i} fails");
                    i * 10
                })
                .expect("queued")
            })
            .collect();
        for (i, h) in (0..20u32).zip(handles) {
            match h.wait_timeout(LONG) {
                Ok(v) => assert_eq!(v, i * 10, "{}", pool.name()),
                Err(TaskError::Panicked(msg)) => {
                    assert_eq!(i % 3, 0, "{}", pool.name());
                    assert!(msg.contains(&format!("task {i} fails")), "{msg}");
                }
                Err(e) => panic!("{}: task {i}: {e}", pool.name()),
            }
        }
        // One worker ran all 20: it survived 7 panics.
        pool.shutdown().expect("clean shutdown");
        assert_eq!(pool.stats().panicked(), 7, "{}", pool.name());
        assert_eq!(pool.stats().completed(), 20, "{}", pool.name());
    }
}

#[test]
fn a_full_queue_refuses_try_execute_and_shutdown_runs_it_all() {
    for pool in both(1, 100) {
        let (release, gate) = bounded::<()>(0);
        let ran = Arc::new(AtomicU32::new(0));
        pool.execute(Box::new(move || {
            let _ = gate.recv_timeout(LONG);
        }))
        .expect("queued");
        // The worker holds the gate task; fill the queue behind it.
        let mut queued = 0;
        let t0 = Instant::now();
        while queued < 100 {
            assert!(t0.elapsed() < LONG, "queue never filled");
            let ran = Arc::clone(&ran);
            match pool.try_execute(Box::new(move || {
                ran.fetch_add(1, Ordering::Relaxed);
            })) {
                Ok(()) => queued += 1,
                Err(PoolError::Full) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(matches!(
            pool.try_execute(Box::new(|| ())),
            Err(PoolError::Full)
        ));
        drop(release);
        pool.shutdown().expect("clean shutdown");
        assert_eq!(ran.load(Ordering::Relaxed), 100, "{}", pool.name());
    }
}

#[test]
fn idle_polling_workers_wake_and_blocking_ones_do_not() {
    let polling = PollingPool::new(config(2, 10)).expect("starts");
    let blocking = BlockingPool::new(config(2, 10)).expect("starts");
    wait_for("polling workers to time out 5 times", || {
        polling.stats().idle_wakeups() >= 5
    });
    assert_eq!(blocking.stats().idle_wakeups(), 0);
    polling.shutdown().expect("clean");
    blocking.shutdown().expect("clean");
    assert_eq!(blocking.stats().idle_wakeups(), 0);
}

/// Shutdown while the only worker is stuck in a task with 5 more queued: polling shutdown looks at the
/// queue again and again (on the mock clock), blocking shutdown just waits; both run all 6.
#[test]
fn shutdown_drains_a_busy_queue_and_only_the_polling_one_polls() {
    for pool in both(1, 10) {
        let pool: Arc<dyn WorkerPool> = Arc::from(pool);
        let (release, gate) = bounded::<()>(0);
        let ran = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&ran);
        pool.execute(Box::new(move || {
            let _ = gate.recv_timeout(LONG);
            r.fetch_add(1, Ordering::Relaxed);
        }))
        .expect("queued");
        for _ in 0..5 {
            let r = Arc::clone(&ran);
            pool.execute(Box::new(move || {
                r.fetch_add(1, Ordering::Relaxed);
            }))
            .expect("queued");
        }
        let p = Arc::clone(&pool);
        let shutdown = thread::spawn(move || p.shutdown());
        if pool.name() == "polling" {
            wait_for("shutdown to poll", || pool.stats().shutdown_polls() >= 3);
        }
        drop(release);
        shutdown
            .join()
            .expect("shutdown thread")
            .expect("clean shutdown");
        assert_eq!(ran.load(Ordering::Relaxed), 6, "{}", pool.name());
        let polls = pool.stats().shutdown_polls();
        match pool.name() {
            "polling" => assert!(polls >= 3, "{polls}"),
            _ => assert_eq!(polls, 0),
        }
    }
}

#[test]
fn bad_configs_name_the_field() {
    let e = BlockingPool::new(PoolConfig {
        workers: 0,
        ..PoolConfig::default()
    })
    .err()
    .expect("invalid");
    assert!(e.to_string().contains("`workers`"), "{e}");
    let e = PollingPool::new(PoolConfig {
        poll: Duration::ZERO,
        ..PoolConfig::default()
    })
    .err()
    .expect("invalid");
    assert!(e.to_string().contains("`poll`"), "{e}");
}
