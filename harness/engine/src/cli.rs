//! The command line: every command, its arguments and their defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// perfgate: performance-regression harness for the seed components.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Project root (holding perfgate.toml, baselines/, reports/); default: the nearest ancestor of
    /// the current directory with a perfgate.toml.
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Gate configuration, relative to the root [default: perfgate.toml, the defaults when absent;
    /// a file named here must exist].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the scenarios and claims.
    List(ListArgs),
    /// Run scenarios and write the run record and summary (no gate).
    Run(RunArgs),
    /// Run the smoke suite, compare with baselines/, write reports/, exit 1 on any regression.
    Check(CheckArgs),
    /// Compare two run records (baseline first); exit 1 on any regression.
    Compare(CompareArgs),
    /// Write a new baseline (the only command that does): run the suite, or promote a record.
    Bless(BlessArgs),
    /// Prove the gate catches each component's "before" swapped in for its "after".
    Selftest(SelftestArgs),
    /// Render the reports (and exports) from a run record, optionally against a baseline.
    Report(ReportArgs),
    /// Join the records of a sharded run (`run --shard I/N`) into one.
    Merge(MergeArgs),
    /// Turn criterion and gungraun results into a run record (suite `bench`) that gates and reports.
    Ingest(IngestArgs),
    /// A/B: build REV, run it and the working tree in interleaved rounds, gate the head on paired
    /// ratios (wall and CPU times that `check` cannot gate on a shared machine).
    Ab(AbArgs),
    /// Measure the A/B's power on this machine: false alarms of A/A trials, detection of injected
    /// slowdowns, and each wall metric's minimum detectable slowdown.
    Power(PowerArgs),
    /// Change points of a series: FILE is a JSON array of numbers (null where missing); prints the
    /// 0-based indices where a new segment starts, as a JSON array.
    Changepoints(ChangepointsArgs),
    /// Run scenarios named on standard input, one JSON answer per line (what `ab` drives).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct ChangepointsArgs {
    /// A JSON array of numbers, `null` where a value is missing.
    pub file: PathBuf,
}

/// The scenarios a run measures: `run`'s, a worker's, and those of both sides of `ab` and `power`
/// (which hand them on to their workers).
#[derive(Debug, Args)]
pub struct Selection {
    #[arg(long, value_enum, default_value = "smoke")]
    pub suite: SuiteArg,
    /// Substring or glob (`*`) over scenario ids.
    #[arg(long, short)]
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// As for `run`.
    #[arg(long, value_name = "PATTERN=FACTOR")]
    pub inject: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Base and head one after the other, in a seeded random order per round.
    Sequential,
    /// Base and head at the same time, each pinned to its own CPU (taskset).
    Duet,
    /// Base and head pinned to one CPU, taking turns sample by sample (scenario by scenario where a
    /// scenario times itself); one such pair per CPU (up to 2) at once (taskset).
    SameCore,
}

/// How the rounds run (shared by `ab` and `power`).
#[derive(Debug, Args)]
pub struct RoundArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Seed of the round order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Same-core (base and head pinned to one CPU, taking turns sample by sample; a pair of
    /// processes per CPU, up to 2, at once), duet (both at once, each on its own CPU) or sequential
    /// (unpinned, one after the other); sequential where there is no taskset. Measured on this
    /// 2-vCPU VM: the spread of per-pair log ratios is 0.02-0.07 same-core against 0.15-0.30 duet,
    /// at the same pairs per minute (README "A/B of two builds").
    #[arg(long, value_enum, default_value = "same-core")]
    pub mode: ModeArg,
}

#[derive(Debug, Args)]
pub struct AbArgs {
    /// The base: any git revision (commit, branch, tag, HEAD~1). The head is the working tree,
    /// uncommitted changes included.
    #[arg(long)]
    pub base: String,
    #[command(flatten)]
    pub run: RoundArgs,
    /// Rounds (each one base and one head process per stream: 2 streams same-core on two CPUs)
    /// [default: `[ab] rounds` of perfgate.toml].
    #[arg(long, value_parser = clap::value_parser!(u32).range(3..=100))]
    pub rounds: Option<u32>,
    /// Relink the base with its functions in an order drawn from SEED (lld's --shuffle-sections; a
    /// second or two once the base is built). With --base HEAD: an A/A across code layouts, which
    /// shows the metrics that move with where the code lands rather than with the code.
    #[arg(long, value_name = "SEED", conflicts_with = "layouts")]
    pub base_layout: Option<u64>,
    /// Link each build in K code layouts (functions shuffled, seeds 1, 3, 5, ... for the base and
    /// 2, 4, 6, ... for the head) and give each round its own pair, so where the code lands counts
    /// as noise rather than as a verdict (a second or two per relink); 1 keeps the default layout
    /// [default: `[ab] layouts` of perfgate.toml].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub layouts: Option<u32>,
    /// Make the head's wall and CPU times of matching scenarios FACTOR times slower (`PATTERN=FACTOR`,
    /// e.g. 'flowcache/size/indexed/*=1.25'): shows what the gate catches. Repeatable.
    #[arg(long, value_name = "PATTERN=FACTOR")]
    pub inject: Vec<String>,
    /// Reports directory (summary.md, index.html, run.json of the head, base.json, the rounds).
    #[arg(long, default_value = "reports/ab")]
    pub reports: PathBuf,
    /// Minimum detectable slowdowns to show beside each metric (written by `power`), if present.
    #[arg(long, default_value = "baselines/power.json")]
    pub power: PathBuf,
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    #[command(flatten)]
    pub run: RoundArgs,
    /// Code layouts per side, as `ab --layouts` (both sides relinked from this build) [default:
    /// `[ab] layouts` of perfgate.toml].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub layouts: Option<u32>,
    /// A/A rounds to measure (each one process per side, the same build on both).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(3..=500))]
    pub measure_rounds: u32,
    /// Measure nothing: analyze the rounds an earlier `power` or `ab` saved in this directory (its
    /// `round*-base.json` and `round*-head.json`), e.g. after changing `[ab]` settings.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Rounds in each trial [default: `[ab] rounds` of perfgate.toml, what one `ab` runs].
    #[arg(long, value_parser = clap::value_parser!(u32).range(3..=100))]
    pub per_trial: Option<u32>,
    /// Trials per condition.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: u32,
    /// Injected slowdowns to report detection rates for.
    #[arg(long, value_delimiter = ',', default_value = "1.1,1.25,1.5,2")]
    pub factors: Vec<f64>,
    /// Reports directory (power.json, summary.md, the rounds).
    #[arg(long, default_value = "reports/power")]
    pub reports: PathBuf,
    /// Also write the result here, e.g. baselines/power.json, which `ab` and `check` show.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SuiteArg {
    Smoke,
    Full,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value = "full")]
    pub suite: SuiteArg,
    /// Substring or glob (`*`) over scenario ids.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Also print each scenario's declared metrics (the names claims and overrides may use).
    #[arg(long)]
    pub metrics: bool,
}

/// Where results go besides the terminal: the reports directory, a history file, exports.
#[derive(Debug, Args)]
pub struct Outputs {
    /// Reports directory (run.json, summary.md, index.html), relative to the root.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// A JSON-lines history file to chart each metric's trend over; `run` and `check` append this
    /// run to it first (`report` only reads it).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// How many of the history's last runs the report shows.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub history_runs: u32,
    /// Also write FORMAT to PATH: bmf (Bencher), github (github-action-benchmark), json, markdown,
    /// html. Repeatable.
    #[arg(long, value_name = "FORMAT=PATH")]
    pub export: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Run only shard I of N (`1/3`): a stable share of the scenarios, for a CI matrix; join the
    /// records with `merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Where to write the run record (besides reports/run.json).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Make the wall and CPU times of matching scenarios FACTOR times slower after measuring
    /// (`PATTERN=FACTOR`): for measuring the gate, never for a baseline. Repeatable.
    #[arg(long, value_name = "PATTERN=FACTOR")]
    pub inject: Vec<String>,
    #[command(flatten)]
    pub outputs: Outputs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Substring or glob (`*`) over scenario ids; only matching baseline scenarios are expected.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Baseline to compare with (default: baselines/smoke.json).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline record.
    pub baseline: PathBuf,
    /// The current record.
    pub current: PathBuf,
    /// Only compare scenarios matching this substring or glob.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Also write the reports (summary.md, index.html, run.json) into this directory.
    #[arg(long)]
    pub reports: Option<PathBuf>,
    /// Also write FORMAT to PATH (see `run --help`). Repeatable.
    #[arg(long, value_name = "FORMAT=PATH")]
    pub export: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run record to render.
    #[arg(default_value = "reports/run.json")]
    pub run: PathBuf,
    /// Compare with this baseline (the report then shows verdicts; the exit code stays 0).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// criterion's output directory (`target/criterion`).
    #[arg(long)]
    pub criterion: Option<PathBuf>,
    /// gungraun's output directory (`target/gungraun`), written with `--save-summary=json`.
    #[arg(long)]
    pub gungraun: Option<PathBuf>,
    /// Where to write the record.
    #[arg(long, short, default_value = "reports/bench.json")]
    pub out: PathBuf,
    /// Compare with this baseline (e.g. baselines/bench.json) and exit 1 on a regression.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Reports directory for summary.md, index.html and run.json, relative to the root.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Also write FORMAT to PATH (see `run --help`). Repeatable.
    #[arg(long, value_name = "FORMAT=PATH")]
    pub export: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run records.
    #[arg(required = true)]
    pub records: Vec<PathBuf>,
    /// Where to write the merged record.
    #[arg(long, short)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BlessArgs {
    #[arg(long, value_enum, default_value = "smoke")]
    pub suite: SuiteArg,
    /// Promote this run record instead of running the suite.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Write this baseline file instead of baselines/<suite>.json (e.g. baselines/bench.json).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Re-bless only the matching scenarios, keeping the rest of the existing baseline.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Run the suite this many times: each metric keeps its median round, and the spread between
    /// rounds becomes its noise band (a noisy metric's soft limit is at least that band).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Baseline the swapped run is compared with (default: baselines/smoke.json).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}
