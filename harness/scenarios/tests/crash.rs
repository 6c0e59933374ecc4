//! Crash safety of perfgate's writes: the `perfgate` binary is killed (SIGKILL) at random points while
//! `bless` writes `baselines/smoke.json` and while `report` writes `reports/` (the writer `run` and
//! `check` use); afterwards every file is the old content or the new, whole, and the next run works.
//! `--history` appends (no perfgate command appends without measuring, so this binary re-executes
//! itself to call `history::append` in a loop) are killed the same way: every line before the one
//! being written is whole, at most that one is cut short, and the next append removes it.
//!
//! Kill points are chosen by observed events (the directory changing: a temp file appears, grows, is
//! renamed), polled without sleeping. `cargo test` kills 20 times per writer; the long run kills 200
//! times: `cargo test -p scenarios --test crash -- --ignored --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use perfgate::history::{self, HistoryRun};
use perfgate::model::{Metric, RunRecord};
use perfgate::store::load_record;
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

impl Tally {
    /// Counts `bytes`, found in `what` after kill `i`, as the `old` content or the `new` one
    /// (returns whether new); anything else fails the test.
    fn old_or_new(&mut self, i: usize, what: &str, bytes: &[u8], old: &[u8], new: &[u8]) -> bool {
        if bytes == old {
            self.old += 1;
            false
        } else if bytes == new {
            self.new += 1;
            true
        } else {
            panic!(
                "kill {i}: {what} is neither the old nor the new version ({} bytes)",
                bytes.len()
            );
        }
    }
}

/// `perfgate args` in `root`, started.
fn perfgate(root: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_perfgate"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start perfgate")
}

/// Kills `child` after `k` observed changes of `dirs` (0: at once) plus a few more polls; returns
/// whether it was killed (`false`: it finished first) and whether a temp file was in sight.
fn kill_after_events(
    child: &mut Child,
    dirs: &[PathBuf],
    k: usize,
    extra_polls: usize,
) -> (bool, bool) {
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

/// A `perfgate` writer's kill loop: rounds of starting it and killing it at a seeded point, until
/// `kills` processes were killed mid-write.
struct Rounds {
    writer: &'static str,
    kills: usize,
    rng: ChaCha8Rng,
    round: usize,
    tally: Tally,
}

impl Rounds {
    /// No round run yet; the kill points drawn from `seed`.
    fn new(writer: &'static str, kills: usize, seed: u64) -> Self {
        Self {
            writer,
            kills,
            rng: ChaCha8Rng::seed_from_u64(seed),
            round: 0,
            tally: Tally::default(),
        }
    }

    /// The next round's number (from 1), `None` once `kills` processes were killed; fails when the
    /// writer keeps finishing before its kill point (20 rounds a kill).
    fn next(&mut self) -> Option<usize> {
        if self.tally.killed >= self.kills {
            return None;
        }
        self.round += 1;
        assert!(
            self.round < 20 * self.kills,
            "{} keeps finishing before the kill: {:?}",
            self.writer,
            self.tally
        );
        Some(self.round)
    }

    /// `perfgate args` in `root`, killed after a seeded number of observed changes of `dir` (below
    /// `events`) and of polls after them (below `polls`).
    fn kill(&mut self, root: &Path, args: &[&str], dir: &Path, events: usize, polls: usize) {
        let (killed, temp) = kill_after_events(
            &mut perfgate(root, args),
            &[dir.to_path_buf()],
            self.rng.random_range(0..events),
            self.rng.random_range(0..polls),
        );
        self.tally.killed += usize::from(killed);
        self.tally.finished_first += usize::from(!killed);
        self.tally.killed_with_temp_file += usize::from(temp);
    }

    /// One more `perfgate args` in `root`, run to the end, sweeps what the killed ones left in
    /// `dir`. Prints how the kills went.
    fn finish(self, root: &Path, args: &[&str], dir: &Path) {
        run_ok(root, args);
        let left = temp_files(dir);
        assert!(
            left.is_empty(),
            "temp files left in {}: {left:?}",
            dir.display()
        );
        println!("{}, {} kills: {:?}", self.writer, self.kills, self.tally);
    }
}

/// Two real records (the baseline's first 8 scenarios, then the same with another start time).
fn two_records(root: &Path) -> [Vec<u8>; 2] {
    let full =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../baselines/smoke.json"))
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
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../perfgate.toml"),
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
/// Prints how the kills went.
fn bless_survives_kills(kills: usize, seed: u64) {
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
    let mut rounds = Rounds::new("bless", kills, seed);
    let mut current = 1; // b.json is blessed now
    while let Some(i) = rounds.next() {
        let next = 1 - current;
        let from = ["a.json", "b.json"][next];
        rounds.kill(root, &["bless", "--from", from], &baselines, 4, 20);
        let bytes = std::fs::read(&baseline).expect("the baseline is never lost");
        let (old, new) = (&blessed[current], &blessed[next]);
        if rounds.tally.old_or_new(i, "the baseline", &bytes, old, new) {
            current = next;
        }
        // The next run reads it.
        load_record(&baseline, FIX).expect("the baseline loads");
    }
    // A finished bless sweeps what the killed ones left behind.
    rounds.finish(root, &["bless", "--from", "a.json"], &baselines);
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
}

/// `report` (the writer of `run` and `check`) killed `kills` times: every report is whole. Prints how
/// the kills went.
fn reports_survive_kills(kills: usize, seed: u64) {
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
    let mut rounds = Rounds::new("report", kills, seed);
    while let Some(i) = rounds.next() {
        let rec = ["a.json", "b.json"][i % 2];
        rounds.kill(root, &args(rec), &reports, 12, 50);
        let tally = &mut rounds.tally;
        for (name, a) in &versions[0] {
            let bytes = std::fs::read(reports.join(name)).expect("a report is never lost");
            let b = &versions[1][name];
            tally.old_or_new(i, &format!("reports/{name}"), &bytes, a, b);
        }
        load_record(&reports.join("run.json"), FIX).expect("the run record loads");
    }
    rounds.finish(root, &args("a.json"), &reports);
}

// ------------------------------------------------------------ --history appends

/// In a re-executed test binary: the history file to append to, the first run and how many.
const CHILD_HISTORY: &str = "PERFGATE_CRASH_HISTORY";
const CHILD_FROM: &str = "PERFGATE_CRASH_HISTORY_FROM";
const CHILD_COUNT: &str = "PERFGATE_CRASH_HISTORY_COUNT";
/// Runs per history file before a new one is started (keeps the files, and the checks, small).
const RUNS_PER_FILE: usize = 40;

/// The real baseline's first 8 scenarios: what each history run is made from.
fn history_base() -> RunRecord {
    let mut base = load_record(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../baselines/smoke.json"),
        FIX,
    )
    .expect("baselines/smoke.json");
    base.scenarios.truncate(8);
    base
}

/// Run `i`: the base with its own start, commit and values; one run in four carries 20,000 more
/// metrics (a line of about 1.3 MB), so that a kill can land while its line is being written.
fn history_run(base: &RunRecord, i: usize) -> RunRecord {
    let mut run = base.clone();
    run.started = format!("2026-12-{:02}T00:00:00Z", i % 28 + 1);
    run.git.commit = format!("{i:040x}");
    let first = &mut run.scenarios[0].metrics;
    first.insert("run".to_owned(), Metric::count(i as u64, "runs"));
    if i % 4 == 3 {
        for m in 0..20_000_u64 {
            first.insert(
                format!("extra_{m:05}_of_a_long_line"),
                Metric::count(m, "n"),
            );
        }
    }
    run
}

/// The bytes `history::append` writes for `run`.
fn history_line(run: &RunRecord) -> Vec<u8> {
    let mut line = serde_json::to_vec(&HistoryRun::of(run)).expect("json");
    line.push(b'\n');
    line
}

/// Not a test on its own: the child that the history kill test re-executes this binary as (it returns
/// at once without [`CHILD_HISTORY`]). Appends runs `from..from + count`, saying so after each.
#[test]
fn history_append_child() {
    let Ok(path) = std::env::var(CHILD_HISTORY) else {
        return;
    };
    let number = |name| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: a number"))
    };
    let (from, count) = (number(CHILD_FROM), number(CHILD_COUNT));
    let base = history_base();
    for i in from..from + count {
        history::append(Path::new(&path), &history_run(&base, i)).expect("append");
        println!("appended {i}");
    }
}

/// This test binary, re-executed as [`history_append_child`] appending `count` runs from `from`.
fn append_child(path: &Path, from: usize, count: usize) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "history_append_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_HISTORY, path)
        .env(CHILD_FROM, from.to_string())
        .env(CHILD_COUNT, count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the append child")
}

/// How the history kills went.
#[derive(Debug, Default)]
struct HistoryTally {
    killed: usize,
    finished_first: usize,
    /// Kills after which the last line was cut short (and the next append removed it).
    torn: usize,
    /// Whole lines compared with the runs they should be after the kills (all of them each time).
    lines_checked: usize,
    /// Whole lines parsed (the ones written since the kill before).
    lines_parsed: usize,
    /// Runs the child had appended (its append returned) that were not in the file afterwards.
    lost: usize,
}

/// A child appending runs to a history file killed `kills` times: every line before the one being
/// written is whole and the run it should be, at most the last line is cut short, `load` reads the
/// file (skipping that line), and the next append removes it. Prints how the kills went.
fn history_survives_kills(kills: usize, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = history_base();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tally = HistoryTally::default();
    let (mut file_no, mut next) = (0, 0);
    let mut i = 0;
    while tally.killed < kills {
        i += 1;
        assert!(
            i < 20 * kills,
            "the child keeps finishing before the kill: {tally:?}"
        );
        if next >= RUNS_PER_FILE {
            file_no += 1;
            next = 0;
        }
        let files = dir.path().join(format!("h{file_no}"));
        let path = files.join("history.jsonl");
        std::fs::create_dir_all(&files).expect("mkdir");
        let count = rng.random_range(1..6);
        for run in lines.len()..next + count + 1 {
            lines.push(history_line(&history_run(&base, run)));
        }
        let mut child = append_child(&path, next, count);
        let (killed, _) = kill_after_events(
            &mut child,
            std::slice::from_ref(&files),
            rng.random_range(0..2 * count + 1),
            // Soon after a change: a long line is written over several observed changes.
            rng.random_range(0..8),
        );
        tally.killed += usize::from(killed);
        tally.finished_first += usize::from(!killed);
        let mut said = String::new();
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_string(&mut said)
            .expect("the child's output");
        let appended = said
            .lines()
            .filter_map(|l| l.strip_prefix("appended "))
            .filter_map(|n| n.parse::<usize>().ok())
            .max()
            .map_or(next, |n| n + 1);

        // Every whole line is the run it should be, in order; only the last one may be cut short.
        let bytes = std::fs::read(&path).unwrap_or_default();
        let mut whole = 0;
        let mut rest = &bytes[..];
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..=nl];
            assert!(
                whole < lines.len() && line == lines[whole],
                "kill {i}: line {} is not run {whole} ({} bytes)",
                whole + 1,
                line.len()
            );
            if whole >= next {
                // Written since the last check (the older ones were parsed then).
                let run: HistoryRun = serde_json::from_slice(line).expect("a whole line parses");
                assert_eq!(run.commit, format!("{whole:040x}"));
                tally.lines_parsed += 1;
            }
            whole += 1;
            rest = &rest[nl + 1..];
        }
        tally.lines_checked += whole;
        let torn = !rest.is_empty();
        if torn {
            assert!(
                lines[whole].starts_with(rest),
                "kill {i}: the last line is cut short but is not the start of run {whole}"
            );
        }
        tally.torn += usize::from(torn);
        assert!(
            whole >= next,
            "kill {i}: {} runs lost before the one being written",
            next - whole
        );
        tally.lost += appended.saturating_sub(whole);

        // The next read works and skips the cut line; the next append removes it.
        let loaded = history::load(&path, 3).expect("the history loads after a kill");
        assert_eq!(loaded.skipped.len(), usize::from(torn), "kill {i}");
        assert_eq!(loaded.runs.len(), whole.min(3), "kill {i}");
        let repaired = history::append(&path, &history_run(&base, whole)).expect("append");
        assert_eq!(repaired.is_some(), torn, "kill {i}: {repaired:?}");
        let after = std::fs::read(&path).expect("read");
        assert!(
            after == lines[..=whole].concat(),
            "kill {i}: after the next append the file is not runs 0..={whole}"
        );
        next = whole + 1;
    }
    assert_eq!(tally.lost, 0, "{tally:?}");
    println!("--history append, {kills} kills: {tally:?}");
}

// Each writer's kill loop runs until `kills` processes were killed mid-write.

#[test]
fn history_append_killed_20_times_loses_no_run() {
    history_survives_kills(20, 18);
}

#[test]
fn bless_killed_20_times_keeps_a_whole_baseline() {
    bless_survives_kills(20, 18);
}

#[test]
fn report_killed_20_times_keeps_whole_reports() {
    reports_survive_kills(20, 18);
}

#[test]
#[ignore = "the long run: cargo test -p scenarios --test crash -- --ignored --nocapture"]
fn long_run_200_kills_per_writer() {
    bless_survives_kills(200, 1800);
    reports_survive_kills(200, 1801);
}

/// 200 kills of `--history` appends (part of the long run; alone: `cargo test --release -p scenarios
/// --test crash -- --ignored --nocapture history`).
#[test]
#[ignore = "the long run: cargo test --release -p scenarios --test crash -- --ignored --nocapture history"]
fn long_run_200_history_append_kills() {
    history_survives_kills(200, 1803);
}
