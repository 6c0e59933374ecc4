//! Hot-reload watcher: detection latency of one write (the harness's `watch/detect` routine) and the
//! cost of starting a watch over 1,000 files, the 1 s polling watcher (the original) against the
//! inotify watcher. Idle cost (stat calls and CPU per idle second) is the harness's `watch/idle`
//! scenario: an idle second is not something criterion can repeat usefully.
//!
//! Run: `cargo bench -p benches --bench watch` (about 40 s: a polling detection waits up to 1 s);
//! first look: `cargo bench -p benches --bench watch -- --quick`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use perfgate::scenario::PairVariant;
use scenarios::watch::{IDLE_FILES, WatchVariant, WatchedFiles, detect_once};

const VARIANTS: [WatchVariant; 2] = [WatchVariant::Polling, WatchVariant::Notify];

fn detect(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch/detect");
    // A polling detection takes up to its 1 s interval: ten samples of one detection each.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    for variant in VARIANTS {
        group.bench_function(BenchmarkId::new(variant.name(), "files=1"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| detect_once(variant).expect("detection").latency)
                    .sum::<Duration>()
            });
        });
    }
    group.finish();
}

fn start(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch/start");
    group.sample_size(20);
    let files = WatchedFiles::create(IDLE_FILES).expect("watched files");
    for variant in VARIANTS {
        let id = BenchmarkId::new(variant.name(), format!("files={IDLE_FILES}"));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t0 = Instant::now();
                    let watcher = variant.start(files.files()).expect("watcher start");
                    total += t0.elapsed();
                    // Stopping (joining the watcher's thread) is not part of the start.
                    drop(watcher);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, detect, start);
criterion_main!(benches);
