//! The offset source: runs `chronyc tracking`, else `ntpq -c rv`, without a shell and with a timeout;
//! anything that goes wrong is a status "unknown", never an error that stops recording.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::NtpStatus;
use super::parse::{MAX_OUTPUT_BYTES, ParseError, parse_chronyc_tracking, parse_ntpq_rv};

/// The original's timeout for one status command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Arguments of the chronyc call.
const CHRONYC_ARGS: [&str; 1] = ["tracking"];
/// Arguments of the ntpq call.
const NTPQ_ARGS: [&str; 2] = ["-c", "rv"];
/// Spawn retries on ETXTBSY ("text file busy"): a program written just now can be briefly busy while
/// another thread's fork still holds the writer's descriptor.
const SPAWN_RETRIES: u32 = 5;
/// Linux's ETXTBSY.
const ETXTBSY: i32 = 26;
/// Upper bound on exit polls after the output closed (each at most [`MAX_POLL`] apart).
const MAX_EXIT_POLLS: u32 = 10_000;
/// Longest pause between two exit polls.
const MAX_POLL: Duration = Duration::from_millis(5);

/// Which programs to run and how long to wait for each.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandConfig {
    /// The chronyc program (a bare name is looked up on `PATH`), tried first.
    pub chronyc: PathBuf,
    /// The ntpq program, tried when chronyc gives no status.
    pub ntpq: PathBuf,
    /// How long one program may run before it is killed.
    pub timeout: Duration,
}

impl Default for CommandConfig {
    fn default() -> Self {
        Self {
            chronyc: PathBuf::from("chronyc"),
            ntpq: PathBuf::from("ntpq"),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What one program run gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    /// It printed a status that parsed.
    Parsed,
    /// The program does not exist.
    Missing,
    /// It could not be started (permissions, not executable, …).
    SpawnFailed(io::ErrorKind),
    /// It exited unsuccessfully (the code; `None` when killed by a signal).
    Failed(Option<i32>),
    /// It ran past the timeout and was killed.
    TimedOut,
    /// It printed something that is not a status.
    Unparsable(ParseError),
    /// Reading its output or waiting for it failed.
    Io(io::ErrorKind),
}

/// The result of one [`CommandSource::query`].
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The status ([`NtpStatus::UNKNOWN`] when neither program gave one).
    pub status: NtpStatus,
    /// Processes this query started (0, 1 or 2).
    pub spawned: u32,
    /// How the chronyc run went.
    pub chronyc: Attempt,
    /// How the ntpq run went, when it was tried.
    pub ntpq: Option<Attempt>,
}

/// Runs the status programs and counts every process it starts (an exact counter).
#[derive(Debug)]
pub struct CommandSource {
    config: CommandConfig,
    spawned: AtomicU64,
    timeouts: AtomicU64,
}

impl CommandSource {
    /// A source running the programs of `config`.
    pub fn new(config: CommandConfig) -> Self {
        Self {
            config,
            spawned: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &CommandConfig {
        &self.config
    }

    /// Processes started since creation.
    pub fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Runs killed on timeout since creation.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    /// Runs `chronyc tracking`; when that gives no status, `ntpq -c rv`. Blocks for at most two
    /// timeouts (plus process start-up). Never fails: a failure is a status "unknown".
    pub fn query(&self) -> Query {
        let mut spawned = 0;
        let chronyc = match self.run(&self.config.chronyc, &CHRONYC_ARGS, &mut spawned) {
            Ok(out) => match parse_chronyc_tracking(&out) {
                Ok(t) => {
                    return Query {
                        status: t.status(),
                        spawned,
                        chronyc: Attempt::Parsed,
                        ntpq: None,
                    };
                }
                Err(e) => Attempt::Unparsable(e),
            },
            Err(why) => why,
        };
        let (status, ntpq) = match self.run(&self.config.ntpq, &NTPQ_ARGS, &mut spawned) {
            Ok(out) => match parse_ntpq_rv(&out) {
                Ok(vars) => (vars.status(), Attempt::Parsed),
                Err(e) => (NtpStatus::UNKNOWN, Attempt::Unparsable(e)),
            },
            Err(why) => (NtpStatus::UNKNOWN, why),
        };
        Query {
            status,
            spawned,
            chronyc,
            ntpq: Some(ntpq),
        }
    }

    /// Runs one program: its output after a successful exit, else why there is none.
    fn run(&self, program: &Path, args: &[&str], spawned: &mut u32) -> Result<Vec<u8>, Attempt> {
        let mut child = match spawn(program, args) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Attempt::Missing),
            Err(e) => return Err(Attempt::SpawnFailed(e.kind())),
        };
        *spawned += 1;
        self.spawned.fetch_add(1, Ordering::Relaxed);
        match wait_with_timeout(&mut child, self.config.timeout) {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(why)) => {
                if why == Attempt::TimedOut {
                    self.timeouts.fetch_add(1, Ordering::Relaxed);
                }
                Err(why)
            }
            Err(e) => Err(Attempt::Io(e.kind())),
        }
    }
}

fn spawn(program: &Path, args: &[&str]) -> io::Result<Child> {
    let mut pause = Duration::from_micros(200);
    let mut last = None;
    for _ in 0..SPAWN_RETRIES {
        match Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                last = Some(e);
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("spawn retries exhausted")))
}

/// Kills and reaps `child` (errors ignored: it may have exited meanwhile).
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for the child's output and exit, at most `timeout` (a child runs in real time, so this is
/// real time, not a [`crate::clock::Clock`]). `Ok(Err(attempt))` for a failed or timed-out run.
///
/// The output is read on a helper thread, so a child that fills the pipe cannot deadlock us. After a
/// timeout the child is killed and reaped; the helper ends when the pipe closes (at once, unless the
/// child left a grandchild holding it, in which case it ends with that grandchild).
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> io::Result<Result<Vec<u8>, Attempt>> {
    let start = Instant::now();
    let Some(mut stdout) = child.stdout.take() else {
        kill(child);
        return Err(io::Error::other("child has no stdout pipe"));
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let reader = std::thread::Builder::new()
        .name("ntpstatus-reader".to_owned())
        .spawn(move || {
            let mut buf = Vec::new();
            let limit = u64::try_from(MAX_OUTPUT_BYTES).unwrap_or(u64::MAX) + 1;
            let read = (&mut stdout).take(limit).read_to_end(&mut buf);
            // Drain the rest so the child never blocks on a full pipe; the parser rejects the length.
            let _ = io::copy(&mut stdout, &mut io::sink());
            let _ = tx.send(read.map(|_| buf));
        });
    if let Err(e) = reader {
        kill(child);
        return Err(e);
    }
    let output = match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            kill(child);
            return Err(e);
        }
        Err(_) => {
            kill(child);
            return Ok(Err(Attempt::TimedOut));
        }
    };
    // The output is closed: the child has exited or is about to. Poll for it, bounded.
    let mut pause = Duration::from_micros(50);
    for _ in 0..MAX_EXIT_POLLS {
        if let Some(status) = child.try_wait()? {
            return Ok(if status.success() {
                Ok(output)
            } else {
                Err(Attempt::Failed(status.code()))
            });
        }
        if start.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_POLL);
    }
    kill(child);
    Ok(Err(Attempt::TimedOut))
}
