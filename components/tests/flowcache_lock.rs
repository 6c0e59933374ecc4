//! The cache lock: the retry schedules' exact waits, timeouts in virtual time, mutual exclusion
//! between threads and between processes, and takeover of a lock whose holder died. Nothing here
//! sleeps for real: waits go through `MockClock`, and a child process is driven by pipes.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use components::clock::Clock;
use components::flowcache::CacheError;
use components::flowcache::lock::{
    AcquireError, BackoffStrategy, CacheLock, ExponentialBackoff, FixedRetry, LOCK_FILE,
    LOCK_OWNER_FILE, LOCK_TIMEOUT, MAX_RETRIES, RetryPolicy, RetrySchedule, StaleOwner,
    acquire_with, pid_alive,
};
use fixtures::clock::MockClock;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn fixed_schedule_polls_every_half_second_until_the_timeout() {
    let policy = FixedRetry::default();
    let waits: Vec<Duration> = RetrySchedule::new(&policy, LOCK_TIMEOUT).collect();
    assert_eq!(waits.len(), 60, "60 waits: attempts at 0, 0.5, ..., 30 s");
    assert!(waits.iter().all(|w| *w == ms(500)));
    assert_eq!(waits.iter().sum::<Duration>(), LOCK_TIMEOUT);
}

#[test]
fn exponential_schedule_doubles_to_the_cap_and_lands_on_the_deadline() {
    let policy = ExponentialBackoff::default();
    let waits: Vec<Duration> = RetrySchedule::new(&policy, LOCK_TIMEOUT).collect();
    assert_eq!(
        waits[..7],
        [
            ms(100),
            ms(200),
            ms(400),
            ms(800),
            ms(1600),
            ms(2000),
            ms(2000)
        ]
    );
    // 3.1 s in the first five, then 13 × 2 s to 29.1 s, then 0.9 s to the deadline.
    assert_eq!(waits.len(), 19);
    assert_eq!(waits[18], ms(900));
    assert_eq!(waits.iter().sum::<Duration>(), LOCK_TIMEOUT);
    assert_eq!(policy.wait(40), ms(2000), "no overflow far out");
}

#[test]
fn schedule_accounts_for_time_spent_in_attempts() {
    let policy = FixedRetry::default();
    let mut s = RetrySchedule::new(&policy, Duration::from_secs(1));
    assert_eq!(s.next_wait(Duration::ZERO), Some(ms(500)));
    // The attempt itself took 300 ms: only 200 ms remain before the deadline.
    assert_eq!(s.next_wait(ms(800)), Some(ms(200)));
    assert_eq!(s.next_wait(ms(1000)), None);
    // A clock that reports less than the waits handed out cannot stretch the schedule.
    let mut s = RetrySchedule::new(&policy, Duration::from_secs(1));
    assert_eq!(s.next_wait(Duration::ZERO), Some(ms(500)));
    assert_eq!(s.next_wait(Duration::ZERO), Some(ms(500)));
    assert_eq!(s.next_wait(Duration::ZERO), None);
}

#[test]
fn a_zero_wait_policy_is_still_bounded() {
    let policy = FixedRetry::new(Duration::ZERO);
    assert_eq!(policy.interval(), Duration::from_micros(1));
    let waits = RetrySchedule::new(&policy, Duration::from_secs(3600)).count();
    assert_eq!(waits, MAX_RETRIES as usize);
}

#[test]
fn acquire_with_waits_on_the_clock_between_attempts() {
    let clock = MockClock::new();
    let policy = ExponentialBackoff::default();
    let mut left = 3;
    let got = acquire_with(&clock, RetrySchedule::new(&policy, LOCK_TIMEOUT), || {
        if left == 0 {
            return Ok::<_, ()>(Some("lock"));
        }
        left -= 1;
        Ok(None)
    })
    .expect("acquired");
    assert_eq!(got.value, "lock");
    assert_eq!(got.attempts, 4);
    assert_eq!(got.waited, ms(700));
    assert_eq!(clock.sleeps(), 3);
    assert_eq!(clock.slept(), ms(700));

    let failed = acquire_with(&clock, RetrySchedule::new(&policy, LOCK_TIMEOUT), || {
        Err::<Option<()>, _>("broken")
    });
    assert!(matches!(failed, Err(AcquireError::Failed("broken"))));
}

#[test]
fn lock_excludes_a_second_handle_in_the_same_process_and_is_released_on_drop() {
    let dir = tempdir();
    let clock = MockClock::new();
    let first = CacheLock::acquire(dir.path(), &clock, &FixedRetry::default()).expect("first");
    assert_eq!(first.attempts(), 1);
    assert_eq!(first.took_over(), None);
    assert_eq!(
        CacheLock::holder(dir.path()).expect("holder"),
        Some(std::process::id())
    );
    assert!(
        CacheLock::try_acquire(dir.path()).expect("try").is_none(),
        "held"
    );
    first.release().expect("release");
    assert!(
        !dir.path().join(LOCK_OWNER_FILE).exists(),
        "pid record gone"
    );
    assert!(dir.path().join(LOCK_FILE).exists(), "lock file stays");
    let second = CacheLock::try_acquire(dir.path())
        .expect("try")
        .expect("free again");
    assert_eq!(second.took_over(), None, "a clean release is no stale lock");
    drop(second);
    assert!(
        CacheLock::try_acquire(dir.path()).expect("try").is_some(),
        "drop releases"
    );
}

#[test]
fn timeout_is_a_clear_error_after_exactly_the_schedule() {
    let dir = tempdir();
    let clock = MockClock::new();
    let _held = CacheLock::try_acquire(dir.path())
        .expect("try")
        .expect("free");
    for (policy, attempts) in [
        (&ExponentialBackoff::default() as &dyn RetryPolicy, 20),
        (&FixedRetry::default() as &dyn RetryPolicy, 61),
    ] {
        let before = clock.elapsed();
        let err = CacheLock::acquire(dir.path(), &clock, policy).expect_err("held: times out");
        assert_eq!(clock.elapsed() - before, LOCK_TIMEOUT, "{}", policy.name());
        match &err {
            CacheError::LockTimeout {
                path,
                waited,
                attempts: a,
                holder,
                holder_alive,
            } => {
                assert_eq!(path, &dir.path().join(LOCK_FILE));
                assert_eq!(*waited, LOCK_TIMEOUT);
                assert_eq!(*a, attempts, "{}", policy.name());
                assert_eq!(*holder, Some(std::process::id()));
                assert_eq!(*holder_alive, Some(true));
            }
            other => panic!("expected LockTimeout, got {other:?}"),
        }
        let msg = err.to_string();
        let pid = std::process::id();
        assert!(
            msg.contains(&dir.path().join(LOCK_FILE).display().to_string())
                && msg.contains("30s")
                && msg.contains(&format!("pid {pid} (running)"))
                && msg.contains(&format!("kill {pid}")),
            "{msg}"
        );
    }
}

#[test]
fn a_recorded_dead_holder_is_reported_as_taken_over() {
    let dir = tempdir();
    let dead = dead_pid();
    assert_eq!(pid_alive(dead), Some(false));
    assert_eq!(pid_alive(std::process::id()), Some(true));
    fs::write(dir.path().join(LOCK_OWNER_FILE), format!("{dead}\n")).expect("record");
    let clock = MockClock::new();
    let lock = CacheLock::acquire(dir.path(), &clock, &ExponentialBackoff::default())
        .expect("a dead holder's lock is free");
    assert_eq!(
        lock.took_over(),
        Some(StaleOwner {
            pid: dead,
            alive: Some(false)
        })
    );
    assert_eq!(
        CacheLock::holder(dir.path()).expect("holder"),
        Some(std::process::id())
    );
    assert_eq!(clock.sleeps(), 0);
}

/// A pid that was used and is now free: a child that exited and was reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .arg("--list")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    child.wait().expect("reap");
    pid
}

#[test]
fn threads_take_turns_and_never_overlap() {
    let dir = Arc::new(tempdir());
    let counter = dir.path().join("counter");
    fs::write(&counter, "0").expect("counter");
    let clock = Arc::new(MockClock::new());
    let inside = Arc::new(AtomicU32::new(0));
    const THREADS: u32 = 4;
    const ROUNDS: u32 = 50;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (dir, clock, inside, counter) = (
                Arc::clone(&dir),
                Arc::clone(&clock),
                Arc::clone(&inside),
                counter.clone(),
            );
            std::thread::spawn(move || {
                let policy = FixedRetry::new(ms(1));
                for _ in 0..ROUNDS {
                    let lock = CacheLock::acquire_within(
                        dir.path(),
                        clock.as_ref() as &dyn Clock,
                        &policy,
                        Duration::from_secs(24 * 3600),
                    )
                    .expect("acquire");
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    // A read-modify-write that loses updates unless the lock excludes.
                    let n: u32 = fs::read_to_string(&counter)
                        .expect("read")
                        .parse()
                        .expect("number");
                    std::thread::yield_now();
                    fs::write(&counter, (n + 1).to_string()).expect("write");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    lock.release().expect("release");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let total: u32 = fs::read_to_string(&counter)
        .expect("read")
        .parse()
        .expect("number");
    assert_eq!(total, THREADS * ROUNDS);
    assert!(!dir.path().join(LOCK_OWNER_FILE).exists());
}

const CHILD_ENV: &str = "FLOWCACHE_LOCK_TEST_CHILD_ROOT";

/// Not a test on its own: the child process of `another_process_excludes_us_until_it_dies`. Run with
/// the variable set, it takes the lock, says so, waits for its stdin to close, and exits without
/// releasing (as a crash would).
#[test]
fn helper_lock_holder_child_process() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let lock = CacheLock::try_acquire(Path::new(&root))
        .expect("child: try")
        .expect("child: the lock is free");
    // libtest prints "test NAME ... " first, on the same line.
    println!("locked");
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    std::mem::forget(lock);
    std::process::exit(0);
}

#[test]
fn another_process_excludes_us_until_it_dies_and_its_stale_record_is_taken_over() {
    let dir = tempdir();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "helper_lock_holder_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let child_pid = child.id();
    let stdout = child.stdout.take().expect("child stdout");
    let locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.trim_end().ends_with("locked"));
    assert!(locked, "the child never reported holding the lock");

    assert!(
        CacheLock::try_acquire(dir.path()).expect("try").is_none(),
        "the child holds it"
    );
    let clock = MockClock::new();
    let err = CacheLock::acquire_within(dir.path(), &clock, &FixedRetry::default(), ms(2000))
        .expect_err("times out");
    assert!(
        matches!(
            err,
            CacheError::LockTimeout {
                holder: Some(pid),
                holder_alive: Some(true),
                attempts: 5,
                ..
            } if pid == child_pid
        ),
        "{err:?}"
    );

    drop(child.stdin.take());
    let status = child.wait().expect("child exits");
    assert!(status.success(), "child: {status}");

    let lock = CacheLock::acquire(dir.path(), &clock, &FixedRetry::default())
        .expect("the kernel released the dead child's lock");
    assert_eq!(lock.attempts(), 1);
    assert_eq!(
        lock.took_over(),
        Some(StaleOwner {
            pid: child_pid,
            alive: Some(false)
        })
    );
}

/// Its parsing is tested with the other settings' (`flowcache::tests`).
#[test]
fn backoff_strategy_selects_the_policy() {
    assert_eq!(BackoffStrategy::Linear.policy().name(), "fixed");
    assert_eq!(BackoffStrategy::Exponential.policy().name(), "exponential");
    assert_eq!(BackoffStrategy::Linear.policy().wait(7), ms(500));
}

#[test]
fn lock_in_a_missing_directory_creates_it_and_io_errors_name_the_path() {
    let dir = tempdir();
    let root = dir.path().join("new/cache");
    let clock = MockClock::new();
    let lock = CacheLock::acquire(&root, &clock, &FixedRetry::default()).expect("created");
    assert!(root.join(LOCK_FILE).exists());
    drop(lock);
    let file = dir.path().join("plain-file");
    fs::write(&file, "x").expect("file");
    let err = CacheLock::acquire(&file, &clock, &FixedRetry::default()).expect_err("not a dir");
    assert!(err.to_string().contains("plain-file"), "{err}");
}
