//! `perfgate`: run the scenarios, compare with the blessed baselines, gate and report.
//! Exit codes: 0 pass, 1 regression (or selftest miss), 2 bad input or usage.

mod cli;
mod commands;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Counts the heap (current and peak bytes) for the rule sync's peak-heap metric.
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

fn main() -> ExitCode {
    harness::scenarios::rulesync::set_heap_probe(harness::scenarios::rulesync::HeapProbe {
        current: || HEAP.current_usage(),
        peak: || HEAP.peak_usage(),
        reset_peak: || HEAP.reset_peak_usage(),
    });
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::List(args) => commands::list(&cli.global, args),
        Command::Run(args) => commands::run(&cli.global, args),
        Command::Check(args) => commands::check(&cli.global, args),
        Command::Compare(args) => commands::compare(&cli.global, args),
        Command::Bless(args) => commands::bless(&cli.global, args),
        Command::Selftest(args) => commands::selftest(&cli.global, args),
        Command::Report(args) => commands::report(&cli.global, args),
        Command::Merge(args) => commands::merge(&cli.global, args),
        Command::Ingest(args) => commands::ingest(&cli.global, args),
        Command::Ab(args) => commands::ab(&cli.global, args),
        Command::Power(args) => commands::power(&cli.global, args),
        Command::Worker(args) => commands::worker(&cli.global, args),
        Command::Changepoints(args) => commands::changepoints(args),
    };
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("perfgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
