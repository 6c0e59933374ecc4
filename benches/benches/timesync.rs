//! TimeSync file-timestamp fallback: the original's recursive globs against the targeted scan, at the
//! harness's scales and on its generated trees (`scan_tree`, `scan_for`).
//!
//! Run: `cargo bench -p benches --bench timesync` (about 25 s on 2 cores);
//! first look: `cargo bench-quick`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use harness::scenarios::timesync::{SCAN_SCALES, ScanVariant, scan_for, scan_tree};

fn fallback_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("timesync/scan");
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

criterion_group!(benches, fallback_scan);
criterion_main!(benches);
