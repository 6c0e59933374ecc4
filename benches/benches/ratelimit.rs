//! Rate limiter: the cost of one grant when tokens are plentiful (the uncontended fast path), ours
//! (polling and condvar share the bucket, the condvar one adds its mutex) against `governor`, what
//! a user would pick instead (lock-free GCRA). Contention itself (wakeups, CPU, lateness) is the
//! harness's `ratelimit/contend` scenarios: under a rate limit, wall time is the rate.
//!
//! Run: `cargo bench -p benches --bench ratelimit` (about 20 s on 2 cores);
//! first look: `cargo bench -p benches --bench ratelimit -- --quick`.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter as Governor};

use components::clock::SystemClock;
use components::ratelimit::{CondvarLimiter, PollingLimiter, Rate, RateLimiter};

/// Tokens per second and burst so large that no `try_acquire` in a run finds the bucket empty.
const PLENTY: u32 = u32::MAX;
const BURST: u32 = 1_000_000_000;

fn try_acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/try_acquire");
    let rate = Rate::new(PLENTY, Duration::from_secs(1)).expect("rate");
    let ours: [Box<dyn RateLimiter>; 2] = [
        Box::new(PollingLimiter::new(rate, BURST, SystemClock::new()).expect("polling")),
        Box::new(CondvarLimiter::new(rate, BURST, SystemClock::new()).expect("condvar")),
    ];
    for limiter in &ours {
        group.bench_function(BenchmarkId::new(limiter.name(), "threads=1"), |b| {
            b.iter(|| assert!(black_box(limiter.try_acquire())));
        });
    }
    let quota = Quota::per_second(NonZeroU32::new(PLENTY).expect("non-zero"))
        .allow_burst(NonZeroU32::new(BURST).expect("non-zero"));
    let governor = Governor::direct(quota);
    group.bench_function(BenchmarkId::new("governor", "threads=1"), |b| {
        b.iter(|| assert!(black_box(governor.check().is_ok())));
    });
    group.finish();
}

criterion_group!(benches, try_acquire);
criterion_main!(benches);
