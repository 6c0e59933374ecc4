//! One function per command: resolve paths, call the engine, write reports, say what happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::GateConfig;
use crate::error::Error;

/// What a command returns: every failure is one of the engine's errors (exit code 2).
type Result<T, E = Error> = std::result::Result<T, E>;
use crate::inject::{self, Injection};
use crate::measure::RealTimer;
use crate::model::{MetricKind, RunRecord};
use crate::report::{self, ReportInput};
use crate::scenario::{self, Filter, Registry, RunContext, Shard, Suite};
use crate::{ab, baseline, history, ingest as ingesting, merge as merging, power, selftest, store};
use crate::{analysis, compare};

use crate::cli::{
    AbArgs, BlessArgs, ChangepointsArgs, CheckArgs, CompareArgs, Global, IngestArgs, ListArgs,
    MergeArgs, ModeArg, Outputs, PowerArgs, ReportArgs, RoundArgs, RunArgs, Selection,
    SelftestArgs, SuiteArg, WorkerArgs,
};
use crate::terminal;

/// How a command ended, when it did not fail outright.
pub enum Outcome {
    /// Exit 0.
    Pass,
    /// Exit 1: a regression, a missing metric, or a selftest miss.
    Regressed,
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Outcome::Pass => ExitCode::SUCCESS,
            Outcome::Regressed => ExitCode::from(1),
        }
    }

    fn from_failed(failed: bool) -> Self {
        if failed {
            Outcome::Regressed
        } else {
            Outcome::Pass
        }
    }
}

const BLESS_FIX: &str = "run `cargo perfgate bless` to write it from a fresh run of this machine";

struct Paths {
    root: PathBuf,
    config: PathBuf,
    /// Whether `--config` named the file (then it must exist).
    config_named: bool,
}

impl Paths {
    fn new(global: &Global) -> Result<Self> {
        let root = match &global.root {
            Some(r) => r.clone(),
            None => find_root()?,
        };
        Ok(Self {
            config: root.join(
                global
                    .config
                    .as_deref()
                    .unwrap_or(Path::new("perfgate.toml")),
            ),
            config_named: global.config.is_some(),
            root,
        })
    }

    fn at(&self, p: &Path) -> PathBuf {
        self.root.join(p)
    }

    fn baseline(&self, suite: Suite, explicit: Option<&PathBuf>) -> PathBuf {
        explicit.map_or_else(
            || {
                self.root
                    .join("baselines")
                    .join(format!("{}.json", suite.name()))
            },
            |p| self.at(p),
        )
    }

    /// `p` relative to the root when it is inside it, for messages and reports.
    fn shown(&self, p: &Path) -> PathBuf {
        p.strip_prefix(&self.root).unwrap_or(p).to_path_buf()
    }

    fn load_config(&self) -> Result<GateConfig, Error> {
        if self.config_named && !self.config.is_file() {
            return Err(Error::Missing {
                path: self.config.clone(),
                fix: "--config must name an existing perfgate.toml (leave it out for the root's \
                      perfgate.toml, or the defaults when there is none)"
                    .to_owned(),
            });
        }
        GateConfig::load(&self.config)
    }
}

/// The running binary, which A/B and power start again as their head-side workers.
fn current_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|source| Error::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })
}

/// The nearest ancestor of the current directory holding a `perfgate.toml`, else the current directory.
fn find_root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    Ok(cwd
        .ancestors()
        .find(|d| d.join("perfgate.toml").is_file())
        .map_or_else(|| cwd.clone(), Path::to_path_buf))
}

fn suite(arg: SuiteArg) -> Suite {
    match arg {
        SuiteArg::Smoke => Suite::Smoke,
        SuiteArg::Full => Suite::Full,
    }
}

fn measure(
    registry: &Registry,
    suite: Suite,
    filter: Option<&str>,
    shard: Option<Shard>,
) -> Result<RunRecord, Error> {
    let mut selected = registry.select(suite, filter)?;
    if let Some(shard) = shard {
        selected.retain(|s| shard.contains(s.id()));
    }
    let timer = RealTimer::new();
    let ctx = RunContext {
        plan: suite.plan(),
        timer: &timer,
        swap_in_before: false,
    };
    scenario::run(
        &selected,
        registry.claims(),
        suite,
        &ctx,
        &mut terminal::ProgressLine::new(),
    )
}

/// Where one command's reports go.
struct Sinks<'a> {
    /// The reports directory, if the command writes one.
    reports: Option<PathBuf>,
    /// `--export FORMAT=PATH`, parsed.
    exports: Vec<(Box<dyn report::Exporter>, PathBuf)>,
    /// `--history`, and how many runs to show.
    history: Option<(PathBuf, usize)>,
    paths: &'a Paths,
}

impl<'a> Sinks<'a> {
    fn new(
        paths: &'a Paths,
        reports: Option<&Path>,
        export: &[String],
        history: Option<(&PathBuf, u32)>,
    ) -> Result<Self, Error> {
        let exports = export
            .iter()
            .map(|spec| {
                let (format, path) = spec.split_once('=').ok_or_else(|| {
                    Error::Usage(format!(
                        "--export {spec:?}: expected FORMAT=PATH, e.g. --export bmf=reports/bmf.json"
                    ))
                })?;
                let exporter = report::export_format(format).ok_or_else(|| {
                    Error::Usage(format!(
                        "--export {spec:?}: unknown format {format:?}; known: {}",
                        report::EXPORT_FORMATS
                    ))
                })?;
                Ok((exporter, paths.at(Path::new(path))))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            reports: reports.map(|r| paths.at(r)),
            exports,
            history: history.map(|(p, n)| (paths.at(p), n as usize)),
            paths,
        })
    }

    fn from_outputs(paths: &'a Paths, o: &Outputs) -> Result<Self, Error> {
        Self::new(
            paths,
            Some(&o.reports),
            &o.export,
            o.history.as_ref().map(|h| (h, o.history_runs)),
        )
    }

    /// Appends `record` to the history (when asked) and returns every metric's series over it.
    fn record_history(
        &self,
        record: &RunRecord,
        append: bool,
    ) -> Result<Vec<history::Series>, Error> {
        let Some((path, runs)) = &self.history else {
            return Ok(Vec::new());
        };
        if append && !record.injected.is_empty() {
            eprintln!(
                "perfgate: not appended to {}: this run has injected slowdowns (--inject)",
                self.paths.shown(path).display()
            );
        } else if append && let Some(repaired) = history::append(path, record)? {
            eprintln!("perfgate: {repaired}");
        }
        let past = history::load(path, *runs)?;
        for skipped in &past.skipped {
            eprintln!("perfgate: {skipped}");
        }
        Ok(history::series(&past.runs))
    }

    fn write(&self, input: &ReportInput<'_>) -> Result<(), Error> {
        let mut written = Vec::new();
        if let Some(dir) = &self.reports {
            written = report::write_all(dir, &report::default_exporters(), input)?;
        }
        for (exporter, path) in &self.exports {
            store::write_atomic(path, &exporter.render(input)?)?;
            written.push(path.clone());
        }
        let names: Vec<String> = written
            .iter()
            .map(|p| self.paths.shown(p).display().to_string())
            .collect();
        if !names.is_empty() {
            eprintln!("perfgate: wrote {}", names.join(", "));
        }
        Ok(())
    }

    /// The end of every command that compares a run with a baseline: writes the reports of `input`
    /// with `comparison` and the baseline read from `baseline_path`, prints the comparison, and
    /// turns its verdict into the outcome.
    fn conclude(
        &self,
        baseline_path: &Path,
        baseline: &RunRecord,
        comparison: &compare::Comparison,
        input: ReportInput<'_>,
    ) -> Result<Outcome> {
        self.write(&ReportInput {
            comparison: Some(comparison),
            baseline_path: Some(&self.paths.shown(baseline_path)),
            baseline: Some(baseline),
            ..input
        })?;
        terminal::print_comparison(input.record, comparison);
        Ok(Outcome::from_failed(comparison.failed()))
    }
}

pub fn list(global: &Global, args: &ListArgs, registry: &Registry) -> Result<Outcome> {
    let _paths = Paths::new(global)?;
    let suite = suite(args.suite);
    for s in registry.select(suite, args.filter.as_deref())? {
        let role = match s.role() {
            scenario::Role::Before => "before".to_owned(),
            scenario::Role::After { before } => format!("after (of {before})"),
            scenario::Role::Alone => String::new(),
        };
        let smoke = if s.in_smoke() { "smoke" } else { "full" };
        println!("{:<48} {smoke:<6} {role}", s.id());
        if args.metrics {
            let names: Vec<&str> = s.metrics().iter().map(|m| m.as_str()).collect();
            println!("    metrics: {}", names.join(", "));
        }
    }
    println!();
    for c in registry.claims() {
        println!("claim {}:{}  “{}”", c.seed, c.line, c.text);
    }
    Ok(Outcome::Pass)
}

/// The `--inject` specs, parsed.
fn injections(specs: &[String]) -> Result<Vec<Injection>> {
    specs.iter().map(|spec| Injection::parse(spec)).collect()
}

pub fn run(global: &Global, args: &RunArgs, registry: &Registry) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let sinks = Sinks::from_outputs(&paths, &args.outputs)?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let injections = injections(&args.inject)?;
    let suite = suite(args.selection.suite);
    let filter = args.selection.filter.as_deref();
    let mut record = measure(registry, suite, filter, shard)?;
    inject::apply(&mut record, &injections, suite.plan().confidence);
    if let Some(out) = &args.out {
        store::save_record(&paths.at(out), &record)?;
    }
    let series = sinks.record_history(&record, true)?;
    sinks.write(&ReportInput {
        history: &series,
        ..ReportInput::new(&record)
    })?;
    terminal::print_record(&record);
    Ok(Outcome::Pass)
}

pub fn check(global: &Global, args: &CheckArgs, registry: &Registry) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let sinks = Sinks::from_outputs(&paths, &args.outputs)?;
    let config = paths.load_config()?;
    registry.validate_overrides(&config, &paths.config)?;
    let baseline_path = paths.baseline(Suite::Smoke, args.baseline.as_ref());
    let baseline = store::load_record(&baseline_path, BLESS_FIX)?;
    let filter = Filter::new(args.filter.as_deref())?;
    let mut record = measure(registry, Suite::Smoke, args.filter.as_deref(), None)?;
    analysis::recheck_claims(&mut record, &baseline);
    let comparison = compare::compare(&baseline, &record, &config, &|id| filter.matches(id));
    let series = sinks.record_history(&record, true)?;
    let power = load_power(&paths.at(Path::new(POWER_FILE)))?;
    let input = ReportInput {
        history: &series,
        power: power.as_ref(),
        ..ReportInput::new(&record)
    };
    sinks.conclude(&baseline_path, &baseline, &comparison, input)
}

const RECORD_FIX: &str =
    "pass a run.json written by `cargo perfgate run` or a baseline from baselines/";

pub fn compare(global: &Global, args: &CompareArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let sinks = Sinks::new(&paths, args.reports.as_deref(), &args.export, None)?;
    let config = paths.load_config()?;
    let baseline_path = paths.at(&args.baseline);
    let baseline = store::load_record(&baseline_path, RECORD_FIX)?;
    let mut current = store::load_record(&paths.at(&args.current), RECORD_FIX)?;
    analysis::recheck_claims(&mut current, &baseline);
    let filter = Filter::new(args.filter.as_deref())?;
    let comparison = compare::compare(&baseline, &current, &config, &|id| filter.matches(id));
    let input = ReportInput::new(&current);
    sinks.conclude(&baseline_path, &baseline, &comparison, input)
}

pub fn report(global: &Global, args: &ReportArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let sinks = Sinks::from_outputs(&paths, &args.outputs)?;
    let mut record = store::load_record(&paths.at(&args.run), RECORD_FIX)?;
    let baseline_path = args.baseline.as_ref().map(|b| paths.at(b));
    let baseline = baseline_path
        .as_ref()
        .map(|p| store::load_record(p, BLESS_FIX))
        .transpose()?;
    if let Some(b) = &baseline {
        analysis::recheck_claims(&mut record, b);
    }
    let comparison = match &baseline {
        Some(b) => Some(compare::compare(b, &record, &paths.load_config()?, &|_| {
            true
        })),
        None => None,
    };
    let series = sinks.record_history(&record, false)?;
    sinks.write(&ReportInput {
        comparison: comparison.as_ref(),
        baseline_path: baseline_path.map(|p| paths.shown(&p)).as_deref(),
        baseline: baseline.as_ref(),
        history: &series,
        ab: record.ab.as_deref(),
        ..ReportInput::new(&record)
    })?;
    Ok(Outcome::Pass)
}

pub fn merge(global: &Global, args: &MergeArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let records = args
        .records
        .iter()
        .map(|p| {
            let path = paths.at(p);
            store::load_record(
                &path,
                "pass the run.json files written by `run --shard I/N`",
            )
            .map(|r| (path, r))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merging::merge(records)?;
    let out = paths.at(&args.out);
    store::save_record(&out, &merged)?;
    eprintln!(
        "perfgate: merged {} records ({} scenarios) into {}",
        args.records.len(),
        merged.scenarios.len(),
        out.display()
    );
    Ok(Outcome::Pass)
}

pub fn bless(global: &Global, args: &BlessArgs, registry: &Registry) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let suite = suite(args.suite);
    let mut record = match &args.from {
        Some(from) => store::load_record(
            &paths.at(from),
            "pass a run.json written by `cargo perfgate run`",
        )?,
        None => {
            let mut rounds = Vec::new();
            for round in 1..=args.rounds {
                if args.rounds > 1 {
                    eprintln!("perfgate: bless round {round}/{}", args.rounds);
                }
                rounds.push(measure(registry, suite, args.filter.as_deref(), None)?);
            }
            baseline::merge_rounds(rounds).ok_or_else(|| {
                Error::Usage("bless measured no rounds: pass --rounds 1 or more".to_owned())
            })?
        }
    };
    if !record.injected.is_empty() {
        return Err(Error::BadRecord {
            path: args.from.clone().unwrap_or_default(),
            what: format!(
                "it carries injected slowdowns ({}): it measures the gate, not the code",
                record.injected.join(", ")
            ),
            fix: "bless a record from a plain `cargo perfgate run`".to_owned(),
        });
    }
    let target = paths.baseline(suite, args.baseline.as_ref());
    if let Some(f) = args.filter.as_deref() {
        // Re-bless part: keep the existing baseline's other scenarios.
        let filter = Filter::new(Some(f))?;
        record.scenarios.retain(|s| filter.matches(&s.id));
        if let Ok(old) = store::load_record(&target, BLESS_FIX) {
            let mut kept: Vec<_> = old
                .scenarios
                .into_iter()
                .filter(|s| !filter.matches(&s.id))
                .collect();
            kept.append(&mut record.scenarios);
            record.scenarios = kept;
        }
    }
    store::save_record(&target, &record)?;
    println!(
        "perfgate: blessed {} scenarios into {} (machine: {}, commit {})",
        record.scenarios.len(),
        target.display(),
        record.machine.fingerprint,
        record.git.commit
    );
    Ok(Outcome::Pass)
}

pub fn selftest(global: &Global, args: &SelftestArgs, registry: &Registry) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let config = paths.load_config()?;
    registry.validate_overrides(&config, &paths.config)?;
    let baseline_path = paths.baseline(Suite::Smoke, args.baseline.as_ref());
    let baseline = store::load_record(&baseline_path, BLESS_FIX)?;
    let timer = RealTimer::new();
    let ctx = RunContext {
        plan: Suite::Smoke.plan(),
        timer: &timer,
        swap_in_before: true,
    };
    let (results, _comparison) = selftest::run(
        registry,
        &baseline,
        &config,
        &ctx,
        &mut terminal::ProgressLine::new(),
    )?;
    let all = terminal::print_selftest(&results);
    Ok(Outcome::from_failed(!all))
}

pub fn ingest(global: &Global, args: &IngestArgs, registry: &Registry) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let sinks = Sinks::new(&paths, Some(&args.reports), &args.export, None)?;
    if args.criterion.is_none() && args.gungraun.is_none() {
        return Err(Error::Usage(
            "ingest needs --criterion DIR and/or --gungraun DIR (e.g. --criterion target/criterion)"
                .to_owned(),
        ));
    }
    let mut parts = Vec::new();
    if let Some(dir) = &args.criterion {
        parts.push(ingesting::criterion(&paths.at(dir))?);
    }
    if let Some(dir) = &args.gungraun {
        parts.push(ingesting::gungraun(&paths.at(dir))?);
    }
    let record = ingesting::into_record(parts, registry.claims());
    let out = paths.at(&args.out);
    store::save_record(&out, &record)?;
    eprintln!(
        "perfgate: ingested {} scenarios into {}",
        record.scenarios.len(),
        paths.shown(&out).display()
    );
    let Some(b) = &args.baseline else {
        sinks.write(&ReportInput::new(&record))?;
        terminal::print_record(&record);
        return Ok(Outcome::Pass);
    };
    let baseline_path = paths.at(b);
    let baseline = store::load_record(
        &baseline_path,
        "bless one from an ingested record: `cargo perfgate bless --from reports/bench.json \
         --baseline baselines/bench.json`",
    )?;
    let config = paths.load_config()?;
    registry.validate_overrides(&config, &paths.config)?;
    let comparison = compare::compare(&baseline, &record, &config, &|_| true);
    let input = ReportInput::new(&record);
    sinks.conclude(&baseline_path, &baseline, &comparison, input)
}

/// The `run` (or `worker`) arguments that select what `selection` selects: both sides of a round
/// get them.
fn round_args(selection: &Selection) -> Vec<String> {
    let mut args = vec![
        "--suite".to_owned(),
        suite(selection.suite).name().to_owned(),
    ];
    if let Some(f) = &selection.filter {
        args.push("--filter".to_owned());
        args.push(f.clone());
    }
    args
}

/// The rounds `ab` and `power` run: `run`'s suite, filter and seed, in `mode`, scheduled from
/// `power`, saved under `reports/rounds/`.
fn plan(
    paths: &Paths,
    run: &RoundArgs,
    mode: ab::rounds::Mode,
    rounds: usize,
    power: Option<&power::PowerResult>,
    reports: &Path,
) -> ab::rounds::Plan {
    ab::rounds::Plan {
        rounds,
        seed: run.seed,
        mode,
        streams: mode.streams(),
        schedule: schedule(paths, &run.selection, power),
        args: round_args(&run.selection),
        dir: reports.join("rounds"),
    }
}

fn mode(m: ModeArg) -> ab::rounds::Mode {
    let wanted = match m {
        ModeArg::Sequential => ab::rounds::Mode::Sequential,
        ModeArg::Duet => ab::rounds::Mode::Duet,
        ModeArg::SameCore => ab::rounds::Mode::SameCore,
    };
    let mode = wanted.available();
    if mode != wanted {
        say(&format!(
            "{} needs taskset{}: running sequential rounds",
            wanted.name(),
            if wanted == ab::rounds::Mode::Duet {
                " and two CPUs"
            } else {
                ""
            }
        ));
    }
    mode
}

/// The cargo target directory (where `ab` keeps its base builds).
fn target_dir(paths: &Paths) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| paths.root.join("target"), |t| paths.at(&t))
}

/// Where an A/B round spends its time: from each scenario's noise in the machine's measured power
/// (each metric's weighed by the slowdown it is held to) and its duration in the suite's baseline;
/// every scenario once per stream without either.
fn schedule(
    paths: &Paths,
    selection: &Selection,
    power: Option<&power::PowerResult>,
) -> ab::schedule::Schedule {
    let Some(power) = power else {
        return ab::schedule::Schedule::default();
    };
    let Ok(baseline) = store::load_record(&paths.baseline(suite(selection.suite), None), "") else {
        return ab::schedule::Schedule::default();
    };
    // Planned over what the rounds run: a filtered A/B gets no extra pairs of scenarios it skips.
    let Ok(filter) = Filter::new(selection.filter.as_deref()) else {
        return ab::schedule::Schedule::default();
    };
    plan_schedule(power, &baseline, &filter)
}

/// The schedule of the scenarios `filter` selects, from `power`'s noise and `baseline`'s durations.
fn plan_schedule(
    power: &power::PowerResult,
    baseline: &RunRecord,
    filter: &Filter,
) -> ab::schedule::Schedule {
    let threshold = power.ab.threshold;
    let mut noise: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    // An in-run ratio's noise is mostly its before's, which extra runs of the after do not shrink.
    for m in power
        .metrics
        .iter()
        .filter(|m| m.metric != scenario::WALL_RATIO && filter.matches(&m.scenario))
    {
        let wall = baseline
            .metric(&m.scenario, &m.metric)
            .is_some_and(|b| b.kind == MetricKind::WallTime);
        let weight = ab::schedule::noise_weight(wall, m.median, threshold);
        let e = noise.entry(m.scenario.clone()).or_insert(0.0);
        *e = e.max(m.sd_log * weight);
    }
    let cost = baseline
        .scenarios
        .iter()
        .filter(|s| filter.matches(&s.id))
        .map(|s| (s.id.clone(), s.duration_s))
        .collect();
    ab::schedule::Schedule::plan(&noise, &cost)
}

/// Seeds of `k` code layouts of one side: odd from 1 for the base (`first` 1), even from 2 for the
/// head (`first` 2), so the two sides never share a layout's seed.
fn layout_seeds(k: usize, first: u64) -> Vec<u64> {
    (0..k as u64).map(|j| first + 2 * j).collect()
}

/// The working tree's build linked once per seed with its functions shuffled (under
/// `target/perfgate-ab/head/`), its own binary linked back as it was.
fn relink_head(paths: &Paths, seeds: &[u64]) -> Result<Vec<PathBuf>, Error> {
    ab::build::relink_head(
        &paths.root,
        &target_dir(paths),
        &target_dir(paths).join("perfgate-ab").join("head"),
        seeds,
        &mut say,
    )
}

/// ", 2 streams" when a round runs more than one pair of processes.
fn streams_text(streams: usize) -> String {
    if streams > 1 {
        format!(", {streams} streams: {streams} pairs a round")
    } else {
        String::new()
    }
}

fn say(line: &str) {
    eprintln!("perfgate: {line}");
}

/// One side's rounds merged into one record (each metric keeps its median round), carrying the A/B
/// result. (The runner already saved every round's records under `rounds/`.)
fn merged_side(
    rounds: &[(crate::model::RunRecord, crate::model::RunRecord)],
    head: bool,
    result: &ab::AbResult,
) -> Option<crate::model::RunRecord> {
    let side: Vec<_> = rounds
        .iter()
        .map(|(b, h)| if head { h.clone() } else { b.clone() })
        .collect();
    let mut merged = baseline::merge_rounds(side)?;
    merged.ab = Some(Box::new(result.clone()));
    Some(merged)
}

pub fn ab(global: &Global, args: &AbArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let config = paths.load_config()?;
    let settings = config.ab_settings();
    // A bad --inject is refused before the base is built.
    injections(&args.inject)?;
    let filter = Filter::new(args.run.selection.filter.as_deref())?;
    let reports = paths.at(&args.reports);
    let cache = target_dir(&paths).join("perfgate-ab");
    let mut base = ab::build::prepare(&paths.root, &args.base, &cache, &mut say)?;
    if let Some(seed) = args.base_layout {
        base = ab::build::relink_shuffled(&base, &cache, seed, &mut say)?;
    }
    // `--base-layout` compares one fixed layout of the base with the head's own.
    let layouts = if args.base_layout.is_some() {
        1
    } else {
        args.layouts.map_or(config.ab.layouts, |k| k as usize)
    };
    let (mut base_layouts, mut head_layouts) = (Vec::new(), Vec::new());
    if layouts > 1 {
        for seed in layout_seeds(layouts, 1) {
            base_layouts.push(ab::build::relink_shuffled(&base, &cache, seed, &mut say)?.exe);
        }
        head_layouts = relink_head(&paths, &layout_seeds(layouts, 2))?;
    }
    let head_exe = current_exe()?;
    let (head_commit, head_dirty) = ab::build::head_state(&paths.root);
    let mut extra = Vec::new();
    for spec in &args.inject {
        extra.push("--inject".to_owned());
        extra.push(spec.clone());
    }
    let power = load_power(&paths.at(&args.power))?;
    let plan = plan(
        &paths,
        &args.run,
        mode(args.run.mode),
        args.rounds.map_or(config.ab.rounds, |n| n as usize),
        power.as_ref(),
        &reports,
    );
    say(&format!(
        "A/B: {} rounds ({}{}), base {} ({}{}) against the working tree; {}",
        plan.rounds,
        plan.mode.name(),
        streams_text(plan.streams),
        args.base,
        ab::short(&base.commit),
        ab::layout_text(args.base_layout, (layouts > 1).then_some(layouts)),
        plan.schedule.describe()
    ));
    let t0 = std::time::Instant::now();
    let (rounds, interleave) = ab::rounds::run(
        &ab::rounds::Build {
            side: "base",
            exe: base.exe.clone(),
            root: base.root.clone(),
            extra: Vec::new(),
            layouts: base_layouts,
        },
        &ab::rounds::Build {
            side: "head",
            exe: head_exe,
            root: paths.root.clone(),
            extra,
            layouts: head_layouts,
        },
        &plan,
        &mut say,
    )?;
    let duration_s = t0.elapsed().as_secs_f64();
    let common = rounds.first().is_some_and(|(b, h)| {
        h.scenarios
            .iter()
            .any(|s| filter.matches(&s.id) && b.scenario(&s.id).is_some())
    });
    if !common {
        return Err(Error::Usage(format!(
            "--base {:?} ({}): its records have no scenario in common with the head{}; nothing to \
             compare (pick a newer base, or a filter both builds know: `cargo perfgate list`)",
            args.base,
            ab::short(&base.commit),
            args.run
                .selection
                .filter
                .as_deref()
                .map(|f| format!(" matching {f:?}"))
                .unwrap_or_default()
        )));
    }
    // The MDS column and the cards' A/B MDS come from the power only where it holds for this
    // run's layouts.
    let (mds, power) = match power.map(|p| (p.mds_for_layouts(layouts), p)) {
        Some((Ok(mds), p)) => (mds, Some(p)),
        Some((Err(why), _)) => {
            say(&format!("MDS not shown: {why}"));
            (BTreeMap::new(), None)
        }
        None => (BTreeMap::new(), None),
    };
    let result = ab::AbResult {
        base_rev: args.base.clone(),
        base_commit: base.commit.clone(),
        base_layout: args.base_layout,
        layouts: (layouts > 1).then_some(layouts),
        head_commit,
        head_dirty,
        rounds: rounds.len(),
        mode: plan.mode.name().to_owned(),
        seed: plan.seed,
        interleave: interleave.name().to_owned(),
        settings,
        injected: args.inject.clone(),
        duration_s,
        rows: ab::analyze(&rounds, &config, settings, &mds),
    };
    let head = merged_side(&rounds, true, &result)
        .ok_or_else(|| Error::Usage("the A/B ran no rounds: pass --rounds 1 or more".to_owned()))?;
    if let Some(base_record) = merged_side(&rounds, false, &result) {
        store::save_record(&reports.join("base.json"), &base_record)?;
    }
    let sinks = Sinks::new(&paths, Some(&args.reports), &[], None)?;
    sinks.write(&ReportInput {
        ab: Some(&result),
        power: power.as_ref(),
        ..ReportInput::new(&head)
    })?;
    terminal::print_ab(&result);
    Ok(Outcome::from_failed(result.failed()))
}

/// Where `power --out` keeps the machine's measured power by convention; `check` shows it.
const POWER_FILE: &str = "baselines/power.json";

/// The power file at `path`, if there is one.
fn load_power(path: &Path) -> Result<Option<power::PowerResult>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::BadRecord {
                path: path.to_owned(),
                what: format!("not a power measurement: {e}"),
                fix: "re-measure it with `cargo perfgate power --out baselines/power.json`, or delete it"
                    .to_owned(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

pub fn power(global: &Global, args: &PowerArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let config = paths.load_config()?;
    let settings = config.ab_settings();
    if args.factors.iter().any(|f| !(f.is_finite() && *f >= 1.0)) {
        return Err(Error::Usage(format!(
            "--factors {:?}: each must be a slowdown of 1 or more, e.g. 1.1,1.25,1.5,2",
            args.factors
        )));
    }
    let reports = paths.at(&args.reports);
    let exe = current_exe()?;
    let layouts = args.layouts.map_or(config.ab.layouts, |k| k as usize);
    let side = |name: &'static str, layouts: Vec<PathBuf>| ab::rounds::Build {
        side: name,
        exe: exe.clone(),
        root: paths.root.clone(),
        extra: Vec::new(),
        layouts,
    };
    let mode = mode(args.run.mode);
    // The schedule `ab` would use, from the power measured before (none the first time).
    let known = load_power(&paths.root.join(POWER_FILE))?;
    let plan = plan(
        &paths,
        &args.run,
        mode,
        args.measure_rounds as usize,
        known.as_ref(),
        &reports,
    );
    let (rounds, mode_text) = match &args.from {
        Some(dir) => {
            let rounds = ab::rounds::load(&paths.at(dir))?;
            say(&format!(
                "power: re-analyzing {} saved pairs of A/A records from {}",
                rounds.len(),
                paths.shown(&paths.at(dir)).display()
            ));
            let mode = ab::rounds::saved_mode(&paths.at(dir))
                .unwrap_or_else(|| "as saved (no mode.txt beside the rounds)".to_owned());
            (rounds, mode)
        }
        None => {
            say(&format!(
                "power: {} A/A rounds ({}{}) of this build against itself; {}",
                plan.rounds,
                plan.mode.name(),
                streams_text(plan.streams),
                plan.schedule.describe()
            ));
            // One relink pass for both sides (this build linked back once): odd seeds the base's,
            // even the head's, as `ab` gives them.
            let (base_layouts, head_layouts) = if layouts > 1 {
                let seeds: Vec<u64> = (1..=2 * layouts as u64).collect();
                let both = relink_head(&paths, &seeds)?;
                both.chunks(2).map(|p| (p[0].clone(), p[1].clone())).unzip()
            } else {
                (Vec::new(), Vec::new())
            };
            let (rounds, interleave) = ab::rounds::run(
                &side("base", base_layouts),
                &side("head", head_layouts),
                &plan,
                &mut say,
            )?;
            (
                rounds,
                format!(
                    "{}{}",
                    ab::rounds::describe(plan.mode, interleave),
                    ab::layout_text(None, (layouts > 1).then_some(layouts))
                ),
            )
        }
    };
    let p = power::PowerSettings {
        trials: args.trials as usize,
        // A trial is what one `ab` sees: its rounds' pairs of records.
        rounds_per_trial: args.per_trial.map_or(config.ab.rounds, |n| n as usize) * plan.streams,
        factors: args.factors.clone(),
        target: 0.95,
        seed: args.run.seed,
        streams: plan.streams,
        // Saved rounds say nothing of their layouts: `--layouts` tells, else one.
        layouts: if args.from.is_some() {
            args.layouts.map_or(1, |k| k as usize)
        } else {
            layouts
        },
    };
    let (metrics, aa_failed_trials, method) = power::analyze(&rounds, &config, settings, &p);
    let first = &rounds[0].1;
    let result = power::PowerResult {
        machine: first.machine.label.clone().map_or_else(
            || first.machine.fingerprint.clone(),
            |l| format!("{l} ({})", first.machine.fingerprint),
        ),
        measured: first.started.clone(),
        commit: first.git.commit.clone(),
        rounds_measured: rounds.len(),
        mode: mode_text,
        ab: settings,
        settings: p,
        aa_failed_trials,
        metrics,
        method,
    };
    let json = serde_json::to_vec_pretty(&result).map_err(|e| Error::Io {
        path: reports.join("power.json"),
        source: e.into(),
    })?;
    let mut written = vec![reports.join("power.json")];
    store::write_atomic(&reports.join("power.json"), &json)?;
    let md = power::markdown(&result);
    store::write_atomic(&reports.join("summary.md"), md.as_bytes())?;
    written.push(reports.join("summary.md"));
    if let Some(out) = &args.out {
        store::write_atomic(&paths.at(out), &json)?;
        written.push(paths.at(out));
    }
    println!("{md}");
    say(&format!(
        "wrote {}",
        written
            .iter()
            .map(|p| paths.shown(p).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(Outcome::Pass)
}

pub fn worker(global: &Global, args: &WorkerArgs, registry: &Registry) -> Result<Outcome> {
    let _paths = Paths::new(global)?;
    let injections = injections(&args.inject)?;
    let suite = suite(args.selection.suite);
    let timer = RealTimer::new();
    let ctx = RunContext {
        plan: suite.plan(),
        timer: &timer,
        swap_in_before: false,
    };
    ab::worker::serve(
        registry,
        suite,
        args.selection.filter.as_deref(),
        &injections,
        &ctx,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
    )?;
    Ok(Outcome::Pass)
}

pub fn changepoints(args: &ChangepointsArgs) -> Result<Outcome> {
    let bytes = std::fs::read(&args.file).map_err(|source| Error::Io {
        path: args.file.clone(),
        source,
    })?;
    let series: Vec<Option<f64>> =
        serde_json::from_slice(&bytes).map_err(|e| Error::BadRecord {
            path: args.file.clone(),
            what: format!("not a JSON array of numbers and nulls: {e}"),
            fix: "write the series as e.g. [1.0, 1.1, null, 2.0]".to_owned(),
        })?;
    let points = crate::changepoint::detect(&series);
    println!(
        "{}",
        serde_json::to_string(&points)
            .map_err(|e| Error::Usage(format!("cannot write the change points as JSON: {e}")))?
    );
    Ok(Outcome::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{MetricPower, PowerResult, PowerSettings};
    use crate::testutil::{record, wall};

    /// A power file of one quiet expensive scenario (`a/slow`) and one noisy cheap one (`b/noisy`).
    fn power_of_two() -> (PowerResult, RunRecord) {
        let metric = |scenario: &str, sd_log| MetricPower {
            scenario: scenario.to_owned(),
            metric: "wall_time".to_owned(),
            unit: "ns".to_owned(),
            median: 1e6,
            sd_log,
            false_alarms: 0,
            detection: vec![1.0],
            mds: Some(1.2),
        };
        let power = crate::testutil::power(
            PowerSettings {
                trials: 20,
                rounds_per_trial: 12,
                factors: vec![1.25],
                target: 0.95,
                seed: 1,
                streams: 2,
                layouts: 1,
            },
            vec![metric("a/slow/v/n=1", 0.001), metric("b/noisy/v/n=1", 0.2)],
        );
        let mut baseline = record(
            "m",
            vec![
                ("a/slow/v/n=1", "wall_time", wall(&[1e6])),
                ("b/noisy/v/n=1", "wall_time", wall(&[1e6])),
            ],
        );
        baseline.scenarios[0].duration_s = 5.0;
        (power, baseline)
    }

    fn planned(filter: Option<&str>) -> ab::schedule::Schedule {
        let (power, baseline) = power_of_two();
        plan_schedule(&power, &baseline, &Filter::new(filter).expect("filter"))
    }

    #[test]
    fn the_schedule_plans_only_the_scenarios_the_filter_selects() {
        let all = planned(None);
        let runs_sparse =
            |s: &ab::schedule::Schedule, id: &str| s.sparse.iter().any(|h| h.contains(id));
        let repeats = |s: &ab::schedule::Schedule, id: &str| {
            s.repeats.iter().any(|r| r.get(id).is_some_and(|&n| n > 0))
        };
        assert!(runs_sparse(&all, "a/slow/v/n=1"), "{all:?}");
        assert!(repeats(&all, "b/noisy/v/n=1"), "{all:?}");
        // The noisy one alone: no sparse half pays for extra pairs, and none of a/slow are planned.
        let noisy = planned(Some("b/*"));
        assert!(!runs_sparse(&noisy, "a/slow/v/n=1"), "{noisy:?}");
        assert_eq!(noisy, ab::schedule::Schedule::default());
        let slow = planned(Some("a/*"));
        assert!(!repeats(&slow, "b/noisy/v/n=1"), "{slow:?}");
    }
}
