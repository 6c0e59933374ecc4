//! `perfgate`: run the scenarios, compare with the blessed baselines, gate and report.
//! Exit codes: 0 pass, 1 regression (or selftest miss), 2 bad input or usage.

mod cli;
mod commands;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
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
    };
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("perfgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
