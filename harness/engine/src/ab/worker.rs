//! The worker protocol: a `perfgate worker` process runs one scenario per line of its input and
//! answers each with a JSON line, so an A/B can alternate base and head scenario by scenario,
//! seconds apart, instead of whole runs minutes apart.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::inject::{self, Injection};
use crate::model::{Claim, GitInfo, MachineInfo, RunRecord, ScenarioRecord, Toolchain};
use crate::scenario::{self, Registry, Role, RunContext, Suite};
use crate::{analysis, machine};

/// The protocol's name and version, in the first line a worker writes.
pub const PROTOCOL: &str = "perfgate.worker/1";

/// The worker's first line: what it can run and where it runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`PROTOCOL`].
    pub protocol: String,
    /// The suite it selected from.
    pub suite: String,
    /// The scenario ids it selected, in run order.
    pub ids: Vec<String>,
    /// Its registry's claims (for the assembled records).
    pub claims: Vec<Claim>,
    /// Its machine.
    pub machine: MachineInfo,
    /// Its build.
    pub toolchain: Toolchain,
    /// Its source.
    pub git: GitInfo,
    /// Injections it applies.
    pub injected: Vec<String>,
}

/// One answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The scenario's record.
    Scenario(ScenarioRecord),
    /// Why it could not run.
    Error(String),
}

/// Serves `input` in the worker process: one scenario id per line, one [`Reply`] per line on
/// `output`, until the input ends. The first line written is the [`Hello`].
pub fn serve(
    registry: &Registry,
    suite: Suite,
    filter: Option<&str>,
    injections: &[Injection],
    ctx: &RunContext<'_>,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<(), Error> {
    let selected = registry.select(suite, filter)?;
    let io = |source| Error::Io {
        path: PathBuf::from("<stdout>"),
        source,
    };
    let hello = Hello {
        protocol: PROTOCOL.to_owned(),
        suite: suite.name().to_owned(),
        ids: selected.iter().map(|s| s.id().to_owned()).collect(),
        claims: registry.claims().to_vec(),
        machine: machine::detect(),
        toolchain: machine::toolchain(),
        git: machine::git(),
        injected: inject::specs(injections),
    };
    writeln!(
        output,
        "{}",
        serde_json::to_string(&hello).unwrap_or_default()
    )
    .map_err(io)?;
    output.flush().map_err(io)?;
    for line in input.lines() {
        let id = line.map_err(io)?;
        let id = id.trim();
        if id.is_empty() {
            continue;
        }
        let reply = match selected.iter().find(|s| s.id() == id) {
            None => Reply::Error(format!("no selected scenario {id:?}")),
            Some(s) => {
                let t0 = Instant::now();
                match s.run(ctx) {
                    Ok(metrics) => {
                        let mut rec = ScenarioRecord {
                            id: id.to_owned(),
                            before: match s.role() {
                                Role::After { before } => Some(before),
                                _ => None,
                            },
                            metrics,
                            duration_s: t0.elapsed().as_secs_f64(),
                        };
                        inject::scale_scenario(&mut rec, injections);
                        Reply::Scenario(rec)
                    }
                    Err(what) => Reply::Error(format!("scenario {id}: {what}")),
                }
            }
        };
        writeln!(
            output,
            "{}",
            serde_json::to_string(&reply).unwrap_or_default()
        )
        .map_err(io)?;
        output.flush().map_err(io)?;
    }
    Ok(())
}

/// A running worker, seen from the A/B.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// What it said first.
    pub hello: Hello,
    side: &'static str,
    log: PathBuf,
}

impl Worker {
    /// Starts `exe --root ROOT worker ARGS` (under `taskset -c CPU` when pinned), its stderr to
    /// `log`. `Ok(None)` when the binary has no worker mode (an older perfgate).
    pub fn spawn(
        side: &'static str,
        exe: &std::path::Path,
        root: &std::path::Path,
        args: &[String],
        cpu: Option<usize>,
        log: PathBuf,
    ) -> Result<Option<Self>, Error> {
        let log_file = std::fs::File::create(&log).map_err(|source| Error::Io {
            path: log.clone(),
            source,
        })?;
        let mut child = super::rounds::command(exe, cpu)
            .arg("--root")
            .arg(root)
            .arg("worker")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|source| Error::Io {
                path: exe.to_owned(),
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Ok(None);
        };
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        match serde_json::from_str::<Hello>(&first) {
            Ok(hello) if hello.protocol == PROTOCOL => Ok(Some(Self {
                child,
                stdin: Some(stdin),
                stdout,
                hello,
                side,
                log,
            })),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("unrecognized subcommand")
                    || text.contains("invalid value 'worker'")
                {
                    Ok(None)
                } else {
                    Err(Error::Scenario {
                        id: format!("{side} worker ({})", exe.display()),
                        what: format!(
                            "did not start (log {}): {}",
                            log.display(),
                            text.lines().rev().take(6).collect::<Vec<_>>().join(" / ")
                        ),
                    })
                }
            }
        }
    }

    /// Asks for scenario `id` (does not wait).
    pub fn send(&mut self, id: &str) -> Result<(), Error> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Usage("worker closed".into()))?;
        writeln!(stdin, "{id}")
            .and_then(|()| stdin.flush())
            .map_err(|source| Error::Io {
                path: self.log.clone(),
                source,
            })
    }

    /// Waits for the answer to the last [`Worker::send`].
    pub fn receive(&mut self) -> Result<ScenarioRecord, Error> {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|source| Error::Io {
                path: self.log.clone(),
                source,
            })?;
        let fail = |what: String| Error::Scenario {
            id: format!("{} worker", self.side),
            what: format!("{what} (log {})", self.log.display()),
        };
        if n == 0 {
            return Err(fail("ended without an answer".to_owned()));
        }
        match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::Scenario(s)) => Ok(s),
            Ok(Reply::Error(e)) => Err(fail(e)),
            Err(e) => Err(fail(format!("answered something else: {e}"))),
        }
    }

    /// Runs `id` and waits for it.
    pub fn run(&mut self, id: &str) -> Result<ScenarioRecord, Error> {
        self.send(id)?;
        self.receive()
    }

    /// Closes its input and waits for it to exit.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }

    /// The run record of the scenarios it ran, with in-run ratios, growth fits and claims.
    pub fn record(
        &self,
        scenarios: Vec<ScenarioRecord>,
        started: String,
        duration_s: f64,
        confidence: f64,
    ) -> RunRecord {
        assemble(&self.hello, scenarios, started, duration_s, confidence)
    }
}

/// A run record from a worker's hello and the scenarios it ran.
pub fn assemble(
    hello: &Hello,
    mut scenarios: Vec<ScenarioRecord>,
    started: String,
    duration_s: f64,
    confidence: f64,
) -> RunRecord {
    scenario::add_in_run_ratios(&mut scenarios, confidence);
    let mut record = RunRecord::new(
        hello.suite.clone(),
        started,
        duration_s,
        hello.machine.clone(),
        hello.toolchain.clone(),
        hello.git.clone(),
        scenarios,
    );
    record.injected = hello.injected.clone();
    analysis::analyze(&mut record, &hello.claims);
    record
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::measure::RealTimer;
    use crate::model::Metric;
    use crate::scenario::Scenario;
    use crate::testutil::wall;

    struct Fixed(&'static str, Role, f64);

    impl Scenario for Fixed {
        fn id(&self) -> &str {
            self.0
        }
        fn role(&self) -> Role {
            self.1.clone()
        }
        fn run(&self, _: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
            if self.2 < 0.0 {
                return Err("broken on purpose".to_owned());
            }
            Ok(BTreeMap::from([
                (scenario::WALL_TIME.into(), wall(&[self.2, self.2])),
                ("visits".to_owned(), Metric::count(7, "entries")),
            ]))
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::default();
        r.add(Fixed("c/s/before/n=1", Role::Before, 100.0));
        r.add(Fixed(
            "c/s/after/n=1",
            Role::After {
                before: "c/s/before/n=1".to_owned(),
            },
            10.0,
        ));
        r.add(Fixed("c/broken/x/n=1", Role::Alone, -1.0));
        r
    }

    #[test]
    fn a_worker_says_hello_then_answers_each_line_and_injects() {
        let timer = RealTimer::new();
        let ctx = RunContext {
            plan: Suite::Smoke.plan(),
            timer: &timer,
            swap_in_before: false,
        };
        let input = "c/s/after/n=1\n\nc/s/before/n=1\nno/such/id\nc/broken/x/n=1\n";
        let mut out = Vec::new();
        let inj = [Injection::parse("*/after/*=2").expect("valid")];
        serve(
            &registry(),
            Suite::Smoke,
            None,
            &inj,
            &ctx,
            input.as_bytes(),
            &mut out,
        )
        .expect("served");
        let text = String::from_utf8(out).expect("utf8");
        let mut lines = text.lines();
        let hello: Hello = serde_json::from_str(lines.next().expect("hello")).expect("hello json");
        assert_eq!(hello.protocol, PROTOCOL);
        assert_eq!(hello.ids.len(), 3);
        assert_eq!(hello.injected, vec!["*/after/*=2".to_owned()]);
        let replies: Vec<Reply> = lines
            .map(|l| serde_json::from_str(l).expect("reply json"))
            .collect();
        assert_eq!(replies.len(), 4, "one answer per non-empty line");
        let Reply::Scenario(after) = &replies[0] else {
            panic!("{:?}", replies[0]);
        };
        assert_eq!(after.before.as_deref(), Some("c/s/before/n=1"));
        assert_eq!(
            after.metrics[scenario::WALL_TIME.as_str()].value.as_f64(),
            20.0,
            "injected 2x"
        );
        assert!(matches!(&replies[2], Reply::Error(e) if e.contains("no/such/id")));
        assert!(matches!(&replies[3], Reply::Error(e) if e.contains("broken on purpose")));
        let Reply::Scenario(before) = &replies[1] else {
            panic!("{:?}", replies[1]);
        };
        let rec = assemble(
            &hello,
            vec![before.clone(), after.clone()],
            "t".into(),
            1.0,
            0.95,
        );
        let ratio = rec
            .metric("c/s/after/n=1", scenario::WALL_RATIO)
            .expect("in-run ratio assembled");
        assert!((ratio.value.as_f64() - 0.2).abs() < 1e-12);
    }
}
