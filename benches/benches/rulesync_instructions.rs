//! Rule sync, instruction counts of the CPU-bound part: dedup and validation of the harness's 50k
//! rule set, the original's (validate first, pattern compiled per folder) and the guide's (known
//! hostnames skipped first, pattern compiled once).
//!
//! Run: `cargo bench -p benches --bench rulesync_instructions` (valgrind +
//! `.ci/install-gungraun-runner`). Ids follow `perfgate ingest`'s convention:
//! `rulesync/dedup/{sequential,pooled}/rules=50000`.

// gungraun's macros generate undocumented modules and functions.
#![allow(missing_docs)]

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};

use fixtures::datagen::rules::RuleSet;
use scenarios::rulesync::{Variant, dedup_all, standard_rules};

fn setup(variant: Variant, n: usize) -> (Variant, RuleSet) {
    (variant, standard_rules(n).expect("rule set"))
}

#[library_benchmark(setup = setup)]
#[bench::sequential_rules_50000(Variant::Sequential, 50_000)]
#[bench::pooled_rules_50000(Variant::Pooled, 50_000)]
fn new_hostnames((variant, set): (Variant, RuleSet)) -> usize {
    dedup_all(variant, black_box(&set))
        .expect("dedup")
        .iter()
        .map(Vec::len)
        .sum()
}

library_benchmark_group!(name = dedup; benchmarks = new_hostnames);
main!(library_benchmark_groups = dedup);
