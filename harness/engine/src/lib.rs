//! perfgate's engine: measure scenarios, keep run records, compare them with blessed baselines, gate
//! (counters, virtual times, in-run ratios, A/B rounds of two builds), and report. It knows nothing of
//! the code it measures: a project hands it a [`scenario::Registry`] and calls [`main`].
//!
//! # Gating your own project
//!
//! - Your own scenarios: implement [`scenario::Scenario`] (or declare before/after pairs with
//!   [`scenario::Registry::pair`]), register them and their claims in a [`scenario::Registry`], and make your
//!   binary's `main` call [`main`] with it. Every command (`run`, `check`, `bless`, `ab`, `power`,
//!   `selftest`, `report`, ...) then works on your scenarios; `perfgate.toml` sets the limits.
//! - Results from elsewhere: criterion's `estimates.json` and gungraun's JSON summaries become a run
//!   record through [`ingest`] (`perfgate ingest --criterion DIR --gungraun DIR --baseline FILE`),
//!   gated and reported like a measured run.
//!
//! The layers, from data to output: [`model`] (run records, metrics, claims), [`stats`] and
//! [`measure`] (samples and intervals), [`compare`] and [`analysis`] (the gate and the claims),
//! [`ab`] and [`power`] (interleaved rounds of two builds, the gate's measured power), [`history`] and
//! [`changepoint`] (every run's values, change points), [`report`] (one module per format), [`store`]
//! (atomic writes, versioned reads).

use std::process::ExitCode;

use clap::Parser;

pub mod ab;
pub mod analysis;
pub mod baseline;
pub mod changepoint;
pub mod compare;
pub mod config;
pub mod error;
pub mod history;
pub mod ingest;
pub mod inject;
pub mod machine;
pub mod measure;
pub mod merge;
pub mod model;
pub mod power;
pub mod report;
pub mod scenario;
pub mod selftest;
pub mod stats;
pub mod store;

mod cli;
mod commands;
mod terminal;
#[cfg(any(test, feature = "test-support"))]
pub mod testutil;

/// The `perfgate` command line over `registry`: parse the arguments, run the command, print an error
/// as `perfgate: error: …`. Exit codes: 0 pass, 1 regression (or a selftest miss), 2 bad input or usage.
pub fn main(registry: impl FnOnce() -> scenario::Registry) -> ExitCode {
    let cli = cli::Cli::parse();
    match run(&cli, &registry()) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("perfgate: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs one parsed command line on `registry`: what [`main`] does, without the exit code.
fn run(cli: &cli::Cli, registry: &scenario::Registry) -> Result<commands::Outcome, error::Error> {
    use cli::Command;
    registry.validate()?;
    let global = &cli.global;
    match &cli.command {
        Command::List(args) => commands::list(global, args, registry),
        Command::Run(args) => commands::run(global, args, registry),
        Command::Check(args) => commands::check(global, args, registry),
        Command::Compare(args) => commands::compare(global, args),
        Command::Bless(args) => commands::bless(global, args, registry),
        Command::Selftest(args) => commands::selftest(global, args, registry),
        Command::Report(args) => commands::report(global, args),
        Command::Merge(args) => commands::merge(global, args),
        Command::Ingest(args) => commands::ingest(global, args, registry),
        Command::Ab(args) => commands::ab(global, args),
        Command::Power(args) => commands::power(global, args),
        Command::Worker(args) => commands::worker(global, args, registry),
        Command::Changepoints(args) => commands::changepoints(args),
    }
}
