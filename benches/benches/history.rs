//! History at scale: appending one run to a history of 10 and of 10,000 runs (the cost must not grow
//! with the history: one line written and synced), reading the last 30 runs of 10,000, and the
//! series with their change points plus the HTML report over 1,000 runs. Each run is the committed
//! smoke baseline (382 metrics) with its wall times varied by a fixed-seed factor.
//!
//! Run: `cargo bench -p benches --bench history` (about 1 min on 2 cores, most of it writing the
//! 10,000-run file of ~230 MB once under target/); first look: `cargo bench-quick`.

use std::path::{Path, PathBuf};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use perfgate::history::{self, HistoryRun};
use perfgate::model::{RunRecord, Value};
use perfgate::report::{Exporter, ReportInput, html::HtmlReport};

fn baseline() -> RunRecord {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/smoke.json");
    let text = std::fs::read_to_string(&path).expect("baselines/smoke.json");
    serde_json::from_str(&text).expect("a run record")
}

/// The baseline with every noisy metric scaled by a random factor within ±10 %.
fn varied(base: &RunRecord, rng: &mut ChaCha8Rng) -> RunRecord {
    let mut r = base.clone();
    for s in &mut r.scenarios {
        for m in s.metrics.values_mut() {
            if m.kind.is_noisy() {
                m.value = Value::Float(m.value.as_f64() * rng.random_range(0.9..1.1));
            }
        }
    }
    r
}

/// A history file of `runs` runs under target/, written once and reused by later bench runs.
fn history_of(base: &RunRecord, runs: usize) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("history-{runs}.jsonl"));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    if history::load(&path, runs + 1).map_or(true, |h| h.runs.len() < runs) {
        let mut text = Vec::new();
        for _ in 0..runs {
            let line = HistoryRun::of(&varied(base, &mut rng));
            serde_json::to_writer(&mut text, &line).expect("json");
            text.push(b'\n');
        }
        std::fs::write(&path, text).expect("write the history");
    }
    path
}

fn append(c: &mut Criterion) {
    let base = baseline();
    let mut group = c.benchmark_group("history/append");
    for runs in [10, 10_000] {
        let path = history_of(&base, runs);
        let len = std::fs::metadata(&path).expect("history").len();
        group.bench_function(BenchmarkId::from_parameter(format!("runs={runs}")), |b| {
            b.iter(|| history::append(&path, &base).expect("append"));
        });
        // Back to the runs it had, so the next bench run starts from the same file.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len))
            .expect("truncate");
    }
    group.finish();
}

fn load_and_report(c: &mut Criterion) {
    let base = baseline();
    let mut group = c.benchmark_group("history");
    group.sample_size(10);
    let path = history_of(&base, 10_000);
    group.bench_function("load/last=30/runs=10000", |b| {
        b.iter(|| history::load(&path, 30).expect("load"));
    });
    let runs = history::load(&path, 1_000).expect("load").runs;
    group.bench_function("series/runs=1000", |b| {
        b.iter(|| history::series(&runs));
    });
    let series = history::series(&runs);
    group.bench_function("html/runs=1000", |b| {
        b.iter(|| {
            HtmlReport
                .render(&ReportInput {
                    history: &series,
                    ..ReportInput::new(&base)
                })
                .expect("render")
        });
    });
    group.finish();
}

criterion_group!(benches, append, load_and_report);
criterion_main!(benches);
