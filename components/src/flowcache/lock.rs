//! The cache's cross-process lock (seed section 2): an OS advisory lock on `<root>/.lock`, retried on a
//! pure [`RetrySchedule`] (every 0.5 s, [`FixedRetry`], or 0.1 s doubling to 2 s, [`ExponentialBackoff`])
//! until [`LOCK_TIMEOUT`], waiting through a [`Clock`] so tests and scenarios run in virtual time.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::setting::env_setting;
use super::{CacheError, io_error, write_atomic};
use crate::clock::Clock;

/// The lock file at the cache root (hidden, so never an entry). Never written: only locked.
pub const LOCK_FILE: &str = ".lock";
/// Where the holder records its pid, one decimal line, written by temp file + rename while it holds
/// the lock and removed before it lets go. Found at acquisition, it names a holder that died holding it.
pub const LOCK_OWNER_FILE: &str = ".lock.owner";
/// How long [`CacheLock::acquire`] waits before giving up, as the original's `LOCK_TIMEOUT`.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// The environment variable that picks the retry strategy, as in FlowForge.
pub const BACKOFF_STRATEGY_VAR: &str = "LOCK_BACKOFF_STRATEGY";
/// Hard cap on retries in one schedule, whatever the policy and timeout say.
pub const MAX_RETRIES: u32 = 1_000_000;
/// Shortest wait a schedule hands out: a policy answering zero cannot make a busy loop.
pub const MIN_WAIT: Duration = Duration::from_micros(1);

/// How long to wait between attempts: the one thing the two strategies differ in.
pub trait RetryPolicy: Send + Sync + fmt::Debug {
    /// Short, stable name for scenario ids and reports: `"fixed"` or `"exponential"`.
    fn name(&self) -> &'static str;
    /// The wait after failed attempt number `retry + 1` (so `wait(0)` follows the first attempt).
    fn wait(&self, retry: u32) -> Duration;
}

/// The original: the same wait after every failed attempt (`sleep 0.5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedRetry {
    interval: Duration,
}

impl FixedRetry {
    /// The original's interval: 0.5 s.
    pub const ORIGINAL_INTERVAL: Duration = Duration::from_millis(500);

    /// Retries every `interval` (at least [`MIN_WAIT`]).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(MIN_WAIT),
        }
    }

    /// The wait between attempts.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Default for FixedRetry {
    fn default() -> Self {
        Self::new(Self::ORIGINAL_INTERVAL)
    }
}

impl FixedRetry {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "fixed";
}

impl RetryPolicy for FixedRetry {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn wait(&self, _retry: u32) -> Duration {
        self.interval
    }
}

/// The seed's "after": the first wait is `initial`, each next one twice the last, never above `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExponentialBackoff {
    initial: Duration,
    cap: Duration,
}

impl ExponentialBackoff {
    /// The seed's first wait: 0.1 s.
    pub const ORIGINAL_INITIAL: Duration = Duration::from_millis(100);
    /// The seed's largest wait: 2.0 s.
    pub const ORIGINAL_CAP: Duration = Duration::from_secs(2);

    /// Starts at `initial` (at least [`MIN_WAIT`]) and doubles up to `cap` (at least `initial`).
    pub fn new(initial: Duration, cap: Duration) -> Self {
        let initial = initial.max(MIN_WAIT);
        Self {
            initial,
            cap: cap.max(initial),
        }
    }

    /// The first wait.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The largest wait.
    pub fn cap(&self) -> Duration {
        self.cap
    }
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        Self::new(Self::ORIGINAL_INITIAL, Self::ORIGINAL_CAP)
    }
}

impl ExponentialBackoff {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "exponential";
}

impl RetryPolicy for ExponentialBackoff {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn wait(&self, retry: u32) -> Duration {
        // 2^31 times anything at least 1 µs is far beyond any cap worth having: saturate there.
        let factor = 1_u32 << retry.min(31);
        self.initial.saturating_mul(factor).min(self.cap)
    }
}

/// The waits between attempts, pure: no clock, no I/O. The first attempt happens at once; after each
/// failed one, [`next_wait`](Self::next_wait) says how long to wait before the next, or `None` once the
/// timeout is reached. The last wait is cut short to land exactly on the deadline, where one final
/// attempt is made: with a 30 s timeout, [`FixedRetry`] makes 61 attempts and the seed's
/// [`ExponentialBackoff`] 20.
///
/// As an [`Iterator`] it yields the waits of a wait in which attempts take no time.
#[derive(Clone, Debug)]
pub struct RetrySchedule<'p> {
    policy: &'p dyn RetryPolicy,
    timeout: Duration,
    retries: u32,
    /// Time since the first attempt at the end of the last wait handed out (a lower bound of it).
    floor: Duration,
}

impl<'p> RetrySchedule<'p> {
    /// The schedule of `policy`, giving up after `timeout`.
    pub fn new(policy: &'p dyn RetryPolicy, timeout: Duration) -> Self {
        Self {
            policy,
            timeout,
            retries: 0,
            floor: Duration::ZERO,
        }
    }

    /// The wait before the next attempt, given the time since the first attempt (a caller with a
    /// real clock passes what it measured, which includes the attempts' own time); `None` when the
    /// deadline is reached or [`MAX_RETRIES`] waits were handed out.
    pub fn next_wait(&mut self, elapsed: Duration) -> Option<Duration> {
        let elapsed = elapsed.max(self.floor);
        if elapsed >= self.timeout || self.retries >= MAX_RETRIES {
            return None;
        }
        let wait = self
            .policy
            .wait(self.retries)
            .max(MIN_WAIT)
            .min(self.timeout - elapsed);
        self.retries += 1;
        self.floor = elapsed + wait;
        Some(wait)
    }

    /// Waits handed out so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }
}

impl Iterator for RetrySchedule<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.next_wait(self.floor)
    }
}

/// A successful [`acquire_with`].
#[derive(Debug)]
pub struct Acquired<T> {
    /// What the successful attempt returned.
    pub value: T,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// Clock time from the first attempt to the successful one.
    pub waited: Duration,
}

/// Why [`acquire_with`] gave up.
#[derive(Debug)]
pub enum AcquireError<E> {
    /// Every attempt until the deadline found the resource taken.
    TimedOut {
        /// Attempts made.
        attempts: u32,
        /// Clock time from the first attempt to the last.
        waited: Duration,
    },
    /// An attempt failed outright.
    Failed(E),
}

/// The retry loop: calls `try_once` until it returns `Some`, waiting on `clock` between attempts as
/// `schedule` says. Bounded by the schedule (which is bounded by its timeout and [`MAX_RETRIES`]).
pub fn acquire_with<T, E>(
    clock: &dyn Clock,
    mut schedule: RetrySchedule<'_>,
    mut try_once: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Acquired<T>, AcquireError<E>> {
    let start = clock.now();
    let mut attempts = 0_u32;
    for _ in 0..=MAX_RETRIES {
        attempts += 1;
        if let Some(value) = try_once().map_err(AcquireError::Failed)? {
            return Ok(Acquired {
                value,
                attempts,
                waited: clock.now() - start,
            });
        }
        match schedule.next_wait(clock.now() - start) {
            Some(wait) => clock.sleep(wait),
            None => break,
        }
    }
    Err(AcquireError::TimedOut {
        attempts,
        waited: clock.now() - start,
    })
}

/// A holder found recorded in [`LOCK_OWNER_FILE`] when the lock was taken: it never let go cleanly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleOwner {
    /// The pid it recorded.
    pub pid: u32,
    /// Whether that pid runs now: `Some(false)` is the usual case (it died holding the lock and the
    /// kernel released it); `Some(true)` means the pid was reused since; `None`: cannot tell here.
    pub alive: Option<bool>,
}

/// An exclusive hold on a cache directory, across processes and threads: a `flock`-style advisory
/// lock on [`LOCK_FILE`] (per open file, so two handles in one process exclude each other too). The
/// kernel drops it when the holder dies; the pid the holder recorded is then still there, so the next
/// holder knows it took over a stale lock ([`took_over`](Self::took_over)).
///
/// A lock that is held is never broken on the word of a recorded pid alone: the kernel holding it
/// means a live process has the file open (a child that inherited it, or a holder that has not yet
/// recorded its pid), and breaking it would let two writers in. A timeout names the recorded holder,
/// whether it runs, and how to find the real one.
///
/// Released on drop (the pid record removed first) or by [`release`](Self::release), which reports
/// errors.
#[derive(Debug)]
pub struct CacheLock {
    file: Option<File>,
    path: PathBuf,
    owner_path: PathBuf,
    attempts: u32,
    waited: Duration,
    took_over: Option<StaleOwner>,
}

impl CacheLock {
    /// Takes the lock on the cache at `root`, retrying as `policy` says for up to [`LOCK_TIMEOUT`].
    pub fn acquire(
        root: &Path,
        clock: &dyn Clock,
        policy: &dyn RetryPolicy,
    ) -> Result<Self, CacheError> {
        Self::acquire_within(root, clock, policy, LOCK_TIMEOUT)
    }

    /// [`acquire`](Self::acquire) with another timeout.
    pub fn acquire_within(
        root: &Path,
        clock: &dyn Clock,
        policy: &dyn RetryPolicy,
        timeout: Duration,
    ) -> Result<Self, CacheError> {
        fs::create_dir_all(root).map_err(|e| io_error(root, e))?;
        let schedule = RetrySchedule::new(policy, timeout);
        match acquire_with(clock, schedule, || Self::try_acquire(root)) {
            Ok(Acquired {
                mut value,
                attempts,
                waited,
            }) => {
                value.attempts = attempts;
                value.waited = waited;
                Ok(value)
            }
            Err(AcquireError::Failed(e)) => Err(e),
            Err(AcquireError::TimedOut { attempts, waited }) => {
                let holder = Self::holder(root).ok().flatten();
                Err(CacheError::LockTimeout {
                    path: root.join(LOCK_FILE),
                    waited,
                    attempts,
                    holder,
                    holder_alive: holder.and_then(pid_alive),
                })
            }
        }
    }

    /// One attempt: the lock if it is free now, `None` if another handle holds it. The cache
    /// directory must exist.
    pub fn try_acquire(root: &Path) -> Result<Option<Self>, CacheError> {
        let path = root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io_error(&path, e)),
        }
        if !still_at(&file, &path)? {
            // The file was deleted or replaced between our open and our lock: the lock we hold is on
            // an orphan. Let go and let the caller try again on the file now at the path.
            return Ok(None);
        }
        let owner_path = root.join(LOCK_OWNER_FILE);
        let took_over = read_pid(&owner_path)?.map(|pid| StaleOwner {
            pid,
            alive: pid_alive(pid),
        });
        write_atomic(&owner_path, format!("{}\n", std::process::id()).as_bytes())?;
        Ok(Some(Self {
            file: Some(file),
            path,
            owner_path,
            attempts: 1,
            waited: Duration::ZERO,
            took_over,
        }))
    }

    /// The pid recorded by the current (or a dead) holder of the lock at `root`, if any.
    pub fn holder(root: &Path) -> Result<Option<u32>, CacheError> {
        read_pid(&root.join(LOCK_OWNER_FILE))
    }

    /// Attempts it took to get the lock.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Clock time spent waiting for the lock.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The holder that died holding the lock before we took it, if one did.
    pub fn took_over(&self) -> Option<StaleOwner> {
        self.took_over
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets go: removes the pid record, then unlocks. Unlike a drop, says if the record could not be
    /// removed (the next holder would then report a stale takeover of a live pid).
    pub fn release(mut self) -> Result<(), CacheError> {
        let outcome = remove_owner(&self.owner_path);
        if let Some(file) = self.file.take() {
            drop(file);
        }
        outcome
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Best effort: a record left behind only makes the next holder report a takeover.
            let _ = remove_owner(&self.owner_path);
        }
        // Closing the file (dropping `self.file`) releases the advisory lock.
    }
}

fn remove_owner(owner_path: &Path) -> Result<(), CacheError> {
    match fs::remove_file(owner_path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(owner_path, e)),
    }
}

/// Whether `file` is still the file at `path` (same device and inode), on Unix; elsewhere assumed.
fn still_at(file: &File, path: &Path) -> Result<bool, CacheError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata().map_err(|e| io_error(path, e))?;
        match fs::metadata(path) {
            Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(path, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        Ok(true)
    }
}

/// The pid in a pid record; `None` when there is none or it does not hold one number.
fn read_pid(path: &Path) -> Result<Option<u32>, CacheError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Whether process `pid` is running: `/proc/<pid>` exists and is not a zombie (Linux); `None` where
/// that cannot be told.
pub fn pid_alive(pid: u32) -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state is the first field after the command name, which is in parentheses.
            Ok(stat) => {
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next());
                Some(!matches!(state, Some('Z' | 'X')))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(false),
            Err(_) => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Who holds the lock, in words, for [`CacheError::LockTimeout`].
pub(super) fn describe_holder(holder: &Option<u32>, alive: &Option<bool>) -> String {
    match (holder, alive) {
        (Some(pid), Some(true)) => format!("pid {pid} (running)"),
        (Some(pid), Some(false)) => format!(
            "pid {pid} on record, which is not running: a process that inherited its open lock file \
             (a child it started) still holds the lock"
        ),
        (Some(pid), None) => format!("pid {pid}"),
        (None, _) => "a process that recorded no pid".to_owned(),
    }
}

/// What to do about a timeout, for [`CacheError::LockTimeout`].
pub(super) fn timeout_hint(holder: &Option<u32>, alive: &Option<bool>, path: &Path) -> String {
    match (holder, alive) {
        (Some(pid), Some(true)) => format!(
            "let pid {pid} finish or stop it (`kill {pid}`) and retry; if it is legitimately busy for \
             longer, wait longer (`CacheLock::acquire_within`)"
        ),
        _ => format!(
            "find the process holding it with `fuser -v {}` and stop it, then retry",
            path.display()
        ),
    }
}

env_setting! {
    /// Which retry policy to use, from `LOCK_BACKOFF_STRATEGY=exponential|linear` (default
    /// exponential, as the seed's configuration section says).
    pub enum BackoffStrategy from BACKOFF_STRATEGY_VAR {
        /// [`ExponentialBackoff`] with the seed's 0.1 s start and 2.0 s cap.
        Exponential = "exponential",
        /// [`FixedRetry`] every 0.5 s (the seed calls it "linear": the elapsed time grows linearly).
        Linear = "linear",
    }
}

impl BackoffStrategy {
    /// The policy this setting selects, with the seed's timings.
    pub fn policy(self) -> Box<dyn RetryPolicy> {
        match self {
            Self::Exponential => Box::new(ExponentialBackoff::default()),
            Self::Linear => Box::new(FixedRetry::default()),
        }
    }
}
