//! The `perfgate` binary end to end on hand-made records: exit codes (0 pass, 1 regression, 2 bad
//! input), error messages that name the file and the fix, and atomic baselines. No scenario is timed.

mod common;

use std::path::Path;

use common::{perfgate, record, stderr, write, write_record};
use perfgate::model::RunRecord;

#[test]
fn compare_exit_codes_follow_the_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("base.json"), &record(10));
    write_record(&dir.path().join("same.json"), &record(12));
    write_record(&dir.path().join("worse.json"), &record(20));
    let same = perfgate(dir.path(), &["compare", "base.json", "same.json"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let worse = perfgate(
        dir.path(),
        &["compare", "base.json", "worse.json", "--reports", "out"],
    );
    assert_eq!(worse.status.code(), Some(1), "{}", stderr(&worse));
    let stdout = String::from_utf8_lossy(&worse.stdout);
    assert!(
        stdout.contains("REGRESSED") && stdout.contains("entries_visited"),
        "{stdout}"
    );
    let summary =
        std::fs::read_to_string(dir.path().join("out/summary.md")).expect("summary written");
    assert!(summary.contains("❌ regression"), "{summary}");
}

#[test]
fn bad_records_exit_2_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("good.json"), &record(10));
    let full = serde_json::to_string(&record(10)).expect("serialize");
    write(&dir.path().join("truncated.json"), &full[..full.len() / 2]);
    write(&dir.path().join("notjson.json"), "<html>hello</html>");
    write(
        &dir.path().join("foreign.json"),
        r#"{"schema":"something-else","schema_version":1}"#,
    );
    write(
        &dir.path().join("future.json"),
        &full.replace(
            &format!("\"schema_version\":{}", perfgate::model::SCHEMA_VERSION),
            "\"schema_version\":99",
        ),
    );
    write(
        &dir.path().join("shape.json"),
        r#"{"schema":"perfgate.run","schema_version":1,"suite":3}"#,
    );
    for (file, expect) in [
        ("missing.json", "no such file"),
        ("truncated.json", "truncated JSON"),
        ("notjson.json", "not JSON"),
        ("foreign.json", "something-else"),
        ("future.json", "schema_version 99"),
        ("shape.json", "does not match schema"),
    ] {
        let o = perfgate(dir.path(), &["compare", "good.json", file]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(file) && err.contains(expect), "{file}: {err}");
        assert!(
            err.contains("cargo perfgate run"),
            "the fix is named: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Runs `perfgate args` in `dir` and asserts that it exits 2 with every one of `needles` in stderr.
fn assert_exit_2_saying(dir: &Path, args: &[&str], needles: &[&str]) {
    let o = perfgate(dir, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(needles.iter().all(|n| err.contains(n)), "{err}");
}

#[test]
fn check_without_a_baseline_says_to_bless() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_exit_2_saying(
        dir.path(),
        &["check"],
        &["baselines/smoke.json", "cargo perfgate bless"],
    );
}

#[test]
fn a_bad_config_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("perfgate.toml"),
        "[gate]\nthreshold = \"half\"\n",
    );
    write_record(&dir.path().join("baselines/smoke.json"), &record(1));
    assert_exit_2_saying(dir.path(), &["check"], &["perfgate.toml", "threshold"]);
}

#[test]
fn an_unknown_filter_exits_2_and_points_to_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("baselines/smoke.json"), &record(1));
    assert_exit_2_saying(
        dir.path(),
        &["check", "--filter", "no-such-component"],
        &["no-such-component", "cargo perfgate list"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(perfgate(dir.path(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        perfgate(dir.path(), &["compare", "only-one.json"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn bless_from_a_record_writes_the_baseline_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("run.json"), &record(7));
    let o = perfgate(dir.path(), &["bless", "--from", "run.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("baselines/smoke.json")).expect("baseline");
    let back: RunRecord = serde_json::from_str(&text).expect("valid record");
    assert_eq!(back, record(7));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("baselines"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temp files left behind");
    // A bad source leaves the existing baseline untouched.
    write(&dir.path().join("broken.json"), "{");
    let o = perfgate(dir.path(), &["bless", "--from", "broken.json"]);
    assert_eq!(o.status.code(), Some(2));
    let after = std::fs::read_to_string(dir.path().join("baselines/smoke.json")).expect("baseline");
    assert_eq!(after, text);
}

#[test]
fn list_shows_scenarios_and_claims() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = perfgate(dir.path(), &["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for files in [1000, 10000, 50000] {
        assert!(
            out.contains(&format!("flowcache/size/walk/files={files}")),
            "{out}"
        );
        assert!(
            out.contains(&format!("flowcache/size/indexed/files={files}")),
            "{out}"
        );
    }
    assert!(out.contains("claim cache-optimizations.md:35"), "{out}");
}
