//! Crash safety of perfgate's writes: the `perfgate` binary is killed (SIGKILL) at random points while
//! `bless` writes `baselines/smoke.json` and while `report` writes `reports/` (the writer `run` and
//! `check` use); afterwards every file is the old content or the new, whole, and the next run works.
//!
//! Kill points are chosen by observed events (the directory changing: a temp file appears, grows, is
//! renamed), polled without sleeping. `cargo test` kills 20 times per writer; the long run kills 200
//! times: `cargo test -p harness --test crash -- --ignored --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::store::load_record;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FIX: &str = "bless again";

/// A directory's entries as (name, length, inode): any change is an event.
fn snapshot(dirs: &[PathBuf]) -> Vec<(String, u64, u64)> {
    let mut all = Vec::new();
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if let Ok(m) = e.metadata() {
                    all.push((
                        e.file_name().to_string_lossy().into_owned(),
                        m.len(),
                        m.ino(),
                    ));
                }
            }
        }
    }
    all.sort();
    all
}

/// How the kills went: processes killed (with a temp file in sight) or finished before their kill
/// point, and the files found old or new afterwards.
#[derive(Debug, Default)]
struct Tally {
    killed: usize,
    killed_with_temp_file: usize,
    finished_first: usize,
    old: usize,
    new: usize,
}

/// Runs `perfgate args` in `root` and kills it after `k` observed changes of `dirs` (0: at once)
/// plus a few more polls; `true` if it was killed, `false` if it finished first.
fn kill_after_events(
    root: &Path,
    args: &[&str],
    dirs: &[PathBuf],
    k: usize,
    extra_polls: usize,
) -> (bool, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_perfgate"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start perfgate");
    let mut last = snapshot(dirs);
    let mut events = 0;
    let mut polls_after = 0;
    // Bounded: the child ends by itself; the cap only guards against a wedged child.
    for _ in 0..50_000_000_u64 {
        if child.try_wait().expect("wait").is_some() {
            return (false, false);
        }
        if events >= k {
            if polls_after >= extra_polls {
                break;
            }
            polls_after += 1;
        }
        let now = snapshot(dirs);
        if now != last {
            events += 1;
            last = now;
        }
    }
    let temp = last.iter().any(|(name, _, _)| name.ends_with(".tmp"));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    (true, temp)
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".perfgate-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Two real records (the baseline's first 8 scenarios, then the same with another start time).
fn two_records(root: &Path) -> [Vec<u8>; 2] {
    let full = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/smoke.json"))
        .expect("baselines/smoke.json");
    let mut v: serde_json::Value = serde_json::from_slice(&full).expect("json");
    if let Some(s) = v.get_mut("scenarios").and_then(|s| s.as_array_mut()) {
        s.truncate(8);
    }
    let a = serde_json::to_vec_pretty(&v).expect("json");
    v["started"] = serde_json::json!("2026-12-01T00:00:00Z");
    v["duration_s"] = serde_json::json!(1234.5);
    let b = serde_json::to_vec_pretty(&v).expect("json");
    std::fs::write(root.join("a.json"), &a).expect("write a");
    std::fs::write(root.join("b.json"), &b).expect("write b");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../perfgate.toml"),
        root.join("perfgate.toml"),
    )
    .expect("perfgate.toml");
    [a, b]
}

fn run_ok(root: &Path, args: &[&str]) {
    let o = common::perfgate(root, args);
    assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
}

/// `bless --from` killed `kills` times: the baseline is always one of the two records' blessed forms.
fn bless_survives_kills(kills: usize, seed: u64) -> Tally {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    two_records(root);
    let baselines = root.join("baselines");
    let baseline = baselines.join("smoke.json");
    // What bless writes for each record.
    let mut blessed = Vec::new();
    for from in ["a.json", "b.json"] {
        run_ok(root, &["bless", "--from", from]);
        blessed.push(std::fs::read(&baseline).expect("blessed"));
    }
    assert_ne!(blessed[0], blessed[1]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let mut current = 1; // b.json is blessed now
    let mut i = 0;
    while tally.killed < kills {
        i += 1;
        assert!(
            i < 20 * kills,
            "bless keeps finishing before the kill: {tally:?}"
        );
        let next = 1 - current;
        let from = ["a.json", "b.json"][next];
        let (killed, temp) = kill_after_events(
            root,
            &["bless", "--from", from],
            std::slice::from_ref(&baselines),
            rng.random_range(0..4),
            rng.random_range(0..20),
        );
        tally.killed += usize::from(killed);
        tally.finished_first += usize::from(!killed);
        tally.killed_with_temp_file += usize::from(temp);
        let bytes = std::fs::read(&baseline).expect("the baseline is never lost");
        if bytes == blessed[current] {
            tally.old += 1;
        } else if bytes == blessed[next] {
            tally.new += 1;
            current = next;
        } else {
            panic!(
                "kill {i}: the baseline is neither the old nor the new one ({} bytes)",
                bytes.len()
            );
        }
        // The next run reads it.
        load_record(&baseline, FIX).expect("the baseline loads");
    }
    // A finished bless sweeps what the killed ones left behind.
    run_ok(root, &["bless", "--from", "a.json"]);
    let left = temp_files(&baselines);
    assert!(left.is_empty(), "temp files left in baselines/: {left:?}");
    // And the next check runs against it (one scenario, so it stays quick).
    let o = common::perfgate(
        root,
        &[
            "check",
            "-f",
            "flowcache/size/indexed/files=1000",
            "--reports",
            "out",
        ],
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "check after the kills: {}",
        common::stderr(&o)
    );
    tally
}

/// `report` (the writer of `run` and `check`) killed `kills` times: every report is whole.
fn reports_survive_kills(kills: usize, seed: u64) -> Tally {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    two_records(root);
    let reports = root.join("reports");
    let args = |rec: &'static str| ["report", rec, "--baseline", "a.json"];
    let mut versions: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    for rec in ["a.json", "b.json"] {
        run_ok(root, &args(rec));
        let files = std::fs::read_dir(&reports)
            .expect("reports")
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).expect("read"))
            })
            .collect();
        versions.push(files);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let mut i = 0;
    while tally.killed < kills {
        i += 1;
        assert!(
            i < 20 * kills,
            "report keeps finishing before the kill: {tally:?}"
        );
        let rec = ["a.json", "b.json"][i % 2];
        let (killed, temp) = kill_after_events(
            root,
            &args(rec),
            std::slice::from_ref(&reports),
            rng.random_range(0..12),
            rng.random_range(0..50),
        );
        tally.killed += usize::from(killed);
        tally.finished_first += usize::from(!killed);
        tally.killed_with_temp_file += usize::from(temp);
        for (name, a) in &versions[0] {
            let bytes = std::fs::read(reports.join(name)).expect("a report is never lost");
            let b = &versions[1][name];
            if &bytes == a {
                tally.old += 1;
            } else if &bytes == b {
                tally.new += 1;
            } else {
                panic!(
                    "kill {i}: reports/{name} is neither version ({} bytes)",
                    bytes.len()
                );
            }
        }
        load_record(&reports.join("run.json"), FIX).expect("the run record loads");
    }
    run_ok(root, &args("a.json"));
    let left = temp_files(&reports);
    assert!(left.is_empty(), "temp files left in reports/: {left:?}");
    tally
}

#[test]
fn bless_killed_20_times_keeps_a_whole_baseline() {
    let t = bless_survives_kills(20, 18);
    println!("bless, 20 kills: {t:?}");
    assert!(t.killed > 0, "{t:?}");
}

#[test]
fn report_killed_20_times_keeps_whole_reports() {
    let t = reports_survive_kills(20, 18);
    println!("report, 20 kills: {t:?}");
    assert!(t.killed > 0, "{t:?}");
}

#[test]
#[ignore = "the long run: cargo test -p harness --test crash -- --ignored --nocapture"]
fn long_run_200_kills_per_writer() {
    let b = bless_survives_kills(200, 1800);
    println!("bless, 200 kills: {b:?}");
    let r = reports_survive_kills(200, 1801);
    println!("report, 200 kills: {r:?}");
}
