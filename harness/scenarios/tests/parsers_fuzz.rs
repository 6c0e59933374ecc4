//! The engine's parsers on hostile inputs (fixtures::fuzz): run records and baselines, `perfgate.toml`,
//! criterion's `estimates.json` and `sample.json`, gungraun's `summary.json`. Each answers with a value
//! or an error naming the file (and the field where there is one), never a panic; a record that parses
//! also goes through the gate against a real baseline without a panic.
//!
//! `cargo test` runs a few hundred cases per parser; the long run (a million per parser, inputs/s and
//! errors by kind) is
//! `cargo test --release -p scenarios --test parsers_fuzz -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use fixtures::fuzz::{Target, Verdict, inputs_from_env, long_runs};
use perfgate::config::GateConfig;
use perfgate::error::Error;
use perfgate::history::{self, HISTORY_SCHEMA, HISTORY_VERSION, HistoryRun, TAIL_CHUNK};
use perfgate::ingest::{criterion_scenario, gungraun_scenario};
use perfgate::model::{RunRecord, SCHEMA_NAME, readable_version};
use perfgate::store::parse_record;
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const MAX_LEN: usize = 16 * 1024;
const TEN_MIB: usize = 10 * 1024 * 1024;
const FIX: &str = "run `cargo perfgate run` for a new record";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../engine/tests/samples")
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
                        perfgate::compare::compare(&baseline, &record, &config, &all);
                        perfgate::compare::compare(&record, &baseline, &config, &all);
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
                        ("[ab]", &["threshold", "alpha", "rounds", "layouts"][..]),
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
                    let m = &s.metrics[perfgate::ingest::WALL_TIME.as_str()];
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
                assert!(!s.id.is_empty() || s.metrics.contains_key(perfgate::ingest::INSTRUCTIONS.as_str()));
                Verdict::Ok
            }
            Err(e) => verdict(&e, SUMMARY),
        }),
    }
}

// ------------------------------------------------------------ history files

const HISTORY_FILE: &str = "history.jsonl";
const HISTORY_WORDS: &[&str] = &[
    "schema",
    "perfgate.history",
    "perfgate.run",
    "schema_version",
    "started",
    "commit",
    "suite",
    "machine",
    "metrics",
    "\"v\"",
    "\"u\"",
    "\"k\"",
    "exact",
    "wall_time",
    "\n",
    "\r\n",
    "\n\n",
];

/// `n` runs of the real baseline (its first `scenarios`) as history lines, each with its own start,
/// commit and values, and `pad` bytes of an unknown field (read past) to make a line long.
fn history_lines(scenarios: usize, n: usize, pad: usize) -> Vec<Vec<u8>> {
    let record = parse_record(&smoke_cut(scenarios), Path::new("smoke.json"), FIX).expect("parses");
    (0..n)
        .map(|i| {
            let mut run = HistoryRun::of(&record);
            run.started = format!("2026-11-{:02}T00:00:{:02}Z", i % 28 + 1, i % 60);
            run.commit = format!("{i:040x}");
            for point in run.metrics.values_mut().flat_map(|m| m.values_mut()) {
                point.v *= 1.0 + i as f64 / 100.0;
            }
            let mut v = serde_json::to_value(&run).expect("json");
            if pad > 0 {
                v["pad"] = serde_json::json!("p".repeat(pad));
            }
            let mut line = serde_json::to_vec(&v).expect("json");
            line.push(b'\n');
            line
        })
        .collect()
}

/// A line of an older perfgate: a whole run record on one line.
fn old_record_line() -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(&smoke_cut(1)).expect("json");
    let mut line = serde_json::to_vec(&v).expect("json");
    line.push(b'\n');
    line
}

/// What `load` must make of a line, decided independently of its tail reading: the run, or `None`
/// for a line that is not a history line (nor a readable run record).
fn reference_run(line: &[u8]) -> Option<HistoryRun> {
    #[derive(serde::Deserialize)]
    struct Header {
        schema: String,
        schema_version: u64,
    }
    let header: Header = serde_json::from_slice(line).ok()?;
    match header.schema.as_str() {
        HISTORY_SCHEMA if header.schema_version == u64::from(HISTORY_VERSION) => {
            serde_json::from_slice(line).ok()
        }
        SCHEMA_NAME if readable_version(header.schema_version) => serde_json::from_slice(line)
            .ok()
            .map(|r: RunRecord| HistoryRun::of(&r)),
        _ => None,
    }
}

/// The kind of a history error: what is wrong with the line, without its number or values.
fn history_kind(e: &Error) -> String {
    let Error::BadRecord { what, .. } = e else {
        return kind(e);
    };
    let what = what.split_once(": ").map_or(what.as_str(), |(_, w)| w);
    if what.starts_with("schema ") {
        return "BadRecord(another schema or version)".to_owned();
    }
    let (layer, rest) = what.split_once(": ").unwrap_or((what, ""));
    let layer = layer.split(" (").next().unwrap_or_default();
    let head = rest.split(" at line").next().unwrap_or_default();
    let head = head.split([':', ',', '(']).next().unwrap_or_default();
    // A missing or doubled field is named (a bounded set); other values are not kinds.
    let head = if head.starts_with("missing field") || head.starts_with("duplicate field") {
        head
    } else {
        head.split('`').next().unwrap_or_default()
    };
    format!("BadRecord({layer}: {})", head.trim())
}

/// A cheap, fixed hash of an input (its ends and length): picks `last` and the padding per input.
fn input_hash(input: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    input.len().hash(&mut h);
    input[..input.len().min(64)].hash(&mut h);
    input[input.len().saturating_sub(64)..].hash(&mut h);
    h.finish()
}

/// `history::load` on hostile history files. One in `pad_every` inputs is written after about
/// [`TAIL_CHUNK`] bytes of whole lines, so the tail is read in two chunks with a line across them.
fn history(pad_every: u64) -> Target<'static> {
    // Made once per test binary: the property test makes a target per case.
    type Made = (Vec<Vec<u8>>, Vec<u8>, Vec<u8>);
    static MADE: OnceLock<Made> = OnceLock::new();
    let (lines, old, padding) = MADE.get_or_init(|| {
        let padding: Vec<u8> = history_lines(1, 40, 8 * 1024).concat();
        assert!(padding.len() > TAIL_CHUNK + 64 * 1024, "{}", padding.len());
        (history_lines(2, 6, 0), old_record_line(), padding)
    });
    let (old, padding) = (old.clone(), padding.as_slice());
    let torn = |line: &[u8]| line[..line.len() / 2].to_vec();
    let samples = vec![
        lines[..4].concat(),
        [old.clone(), lines[4].clone(), lines[5].clone()].concat(),
        [lines[0].clone(), lines[1].clone(), torn(&lines[2])].concat(),
        lines[..3]
            .iter()
            .flat_map(|l| [&l[..l.len() - 1], b"\r\n"].concat())
            .collect(),
    ];
    let mut pieces = lines.clone();
    pieces.push(old);
    let dir = tempfile::tempdir().expect("tempdir");
    Target {
        name: "history::load (history files)",
        samples,
        dictionary: HISTORY_WORDS.to_vec(),
        // Files of whole lines, lines cut anywhere, CR/LF, blank, doubled or missing newlines, huge
        // lines, invalid UTF-8, other schemas and versions, JSON of the wrong shape.
        generate: Box::new(move |rng| {
            let mut out = Vec::new();
            for _ in 0..rng.random_range(0..8) {
                let line = pick(rng, &pieces).clone();
                let body = &line[..line.len() - 1];
                match rng.random_range(0..13) {
                    0..4 => out.extend_from_slice(&line),
                    4 => out.extend_from_slice(&body[..rng.random_range(0..=body.len())]),
                    5 => out.extend_from_slice(&[body, b"\r\n"].concat()),
                    6 => {
                        let blank: [&[u8]; 5] = [b"\n", b"\r\n", b"  \n", b"\t\n", b"\r"];
                        let piece = pick::<&[u8]>(rng, &blank);
                        out.extend_from_slice(piece);
                    }
                    7 => out.extend_from_slice(&[&line[..], b"\n"].concat()),
                    8 => {
                        let at = body.len() - 1;
                        let pad = "x".repeat(rng.random_range(1_000..60_000));
                        out.extend_from_slice(&body[..at]);
                        out.extend_from_slice(format!(",\"pad\":\"{pad}\"}}\n").as_bytes());
                    }
                    9 => {
                        let mut bad = line.clone();
                        let at = rng.random_range(0..body.len());
                        bad[at] = *pick(rng, &[0xff, 0xc3, 0x80, 0xed, 0xfe]);
                        out.extend_from_slice(&bad);
                    }
                    10 => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        let (from, to) = *pick(
                            rng,
                            &[
                                ("\"schema_version\":1", "\"schema_version\":2"),
                                ("\"schema_version\":1", "\"schema_version\":0"),
                                ("\"schema_version\":1", "\"schema_version\":-1"),
                                ("perfgate.history", "perfgate.run"),
                                ("perfgate.run", "perfgate.history"),
                                ("\"schema\"", "\"schema\":\"x\",\"schema\""),
                            ],
                        );
                        out.extend_from_slice(text.replacen(from, to, 1).as_bytes());
                    }
                    11 => {
                        let shapes: [&[u8]; 8] = [
                            b"{}\n",
                            b"[]\n",
                            b"null\n",
                            b"\"perfgate.history\"\n",
                            b"{\"schema\":\"perfgate.history\",\"schema_version\":1}\n",
                            b"{\"schema\":\"perfgate.history\",\"schema_version\":1,\"started\":\"\",\"suite\":\"\",\"machine\":\"\",\"metrics\":{\"a\":{\"b\":{\"v\":1,\"u\":\"\",\"k\":\"exact\"}}}}\n",
                            b"\xef\xbb\xbf{}\n",
                            b"\0\n",
                        ];
                        let piece = pick::<&[u8]>(rng, &shapes);
                        out.extend_from_slice(piece);
                    }
                    _ => {
                        let nl = out.iter().rposition(|&b| b == b'\n');
                        if let Some(nl) = nl {
                            out.remove(nl); // two lines joined
                        }
                    }
                }
            }
            if rng.random_bool(0.3) {
                let line = pick(rng, &pieces);
                out.extend_from_slice(&line[..rng.random_range(0..line.len())]);
            }
            if rng.random_bool(0.1) && !out.is_empty() {
                out.truncate(rng.random_range(0..out.len()));
            }
            out
        }),
        check: Box::new(move |input| {
            let h = input_hash(input);
            let file: Vec<u8> = if h.is_multiple_of(pad_every) {
                // Whole lines up to about one chunk before the input.
                let want = TAIL_CHUNK.saturating_sub(input.len()) + (h >> 8) as usize % 16_384;
                let cut = padding[want.min(padding.len() - 1)..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(padding.len(), |i| want + i + 1);
                [&padding[..cut], input].concat()
            } else {
                input.to_vec()
            };
            let path = dir.path().join(HISTORY_FILE);
            std::fs::write(&path, &file).expect("write the history file");
            history_verdict(&path, &file, h)
        }),
    }
}

/// Loads `file` (written at `path`) with several `last` values, from 0 to 5 past its line count,
/// and checks each answer against the lines: at most `last` runs, the last whole ones, a torn last
/// line skipped with a message, and an error for the first bad line among those read, naming the file
/// and that line's number.
fn history_verdict(path: &Path, file: &[u8], h: u64) -> Verdict {
    // (1-based line number, line) of the whole lines that are not blank, and whether the file ends
    // with a line cut short.
    let mut whole = Vec::new();
    let mut pieces = file.split(|&b| b == b'\n').enumerate().peekable();
    let mut torn = false;
    while let Some((i, piece)) = pieces.next() {
        if pieces.peek().is_none() {
            torn = !piece.is_empty();
        } else if !piece.trim_ascii().is_empty() {
            whole.push((i + 1, piece));
        }
    }
    let n = whole.len();
    let mut runs: Vec<Option<Option<HistoryRun>>> = vec![None; n];
    let mut lasts = vec![0, 1, (h % (n as u64 + 6)) as usize, n, n + 5];
    lasts.sort_unstable();
    lasts.dedup();
    let mut verdict = Verdict::Ok;
    let file_name = path.display().to_string();
    for last in lasts {
        let read = n.saturating_sub(last);
        let mut want = Vec::new();
        let mut first_bad = None;
        for (k, (number, line)) in whole.iter().enumerate().skip(read) {
            let run = runs[k].get_or_insert_with(|| reference_run(line));
            match run {
                Some(run) => want.push(run.clone()),
                None => {
                    first_bad = Some(*number);
                    break;
                }
            }
        }
        match (history::load(path, last), first_bad) {
            (Ok(loaded), None) => {
                assert!(
                    loaded.runs == want,
                    "last {last}: {} runs read, the last {} whole ones are not them",
                    loaded.runs.len(),
                    want.len()
                );
                let skipped = usize::from(torn && last > 0);
                assert_eq!(
                    loaded.skipped.len(),
                    skipped,
                    "last {last}: {:?}",
                    loaded.skipped
                );
                assert!(
                    loaded.skipped.iter().all(|s| s.contains(&file_name)),
                    "{:?}",
                    loaded.skipped
                );
            }
            (Ok(loaded), Some(number)) => panic!(
                "last {last}: line {number} is not a history line, yet load read {} runs",
                loaded.runs.len()
            ),
            (Err(e), first_bad) => {
                let text = e.to_string();
                let number = first_bad.unwrap_or_else(|| {
                    panic!("last {last}: the lines read are all history lines, yet: {text}")
                });
                assert!(
                    text.contains(&format!("line {number}:")),
                    "last {last}: the first bad line is {number}: {text}"
                );
                if verdict == Verdict::Ok {
                    verdict = Verdict::Err {
                        kind: history_kind(&e),
                        names_input: text.contains(&file_name),
                    };
                }
            }
        }
    }
    verdict
}

// ------------------------------------------------------------ the short runs

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn run_records_survive_hostile_json(seed in any::<u64>()) {
        records(false).case(seed, MAX_LEN)?;
    }

    #[test]
    fn configs_survive_hostile_toml(seed in any::<u64>()) {
        config().case(seed, MAX_LEN)?;
    }

    #[test]
    fn criterion_files_survive_hostile_json(seed in any::<u64>()) {
        criterion(CriterionFile::Estimates).case(seed, MAX_LEN)?;
        criterion(CriterionFile::Sample).case(seed, MAX_LEN)?;
    }

    #[test]
    fn gungraun_summaries_survive_hostile_json(seed in any::<u64>()) {
        gungraun().case(seed, MAX_LEN)?;
    }

    #[test]
    fn history_files_survive_hostile_lines(seed in any::<u64>()) {
        history(8).case(seed, MAX_LEN)?;
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
        s.metrics[perfgate::ingest::WALL_TIME.as_str()]
            .samples
            .len(),
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

/// History files the fuzzing found, kept as regression cases: blank lines were counted as lines when
/// reading the tail, so the last runs behind them were not read.
#[test]
fn history_regressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(HISTORY_FILE);
    let padding: Vec<u8> = history_lines(1, 40, 8 * 1024).concat();
    let runs = history_lines(1, 2, 0);
    let blank = vec![b'\n'; TAIL_CHUNK + 10];
    // Whole runs, a chunk of blank lines, one more run: the last 3 runs are one before the blank
    // lines and two after (load read 1, the one after them).
    let file = [&padding[..], &runs[0], &blank, &runs[1], b"\r\n  \n"].concat();
    std::fs::write(&path, &file).expect("write");
    let last: Vec<String> = history::load(&path, 3)
        .expect("loads")
        .runs
        .into_iter()
        .map(|r| r.commit)
        .collect();
    assert_eq!(last.len(), 3, "{last:?}");
    assert_eq!(last[1..], [format!("{:040x}", 0), format!("{:040x}", 1)]);
    assert_history_verdict(&path, &file);
    // A line split by a chunk of newlines: of the last 3 lines read, the first bad one is the first
    // half, line 2 (load named the second half, line 262,156, not reading past the blank lines).
    let line = &runs[1];
    let half = line.len() / 2;
    let file = [&runs[0][..], &line[..half], &blank, &line[half..]].concat();
    std::fs::write(&path, &file).expect("write");
    let err = history::load(&path, 3)
        .expect_err("two bad halves")
        .to_string();
    assert!(
        err.contains("line 2:") && err.contains(HISTORY_FILE),
        "{err}"
    );
    assert_history_verdict(&path, &file);
}

fn assert_history_verdict(path: &Path, file: &[u8]) {
    for h in 0..2 {
        history_verdict(path, file, h);
    }
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
        history(8),
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

/// Runs each target on `n` inputs, then ten 10 MiB inputs ([`long_runs`]): prints inputs/s and
/// errors by kind; fails on a panic, a hang (an input over 1 s, a 10 MiB one over 10 s) or an error
/// that does not name its input.
fn long_run(targets: Vec<Target<'static>>, seed: u64) {
    let n = inputs_from_env(1_000_000);
    let failures = long_runs(targets, n, seed, Duration::from_secs(10));
    assert!(failures.is_empty(), "{failures:#?}");
}

/// One million inputs per parser (`PERFGATE_FUZZ_INPUTS` to change); see [`long_run`].
#[test]
#[ignore = "the long run: cargo test --release -p scenarios --test parsers_fuzz -- --ignored --nocapture"]
fn long_run_a_million_inputs_per_parser() {
    long_run(
        vec![
            records(false),
            config(),
            criterion(CriterionFile::Estimates),
            criterion(CriterionFile::Sample),
            gungraun(),
        ],
        0x18_0000,
    );
}

/// One million history files (`PERFGATE_FUZZ_INPUTS` to change), each loaded with five `last`
/// values; alone: `cargo test --release -p scenarios --test parsers_fuzz -- --ignored --nocapture
/// history`.
#[test]
#[ignore = "the long run: cargo test --release -p scenarios --test parsers_fuzz -- --ignored --nocapture"]
fn long_run_a_million_history_files() {
    long_run(vec![history(64)], 0x18_1000);
}
