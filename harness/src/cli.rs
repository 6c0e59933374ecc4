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
    /// Gate configuration, relative to the root.
    #[arg(long, global = true, default_value = "perfgate.toml")]
    pub config: PathBuf,
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
}

/// Where results go besides the terminal: the reports directory, a history file, exports.
#[derive(Debug, Args)]
pub struct Outputs {
    /// Reports directory (run.json, summary.md, index.html), relative to the root.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Append this run to a JSON-lines history file and chart each metric's trend over it.
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
    #[arg(long, value_enum, default_value = "smoke")]
    pub suite: SuiteArg,
    /// Substring or glob (`*`) over scenario ids.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Run only shard I of N (`1/3`): a stable share of the scenarios, for a CI matrix; join the
    /// records with `merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Where to write the run record (besides reports/run.json).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
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
    /// Reports directory, relative to the root.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Chart trends from this JSON-lines history file (read only).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// How many of the history's last runs the report shows.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub history_runs: u32,
    /// Also write FORMAT to PATH (see `run --help`). Repeatable.
    #[arg(long, value_name = "FORMAT=PATH")]
    pub export: Vec<String>,
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
