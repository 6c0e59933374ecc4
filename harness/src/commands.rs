//! One function per command: resolve paths, call the engine, write reports, say what happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use harness::compare::{self, Comparison};
use harness::config::GateConfig;
use harness::error::Error;
use harness::measure::RealTimer;
use harness::model::RunRecord;
use harness::report::{self, ReportInput};
use harness::scenario::{self, Filter, Registry, RunContext, Suite};
use harness::{baseline, scenarios, selftest, store};

use crate::cli::{
    BlessArgs, CheckArgs, CompareArgs, Global, ListArgs, RunArgs, SelftestArgs, SuiteArg,
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
}

impl Paths {
    fn new(global: &Global) -> Result<Self> {
        let root = match &global.root {
            Some(r) => r.clone(),
            None => find_root()?,
        };
        Ok(Self {
            config: root.join(&global.config),
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

    fn load_config(&self) -> Result<GateConfig, Error> {
        GateConfig::load(&self.config)
    }
}

/// The nearest ancestor of the current directory holding a `perfgate.toml`, else the current directory.
fn find_root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
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

fn measure(registry: &Registry, suite: Suite, filter: Option<&str>) -> Result<RunRecord, Error> {
    let selected = registry.select(suite, filter)?;
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

fn write_reports(dir: &Path, input: &ReportInput<'_>) -> Result<(), Error> {
    let written = report::write_all(dir, &report::default_exporters(), input)?;
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    eprintln!("perfgate: wrote {}", names.join(", "));
    Ok(())
}

pub fn list(global: &Global, args: &ListArgs) -> Result<Outcome> {
    let _paths = Paths::new(global)?;
    let registry = scenarios::registry();
    let suite = suite(args.suite);
    for s in registry.select(suite, args.filter.as_deref())? {
        let role = match s.role() {
            scenario::Role::Before => "before".to_owned(),
            scenario::Role::After { before } => format!("after (of {before})"),
            scenario::Role::Alone => String::new(),
        };
        let smoke = if s.in_smoke() { "smoke" } else { "full" };
        println!("{:<48} {smoke:<6} {role}", s.id());
    }
    println!();
    for c in registry.claims() {
        println!("claim {}:{}  “{}”", c.seed, c.line, c.text);
    }
    Ok(Outcome::Pass)
}

pub fn run(global: &Global, args: &RunArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let registry = scenarios::registry();
    let record = measure(&registry, suite(args.suite), args.filter.as_deref())?;
    let reports = paths.at(&args.reports);
    write_reports(
        &reports,
        &ReportInput {
            record: &record,
            comparison: None,
            baseline_path: None,
        },
    )?;
    if let Some(out) = &args.out {
        store::save_record(&paths.at(out), &record)?;
    }
    terminal::print_record(&record);
    Ok(Outcome::Pass)
}

pub fn check(global: &Global, args: &CheckArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let config = paths.load_config()?;
    let baseline_path = paths.baseline(Suite::Smoke, args.baseline.as_ref());
    let baseline = store::load_record(&baseline_path, BLESS_FIX)?;
    let registry = scenarios::registry();
    let record = measure(&registry, Suite::Smoke, args.filter.as_deref())?;
    let filter = Filter::new(args.filter.as_deref())?;
    let comparison = compare::compare(&baseline, &record, &config, &|id| filter.matches(id));
    finish(
        &paths.at(&args.reports),
        &record,
        &comparison,
        &baseline_path,
    )
}

fn finish(
    reports: &Path,
    record: &RunRecord,
    comparison: &Comparison,
    baseline_path: &Path,
) -> Result<Outcome> {
    write_reports(
        reports,
        &ReportInput {
            record,
            comparison: Some(comparison),
            baseline_path: Some(baseline_path),
        },
    )?;
    terminal::print_comparison(record, comparison);
    Ok(Outcome::from_failed(comparison.failed()))
}

pub fn compare(global: &Global, args: &CompareArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let config = paths.load_config()?;
    let fix = "pass a run.json written by `cargo perfgate run` or a baseline from baselines/";
    let baseline_path = paths.at(&args.baseline);
    let baseline = store::load_record(&baseline_path, fix)?;
    let current = store::load_record(&paths.at(&args.current), fix)?;
    let filter = Filter::new(args.filter.as_deref())?;
    let comparison = compare::compare(&baseline, &current, &config, &|id| filter.matches(id));
    match &args.reports {
        Some(dir) => finish(&paths.at(dir), &current, &comparison, &baseline_path),
        None => {
            terminal::print_comparison(&current, &comparison);
            Ok(Outcome::from_failed(comparison.failed()))
        }
    }
}

pub fn bless(global: &Global, args: &BlessArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let suite = suite(args.suite);
    let mut record = match &args.from {
        Some(from) => store::load_record(
            &paths.at(from),
            "pass a run.json written by `cargo perfgate run`",
        )?,
        None => {
            let registry = scenarios::registry();
            let mut rounds = Vec::new();
            for round in 1..=args.rounds {
                if args.rounds > 1 {
                    eprintln!("perfgate: bless round {round}/{}", args.rounds);
                }
                rounds.push(measure(&registry, suite, args.filter.as_deref())?);
            }
            baseline::merge_rounds(rounds).ok_or_else(|| {
                anyhow::anyhow!("bless measured no rounds: pass --rounds 1 or more")
            })?
        }
    };
    let target = paths.baseline(suite, None);
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

pub fn selftest(global: &Global, args: &SelftestArgs) -> Result<Outcome> {
    let paths = Paths::new(global)?;
    let config = paths.load_config()?;
    let baseline_path = paths.baseline(Suite::Smoke, args.baseline.as_ref());
    let baseline = store::load_record(&baseline_path, BLESS_FIX)?;
    let registry = scenarios::registry();
    let timer = RealTimer::new();
    let ctx = RunContext {
        plan: Suite::Smoke.plan(),
        timer: &timer,
        swap_in_before: true,
    };
    let (results, _comparison) = selftest::run(
        &registry,
        &baseline,
        &config,
        &ctx,
        &mut terminal::ProgressLine::new(),
    )?;
    let all = terminal::print_selftest(&results);
    Ok(Outcome::from_failed(!all))
}
