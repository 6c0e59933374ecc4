//! Time as the components see it: a monotonic instant for durations and a wall time for timestamps,
//! behind one trait so tests and scenarios can swap in `fixtures::clock::MockClock`.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::{Duration, Instant, SystemTime};

/// A point on a clock's monotonic timeline, as the time elapsed since that clock's origin.
///
/// Unlike [`std::time::Instant`] it can be built from a number, so a mock clock can hand out exact
/// values; it is only meaningful relative to other instants of the same clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonoInstant(Duration);

impl MonoInstant {
    /// The instant `since_origin` after the clock's origin.
    pub const fn from_origin(since_origin: Duration) -> Self {
        Self(since_origin)
    }

    /// Time since the clock's origin.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later (a monotonic clock never goes back,
    /// so that only happens when instants of different clocks are mixed).
    pub fn saturating_duration_since(self, earlier: MonoInstant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for MonoInstant {
    type Output = MonoInstant;
    fn add(self, rhs: Duration) -> MonoInstant {
        MonoInstant(self.0 + rhs)
    }
}

impl Sub for MonoInstant {
    type Output = Duration;
    /// Saturating: see [`MonoInstant::saturating_duration_since`].
    fn sub(self, rhs: MonoInstant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for MonoInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mono+{:?}", self.0)
    }
}

/// A source of time: monotonic for measuring intervals, wall for stamping, and a way to wait.
///
/// Components never read `Instant::now()` or `SystemTime::now()` themselves; they take a `Clock`, so a
/// test can advance time by hand and jump the wall clock without touching the monotonic one.
pub trait Clock: Send + Sync {
    /// The current monotonic instant: never goes back, unaffected by wall-clock steps.
    fn now(&self) -> MonoInstant;
    /// The current wall-clock time: may jump forward or back (NTP step, admin, suspend).
    fn wall(&self) -> SystemTime;
    /// Wait for `duration` of this clock's time. A mock clock advances itself instead of sleeping.
    fn sleep(&self, duration: Duration);
}

/// The real clocks of the operating system.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A system clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> MonoInstant {
        MonoInstant(self.origin.elapsed())
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock behind each pointer type `$ptr` (generic over the pointee `C`) is that clock.
macro_rules! forward_clock {
    ($($ptr:ty),+) => {$(
        impl<C: Clock + ?Sized> Clock for $ptr {
            fn now(&self) -> MonoInstant {
                (**self).now()
            }
            fn wall(&self) -> SystemTime {
                (**self).wall()
            }
            fn sleep(&self, duration: Duration) {
                (**self).sleep(duration)
            }
        }
    )+};
}

forward_clock!(&C, std::sync::Arc<C>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let a = MonoInstant::from_origin(Duration::from_millis(5));
        let b = a + Duration::from_millis(3);
        assert_eq!(b - a, Duration::from_millis(3));
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(b.since_origin(), Duration::from_millis(8));
    }
}
