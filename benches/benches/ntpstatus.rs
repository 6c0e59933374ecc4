//! NTP status on the write path: what one file write waits for its status, per-write (a `chronyc`
//! run, the original) against central (a copy of the shared snapshot), with the fake command
//! answering at once. Built from the harness's scenario setup (`status_setup`).
//!
//! Run: `cargo bench -p benches --bench ntpstatus` (about 20 s on 2 cores);
//! first look: `cargo bench-quick`.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use fixtures::clock::MockClock;
use perfgate::scenario::PairVariant;
use scenarios::ntpstatus::{CommandDelay, StatusVariant, status_setup};

fn write_path_status(c: &mut Criterion) {
    let mut group = c.benchmark_group("ntpstatus/status");
    let fake = CommandDelay::Zero.fake().expect("fake chronyc/ntpq");
    for variant in [StatusVariant::PerWrite, StatusVariant::Central] {
        let (_source, strategy) = status_setup(&fake, variant, Arc::new(MockClock::new()));
        // The central updater's first refresh happens before any write, as in the recorder.
        strategy.refresh();
        group.bench_with_input(
            BenchmarkId::new(variant.name(), "delay=0ms"),
            &strategy,
            |b, strategy| b.iter(|| strategy.for_write()),
        );
    }
    group.finish();
}

criterion_group!(benches, write_path_status);
criterion_main!(benches);
