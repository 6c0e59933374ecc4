//! TimeSync: the file-timestamp fallback (the original's recursive globs against the targeted scan,
//! at the harness's scales and on its generated trees: `scan_tree`, `scan_for`) and FastDate64's
//! round trip through float seconds (the original) against integer nanoseconds, on the harness's
//! fixed times.
//!
//! Run: `cargo bench -p benches --bench timesync` (about 40 s on 2 cores: a glob over 50k files
//! takes ~0.5 s); first look: `cargo bench-quick`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use perfgate::scenario::PairVariant;
use scenarios::timesync::fastdate::{Encoding, TIMES, times};
use scenarios::timesync::{SCAN_SCALES, ScanVariant, scan_for, scan_tree};

fn fallback_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("timesync/scan");
    group.sample_size(10);
    for files in SCAN_SCALES {
        let tree = scan_tree(files).get().expect("generate the scan tree");
        for variant in [ScanVariant::Glob, ScanVariant::Targeted] {
            let scan = scan_for(variant, tree.path()).expect("the scan");
            group.bench_with_input(
                BenchmarkId::new(variant.name(), format!("files={files}")),
                &scan,
                |b, scan| b.iter(|| scan.scan()),
            );
        }
    }
    group.finish();
}

fn fastdate(c: &mut Criterion) {
    let mut group = c.benchmark_group("timesync/fastdate");
    let times = times();
    for encoding in [Encoding::Float, Encoding::Integer] {
        group.bench_function(
            BenchmarkId::new(encoding.name(), format!("times={TIMES}")),
            |b| {
                let mut op = encoding.timed_op(&times);
                b.iter(|| op().expect("in range"));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fallback_scan, fastdate);
criterion_main!(benches);
