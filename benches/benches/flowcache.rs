//! Cache size: walk (`du`) versus `.size-index`, at the harness's scales and on its generated trees;
//! batch versus per-entry writes and cleanups on fresh caches (setup untimed).
//!
//! Run: `cargo bench -p benches --bench flowcache` (about two minutes on 2 cores);
//! first look: `cargo bench -p benches --bench flowcache -- --quick`.

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};

use scenarios::flowcache::batch::{BatchScenario, Job, Mode};
use scenarios::flowcache::{SIZE_SCALES, SizeVariant, cache_tree, open_cache};

fn size_query(c: &mut Criterion) {
    let mut group = c.benchmark_group("flowcache/size");
    for files in SIZE_SCALES {
        let tree = cache_tree(files).get().expect("generate the cache tree");
        for variant in [SizeVariant::Walk, SizeVariant::Indexed] {
            let cache = open_cache(tree.path(), variant).expect("open the cache");
            group.bench_with_input(
                // `walk/files=1000`: the full id is the harness's scenario id, so `perfgate ingest`
                // lines criterion's results up with the smoke gate's.
                BenchmarkId::new(
                    format!("{variant:?}").to_lowercase(),
                    format!("files={files}"),
                ),
                &cache,
                |b, cache| {
                    b.iter(|| cache.size().expect("size query"));
                },
            );
        }
    }
    group.finish();
}

/// Writes of 1,000 entries and cleanups of 100 and 1,000 victims (the smoke suite's scales: the
/// 10,000 ones spend most of a sample in setup).
fn batch_ops(c: &mut Criterion) {
    for (job, group_name, scales) in [
        (Job::Write, "flowcache/write", &[1_000][..]),
        (Job::Cleanup, "flowcache/cleanup", &[100, 1_000][..]),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(10);
        for &n in scales {
            for mode in [Mode::Single, Mode::Batch] {
                let scenario = BatchScenario::new(job, mode, n);
                let (keys, value) = scenario.data();
                let ops = mode.ops();
                let param = match job {
                    Job::Write => format!("entries={n}"),
                    Job::Cleanup => format!("victims={n}"),
                };
                group.bench_function(
                    BenchmarkId::new(format!("{mode:?}").to_lowercase(), param),
                    |b| {
                        b.iter_batched_ref(
                            || scenario.prepare(&keys, &value).expect("prepare a cache"),
                            |p| scenario.act(ops.as_ref(), p, &keys, &value).expect("job"),
                            BatchSize::PerIteration,
                        );
                    },
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, size_query, batch_ops);
criterion_main!(benches);
