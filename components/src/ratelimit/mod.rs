//! Token-bucket rate limiter (seed `core-improvements.md`, section 1): [`PollingLimiter`] retries every
//! 10 ms as the original did; [`CondvarLimiter`] sleeps until the next token is due or it is notified.

use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, MonoInstant};
use crate::counters::counters;

/// The original's retry interval: `time.sleep(0.01)`.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long [`RateLimiter::acquire`] waits at most before it reports starvation (an untimed wait
/// never blocks forever).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(3600);
/// Hard cap on wait rounds in one acquisition, whatever the clock does.
pub const MAX_ROUNDS: u64 = 10_000_000;

/// What can go wrong with a limiter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    /// A configuration value is out of range.
    #[error("rate limiter `{field}` = {value} is invalid: {fix}")]
    InvalidConfig {
        /// The field: `rate.tokens`, `rate.per` or `burst`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What to give instead.
        fix: &'static str,
    },
    /// An untimed `acquire` waited `waited` without a token.
    #[error(
        "no token after waiting {waited:?}: the limiter is starved (more demand than rate); raise the \
         rate or use `acquire_timeout` with the wait you can afford"
    )]
    Starved {
        /// How long it waited.
        waited: Duration,
    },
}

/// Tokens per period, kept as an exact fraction so grants over time are exact (no float drift).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    tokens: u32,
    per: Duration,
}

impl Rate {
    /// `tokens` every `per`; both must be non-zero.
    pub fn new(tokens: u32, per: Duration) -> Result<Self, LimitError> {
        if tokens == 0 {
            return Err(LimitError::InvalidConfig {
                field: "rate.tokens",
                value: tokens.to_string(),
                fix: "give at least 1 token per period",
            });
        }
        if per.is_zero() {
            return Err(LimitError::InvalidConfig {
                field: "rate.per",
                value: format!("{per:?}"),
                fix: "give a period longer than zero",
            });
        }
        Ok(Self { tokens, per })
    }

    /// `tokens` per second.
    pub fn per_second(tokens: u32) -> Result<Self, LimitError> {
        Self::new(tokens, Duration::from_secs(1))
    }

    /// Time between two tokens (rounded up to the nanosecond).
    pub fn interval(&self) -> Duration {
        let ns = self.per.as_nanos().div_ceil(u128::from(self.tokens));
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

counters! {
    /// Counters every limiter keeps.
    pub struct LimiterStats {
        /// Times a waiting thread woke up (from a sleep or a condition-variable wait).
        wakeups,
        /// Tokens handed out.
        grants,
    }
}

impl LimiterStats {
    /// Sets both counters to zero.
    pub fn reset(&self) {
        self.wakeups.store(0, Ordering::Relaxed);
        self.grants.store(0, Ordering::Relaxed);
    }

    fn woke(&self) {
        self.wakeups.fetch_add(1, Ordering::Relaxed);
    }

    fn granted(&self) {
        self.grants.fetch_add(1, Ordering::Relaxed);
    }
}

/// A token bucket shared by threads: `tokens = min(burst, tokens + elapsed * rate)`.
pub trait RateLimiter: Send + Sync {
    /// Short, stable name for scenario ids: `"polling"` or `"condvar"`.
    fn name(&self) -> &'static str;
    /// Takes a token if one is there; never waits.
    fn try_acquire(&self) -> bool;
    /// Waits at most `timeout` for a token; `false` when none came in time.
    fn acquire_timeout(&self, timeout: Duration) -> bool;
    /// The wake-up and grant counters.
    fn stats(&self) -> &LimiterStats;
    /// The longest an untimed [`RateLimiter::acquire`] waits.
    fn max_wait(&self) -> Duration {
        DEFAULT_MAX_WAIT
    }
    /// Waits for a token; after [`RateLimiter::max_wait`] without one it reports starvation instead of
    /// blocking forever.
    fn acquire(&self) -> Result<(), LimitError> {
        let waited = self.max_wait();
        if self.acquire_timeout(waited) {
            Ok(())
        } else {
            Err(LimitError::Starved { waited })
        }
    }
}

/// The bucket's arithmetic, in exact integer units: one token is `rate.per` nanoseconds' worth of
/// `rate.tokens` units, so refilling `elapsed` adds `elapsed_ns * rate.tokens` units.
#[derive(Debug)]
struct Bucket {
    rate: Rate,
    burst: u32,
    /// Tokens held, in units of `1 / per_ns` token.
    units: u128,
    last: MonoInstant,
}

impl Bucket {
    fn new(rate: Rate, burst: u32, now: MonoInstant) -> Result<Self, LimitError> {
        if burst == 0 {
            return Err(LimitError::InvalidConfig {
                field: "burst",
                value: "0".to_owned(),
                fix: "give a burst of at least 1 (the original's default)",
            });
        }
        let mut b = Self {
            rate,
            burst,
            units: 0,
            last: now,
        };
        b.units = b.cap();
        Ok(b)
    }

    fn one(&self) -> u128 {
        self.rate.per.as_nanos()
    }

    fn cap(&self) -> u128 {
        self.one() * u128::from(self.burst)
    }

    fn refill(&mut self, now: MonoInstant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(u128::from(self.rate.tokens)))
            .min(self.cap());
        if now > self.last {
            self.last = now;
        }
    }

    fn take(&mut self) -> bool {
        let one = self.one();
        if self.units >= one {
            self.units -= one;
            true
        } else {
            false
        }
    }

    /// A limiter's `try_acquire`: refills to `now` and takes a token if one is there, counting the
    /// grant in `stats`.
    fn try_grant(&mut self, now: MonoInstant, stats: &LimiterStats) -> bool {
        self.refill(now);
        let got = self.take();
        if got {
            stats.granted();
        }
        got
    }

    /// Time until a whole token is there (zero if one is).
    fn until_next(&self) -> Duration {
        let missing = self.one().saturating_sub(self.units);
        let ns = missing.div_ceil(u128::from(self.rate.tokens));
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state is a few numbers updated by plain assignments: a thread that panicked
    // while holding the lock cannot have left it half-written, so the state is still valid.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The original: try to take a token, and if there is none sleep [`POLL_INTERVAL`] and try again,
/// until the timeout. Every retry is a wakeup, whether a token came or not.
#[derive(Debug)]
pub struct PollingLimiter<C: Clock> {
    bucket: Mutex<Bucket>,
    clock: C,
    poll: Duration,
    stats: LimiterStats,
}

impl<C: Clock> PollingLimiter<C> {
    /// A full bucket of `burst` tokens refilled at `rate`, retrying every [`POLL_INTERVAL`].
    pub fn new(rate: Rate, burst: u32, clock: C) -> Result<Self, LimitError> {
        Self::with_poll_interval(rate, burst, clock, POLL_INTERVAL)
    }

    /// As [`PollingLimiter::new`], retrying every `poll` (at least 1 µs).
    pub fn with_poll_interval(
        rate: Rate,
        burst: u32,
        clock: C,
        poll: Duration,
    ) -> Result<Self, LimitError> {
        let bucket = Bucket::new(rate, burst, clock.now())?;
        Ok(Self {
            bucket: Mutex::new(bucket),
            clock,
            poll: poll.max(Duration::from_micros(1)),
            stats: LimiterStats::default(),
        })
    }
}

impl<C: Clock> PollingLimiter<C> {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "polling";
}

impl<C: Clock> RateLimiter for PollingLimiter<C> {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn try_acquire(&self) -> bool {
        lock(&self.bucket).try_grant(self.clock.now(), &self.stats)
    }

    fn acquire_timeout(&self, timeout: Duration) -> bool {
        let deadline = self.clock.now() + timeout;
        for _ in 0..MAX_ROUNDS {
            if self.try_acquire() {
                return true;
            }
            let now = self.clock.now();
            if now >= deadline {
                return false;
            }
            self.clock.sleep(self.poll.min(deadline - now));
            self.stats.woke();
        }
        false
    }

    fn stats(&self) -> &LimiterStats {
        &self.stats
    }
}

#[derive(Debug)]
struct Shared {
    bucket: Bucket,
    /// Whether a thread is sleeping until the next token is due. Only that one thread waits for
    /// time; the others wait on the condition variable until the head role is free again.
    head: bool,
    /// Threads waiting on the condition variable.
    queued: usize,
}

/// Mutex + condition variable: one waiter (the head) sleeps on the [`Clock`] exactly until the next
/// token is due; the others wait on the condition variable until the head gets its token or gives up
/// and hands the role on. Nothing but time makes tokens, so the head needs no notification, and
/// sleeping on the clock lets tests and scenarios run it in virtual time with `MockClock`.
#[derive(Debug)]
pub struct CondvarLimiter<C: Clock> {
    shared: Mutex<Shared>,
    ready: Condvar,
    clock: C,
    stats: LimiterStats,
}

impl<C: Clock> CondvarLimiter<C> {
    /// A full bucket of `burst` tokens refilled at `rate`.
    pub fn new(rate: Rate, burst: u32, clock: C) -> Result<Self, LimitError> {
        let bucket = Bucket::new(rate, burst, clock.now())?;
        Ok(Self {
            shared: Mutex::new(Shared {
                bucket,
                head: false,
                queued: 0,
            }),
            ready: Condvar::new(),
            clock,
            stats: LimiterStats::default(),
        })
    }

    /// Wakes one queued waiter if the head role is free or a token is there for it.
    fn pass_on(&self, s: &Shared) {
        if s.queued > 0 && (!s.head || s.bucket.until_next().is_zero()) {
            self.ready.notify_one();
        }
    }
}

impl<C: Clock> CondvarLimiter<C> {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "condvar";
}

impl<C: Clock> RateLimiter for CondvarLimiter<C> {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn try_acquire(&self) -> bool {
        lock(&self.shared)
            .bucket
            .try_grant(self.clock.now(), &self.stats)
    }

    fn acquire_timeout(&self, timeout: Duration) -> bool {
        let deadline = self.clock.now() + timeout;
        let mut s = lock(&self.shared);
        let mut is_head = false;
        let mut got = false;
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            s.bucket.refill(now);
            if s.bucket.take() {
                got = true;
                break;
            }
            if now >= deadline {
                break;
            }
            if is_head || !s.head {
                s.head = true;
                is_head = true;
                let until = (now + s.bucket.until_next()).min(deadline);
                drop(s);
                self.clock.sleep(until - now);
                self.stats.woke();
                s = lock(&self.shared);
            } else {
                s.queued += 1;
                s = self
                    .ready
                    .wait_timeout(s, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                s.queued -= 1;
                self.stats.woke();
            }
        }
        if is_head {
            s.head = false;
        }
        if got {
            self.stats.granted();
        }
        self.pass_on(&s);
        got
    }

    fn stats(&self) -> &LimiterStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_name_the_field() {
        let e = Rate::new(0, Duration::from_secs(1)).expect_err("zero tokens");
        assert!(e.to_string().contains("rate.tokens"), "{e}");
        let e = Rate::new(1, Duration::ZERO).expect_err("zero period");
        assert!(e.to_string().contains("rate.per"), "{e}");
        let r = Rate::per_second(3).expect("valid");
        let e = Bucket::new(r, 0, MonoInstant::default()).expect_err("zero burst");
        assert!(e.to_string().contains("burst"), "{e}");
    }

    #[test]
    fn thirds_of_a_second_add_up_exactly() {
        let r = Rate::per_second(3).expect("valid");
        assert_eq!(r.interval(), Duration::from_nanos(333_333_334));
        let mut b = Bucket::new(r, 1, MonoInstant::default()).expect("valid");
        assert!(b.take());
        assert!(!b.take());
        // 333,333,333 ns is a hair short of a third of a second: no token yet (a float could round
        // up to one), and the missing part is due 1 ns later.
        let t = MonoInstant::from_origin(Duration::from_nanos(333_333_333));
        b.refill(t);
        assert!(!b.take());
        assert_eq!(b.until_next(), Duration::from_nanos(1));
        b.refill(t + Duration::from_nanos(1));
        assert!(b.take());
    }

    #[test]
    fn refill_never_exceeds_burst() {
        let r = Rate::per_second(1000).expect("valid");
        let mut b = Bucket::new(r, 5, MonoInstant::default()).expect("valid");
        b.refill(MonoInstant::from_origin(Duration::from_secs(3600)));
        let taken = (0..100).filter(|_| b.take()).count();
        assert_eq!(taken, 5);
    }
}
