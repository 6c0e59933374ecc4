//! Running the two builds: N rounds, each one base and one head process running the same selection:
//! both pinned to one CPU and taking turns sample by sample (same-core, one such pair of processes
//! on each of up to [`MAX_STREAMS`] CPUs at once), one after the other unpinned (sequential), or at the
//! same time on their own CPUs (duet). Each process writes its run record; a failing process is an
//! error naming its log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Error;
use crate::model::{Metric, RunRecord, ScenarioRecord, Value};
use crate::store;

use super::schedule::Schedule;
use super::worker::{Worker, lockstep};

/// One round's `(base, head)` records.
pub type Pair = (RunRecord, RunRecord);

/// One build taking part.
#[derive(Clone, Debug)]
pub struct Build {
    /// `base` or `head`, for file names and messages.
    pub side: &'static str,
    /// Its `perfgate` binary.
    pub exe: PathBuf,
    /// Its perfgate root (`--root`).
    pub root: PathBuf,
    /// Extra arguments for its `run` (the head's `--inject`).
    pub extra: Vec<String>,
    /// The same build linked in other code layouts (`ab --layouts`): round `r` (from 1) runs
    /// `layouts[(r - 1) % len]` instead of `exe`. Empty: every round runs `exe`.
    pub layouts: Vec<PathBuf>,
}

impl Build {
    /// The build as round `round` (from 1) runs it: with its round's layout, if it has layouts.
    pub fn for_round(&self, round: usize) -> Build {
        let mut b = self.clone();
        if !self.layouts.is_empty() {
            b.exe = self.layouts[round.saturating_sub(1) % self.layouts.len()].clone();
        }
        b
    }
}

/// How the rounds run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One process at a time; each round's order is a seeded coin flip.
    Sequential,
    /// Both at once, each pinned to its own CPU (`taskset`); which CPU is a seeded coin flip.
    Duet,
    /// Base and head pinned to the same CPU, taking turns sample by sample (a seeded coin flip
    /// says which goes first), one such pair of processes per CPU (up to [`MAX_STREAMS`]) at once.
    /// On a VM each vCPU drifts between fast and slow phases lasting seconds: a pair on one CPU,
    /// a second apart, sees the same phase; a duet pair sees two CPUs' phases.
    SameCore,
}

/// The most CPUs a same-core round uses (each runs its own base/head pair of processes). Two keeps
/// what each stream measures close to what one process alone sees on a small machine.
pub const MAX_STREAMS: usize = 2;

fn taskset_works() -> bool {
    std::process::Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Mode {
    /// The mode where it can run: duet needs two CPUs and `taskset`, same-core `taskset`; else
    /// sequential.
    pub fn available(self) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        match self {
            Mode::Duet if cpus < 2 || !taskset_works() => Mode::Sequential,
            Mode::SameCore if !taskset_works() => Mode::Sequential,
            m => m,
        }
    }

    /// Pairs of records one round gives: one per CPU used in same-core mode, else one.
    pub fn streams(self) -> usize {
        match self {
            Mode::SameCore => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .clamp(1, MAX_STREAMS),
            _ => 1,
        }
    }

    /// The mode's name in records and reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Duet => "duet",
            Mode::SameCore => "same-core",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Rounds.
    pub rounds: usize,
    /// Seed of the order.
    pub seed: u64,
    /// Sequential, duet or same-core.
    pub mode: Mode,
    /// Pairs of processes per round (same-core: one per CPU; see [`Mode::streams`]).
    pub streams: usize,
    /// Extra pairs and sparse scenarios (worker rounds only).
    pub schedule: Schedule,
    /// `run` arguments both sides get: `--suite`, `--filter`.
    pub args: Vec<String>,
    /// Where the per-round records and logs go.
    pub dir: PathBuf,
}

/// `exe`, pinned to `cpu` through `taskset` when given.
pub fn command(exe: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

/// The order of each round: `true` when the head runs first (sequential) or on CPU 0 (duet).
pub fn order(rounds: usize, seed: u64) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rounds).map(|_| rng.random_bool(0.5)).collect()
}

fn spawn(
    build: &Build,
    plan: &Plan,
    round: usize,
    cpu: Option<usize>,
) -> Result<(Child, PathBuf, PathBuf), Error> {
    let out = plan
        .dir
        .join(format!("round{round:02}-{}-run.json", build.side));
    let log = plan.dir.join(format!("round{round:02}-{}.log", build.side));
    let scratch_reports = plan.dir.join(format!("reports-{}", build.side));
    let log_file = std::fs::File::create(&log).map_err(|source| Error::Io {
        path: log.clone(),
        source,
    })?;
    let err_file = log_file.try_clone().map_err(|source| Error::Io {
        path: log.clone(),
        source,
    })?;
    let mut cmd = command(&build.exe, cpu);
    cmd.arg("--root")
        .arg(&build.root)
        .arg("run")
        .args(&plan.args)
        .arg("--out")
        .arg(&out)
        .arg("--reports")
        .arg(&scratch_reports)
        .args(&build.extra)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file);
    let child = cmd.spawn().map_err(|source| Error::Io {
        path: if cpu.is_some() {
            PathBuf::from("taskset")
        } else {
            build.exe.clone()
        },
        source,
    })?;
    Ok((child, out, log))
}

fn finish(build: &Build, mut child: Child, out: &Path, log: &Path) -> Result<RunRecord, Error> {
    let status = child.wait().map_err(|source| Error::Io {
        path: build.exe.clone(),
        source,
    })?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(8).collect();
        return Err(Error::Scenario {
            id: format!("{} build ({})", build.side, build.exe.display()),
            what: format!(
                "`run` exited with {status} (log {}):\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    store::load_record(
        out,
        "the build's `run` did not write a run record: is it a perfgate that has `run --out`?",
    )
}

/// How finely base and head alternate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interleave {
    /// Sample by sample, milliseconds apart, where the scenario samples through the engine's
    /// sampler; scenario by scenario elsewhere (both builds' workers take turns).
    Sample,
    /// Scenario by scenario, seconds apart (both builds have `perfgate worker`).
    Scenario,
    /// Whole runs, tens of seconds apart (a build without worker mode).
    Run,
}

impl Interleave {
    /// As written in results.
    pub fn name(self) -> &'static str {
        match self {
            Interleave::Sample => "sample by sample",
            Interleave::Scenario => "scenario by scenario",
            Interleave::Run => "whole runs",
        }
    }
}

/// Runs the plan; returns each round's `(base, head)` records and how they were interleaved. Each
/// round starts a fresh process per side (so process-to-process variation shows in the rounds);
/// inside a round, base and head alternate scenario by scenario in a seeded random order when both
/// have worker mode, else whole runs alternate. `say` hears each round.
pub fn run(
    base: &Build,
    head: &Build,
    plan: &Plan,
    say: &mut dyn FnMut(&str),
) -> Result<(Vec<(RunRecord, RunRecord)>, Interleave), Error> {
    std::fs::create_dir_all(&plan.dir).map_err(|source| Error::Io {
        path: plan.dir.clone(),
        source,
    })?;
    clear_rounds(&plan.dir)?;
    let mut results = Vec::with_capacity(plan.rounds);
    let mut interleave = Interleave::Sample;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x005e_edab);
    for (i, head_first) in order(plan.rounds, plan.seed).into_iter().enumerate() {
        let round = i + 1;
        let t0 = std::time::Instant::now();
        let (base, head) = (&base.for_round(round), &head.for_round(round));
        let pairs = match interleave {
            Interleave::Sample | Interleave::Scenario => {
                match worker_round(base, head, plan, round, head_first, &mut rng)? {
                    Some((pairs, turns)) => {
                        if !turns {
                            interleave = Interleave::Scenario;
                        }
                        pairs
                    }
                    None => {
                        say("a build has no worker mode: rounds alternate whole runs");
                        interleave = Interleave::Run;
                        vec![run_round(base, head, plan, round, head_first)?]
                    }
                }
            }
            Interleave::Run => vec![run_round(base, head, plan, round, head_first)?],
        };
        let many = pairs.len() > 1;
        for (k, pair) in pairs.into_iter().enumerate() {
            let tag = round_tag(round, many.then_some(k));
            for (rec, side) in [(&pair.0, "base"), (&pair.1, "head")] {
                store::save_record(&plan.dir.join(format!("{tag}-{side}.json")), rec)?;
            }
            results.push(pair);
        }
        say(&format!(
            "round {round}/{} ({}, {}) {:.1} s",
            plan.rounds,
            interleave.name(),
            plan.mode.name(),
            t0.elapsed().as_secs_f64()
        ));
    }
    store::write_atomic(
        &plan.dir.join(MODE_FILE),
        format!("{}\n", describe(plan.mode, interleave)).as_bytes(),
    )?;
    Ok((results, interleave))
}

/// The file beside the saved rounds that says how they ran (`power --from` reads it).
pub const MODE_FILE: &str = "mode.txt";

/// How rounds ran, as results say it: `same-core, interleaved sample by sample`.
pub fn describe(mode: Mode, interleave: Interleave) -> String {
    format!("{}, interleaved {}", mode.name(), interleave.name())
}

/// What [`MODE_FILE`] in `dir` says, if anything.
pub fn saved_mode(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MODE_FILE)).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The `(base, head)` records an earlier run saved in `dir` (`round*-base.json` beside its
/// `round*-head.json`), in file name order: its rounds, to analyze again.
pub fn load(dir: &Path) -> Result<Vec<(RunRecord, RunRecord)>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut bases: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("round") && n.ends_with("-base.json"))
        })
        .collect();
    bases.sort();
    let mut out = Vec::with_capacity(bases.len());
    for b in bases {
        let name = b.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let h = b.with_file_name(name.replace("-base.json", "-head.json"));
        let why = "not a round record: point --from at the rounds/ directory of a `power` or `ab`";
        out.push((store::load_record(&b, why)?, store::load_record(&h, why)?));
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no round*-base.json files (point --from at the rounds/ directory of a `power` or \
             `ab`)",
            dir.display()
        )));
    }
    Ok(out)
}

/// Removes an earlier run's `round*` files from `dir`, so its rounds directory holds this run's only
/// (an earlier run with more rounds, or another mode's file names, would otherwise stay beside them).
fn clear_rounds(dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("round")
            && (name.ends_with(".json") || name.ends_with(".log"))
            && entry.file_type().is_ok_and(|t| t.is_file());
        if ours {
            std::fs::remove_file(entry.path()).map_err(|source| Error::Io {
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(())
}

/// `round07`, or `round07b` for the second stream of a same-core round: how its files are named.
fn round_tag(round: usize, stream: Option<usize>) -> String {
    match stream {
        Some(k) => format!("round{round:02}{}", char::from(b'a' + (k % 26) as u8)),
        None => format!("round{round:02}"),
    }
}

/// One round in worker mode: one `(base, head)` pair of records per stream; `None` when a build has
/// no worker mode.
fn worker_round(
    base: &Build,
    head: &Build,
    plan: &Plan,
    round: usize,
    head_first: bool,
    rng: &mut ChaCha8Rng,
) -> Result<Option<(Vec<Pair>, bool)>, Error> {
    match plan.mode {
        Mode::Duet => {
            let cpus = if head_first {
                (Some(1), Some(0))
            } else {
                (Some(0), Some(1))
            };
            let tag = round_tag(round, None);
            Ok(stream_round(base, head, plan, &tag, cpus, true, &[], rng)?
                .map(|(p, _)| (vec![p], false)))
        }
        Mode::Sequential => {
            let tag = round_tag(round, None);
            Ok(
                stream_round(base, head, plan, &tag, (None, None), false, &[], rng)?
                    .map(|(p, turns)| (vec![p], turns)),
            )
        }
        Mode::SameCore => {
            let streams = plan.streams.max(1);
            // Each stream gets its own seeded coin: the order inside a stream does not depend on
            // how the threads happen to interleave.
            let seeds: Vec<u64> = (0..streams).map(|_| rng.random()).collect();
            let answers: Vec<Result<Option<(Pair, bool)>, Error>> = std::thread::scope(|scope| {
                let handles: Vec<_> = seeds
                    .iter()
                    .enumerate()
                    .map(|(k, &seed)| {
                        let tag = round_tag(round, (streams > 1).then_some(k));
                        // Each half of the sparse scenarios runs in one stream per round; a
                        // stream runs extra pairs with the time the half it skips saves.
                        let skipped = Schedule::skipped(round, k, streams);
                        scope.spawn(move || {
                            let mut rng = ChaCha8Rng::seed_from_u64(seed);
                            stream_round(
                                base,
                                head,
                                plan,
                                &tag,
                                (Some(k), Some(k)),
                                false,
                                &skipped,
                                &mut rng,
                            )
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Scenario {
                                id: "ab".to_owned(),
                                what: "a round's thread panicked".to_owned(),
                            })
                        })
                    })
                    .collect()
            });
            let mut pairs = Vec::with_capacity(streams);
            let mut all_turns = true;
            for answer in answers {
                match answer? {
                    Some((pair, turns)) => {
                        pairs.push(pair);
                        all_turns &= turns;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((pairs, all_turns)))
        }
    }
}

/// One base and one head worker (pinned to `cpus.0` and `cpus.1` when given) running every
/// selected scenario: at the same time when `together` (duet), else one after the other in a
/// seeded random order per scenario, taking turns sample by sample when both workers can
/// ([`super::worker::lockstep`]; the `bool` says whether they did). The schedule's sparse scenarios of the halves in `skipped` are
/// left out and the extra pairs planned for them run instead, folded into each side's record (see
/// [`fold_repeats`]).
/// `None` when a build has no worker mode.
#[allow(clippy::too_many_arguments)]
fn stream_round(
    base: &Build,
    head: &Build,
    plan: &Plan,
    tag: &str,
    (base_cpu, head_cpu): (Option<usize>, Option<usize>),
    together: bool,
    skipped: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<Option<(Pair, bool)>, Error> {
    let start = |b: &Build, cpu| {
        let mut args = plan.args.clone();
        args.extend(b.extra.iter().cloned());
        Worker::spawn(
            b.side,
            &b.exe,
            &b.root,
            &args,
            cpu,
            plan.dir.join(format!("{tag}-{}.log", b.side)),
        )
    };
    let Some(mut bw) = start(base, base_cpu)? else {
        return Ok(None);
    };
    let Some(mut hw) = start(head, head_cpu)? else {
        bw.finish();
        return Ok(None);
    };
    let turns = !together && bw.hello.turns && hw.hello.turns;
    let started = now();
    let t0 = std::time::Instant::now();
    let mut ids: Vec<String> = hw.hello.ids.clone();
    ids.extend(
        bw.hello
            .ids
            .iter()
            .filter(|id| !ids.contains(id))
            .cloned()
            .collect::<Vec<_>>(),
    );
    ids.retain(|id| !plan.schedule.skips(skipped, id));
    let (mut bs, mut hs) = (Vec::new(), Vec::new());
    for id in &ids {
        let in_base = bw.hello.ids.contains(id);
        let in_head = hw.hello.ids.contains(id);
        if !(in_base && in_head) {
            if in_base {
                bs.push(bw.run(id)?);
            } else if in_head {
                hs.push(hw.run(id)?);
            }
            continue;
        }
        // The main pair and the schedule's extra pairs right after it. Sequential pairs alternate
        // their order from a seeded coin (base-head, head-base, base-head, ...: ABBA), so a step
        // in the CPU's speed between two pairs cancels in their median ratio.
        let (mut runs_b, mut runs_h) = (Vec::new(), Vec::new());
        let mut head_first = rng.random_bool(0.5);
        // Extra pairs only for the sparse scenarios skipped: that is the stream's time for them.
        let extra = plan.schedule.repeats(skipped, id);
        for _ in 0..=extra {
            if together {
                bw.send(id)?;
                hw.send(id)?;
                runs_b.push(bw.receive()?);
                runs_h.push(hw.receive()?);
            } else if turns {
                let (b, h) = if head_first {
                    let (h, b) = lockstep(&mut hw, &mut bw, id)?;
                    (b, h)
                } else {
                    lockstep(&mut bw, &mut hw, id)?
                };
                runs_b.push(b);
                runs_h.push(h);
            } else if head_first {
                runs_h.push(hw.run(id)?);
                runs_b.push(bw.run(id)?);
            } else {
                runs_b.push(bw.run(id)?);
                runs_h.push(hw.run(id)?);
            }
            head_first = !head_first;
        }
        for (side, mut runs) in [(&mut bs, runs_b), (&mut hs, runs_h)] {
            let mut main = runs.remove(0);
            if !runs.is_empty() {
                fold_repeats(&mut main, runs);
            }
            side.push(main);
        }
    }
    let duration = t0.elapsed().as_secs_f64();
    let b = bw.record(bs, started.clone(), duration, 0.95);
    let h = hw.record(hs, started, duration, 0.95);
    bw.finish();
    hw.finish();
    Ok(Some(((b, h), turns)))
}

/// Folds extra runs of one scenario into its main record: each noisy metric keeps every run's value
/// in `rounds` (main first, in the order they ran: the A/B pairs them index by index). A metric
/// that every run sampled pools their samples (main first) and becomes the same statistic of all of
/// them (the median, or its quantile); any other takes the median of the runs' values. Other
/// metrics stay the main run's.
pub fn fold_repeats(main: &mut ScenarioRecord, more: Vec<ScenarioRecord>) {
    for (name, metric) in &mut main.metrics {
        if !metric.kind.is_noisy() {
            continue;
        }
        let extra: Vec<&Metric> = more.iter().filter_map(|s| s.metrics.get(name)).collect();
        if extra.is_empty() {
            continue;
        }
        let mut values = vec![metric.value.as_f64()];
        values.extend(extra.iter().map(|m| m.value.as_f64()));
        let sampled = !metric.samples.is_empty()
            && extra.len() == more.len()
            && extra
                .iter()
                .all(|m| !m.samples.is_empty() && m.quantile == metric.quantile);
        if sampled {
            let mut pooled = std::mem::take(&mut metric.samples);
            pooled.extend(extra.iter().flat_map(|m| m.samples.iter().copied()));
            *metric = crate::measure::resample(metric, pooled);
        } else {
            metric.value = Value::Float(crate::stats::median(&values));
        }
        metric.rounds = values;
    }
    main.duration_s += more.iter().map(|s| s.duration_s).sum::<f64>();
}

/// One round of whole `run` processes.
fn run_round(
    base: &Build,
    head: &Build,
    plan: &Plan,
    round: usize,
    head_first: bool,
) -> Result<(RunRecord, RunRecord), Error> {
    match plan.mode {
        Mode::Sequential | Mode::SameCore => {
            let one = |build: &Build| -> Result<RunRecord, Error> {
                let (child, out, log) = spawn(build, plan, round, None)?;
                finish(build, child, &out, &log)
            };
            if head_first {
                let h = one(head)?;
                Ok((one(base)?, h))
            } else {
                let b = one(base)?;
                Ok((b, one(head)?))
            }
        }
        Mode::Duet => {
            let (head_cpu, base_cpu) = if head_first { (0, 1) } else { (1, 0) };
            let bs = spawn(base, plan, round, Some(base_cpu))?;
            let hs = spawn(head, plan, round, Some(head_cpu))?;
            let b = finish(base, bs.0, &bs.1, &bs.2);
            let h = finish(head, hs.0, &hs.1, &hs.2);
            Ok((b?, h?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_runs_its_own_layout_in_turn() {
        let build = |layouts: &[&str]| Build {
            side: "head",
            exe: PathBuf::from("default"),
            root: PathBuf::from("."),
            extra: Vec::new(),
            layouts: layouts.iter().map(PathBuf::from).collect(),
        };
        let three = build(&["l1", "l2", "l3"]);
        let exes: Vec<PathBuf> = (1..=7).map(|r| three.for_round(r).exe).collect();
        let want: Vec<PathBuf> = ["l1", "l2", "l3", "l1", "l2", "l3", "l1"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(exes, want);
        assert_eq!(build(&[]).for_round(5).exe, PathBuf::from("default"));
    }

    #[test]
    fn an_earlier_runs_round_files_are_cleared_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "round01-base.json",
            "round24-head.log",
            "round03a-head.json",
            "keep.json",
        ] {
            std::fs::write(dir.path().join(name), "x").expect("write");
        }
        std::fs::create_dir(dir.path().join("round-dir")).expect("dir");
        clear_rounds(dir.path()).expect("clear");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["keep.json", "round-dir"]);
    }

    #[test]
    fn the_order_is_seeded_and_mixed() {
        let a = order(40, 7);
        assert_eq!(a, order(40, 7), "same seed, same order");
        assert_ne!(a, order(40, 8));
        let head_first = a.iter().filter(|&&h| h).count();
        assert!((10..=30).contains(&head_first), "{head_first} of 40");
    }
}
