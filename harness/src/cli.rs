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

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(long, value_enum, default_value = "smoke")]
    pub suite: SuiteArg,
    /// Substring or glob (`*`) over scenario ids.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Where to write the run record (default: reports/run.json).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Reports directory, relative to the root.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Substring or glob (`*`) over scenario ids; only matching baseline scenarios are expected.
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Baseline to compare with (default: baselines/smoke.json).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Reports directory, relative to the root.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
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
    /// Also write summary.md into this directory.
    #[arg(long)]
    pub reports: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BlessArgs {
    #[arg(long, value_enum, default_value = "smoke")]
    pub suite: SuiteArg,
    /// Promote this run record instead of running the suite.
    #[arg(long)]
    pub from: Option<PathBuf>,
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
