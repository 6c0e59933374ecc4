//! Cache size: walk (`du`) versus `.size-index`, at the harness's scales and on its generated trees.
//!
//! Run: `cargo bench -p benches --bench flowcache` (about a minute on 2 cores);
//! first look: `cargo bench -p benches --bench flowcache -- --quick`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use harness::scenarios::flowcache::{SIZE_SCALES, SizeVariant, cache_tree, open_cache};

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

criterion_group!(benches, size_query);
criterion_main!(benches);
