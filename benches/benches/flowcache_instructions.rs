//! Cache size and batch writes, instruction counts (callgrind through gungraun): one size query per
//! strategy at 1,000 and 10,000 files, on the harness's generated trees, and one write of 1,000
//! entries per mode into a fresh cache (its user-space work: key checks, paths, the index; the
//! system calls themselves are the kernel's and not counted). Near-exact, so it gates where wall
//! time is noisy: a quadratic key check adds ~5 % to the write's wall time and far more to its
//! instructions.
//!
//! Run: `cargo bench -p benches --bench flowcache_instructions` (needs valgrind and the runner:
//! `cargo install gungraun-runner --version 0.20.0 --locked`; about 30 s on 2 cores).
//! Gate: with `GUNGRAUN_SAVE_SUMMARY=json`, then `cargo perfgate ingest --gungraun target/gungraun`.
//! Prove the gate: `--features slowdown` makes the indexed query do its work twice.
//! Ids follow `perfgate ingest`'s convention (`<variant>_<param>_<value>` in group `<situation>` of
//! `<component>_instructions.rs`), so results land on the harness's scenario ids.

// gungraun's macros generate undocumented modules and functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use gungraun::{library_benchmark, library_benchmark_group, main};

use components::flowcache::CacheDir;
use fixtures::datagen::tree::GeneratedTree;
use scenarios::flowcache::batch::{BatchScenario, Job, Mode, Prepared};
use scenarios::flowcache::{SizeVariant, cache_tree, open_cache};

/// A cache over a generated tree; the tree lives as long as the cache (deleted in `teardown`).
struct Fixture {
    cache: CacheDir,
    _tree: Arc<GeneratedTree>,
}

fn setup(variant: SizeVariant, files: usize) -> Fixture {
    let tree = cache_tree(files).get().expect("generate the cache tree");
    let cache = open_cache(tree.path(), variant).expect("open the cache");
    Fixture { cache, _tree: tree }
}

fn teardown(fixture: Fixture) {
    drop(fixture);
}

#[library_benchmark(setup = setup, teardown = teardown)]
#[bench::walk_files_1000(SizeVariant::Walk, 1000)]
#[bench::walk_files_10000(SizeVariant::Walk, 10_000)]
#[bench::indexed_files_1000(SizeVariant::Indexed, 1000)]
#[bench::indexed_files_10000(SizeVariant::Indexed, 10_000)]
fn size_query(fixture: Fixture) -> Fixture {
    black_box(fixture.cache.size().expect("size query"));
    if cfg!(feature = "slowdown") && fixture.cache.strategy_name() == "indexed" {
        black_box(fixture.cache.size().expect("size query"));
    }
    fixture
}

/// A fresh cache and the entries one write puts into it.
struct WriteFixture {
    scenario: BatchScenario,
    mode: Mode,
    keys: Vec<String>,
    value: Vec<u8>,
    prepared: Prepared,
}

fn setup_write(mode: Mode, n: usize) -> WriteFixture {
    let scenario = BatchScenario::new(Job::Write, mode, n);
    let (keys, value) = scenario.data();
    let prepared = scenario.prepare(&keys, &value).expect("a fresh cache");
    WriteFixture {
        scenario,
        mode,
        keys,
        value,
        prepared,
    }
}

fn teardown_write(f: WriteFixture) {
    drop(f);
}

#[library_benchmark(setup = setup_write, teardown = teardown_write)]
#[bench::single_entries_1000(Mode::Single, 1000)]
#[bench::batch_entries_1000(Mode::Batch, 1000)]
fn write_entries(f: WriteFixture) -> WriteFixture {
    let ops = f.mode.ops();
    f.scenario
        .act(ops.as_ref(), &f.prepared, &f.keys, black_box(&f.value))
        .expect("write the entries");
    f
}

library_benchmark_group!(name = size; benchmarks = size_query);
library_benchmark_group!(name = write; benchmarks = write_entries);
main!(library_benchmark_groups = size, write);
