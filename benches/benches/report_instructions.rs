//! Report rendering, instruction counts: `summary.md` and `index.html` (with its plotters charts) for
//! a synthetic comparison of 60 and 300 metrics (the report must stay quick at 300 rows).
//!
//! Run: `cargo bench -p benches --bench report_instructions` (valgrind + `.ci/install-gungraun-runner`).
//! Ids follow `perfgate ingest`'s convention: `report/render/{markdown,html}/metrics=N`.

// gungraun's macros generate undocumented modules and functions.
#![allow(missing_docs)]

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};

use perfgate::compare::{Comparison, compare};
use perfgate::config::GateConfig;
use perfgate::measure::Samples;
use perfgate::model::{
    GitInfo, MachineInfo, Metric, RunRecord, SCHEMA_NAME, SCHEMA_VERSION, ScenarioRecord, Toolchain,
};
use perfgate::report::{Exporter, ReportInput, html::HtmlReport, markdown::Summary};
use std::collections::BTreeMap;

/// A record of `metrics` metrics (half wall times with samples, half exact counts) over a
/// before/after pair at several scales, compared with a copy where every tenth metric is 2x worse.
fn setup(metrics: usize) -> (RunRecord, Comparison) {
    let make = |worse: bool| {
        let mut scenarios = Vec::new();
        for i in 0..metrics / 2 {
            let variant = if i % 2 == 0 { "walk" } else { "indexed" };
            let id = format!("comp/sit{}/{variant}/n={}", i / 20, 1000 * (i % 10 + 1));
            let factor = if worse && i % 10 == 0 { 2.0 } else { 1.0 };
            let samples: Vec<f64> = (0..20)
                .map(|k| (1000.0 + i as f64) * factor * (1.0 + 0.001 * f64::from(k % 5)))
                .collect();
            let mut m = BTreeMap::new();
            m.insert(
                "wall_time".to_owned(),
                Samples {
                    ns_per_iter: samples,
                    batch: 1,
                }
                .into_metric(0.95),
            );
            m.insert("visits".to_owned(), Metric::count(i as u64 + 1, "entries"));
            scenarios.push(ScenarioRecord {
                id,
                before: None,
                metrics: m,
                duration_s: 0.1,
            });
        }
        let mut r = RunRecord {
            schema: SCHEMA_NAME.to_owned(),
            schema_version: SCHEMA_VERSION,
            suite: "smoke".to_owned(),
            started: "2026-11-22T00:00:00Z".to_owned(),
            duration_s: 1.0,
            machine: MachineInfo {
                fingerprint: "bench".to_owned(),
                hostname: "bench".to_owned(),
                os: "linux".to_owned(),
                arch: "x86_64".to_owned(),
                cpu: "cpu".to_owned(),
                cpus: 2,
                memory_bytes: 1 << 30,
                label: None,
            },
            toolchain: Toolchain {
                rustc: "rustc".to_owned(),
                profile: "release".to_owned(),
            },
            git: GitInfo {
                commit: "0".to_owned(),
                dirty: false,
            },
            scenarios,
            growth: Vec::new(),
            claims: Vec::new(),
            injected: Vec::new(),
            ab: None,
        };
        r.growth = perfgate::analysis::growth(&r);
        r
    };
    let (base, cur) = (make(false), make(true));
    let comparison = compare(&base, &cur, &GateConfig::default(), &|_| true);
    (cur, comparison)
}

fn render(exporter: &dyn Exporter, (record, comparison): &(RunRecord, Comparison)) -> usize {
    let input = ReportInput {
        record,
        comparison: Some(comparison),
        baseline_path: None,
        baseline: None,
        history: &[],
        ab: None,
        power: None,
    };
    exporter.render(&input).expect("render").len()
}

#[library_benchmark(setup = setup)]
#[bench::markdown_metrics_60(60)]
#[bench::markdown_metrics_300(300)]
fn markdown(fixture: (RunRecord, Comparison)) -> usize {
    black_box(render(&Summary, &fixture))
}

#[library_benchmark(setup = setup)]
#[bench::html_metrics_60(60)]
#[bench::html_metrics_300(300)]
fn html(fixture: (RunRecord, Comparison)) -> usize {
    black_box(render(&HtmlReport, &fixture))
}

library_benchmark_group!(name = render; benchmarks = markdown, html);
main!(library_benchmark_groups = render);
