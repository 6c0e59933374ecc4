//! Worker pool: 10,000 tiny tasks through the polling pool (the original) and the blocking pool, from
//! the harness's own throughput routine, against `rayon` (what a user would pick instead) running
//! the same tasks in a scope on as many threads. Idle wakeups and shutdown are the harness's
//! `pool/idle` and `pool/shutdown` scenarios.
//!
//! Run: `cargo bench -p benches --bench pool` (about 30 s on 2 cores);
//! first look: `cargo bench -p benches --bench pool -- --quick`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use perfgate::scenario::PairVariant;
use scenarios::pool::{PoolVariant, THROUGHPUT_TASKS, config, throughput_once};

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/throughput");
    let tasks = format!("tasks={THROUGHPUT_TASKS}");
    for variant in [PoolVariant::Polling, PoolVariant::Blocking] {
        group.bench_function(BenchmarkId::new(variant.name(), &tasks), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| throughput_once(variant).expect("throughput run").0)
                    .sum::<Duration>()
            });
        });
    }
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(config().workers)
        .build()
        .expect("rayon pool");
    group.bench_function(BenchmarkId::new("rayon", &tasks), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let left = AtomicU64::new(THROUGHPUT_TASKS);
                let t0 = Instant::now();
                rayon.scope(|s| {
                    for _ in 0..THROUGHPUT_TASKS {
                        s.spawn(|_| {
                            left.fetch_sub(1, Ordering::AcqRel);
                        });
                    }
                });
                total += t0.elapsed();
                assert_eq!(left.load(Ordering::Acquire), 0, "every task ran");
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
