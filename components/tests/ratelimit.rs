//! The two rate limiters in virtual time (`MockClock`): exact grants over time, never above burst,
//! the same grants from both, and the wakeups each needs.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use components::ratelimit::{CondvarLimiter, PollingLimiter, Rate, RateLimiter};
use fixtures::clock::MockClock;

const MS: Duration = Duration::from_millis(1);

fn both(rate: Rate, burst: u32) -> Vec<(Arc<MockClock>, Box<dyn RateLimiter>)> {
    let (a, b) = (Arc::new(MockClock::new()), Arc::new(MockClock::new()));
    vec![
        (
            Arc::clone(&a),
            Box::new(PollingLimiter::new(rate, burst, a).expect("valid")),
        ),
        (
            Arc::clone(&b),
            Box::new(CondvarLimiter::new(rate, burst, b).expect("valid")),
        ),
    ]
}

#[test]
fn try_acquire_grants_exactly_the_refilled_tokens_capped_at_burst() {
    let rate = Rate::per_second(10).expect("valid");
    for (clock, l) in both(rate, 3) {
        let take_all = || (0..50).filter(|_| l.try_acquire()).count();
        assert_eq!(take_all(), 3, "{}: starts full", l.name());
        clock.advance(250 * MS);
        assert_eq!(take_all(), 2, "{}: 2.5 tokens after 250 ms", l.name());
        clock.advance(50 * MS);
        assert_eq!(take_all(), 1, "{}: the half token completes", l.name());
        clock.advance(Duration::from_secs(10));
        assert_eq!(take_all(), 3, "{}: 100 tokens due, burst is 3", l.name());
        assert_eq!(l.stats().grants(), 9);
        assert_eq!(l.stats().wakeups(), 0, "try_acquire never waits");
    }
}

#[test]
fn blocking_acquire_grants_on_the_due_times_for_both() {
    let rate = Rate::per_second(10).expect("valid");
    let mut grant_times = Vec::new();
    for (clock, l) in both(rate, 1) {
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                l.acquire().expect("granted");
                clock.elapsed()
            })
            .collect();
        grant_times.push((l.name(), times, l.stats().wakeups()));
    }
    let due: Vec<Duration> = (0..5).map(|k| k * 100 * MS).collect();
    assert_eq!(grant_times[0].1, due, "polling");
    assert_eq!(grant_times[1].1, due, "condvar");
    // Polling wakes every 10 ms of the 100 ms between tokens; the condvar limiter once per token.
    assert_eq!(grant_times[0].2, 40);
    assert_eq!(grant_times[1].2, 4);
}

#[test]
fn a_timed_wait_ends_when_the_token_is_due_not_at_its_timeout() {
    let rate = Rate::per_second(10).expect("valid");
    for (clock, l) in both(rate, 1) {
        assert!(l.try_acquire());
        let t0 = clock.elapsed();
        assert!(l.acquire_timeout(Duration::from_secs(5)), "{}", l.name());
        assert_eq!(clock.elapsed() - t0, 100 * MS, "{}", l.name());
    }
}

#[test]
fn a_timed_wait_gives_up_at_its_timeout() {
    let rate = Rate::per_second(10).expect("valid");
    let mut wakeups = Vec::new();
    for (clock, l) in both(rate, 1) {
        assert!(l.try_acquire());
        let t0 = clock.elapsed();
        assert!(!l.acquire_timeout(35 * MS), "{}", l.name());
        assert_eq!(clock.elapsed() - t0, 35 * MS, "{}", l.name());
        // The token is still there for the next caller at 100 ms.
        clock.advance(65 * MS);
        assert!(l.try_acquire(), "{}", l.name());
        wakeups.push(l.stats().wakeups());
    }
    assert_eq!(
        wakeups,
        vec![4, 1],
        "polling: 10+10+10+5 ms; condvar: one sleep"
    );
}

/// Grants up to each grant's time never exceed `burst + elapsed * rate`.
fn assert_within_bucket(times: &mut [Duration], burst: u32, per_token: Duration, who: &str) {
    times.sort();
    for (k, t) in times.iter().enumerate() {
        let earned = (t.as_nanos() / per_token.as_nanos()) as usize;
        assert!(
            k < burst as usize + earned,
            "{who}: grant {k} at {t:?} exceeds burst {burst} + {earned} earned"
        );
    }
}

/// Four threads take five tokens each from the limiter `new` makes (10 per second, burst 2, on a
/// fresh mock clock): all 20 are granted, none above the bucket. Returns the limiter and its clock.
fn four_threads_take_five<L: RateLimiter + 'static>(
    who: &str,
    new: impl FnOnce(Rate, u32, Arc<MockClock>) -> L,
) -> (Arc<L>, Arc<MockClock>) {
    let rate = Rate::per_second(10).expect("valid");
    let clock = Arc::new(MockClock::new());
    let limiter = Arc::new(new(rate, 2, Arc::clone(&clock)));
    let times = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (l, c, t) = (Arc::clone(&limiter), Arc::clone(&clock), Arc::clone(&times));
            thread::spawn(move || {
                for _ in 0..5 {
                    l.acquire().expect("granted");
                    t.lock().expect("times").push(c.elapsed());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no panic");
    }
    let mut times = times.lock().expect("times").clone();
    assert_eq!(times.len(), 20);
    assert_within_bucket(&mut times, 2, 100 * MS, who);
    (limiter, clock)
}

#[test]
fn contending_threads_get_tokens_exactly_when_due_in_virtual_time() {
    let (limiter, clock) = four_threads_take_five("condvar", |rate, burst, clock| {
        CondvarLimiter::new(rate, burst, clock).expect("valid")
    });
    // Only the head sleeps, and exactly until the next token: 2 at once, then one every 100 ms, so
    // the 20th token is granted at 1.8 s of virtual time and nobody slept past it.
    assert_eq!(clock.elapsed(), 1800 * MS);
    assert!(
        limiter.stats().wakeups() >= 18,
        "one sleep per token at least"
    );
    assert_eq!(limiter.stats().grants(), 20);
}

#[test]
fn polling_threads_never_exceed_the_bucket() {
    four_threads_take_five("polling", |rate, burst, clock| {
        PollingLimiter::new(rate, burst, clock).expect("valid")
    });
}
