//! Prints this machine's NTP status as JSON: runs `chronyc tracking` (else `ntpq -c rv`) once, or with
//! `--stdin` parses such output read from standard input. `--help` for the options.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use components::ntpstatus::{
    CommandConfig, CommandSource, MAX_OUTPUT_BYTES, NtpStatus, ParseError, parse_chronyc_csv,
    parse_chronyc_tracking, parse_ntpq_rv,
};

const USAGE: &str = "usage: cargo run -p components --example ntpstatus -- [OPTIONS]

Prints the NTP status as one JSON line: offset_ms (positive = system clock behind NTP time),
stratum, synced (|offset| <= 100 ms, and stratum <= 4 for ntpq), source.

  (no option)          run `chronyc tracking`, else `ntpq -c rv` (2 s timeout each)
  --stdin              parse chronyc tracking, chronyc -c tracking or ntpq -c rv output from stdin
  --chronyc PATH       chronyc program to run (default: chronyc on PATH)
  --ntpq PATH          ntpq program to run (default: ntpq on PATH)
  --timeout-ms N       timeout per program in ms (default: 2000)
  -h, --help           this text

exit: 0 status printed (possibly \"unknown\"), 1 stdin is not a status, 2 usage error";

enum Mode {
    Run(CommandConfig),
    Stdin,
    Help,
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let mut config = CommandConfig::default();
    let mut stdin = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Mode::Help),
            "--stdin" => stdin = true,
            "--chronyc" => config.chronyc = PathBuf::from(value("--chronyc")?),
            "--ntpq" => config.ntpq = PathBuf::from(value("--ntpq")?),
            "--timeout-ms" => {
                let v = value("--timeout-ms")?;
                let ms: u64 = v.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                    format!("--timeout-ms {v:?}: expected a whole number of ms > 0")
                })?;
                config.timeout = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(if stdin {
        Mode::Stdin
    } else {
        Mode::Run(config)
    })
}

/// Tries each format; all errors when none fits.
fn parse_any(bytes: &[u8]) -> Result<NtpStatus, Vec<ParseError>> {
    let mut errors = Vec::new();
    match parse_chronyc_tracking(bytes) {
        Ok(t) => return Ok(t.status()),
        Err(e) => errors.push(e),
    }
    match parse_chronyc_csv(bytes) {
        Ok(t) => return Ok(t.status()),
        Err(e) => errors.push(e),
    }
    match parse_ntpq_rv(bytes) {
        Ok(v) => return Ok(v.status()),
        Err(e) => errors.push(e),
    }
    Err(errors)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Err(e) => {
            eprintln!("ntpstatus: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(Mode::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Mode::Run(config)) => {
            let q = CommandSource::new(config).query();
            eprintln!(
                "ntpstatus: chronyc: {:?}; ntpq: {:?}; processes started: {}",
                q.chronyc, q.ntpq, q.spawned
            );
            println!("{}", q.status.to_json());
            ExitCode::SUCCESS
        }
        Ok(Mode::Stdin) => {
            let mut bytes = Vec::new();
            let limit = u64::try_from(MAX_OUTPUT_BYTES).unwrap_or(u64::MAX) + 1;
            if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut bytes) {
                eprintln!("ntpstatus: cannot read stdin: {e}");
                return ExitCode::from(1);
            }
            match parse_any(&bytes) {
                Ok(status) => {
                    println!("{}", status.to_json());
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("ntpstatus: stdin is not chronyc or ntpq status output:");
                    for e in errors {
                        eprintln!("  - {e}");
                    }
                    ExitCode::from(1)
                }
            }
        }
    }
}
