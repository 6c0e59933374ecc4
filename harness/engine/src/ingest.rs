//! Results from other tools as run records, so they gate and report like the smoke suite: criterion's
//! `target/criterion/**/new/{benchmark,estimates,sample}.json` (wall time) and gungraun's
//! `summary.json` files (instruction counts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::model::{
    Claim, Direction, Interval, Metric, MetricKind, RunRecord, ScenarioRecord, Value,
};
use crate::{analysis, machine, stats};

pub use crate::model::{INSTRUCTIONS, WALL_TIME};
/// Deepest directory level searched under the given directory.
const MAX_DEPTH: usize = 12;
/// Most files looked at, so a wrong directory (`/`) ends with an error, not a day-long walk.
const MAX_FILES: usize = 200_000;

#[derive(Deserialize)]
struct CriterionBenchmark {
    full_id: String,
}

#[derive(Deserialize)]
struct CriterionEstimate {
    confidence_interval: CriterionInterval,
    point_estimate: f64,
}

#[derive(Deserialize)]
struct CriterionInterval {
    confidence_level: f64,
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct CriterionEstimates {
    median: CriterionEstimate,
}

#[derive(Deserialize)]
struct CriterionSample {
    iters: Vec<f64>,
    times: Vec<f64>,
}

fn bad(path: &Path, what: String, fix: &str) -> Error {
    Error::BadRecord {
        path: path.to_owned(),
        what,
        fix: fix.to_owned(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// `bytes` (of `path`) as a `T`; the error names the file and the field at fault.
fn from_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
    bytes: &[u8],
    fix: &str,
) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        .and_then(|v| de.end().map(|()| v).map_err(|e| (".".to_owned(), e)));
    parsed.map_err(|(at, e)| {
        let what = if at == "." {
            format!("not the expected JSON: {e}")
        } else {
            format!("not the expected JSON: at `{at}`: {e}")
        };
        bad(path, what, fix)
    })
}

/// The files under `dir` that `accept` takes (sorted), bounded in depth and count; none is an error
/// saying `no {results}`.
fn find(
    dir: &Path,
    accept: impl Fn(&Path) -> bool,
    results: &str,
    fix: &str,
) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Err(Error::Missing {
            path: dir.to_owned(),
            fix: fix.to_owned(),
        });
    }
    let mut found = Vec::new();
    for (seen, entry) in walkdir::WalkDir::new(dir)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .enumerate()
    {
        if seen >= MAX_FILES {
            return Err(bad(
                dir,
                format!("more than {MAX_FILES} files under it"),
                "point at the results directory itself (target/criterion, target/gungraun)",
            ));
        }
        let entry = entry.map_err(|e| Error::Io {
            path: e.path().map_or_else(|| dir.to_owned(), Path::to_path_buf),
            source: e.into(),
        })?;
        if entry.file_type().is_file() && accept(entry.path()) {
            found.push(entry.into_path());
        }
    }
    if found.is_empty() {
        return Err(bad(dir, format!("no {results}"), fix));
    }
    Ok(found)
}

const CRITERION_FIX: &str =
    "run `cargo bench -p benches` first; pass the criterion directory (target/criterion)";

/// Every criterion benchmark under `dir` as a scenario with a `wall_time` metric: the median and its
/// bootstrap interval from `estimates.json`, the per-iteration times from `sample.json` as samples
/// (so a comparison can test significance). The scenario id is criterion's `full_id`.
pub fn criterion(dir: &Path) -> Result<Vec<ScenarioRecord>, Error> {
    let files = find(
        dir,
        |p| {
            p.file_name().is_some_and(|n| n == "benchmark.json")
                && p.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "new")
        },
        "criterion results (no */new/benchmark.json)",
        CRITERION_FIX,
    )?;
    let mut scenarios = Vec::new();
    for bench_file in files {
        let new_dir = bench_file.parent().unwrap_or(dir);
        let benchmark = read(&bench_file)?;
        // The benchmark's own file first: a broken one is the error to report, not a missing sibling.
        from_json::<CriterionBenchmark>(&bench_file, &benchmark, CRITERION_FIX)?;
        let sample_file = new_dir.join("sample.json");
        let sample = if sample_file.is_file() {
            Some(read(&sample_file)?)
        } else {
            None
        };
        scenarios.push(criterion_scenario(
            new_dir,
            &benchmark,
            &read(&new_dir.join("estimates.json"))?,
            sample.as_deref(),
        )?);
    }
    Ok(scenarios)
}

/// One criterion benchmark from the files of its `new_dir` (`benchmark.json`, `estimates.json` and,
/// when present, `sample.json`): a scenario with a `wall_time` metric. Errors name the file and field.
pub fn criterion_scenario(
    new_dir: &Path,
    benchmark: &[u8],
    estimates: &[u8],
    sample: Option<&[u8]>,
) -> Result<ScenarioRecord, Error> {
    let bench: CriterionBenchmark =
        from_json(&new_dir.join("benchmark.json"), benchmark, CRITERION_FIX)?;
    let estimates_file = new_dir.join("estimates.json");
    let est: CriterionEstimates = from_json(&estimates_file, estimates, CRITERION_FIX)?;
    let median = est.median;
    let level = median.confidence_interval.confidence_level;
    if !(median.point_estimate.is_finite() && median.point_estimate >= 0.0) {
        return Err(bad(
            &estimates_file,
            format!(
                "median.point_estimate is {}, not a time in ns",
                median.point_estimate
            ),
            CRITERION_FIX,
        ));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(bad(
            &estimates_file,
            format!("median.confidence_interval.confidence_level is {level}, not in (0, 1)"),
            CRITERION_FIX,
        ));
    }
    let samples: Vec<f64> = match sample {
        Some(bytes) => {
            let s: CriterionSample = from_json(&new_dir.join("sample.json"), bytes, CRITERION_FIX)?;
            s.times
                .iter()
                .zip(&s.iters)
                .filter(|(_, i)| **i > 0.0)
                .map(|(t, i)| t / i)
                .filter(|x| x.is_finite())
                .collect()
        }
        None => Vec::new(),
    };
    let ci = Interval {
        level,
        lower: median.confidence_interval.lower_bound,
        upper: median.confidence_interval.upper_bound,
    };
    let summary = if samples.is_empty() {
        None
    } else {
        let mut s = stats::summarize(&samples, ci.level);
        s.median = median.point_estimate;
        s.ci = ci;
        Some(s)
    };
    let metric = Metric {
        kind: MetricKind::WallTime,
        unit: "ns".to_owned(),
        direction: Direction::LowerIsBetter,
        value: Value::Float(median.point_estimate),
        summary,
        samples,
        rounds: Vec::new(),
        quantile: None,
    };
    Ok(ScenarioRecord {
        id: bench.full_id,
        before: None,
        metrics: BTreeMap::from([(WALL_TIME.into(), metric)]),
        duration_s: 0.0,
    })
}

const GUNGRAUN_FIX: &str = "run the gungraun benches with `--save-summary=json` (see the README) and \
     pass their output directory (target/gungraun)";

/// Every gungraun `summary.json` under `dir` as a scenario with an `instructions` metric (callgrind's
/// `Ir` of this run), under the id `gungraun_id` derives.
pub fn gungraun(dir: &Path) -> Result<Vec<ScenarioRecord>, Error> {
    let files = find(
        dir,
        |p| p.file_name().is_some_and(|n| n == "summary.json"),
        "gungraun results (no summary.json)",
        GUNGRAUN_FIX,
    )?;
    let mut scenarios = Vec::new();
    for path in files {
        scenarios.push(gungraun_scenario(&path, &read(&path)?)?);
    }
    scenarios.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(scenarios)
}

/// One gungraun `summary.json` (the bytes of `path`): a scenario with an `instructions` metric.
pub fn gungraun_scenario(path: &Path, bytes: &[u8]) -> Result<ScenarioRecord, Error> {
    let doc: serde_json::Value = from_json(path, bytes, GUNGRAUN_FIX)?;
    let id = gungraun_id(&doc).ok_or_else(|| {
        bad(
            path,
            "no `function_name` or `benchmark_file`".to_owned(),
            GUNGRAUN_FIX,
        )
    })?;
    let ir = gungraun_ir(&doc).ok_or_else(|| {
        bad(
            path,
            "no callgrind Ir total in `profiles`".to_owned(),
            "run the benches with callgrind (the default tool) and a supported gungraun \
             version (summary schema 6 or 7)",
        )
    })?;
    Ok(ScenarioRecord {
        id,
        before: None,
        metrics: BTreeMap::from([(
            INSTRUCTIONS.into(),
            Metric {
                kind: MetricKind::Instructions,
                unit: "instructions".to_owned(),
                direction: Direction::LowerIsBetter,
                value: Value::Int(ir),
                summary: None,
                samples: Vec::new(),
                rounds: Vec::new(),
                quantile: None,
            },
        )]),
        duration_s: 0.0,
    })
}

/// The scenario id of a gungraun bench. Our benches follow one convention so their results land on
/// the harness's scenario ids: bench file `<component>_instructions.rs`, group `<situation>`, bench id
/// `<variant>_<param>_<value>` → `<component>/<situation>/<variant>/<param>=<value>`
/// (`flowcache_instructions`, `size`, `indexed_files_1000` → `flowcache/size/indexed/files=1000`).
/// Other benches keep `<file>/<group>/<function>/<id>`.
fn gungraun_id(doc: &serde_json::Value) -> Option<String> {
    let text = |k: &str| doc.get(k).and_then(serde_json::Value::as_str);
    if let Some(id) = text("id").filter(|id| id.contains('/')) {
        return Some(id.to_owned());
    }
    let function = text("function_name")?;
    let id = text("id").unwrap_or(function);
    let file = text("benchmark_file")
        .and_then(|f| Path::new(f).file_stem())
        .and_then(|s| s.to_str())
        .or_else(|| text("module_path").and_then(|m| m.split("::").next()))?;
    let component = file.strip_suffix("_instructions").unwrap_or(file);
    let group = text("group").unwrap_or(function);
    let mut parts = id.rsplitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(value), Some(param), Some(variant))
            if !value.is_empty()
                && value.bytes().all(|b| b.is_ascii_digit())
                && param.bytes().all(|b| b.is_ascii_lowercase()) =>
        {
            Some(format!("{component}/{group}/{variant}/{param}={value}"))
        }
        _ => Some(format!("{component}/{group}/{function}/{id}")),
    }
}

/// The new `Ir` total, wherever this schema version keeps it: v7
/// `profiles[].data.total.metrics.Ir.values.new`, v6
/// `profiles[].summaries.total.summary.Callgrind.Ir.metrics` (`Left`/`Both` of `{Int|Float}`).
fn gungraun_ir(doc: &serde_json::Value) -> Option<u64> {
    let profiles = doc.get("profiles")?.as_array()?;
    profiles.iter().find_map(|p| {
        let v7 = p
            .pointer("/data/total/metrics/Ir/values/new")
            .or_else(|| p.pointer("/data/total/metrics/Ir/new"));
        let v6 = p.pointer("/summaries/total/summary/Callgrind/Ir/metrics");
        v7.and_then(number).or_else(|| v6.and_then(either_new))
    })
}

fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.get("Int").and_then(serde_json::Value::as_u64))
        .or_else(|| {
            v.get("Float")
                .and_then(serde_json::Value::as_f64)
                .map(|f| f.round() as u64)
        })
}

/// gungraun's (schema 6) `EitherOrBoth`: `Left` is this run alone, `Both` is `[this run, baseline]`.
fn either_new(v: &serde_json::Value) -> Option<u64> {
    v.get("Left")
        .and_then(number)
        .or_else(|| v.get("Both").and_then(|b| b.get(0)).and_then(number))
}

/// One run record from ingested scenarios (suite `bench`, this machine, toolchain and commit): metrics
/// of the same scenario id from several tools are joined; growth fits and `claims` are evaluated on
/// them like on a smoke run.
pub fn into_record(parts: Vec<Vec<ScenarioRecord>>, claims: &[Claim]) -> RunRecord {
    let mut by_id: BTreeMap<String, ScenarioRecord> = BTreeMap::new();
    for s in parts.into_iter().flatten() {
        match by_id.get_mut(&s.id) {
            Some(existing) => existing.metrics.extend(s.metrics),
            None => {
                by_id.insert(s.id.clone(), s);
            }
        }
    }
    let mut record = RunRecord::new(
        "bench".to_owned(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        0.0,
        machine::detect(),
        machine::toolchain(),
        machine::git(),
        by_id.into_values().collect(),
    );
    analysis::analyze(&mut record, claims);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn criterion_results_become_wall_time_with_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = dir.path().join("flowcache_size/walk/files=1000/new");
        write(
            &new.join("benchmark.json"),
            r#"{"group_id":"flowcache/size","function_id":"walk","value_str":"files=1000",
               "throughput":null,"full_id":"flowcache/size/walk/files=1000",
               "directory_name":"flowcache_size/walk/files=1000","title":"t"}"#,
        );
        let est = r#"{"confidence_interval":{"confidence_level":0.95,"lower_bound":90.0,
                      "upper_bound":110.0},"point_estimate":100.0,"standard_error":5.0}"#;
        write(
            &new.join("estimates.json"),
            &format!(
                r#"{{"mean":{est},"median":{est},"median_abs_dev":{est},"slope":null,"std_dev":{est}}}"#
            ),
        );
        write(
            &new.join("sample.json"),
            r#"{"sampling_mode":"Linear","iters":[1.0,2.0,4.0],"times":[100.0,210.0,380.0]}"#,
        );
        // The previous run's copy under base/ is not ingested.
        write(
            &dir.path()
                .join("flowcache_size/walk/files=1000/base/benchmark.json"),
            "{}",
        );
        let scenarios = criterion(dir.path()).expect("ingest");
        assert_eq!(scenarios.len(), 1);
        let m = &scenarios[0].metrics[WALL_TIME.as_str()];
        assert_eq!(scenarios[0].id, "flowcache/size/walk/files=1000");
        assert_eq!(
            (m.kind, m.value),
            (MetricKind::WallTime, Value::Float(100.0))
        );
        assert_eq!(m.samples, vec![100.0, 105.0, 95.0]);
        let s = m.summary.as_ref().expect("summary");
        assert_eq!((s.ci.lower, s.ci.upper, s.n), (90.0, 110.0, 3));
    }

    #[test]
    fn gungraun_summaries_become_instruction_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            &dir.path().join("a/summary.json"),
            r#"{"version":"7","module_path":"flowcache_instructions::size::size_query",
                "benchmark_file":"benches/benches/flowcache_instructions.rs","group":"size",
                "function_name":"size_query","id":"indexed_files_1000",
                "profiles":[{"tool":"Callgrind","data":{"total":{"metrics":{"Ir":{"values":
                {"new":{"Int":1234},"old":{"Int":1200}}}}}}}]}"#,
        );
        write(
            &dir.path().join("b/summary.json"),
            r#"{"version":"6","module_path":"codec::parse","benchmark_file":"benches/codec.rs",
                "group":"decode","function_name":"parse","id":"small",
                "profiles":[{"summaries":{"total":{"summary":{"Callgrind":{"Ir":{"metrics":
                {"Left":{"Int":99}}}}}}}}]}"#,
        );
        let scenarios = gungraun(dir.path()).expect("ingest");
        let ids: Vec<&str> = scenarios.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "codec/decode/parse/small",
                "flowcache/size/indexed/files=1000"
            ]
        );
        assert_eq!(
            scenarios[1].metrics[INSTRUCTIONS.as_str()].value,
            Value::Int(1234)
        );
        assert_eq!(
            scenarios[0].metrics[INSTRUCTIONS.as_str()].value,
            Value::Int(99)
        );
        assert_eq!(
            scenarios[0].metrics[INSTRUCTIONS.as_str()].kind,
            MetricKind::Instructions
        );
        // Joined with a wall time of the same scenario from criterion: one scenario, two metrics.
        let mut wall = scenarios[1].clone();
        wall.metrics = BTreeMap::from([(WALL_TIME.into(), Metric::count(5, "ns"))]);
        let record = into_record(vec![scenarios, vec![wall]], &[]);
        assert_eq!(record.suite, "bench");
        assert_eq!(record.scenarios.len(), 2);
        let joined = record
            .scenario("flowcache/size/indexed/files=1000")
            .expect("joined");
        assert_eq!(joined.metrics.len(), 2);
    }

    #[test]
    fn bad_inputs_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = criterion(&dir.path().join("nope"))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("nope") && err.contains("cargo bench"), "{err}");
        let err = criterion(dir.path()).expect_err("empty").to_string();
        assert!(err.contains("no criterion results"), "{err}");
        write(&dir.path().join("x/new/benchmark.json"), "{not json");
        let err = criterion(dir.path()).expect_err("bad json").to_string();
        assert!(
            err.contains("benchmark.json") && err.contains("JSON"),
            "{err}"
        );
        write(
            &dir.path().join("g/summary.json"),
            r#"{"id":"a/b","profiles":[]}"#,
        );
        let err = gungraun(&dir.path().join("g"))
            .expect_err("no Ir")
            .to_string();
        assert!(err.contains("summary.json") && err.contains("Ir"), "{err}");
        write(&dir.path().join("h/summary.json"), r#"{"profiles":[]}"#);
        let err = gungraun(&dir.path().join("h"))
            .expect_err("no id")
            .to_string();
        assert!(err.contains("function_name"), "{err}");
    }
}
