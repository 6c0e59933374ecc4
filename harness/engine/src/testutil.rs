//! Small builders for run records and gate configs in tests (this crate's, and other crates' with
//! the `test-support` feature).

use std::collections::BTreeMap;

use crate::config::GateConfig;
use crate::measure::Samples;
use crate::model::{GitInfo, MachineInfo, Metric, RunRecord, ScenarioRecord, Toolchain};

/// A record from machine `machine` holding `(scenario, metric name, metric)` rows.
pub fn record(machine: &str, rows: Vec<(&str, &str, Metric)>) -> RunRecord {
    let mut scenarios: Vec<ScenarioRecord> = Vec::new();
    for (id, name, metric) in rows {
        if let Some(s) = scenarios.iter_mut().find(|s| s.id == id) {
            s.metrics.insert(name.to_owned(), metric);
        } else {
            scenarios.push(ScenarioRecord {
                id: id.to_owned(),
                before: None,
                metrics: BTreeMap::from([(name.to_owned(), metric)]),
                duration_s: 0.1,
            });
        }
    }
    RunRecord::new(
        "smoke".to_owned(),
        "2026-11-22T00:00:00Z".to_owned(),
        1.0,
        MachineInfo {
            fingerprint: machine.to_owned(),
            hostname: "host".to_owned(),
            os: "linux".to_owned(),
            arch: "x86_64".to_owned(),
            cpu: "cpu".to_owned(),
            cpus: 2,
            memory_bytes: 1 << 30,
            label: Some(machine.to_owned()),
        },
        Toolchain {
            rustc: "rustc".to_owned(),
            profile: "release".to_owned(),
        },
        GitInfo {
            commit: "abc".to_owned(),
            dirty: false,
        },
        scenarios,
    )
}

/// A wall-time metric from raw nanosecond samples.
pub fn wall(samples: &[f64]) -> Metric {
    Samples {
        ns_per_iter: samples.to_vec(),
        batch: 1,
    }
    .into_metric(0.95)
}

/// The gate config of `toml`, the text of a `perfgate.toml`; panics when it is not valid.
pub fn config(toml: &str) -> GateConfig {
    GateConfig::parse(toml, std::path::Path::new("perfgate.toml")).expect("valid")
}

/// Asserts that `format` writes each value of `cases` as the text beside it, naming the value when
/// it does not.
pub fn assert_formats(format: impl Fn(f64) -> String, cases: &[(f64, &str)]) {
    for &(value, text) in cases {
        assert_eq!(format(value), text, "formatting {value}");
    }
}

/// A power measurement of `metrics` on machine `m`, drawn as `settings` say, with the A/B's default
/// settings.
pub fn power(
    settings: crate::power::PowerSettings,
    metrics: Vec<crate::power::MetricPower>,
) -> crate::power::PowerResult {
    crate::power::PowerResult {
        machine: "m".to_owned(),
        measured: "2026-12-01T00:00:00Z".to_owned(),
        commit: "c".to_owned(),
        rounds_measured: 24,
        mode: "same-core".to_owned(),
        ab: GateConfig::default().ab_settings(),
        settings,
        aa_failed_trials: 0,
        metrics,
        method: String::new(),
    }
}
