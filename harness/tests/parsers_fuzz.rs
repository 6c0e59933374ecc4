//! The engine's parsers on hostile inputs (fixtures::fuzz): run records and baselines, `perfgate.toml`,
//! criterion's `estimates.json` and `sample.json`, gungraun's `summary.json`. Each answers with a value
//! or an error naming the file (and the field where there is one), never a panic; a record that parses
//! also goes through the gate against a real baseline without a panic.
//!
//! `cargo test` runs a few hundred cases per parser; the long run (a million per parser, inputs/s and
//! errors by kind) is `cargo test --release -p harness --test parsers_fuzz -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fixtures::fuzz::{Target, Verdict, inputs_from_env};
use harness::config::GateConfig;
use harness::error::Error;
use harness::ingest::{criterion_scenario, gungraun_scenario};
use harness::model::RunRecord;
use harness::store::parse_record;
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const MAX_LEN: usize = 16 * 1024;
const TEN_MIB: usize = 10 * 1024 * 1024;
const FIX: &str = "run `cargo perfgate run` for a new record";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/samples")
            .join(path),
    )
    .expect("a committed sample")
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// The kind of an engine error: its variant, and for a bad record the start of what is wrong.
fn kind(e: &Error) -> String {
    match e {
        Error::BadRecord { what, .. } => {
            let head: String = what
                .split([':', '(', ',', '`'])
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            format!("BadRecord({})", head.trim())
        }
        Error::Config { what, .. } => {
            let head = what.split([' ', ':']).next().unwrap_or_default();
            let head = if head == "TOML" {
                "TOML parse error"
            } else {
                head
            };
            format!("Config({head})")
        }
        other => format!("{other:?}")
            .split([' ', '(', '{'])
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The verdict on an engine error about `file`: it must name the file, and a schema mismatch its
/// field (`at \`path\``).
fn verdict(e: &Error, file: &str) -> Verdict {
    let text = e.to_string();
    let field = match e {
        Error::BadRecord { what, .. } if what.starts_with("does not match schema") => {
            what.contains(" at `")
        }
        _ => true,
    };
    Verdict::Err {
        kind: kind(e),
        names_input: text.contains(file) && field,
    }
}

// ------------------------------------------------------------- run records

/// The real baseline cut to its first `n` scenarios (a faster sample to mutate).
fn smoke_cut(n: usize) -> Vec<u8> {
    let full = std::fs::read(repo("baselines/smoke.json")).expect("baselines/smoke.json");
    let mut v: serde_json::Value = serde_json::from_slice(&full).expect("json");
    if let Some(s) = v.get_mut("scenarios").and_then(|s| s.as_array_mut()) {
        s.truncate(n);
    }
    serde_json::to_vec_pretty(&v).expect("json")
}

const RECORD_WORDS: &[&str] = &[
    "schema",
    "perfgate.run",
    "schema_version",
    "scenarios",
    "metrics",
    "kind",
    "unit",
    "direction",
    "value",
    "summary",
    "samples",
    "rounds",
    "ci",
    "level",
    "lower",
    "upper",
    "median",
    "mad",
    "wall_time",
    "exact",
    "virtual_time",
    "instructions",
    "lower_is_better",
    "higher_is_better",
    "machine",
    "toolchain",
    "git",
    "growth",
    "claims",
    "injected",
    "ab",
    "before",
    "duration_s",
];

fn records(full: bool) -> Target<'static> {
    let small = smoke_cut(3);
    let baseline: RunRecord =
        parse_record(&small, Path::new("small.json"), FIX).expect("the cut baseline parses");
    let config = GateConfig::default();
    let mut samples = vec![small, smoke_cut(8)];
    if full {
        samples.push(std::fs::read(repo("baselines/smoke.json")).expect("smoke.json"));
    }
    let mut parsed = 0_u64;
    let template: serde_json::Value = serde_json::from_slice(&samples[0]).expect("json");
    Target {
        name: "store::parse_record (run records, baselines)",
        samples,
        dictionary: RECORD_WORDS.to_vec(),
        // Scenario lists whose metrics have every value shape, kind and direction.
        generate: Box::new(move |rng| {
            let metric = |rng: &mut ChaCha8Rng| {
                let value = match rng.random_range(0..5) {
                    0 => serde_json::json!({"Int": rng.random::<u64>()}),
                    1 => serde_json::json!({"Float": rng.random::<f64>() * 1e9}),
                    2 => serde_json::json!(rng.random::<f64>()),
                    3 => serde_json::json!(-1),
                    _ => serde_json::json!(null),
                };
                let samples: Vec<f64> = (0..rng.random_range(0..6))
                    .map(|_| rng.random::<f64>() * 1e6)
                    .collect();
                serde_json::json!({
                    "kind": pick(rng, &["exact", "virtual_time", "wall_time", "instructions", "ratio", "cpu_time", "bogus"]),
                    "unit": "ns",
                    "direction": pick(rng, &["lower_is_better", "higher_is_better", "sideways"]),
                    "value": value,
                    "samples": samples,
                    "rounds": if rng.random_bool(0.3) { samples.clone() } else { vec![] },
                })
            };
            let scenarios: Vec<serde_json::Value> = (0..rng.random_range(0..4))
                .map(|i| {
                    let metrics: serde_json::Map<String, serde_json::Value> = (0..rng.random_range(0..3))
                        .map(|j| (format!("m{j}"), metric(rng)))
                        .collect();
                    serde_json::json!({"id": format!("a/b/c/n={i}"), "metrics": metrics, "duration_s": 0.5})
                })
                .collect();
            let mut v = template.clone();
            v["scenarios"] = serde_json::Value::Array(scenarios);
            if rng.random_bool(0.2) {
                v["schema_version"] = serde_json::json!(rng.random_range(0..20));
            }
            serde_json::to_vec(&v).expect("json")
        }),
        check: Box::new(move |input| {
            match parse_record(input, Path::new("baselines/smoke.json"), FIX) {
                Ok(record) => {
                    // What parses is written back the same, and gates without a panic either way round
                    // (every input in cargo test, one in 16 in the long run: the bootstrap is slow).
                    let again = serde_json::to_vec(&record).expect("serialize");
                    let back =
                        parse_record(&again, Path::new("again.json"), FIX).expect("re-parses");
                    assert!(
                        back == record,
                        "a record survives a save and load; differs at {}",
                        first_difference(
                            &serde_json::to_value(&record).expect("value"),
                            &serde_json::to_value(&back).expect("value"),
                            String::new()
                        )
                    );
                    parsed += 1;
                    if cfg!(debug_assertions) || parsed % 16 == 1 {
                        let all = |_: &str| true;
                        harness::compare::compare(&baseline, &record, &config, &all);
                        harness::compare::compare(&record, &baseline, &config, &all);
                    }
                    Verdict::Ok
                }
                Err(e) => verdict(&e, "baselines/smoke.json"),
            }
        }),
    }
}

/// Where two JSON values first differ, as a path and the two values there.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if v != w => return first_difference(v, w, format!("{at}.{k}")),
                    None => return format!("{at}.{k}: only before"),
                    _ => {}
                }
            }
            format!(
                "{at}: keys {:?} vs {:?}",
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>()
            )
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if v != w {
                    return first_difference(v, w, format!("{at}[{i}]"));
                }
            }
            format!("{at}: equal as JSON (a float that is not equal to itself?)")
        }
        _ => format!("{at}: {a} vs {b}"),
    }
}

// ------------------------------------------------------------ perfgate.toml

const CONFIG_WORDS: &[&str] = &[
    "[gate]",
    "[ab]",
    "[[override]]",
    "threshold",
    "confidence",
    "alpha",
    "rounds",
    "scenario",
    "metric",
    "hard",
    "gate",
    "=",
    "\"*\"",
    "true",
    "false",
];

fn toml_value(rng: &mut ChaCha8Rng) -> String {
    pick(
        rng,
        &[
            "0.5",
            "0.95",
            "0",
            "-1",
            "1e400",
            "nan",
            "inf",
            "100.5",
            "3",
            "12",
            "1000",
            "\"half\"",
            "true",
            "[1, 2]",
            "{ a = 1 }",
            "2025-01-01",
            "0x10",
            "\"[\"",
            "\"flowcache/*\"",
            "\"**\"",
            "\"a[!b]\"",
            "\"\"",
            "18446744073709551616",
        ],
    )
    .to_string()
}

fn config() -> Target<'static> {
    Target {
        name: "config::GateConfig::parse (perfgate.toml)",
        samples: vec![
            std::fs::read(repo("perfgate.toml")).expect("perfgate.toml"),
            b"[gate]\nthreshold = 0.5\n\n[[override]]\nscenario = \"flowcache/size/indexed/*\"\nmetric = \"wall_time\"\nhard = 10e6\n\n[[override]]\nmetric = \"timed_waits*\"\nthreshold = 0.1\ngate = false\n".to_vec(),
        ],
        dictionary: CONFIG_WORDS.to_vec(),
        generate: Box::new(|rng| {
            let mut text = String::new();
            for _ in 0..rng.random_range(0..6) {
                let (table, keys): (&str, &[&str]) = *pick(
                    rng,
                    &[
                        ("[gate]", &["threshold", "confidence", "bogus"][..]),
                        ("[ab]", &["threshold", "alpha", "rounds"][..]),
                        ("[[override]]", &["scenario", "metric", "threshold", "hard", "gate"][..]),
                    ],
                );
                text.push_str(table);
                text.push('\n');
                for _ in 0..rng.random_range(0..4) {
                    let key = pick(rng, keys);
                    let value = toml_value(rng);
                    text.push_str(&format!("{key} = {value}\n"));
                }
            }
            text.into_bytes()
        }),
        check: Box::new(|input| {
            let text = String::from_utf8_lossy(input);
            match GateConfig::parse(&text, Path::new("perfgate.toml")) {
                Ok(c) => {
                    for (s, m) in [("flowcache/size/indexed/files=1000", "wall_time"), ("", ""), ("[", "*")] {
                        let l = c.limits(s, m);
                        assert!(l.threshold.is_finite() && l.threshold > 0.0);
                    }
                    Verdict::Ok
                }
                Err(e) => verdict(&e, "perfgate.toml"),
            }
        }),
    }
}

// ------------------------------------------------------- criterion, gungraun

const CRITERION_DIR: &str = "target/criterion/sample/sum/new";
const CRITERION_WORDS: &[&str] = &[
    "mean",
    "median",
    "median_abs_dev",
    "slope",
    "std_dev",
    "confidence_interval",
    "confidence_level",
    "lower_bound",
    "upper_bound",
    "point_estimate",
    "standard_error",
    "iters",
    "times",
    "sampling_mode",
    "full_id",
];

/// Which criterion file a [`criterion`] target fuzzes (the others stay the real ones).
#[derive(Clone, Copy, PartialEq)]
enum CriterionFile {
    Estimates,
    Sample,
}

fn estimate(rng: &mut ChaCha8Rng) -> serde_json::Value {
    let x = |rng: &mut ChaCha8Rng| -> serde_json::Value {
        match rng.random_range(0..6) {
            0 => serde_json::json!(rng.random::<f64>() * 1e3),
            1 => serde_json::json!(-1.5),
            2 => serde_json::json!(0),
            3 => serde_json::json!(1e308),
            4 => serde_json::json!("1.0"),
            _ => serde_json::json!(null),
        }
    };
    serde_json::json!({
        "confidence_interval": {"confidence_level": x(rng), "lower_bound": x(rng), "upper_bound": x(rng)},
        "point_estimate": x(rng),
        "standard_error": x(rng),
    })
}

fn criterion(file: CriterionFile) -> Target<'static> {
    let (benchmark, estimates, samples) = (
        sample("criterion/benchmark.json"),
        sample("criterion/estimates.json"),
        sample("criterion/sample.json"),
    );
    let (name, fuzzed) = match file {
        CriterionFile::Estimates => (
            "ingest::criterion_scenario (estimates.json)",
            estimates.clone(),
        ),
        CriterionFile::Sample => ("ingest::criterion_scenario (sample.json)", samples.clone()),
    };
    let file_name = match file {
        CriterionFile::Estimates => "estimates.json",
        CriterionFile::Sample => "sample.json",
    };
    Target {
        name,
        samples: vec![fuzzed],
        dictionary: CRITERION_WORDS.to_vec(),
        generate: Box::new(move |rng| {
            let v = match file {
                CriterionFile::Estimates => serde_json::json!({
                    "mean": estimate(rng), "median": estimate(rng), "median_abs_dev": estimate(rng),
                    "slope": if rng.random_bool(0.5) { estimate(rng) } else { serde_json::Value::Null },
                    "std_dev": estimate(rng),
                }),
                CriterionFile::Sample => {
                    let n = *pick(rng, &[0_usize, 1, 2, 5, 100, 3000]);
                    let iters: Vec<f64> = (0..n)
                        .map(|i| *pick(rng, &[i as f64, 0.0, -1.0, 1e-300]))
                        .collect();
                    let times: Vec<f64> = (0..n + rng.random_range(0..2))
                        .map(|_| rng.random::<f64>() * 1e300)
                        .collect();
                    serde_json::json!({"sampling_mode": "Linear", "iters": iters, "times": times})
                }
            };
            serde_json::to_vec(&v).expect("json")
        }),
        check: Box::new(move |input| {
            let (est, smp) = match file {
                CriterionFile::Estimates => (input, samples.as_slice()),
                CriterionFile::Sample => (estimates.as_slice(), input),
            };
            match criterion_scenario(Path::new(CRITERION_DIR), &benchmark, est, Some(smp)) {
                Ok(s) => {
                    let m = &s.metrics[harness::ingest::WALL_TIME];
                    let v = m.value.as_f64();
                    assert!(v.is_finite() && v >= 0.0, "{v}");
                    assert!(m.samples.iter().all(|x| x.is_finite()));
                    Verdict::Ok
                }
                Err(e) => verdict(&e, &format!("{CRITERION_DIR}/{file_name}")),
            }
        }),
    }
}

const SUMMARY: &str =
    "target/gungraun/benches/timesync_instructions/codec/reply.parse_packets_256/summary.json";

fn gungraun() -> Target<'static> {
    Target {
        name: "ingest::gungraun_scenario (summary.json)",
        samples: vec![
            sample("gungraun/summary.json"),
            br#"{"version":"6","module_path":"codec::parse","benchmark_file":"benches/codec.rs","group":"decode","function_name":"parse","id":"small","profiles":[{"summaries":{"total":{"summary":{"Callgrind":{"Ir":{"metrics":{"Both":[{"Int":99},{"Float":98.5}]}}}}}}}]}"#.to_vec(),
        ],
        dictionary: vec!["profiles", "data", "total", "metrics", "Ir", "values", "new", "old", "Int", "Float", "Left", "Both", "summaries", "Callgrind", "function_name", "benchmark_file", "module_path", "group", "id"],
        generate: Box::new(|rng| {
            let n = |rng: &mut ChaCha8Rng| -> serde_json::Value {
                match rng.random_range(0..6) {
                    0 => serde_json::json!({"Int": rng.random::<u64>()}),
                    1 => serde_json::json!({"Float": rng.random::<f64>() * 1e20}),
                    2 => serde_json::json!({"Float": -5.5}),
                    3 => serde_json::json!(rng.random::<u32>()),
                    4 => serde_json::json!("12"),
                    _ => serde_json::json!(null),
                }
            };
            let id = pick(rng, &["indexed_files_1000", "a/b", "", "x_y_", "_1", "__"]).to_string();
            let v = serde_json::json!({
                "version": pick(rng, &["6", "7", "99"]),
                "function_name": pick(rng, &["size_query", ""]),
                "benchmark_file": pick(rng, &["benches/benches/flowcache_instructions.rs", "", "/", ".."]),
                "id": id,
                "profiles": [
                    {"data": {"total": {"metrics": {"Ir": {"values": {"new": n(rng)}}}}}},
                    {"summaries": {"total": {"summary": {"Callgrind": {"Ir": {"metrics": {"Both": [n(rng), n(rng)]}}}}}}},
                ],
            });
            serde_json::to_vec(&v).expect("json")
        }),
        check: Box::new(|input| match gungraun_scenario(Path::new(SUMMARY), input) {
            Ok(s) => {
                assert!(!s.id.is_empty() || s.metrics.contains_key(harness::ingest::INSTRUCTIONS));
                Verdict::Ok
            }
            Err(e) => verdict(&e, SUMMARY),
        }),
    }
}

// ------------------------------------------------------------ the short runs

fn cases(target: &mut Target<'_>, seed: u64) -> Result<(), TestCaseError> {
    target
        .case(seed, MAX_LEN)
        .map(|_| ())
        .map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn run_records_survive_hostile_json(seed in any::<u64>()) {
        cases(&mut records(false), seed)?;
    }

    #[test]
    fn configs_survive_hostile_toml(seed in any::<u64>()) {
        cases(&mut config(), seed)?;
    }

    #[test]
    fn criterion_files_survive_hostile_json(seed in any::<u64>()) {
        cases(&mut criterion(CriterionFile::Estimates), seed)?;
        cases(&mut criterion(CriterionFile::Sample), seed)?;
    }

    #[test]
    fn gungraun_summaries_survive_hostile_json(seed in any::<u64>()) {
        cases(&mut gungraun(), seed)?;
    }
}

/// Inputs the fuzzing found, kept as regression cases.
#[test]
fn regressions() {
    let dir = Path::new(CRITERION_DIR);
    let bench = sample("criterion/benchmark.json");
    let est = sample("criterion/estimates.json");
    let with_median = |point: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_slice(&est).expect("json");
        v["median"]["point_estimate"] = point;
        serde_json::to_vec(&v).expect("json")
    };
    // A negative median time was taken as a wall time.
    let negative = with_median(serde_json::json!(-948.0));
    let err = criterion_scenario(dir, &bench, &negative, None).expect_err("negative");
    assert!(err.to_string().contains("median.point_estimate"), "{err}");
    // A value of the wrong type is named by its path.
    let confused = with_median(serde_json::json!("948"));
    let err = criterion_scenario(dir, &bench, &confused, None).expect_err("a string");
    let text = err.to_string();
    assert!(
        text.contains("estimates.json") && text.contains("median.point_estimate"),
        "{text}"
    );
    // A 10 MiB sample.json (two million values) took hours: the median interval was O(n^2).
    let n = 2_000_000;
    let iters: Vec<f64> = (1..=n).map(f64::from).collect();
    let huge =
        serde_json::to_vec(&serde_json::json!({"iters": iters, "times": iters})).expect("json");
    let s = criterion_scenario(dir, &bench, &est, Some(&huge)).expect("ingests");
    assert_eq!(
        s.metrics[harness::ingest::WALL_TIME].samples.len(),
        n as usize
    );
    // A float read back was 1 ulp off the one written (serde_json without float_roundtrip), so a
    // baseline changed on a save and load: 1e-30 came back as 9.999999999999999e-31.
    let small = String::from_utf8(smoke_cut(1)).expect("utf-8");
    let tiny = small.replacen(
        "\"duration_s\": ",
        "\"duration_s\": 0.000000000000000000000000000001, \"x\": ",
        1,
    );
    let record = parse_record(tiny.as_bytes(), Path::new("tiny.json"), FIX).expect("parses");
    let again = serde_json::to_vec(&record).expect("serialize");
    assert_eq!(
        parse_record(&again, Path::new("again.json"), FIX).expect("parses"),
        record
    );
    // A record whose metric has a string where a number goes says where.
    let small = String::from_utf8(smoke_cut(1)).expect("utf-8");
    let at = small.find("\"duration_s\"").expect("a duration");
    let broken = format!(
        "{}\"duration_s\": \"slow\",{}",
        &small[..at],
        &small[at..].split_once(',').expect("a comma").1
    );
    let err = parse_record(broken.as_bytes(), Path::new("baselines/smoke.json"), FIX)
        .expect_err("a string");
    let text = err.to_string();
    assert!(
        text.contains("smoke.json") && text.contains("at `"),
        "{text}"
    );
}

/// A 10 MiB input gets an answer from every parser (timed in the long run, not here); the full
/// 62-scenario baseline is a sample here.
#[test]
fn ten_mib_inputs_get_an_answer() {
    for mut target in [
        records(true),
        config(),
        criterion(CriterionFile::Estimates),
        criterion(CriterionFile::Sample),
        gungraun(),
    ] {
        let (_, verdicts) = target.huge(TEN_MIB, 2, 1);
        assert_eq!(verdicts.len(), 2, "{}", target.name);
        for seed in 0..20 {
            target
                .case(seed, 256 * 1024)
                .expect("every error names its input");
        }
    }
}

// ------------------------------------------------------------ the long run

/// One million inputs per parser (`PERFGATE_FUZZ_INPUTS` to change), then ten 10 MiB inputs each:
/// prints inputs/s and errors by kind; fails on a panic, a hang (an input over 1 s, a 10 MiB one
/// over 10 s) or an error that does not name its input.
#[test]
#[ignore = "the long run: cargo test --release -p harness --test parsers_fuzz -- --ignored --nocapture"]
fn long_run_a_million_inputs_per_parser() {
    let n = inputs_from_env(1_000_000);
    let mut failures = Vec::new();
    let targets = [
        records(false),
        config(),
        criterion(CriterionFile::Estimates),
        criterion(CriterionFile::Sample),
        gungraun(),
    ];
    for (i, mut target) in targets.into_iter().enumerate() {
        let out = target.long_run(n, 0x18_0000 + i as u64, Duration::from_secs(1), 64 * 1024);
        let (slowest, _) = target.huge(TEN_MIB, 10, i as u64);
        println!(
            "{out}\n  10 MiB inputs: slowest {:.1} ms\n",
            slowest.as_secs_f64() * 1e3
        );
        if !out.clean() || slowest > Duration::from_secs(10) {
            failures.push(format!(
                "{}: panics {} (first {:?}), hangs {}, unnamed {} (first {:?}), 10 MiB in {slowest:?}",
                out.parser,
                out.panics,
                out.first_panic.as_ref().map(|(i, w)| (String::from_utf8_lossy(&i[..i.len().min(300)]).into_owned(), w.clone())),
                out.hangs,
                out.unnamed,
                out.first_unnamed
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
