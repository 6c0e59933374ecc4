//! The DNS TTL cache in virtual time: hits and misses, expiry after 30 s, failures cached,
//! invalidation, and least-recently-used eviction at capacity. The inner resolver is scripted: it
//! panics on a lookup the test did not expect.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use components::timesync::dns::{CachingResolver, DNS_TTL, ResolveError, Resolver};
use fixtures::clock::MockClock;

type Answer = Result<Vec<SocketAddr>, ResolveError>;

/// Answers lookups from a script, in order; any other lookup is a test failure.
struct Scripted(Mutex<VecDeque<(String, Answer)>>);

impl Scripted {
    fn new(script: Vec<(&str, Answer)>) -> Self {
        Self(Mutex::new(
            script.into_iter().map(|(h, a)| (h.to_owned(), a)).collect(),
        ))
    }

    fn done(&self) -> bool {
        self.0.lock().expect("script").is_empty()
    }
}

impl Resolver for &Scripted {
    fn resolve(&self, host: &str, _port: u16) -> Answer {
        let (want, answer) = self
            .0
            .lock()
            .expect("script")
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected lookup of {host}"));
        assert_eq!(host, want, "lookups out of order");
        answer
    }
}

fn addr(last: u8) -> Answer {
    Ok(vec![SocketAddr::from(([127, 0, 0, last], 123))])
}

fn gone(host: &str) -> Answer {
    Err(ResolveError::NotFound {
        host: host.to_owned(),
        port: 123,
        why: "NXDOMAIN".to_owned(),
    })
}

#[test]
fn answers_are_kept_for_the_ttl_then_asked_again() {
    let script = Scripted::new(vec![("a", addr(1)), ("a", addr(2))]);
    let clock = Arc::new(MockClock::new());
    let cache = CachingResolver::new(&script, clock.clone());
    assert_eq!(cache.resolve("a", 123), addr(1));
    clock.advance(DNS_TTL - Duration::from_millis(1));
    assert_eq!(cache.resolve("a", 123), addr(1), "still fresh");
    assert_eq!((cache.hits(), cache.misses()), (1, 1));
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        cache.resolve("a", 123),
        addr(2),
        "expired at exactly the TTL"
    );
    assert_eq!((cache.hits(), cache.misses()), (1, 2));
    assert!(script.done());
}

#[test]
fn failures_are_cached_and_invalidation_forgets() {
    let script = Scripted::new(vec![("x", gone("x")), ("x", addr(3))]);
    let clock = Arc::new(MockClock::new());
    let cache = CachingResolver::new(&script, clock.clone());
    assert_eq!(cache.resolve("x", 123), gone("x"));
    assert_eq!(
        cache.resolve("x", 123),
        gone("x"),
        "negative answer from the cache"
    );
    assert_eq!(cache.hits(), 1);
    cache.invalidate("x", 123);
    assert_eq!(cache.resolve("x", 123), addr(3));
    assert!(script.done());
}

#[test]
fn past_capacity_the_least_recently_used_goes() {
    let script = Scripted::new(vec![
        ("a", addr(1)),
        ("b", addr(2)),
        ("c", addr(3)),
        ("b", addr(4)),
    ]);
    let clock = Arc::new(MockClock::new());
    let cache = CachingResolver::with_limits(&script, clock.clone(), DNS_TTL, 2);
    cache.resolve("a", 123).expect("a");
    cache.resolve("b", 123).expect("b");
    cache
        .resolve("a", 123)
        .expect("a again: now b is the least recently used");
    cache.resolve("c", 123).expect("c evicts b");
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.resolve("a", 123), addr(1), "a kept");
    assert_eq!(cache.resolve("b", 123), addr(4), "b asked again");
    assert!(script.done());
}
