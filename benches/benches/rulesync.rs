//! Rule sync: the CPU-bound part of a sync, dedup and validation of every folder file against the
//! rules already present (the original validates first with its pattern compiled per folder; the
//! guide skips known hostnames first with the pattern compiled once), at the harness's 10k / 20k /
//! 50k rule sets; and one whole sync against the simulated API at 0 ms latency is the harness's
//! `rulesync/sync/*/latency=0ms` scenario (`cargo perfgate run --suite full -f rulesync/sync`).
//!
//! Run: `cargo bench -p benches --bench rulesync` (about 20 s on 2 cores);
//! first look: `cargo bench-quick`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use perfgate::scenario::PairVariant;
use scenarios::rulesync::{SCALES, Variant, dedup_all, standard_rules};

fn dedup(c: &mut Criterion) {
    let mut group = c.benchmark_group("rulesync/dedup");
    group.sample_size(20);
    for rules in SCALES {
        let set = standard_rules(rules).expect("rule set");
        for variant in [Variant::Sequential, Variant::Pooled] {
            group.bench_function(
                BenchmarkId::new(variant.name(), format!("rules={rules}")),
                |b| {
                    b.iter(|| dedup_all(variant, &set).expect("dedup"));
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, dedup);
criterion_main!(benches);
