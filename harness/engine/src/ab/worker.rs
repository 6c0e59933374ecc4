//! The worker protocol: a `perfgate worker` process runs one scenario per line of its input and
//! answers each with a JSON line, so an A/B can alternate base and head scenario by scenario,
//! seconds apart, instead of whole runs minutes apart; with turns ([`lockstep`]) the two take turns
//! sample by sample, milliseconds apart.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::inject::{self, Injection};
use crate::measure::Timer;
use crate::model::{Claim, GitInfo, MachineInfo, RunRecord, ScenarioRecord, Toolchain};
use crate::scenario::{self, Registry, Role, RunContext, Suite};
use crate::{analysis, machine};

/// The protocol's name and version, in the first line a worker writes.
pub const PROTOCOL: &str = "perfgate.worker/1";

/// An input line `turns ID` runs scenario `ID` with turns: before its warm-up and before each
/// timed sample the worker writes [`TURN`] and waits for a [`GO`] line.
pub const TURNS_PREFIX: &str = "turns ";
/// What a worker writes when it stops for its turn.
pub const TURN: &str = "turn";
/// What the A/B answers when it is the worker's turn again.
pub const GO: &str = "go";
/// The most turns one scenario may take (its warm-ups and samples), so a broken worker cannot keep
/// the A/B alternating forever.
pub const MAX_TURNS: usize = 100_000;

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
    /// Whether it takes turns (`turns ID` lines); a worker from before turns says nothing.
    #[serde(default)]
    pub turns: bool,
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

/// The worker's two ends, shared by its loop and the [`TurnTimer`] of the scenario it runs.
struct Link<I, O> {
    input: RefCell<I>,
    output: RefCell<O>,
}

impl<I: BufRead, O: Write> Link<I, O> {
    fn write(&self, line: &str) -> std::io::Result<()> {
        let mut out = self.output.borrow_mut();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// The next line without its line end; `None` at the end of the input.
    fn read(&self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        let n = self.input.borrow_mut().read_line(&mut line)?;
        Ok((n > 0).then(|| line.trim_end_matches(['\n', '\r']).to_owned()))
    }
}

/// The worker's timer: the real one, and while a scenario runs with turns, each
/// [`Timer::turn`] says [`TURN`] and blocks until the A/B answers [`GO`].
struct TurnTimer<'a, I, O> {
    inner: &'a dyn Timer,
    link: &'a Link<I, O>,
    on: std::cell::Cell<bool>,
}

impl<I: BufRead, O: Write> Timer for TurnTimer<'_, I, O> {
    fn elapsed(&self) -> std::time::Duration {
        self.inner.elapsed()
    }

    fn turn(&self) {
        if !self.on.get() {
            return;
        }
        // A coordinator that went away or answered something else ends the turns for this
        // scenario: it runs on alone and its answer goes nowhere.
        let answered = self.link.write(TURN).and_then(|()| self.link.read());
        if !matches!(answered, Ok(Some(ref line)) if line.trim() == GO) {
            self.on.set(false);
        }
    }
}

/// Serves `input` in the worker process: one scenario id per line (`turns ID` to take turns),
/// one [`Reply`] per line on `output`, until the input ends. The first line written is the
/// [`Hello`].
pub fn serve(
    registry: &Registry,
    suite: Suite,
    filter: Option<&str>,
    injections: &[Injection],
    ctx: &RunContext<'_>,
    input: impl BufRead,
    output: impl Write,
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
        turns: true,
    };
    let link = Link {
        input: RefCell::new(input),
        output: RefCell::new(output),
    };
    let timer = TurnTimer {
        inner: ctx.timer,
        link: &link,
        on: std::cell::Cell::new(false),
    };
    let turn_ctx = RunContext {
        plan: ctx.plan,
        timer: &timer,
        swap_in_before: ctx.swap_in_before,
    };
    link.write(&serde_json::to_string(&hello).unwrap_or_default())
        .map_err(io)?;
    while let Some(line) = link.read().map_err(io)? {
        let (id, turns) = match line.trim().strip_prefix(TURNS_PREFIX) {
            Some(id) => (id.trim(), true),
            None => (line.trim(), false),
        };
        if id.is_empty() {
            continue;
        }
        let reply = match selected.iter().find(|s| s.id() == id) {
            None => Reply::Error(format!("no selected scenario {id:?}")),
            Some(s) => {
                let t0 = Instant::now();
                timer.on.set(turns);
                let result = s.run(&turn_ctx);
                timer.on.set(false);
                match result {
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
        link.write(&serde_json::to_string(&reply).unwrap_or_default())
            .map_err(io)?;
    }
    Ok(())
}

/// What a worker said while running a scenario.
#[derive(Debug)]
pub enum Event {
    /// It stopped for its turn and waits for [`Worker::go`].
    Turn,
    /// It finished: the scenario's record.
    Done(ScenarioRecord),
}

/// One side of a [`lockstep`]: a [`Worker`], or a scripted one in tests.
pub trait TakesTurns {
    /// Writes one line to it.
    fn send(&mut self, line: &str) -> Result<(), Error>;
    /// Waits for its next turn or answer.
    fn listen(&mut self) -> Result<Event, Error>;
    /// Gives it its turn and waits for what it says next.
    fn go(&mut self) -> Result<Event, Error> {
        self.send(GO)?;
        self.listen()
    }
}

impl TakesTurns for Worker {
    fn send(&mut self, line: &str) -> Result<(), Error> {
        Worker::send(self, line)
    }
    fn listen(&mut self) -> Result<Event, Error> {
        Worker::listen(self)
    }
}

/// Runs `id` in both workers with turns, `first` first, and returns their records in that order.
/// Each runs its setup alone up to its first turn; then they alternate turn by turn in ABBA order
/// (first, second, second, first, first, ...), so a change of the CPU's speed hits both alike;
/// once one is done the other runs on alone. At most [`MAX_TURNS`] turns each.
pub fn lockstep(
    first: &mut dyn TakesTurns,
    second: &mut dyn TakesTurns,
    id: &str,
) -> Result<(ScenarioRecord, ScenarioRecord), Error> {
    first.send(&format!("{TURNS_PREFIX}{id}"))?;
    let mut a = first.listen()?;
    second.send(&format!("{TURNS_PREFIX}{id}"))?;
    let mut b = second.listen()?;
    for k in 0..2 * MAX_TURNS {
        match (&a, &b) {
            (Event::Done(_), Event::Done(_)) => break,
            (Event::Turn, Event::Done(_)) => a = first.go()?,
            (Event::Done(_), Event::Turn) => b = second.go()?,
            (Event::Turn, Event::Turn) => {
                // ABBA: turns 0, 3, 4, 7, 8, ... are the first's.
                if k.div_ceil(2) % 2 == 0 {
                    a = first.go()?;
                } else {
                    b = second.go()?;
                }
            }
        }
    }
    match (a, b) {
        (Event::Done(a), Event::Done(b)) => Ok((a, b)),
        _ => Err(Error::Scenario {
            id: id.to_owned(),
            what: format!("took more than {MAX_TURNS} turns"),
        }),
    }
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

    /// Waits for the answer to the last [`Worker::send`] (a scenario sent without turns).
    pub fn receive(&mut self) -> Result<ScenarioRecord, Error> {
        match self.listen()? {
            Event::Done(rec) => Ok(rec),
            Event::Turn => Err(Error::Scenario {
                id: format!("{} worker", self.side),
                what: format!("took a turn it was not given (log {})", self.log.display()),
            }),
        }
    }

    /// Waits for its next line: a turn or the scenario's answer.
    pub fn listen(&mut self) -> Result<Event, Error> {
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
        if line.trim_end() == TURN {
            return Ok(Event::Turn);
        }
        match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::Scenario(s)) => Ok(Event::Done(s)),
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

    /// What a worker serving `registry`'s smoke suite with `injections` writes for `input`.
    fn serve_smoke(registry: &Registry, injections: &[Injection], input: &str) -> String {
        let timer = RealTimer::new();
        let ctx = RunContext {
            plan: Suite::Smoke.plan(),
            timer: &timer,
            swap_in_before: false,
        };
        let mut out = Vec::new();
        serve(
            registry,
            Suite::Smoke,
            None,
            injections,
            &ctx,
            input.as_bytes(),
            &mut out,
        )
        .expect("served");
        String::from_utf8(out).expect("utf8")
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
        let inj = [Injection::parse("*/after/*=2").expect("valid")];
        let text = serve_smoke(
            &registry(),
            &inj,
            "c/s/after/n=1\n\nc/s/before/n=1\nno/such/id\nc/broken/x/n=1\n",
        );
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

    /// A scenario that stops for three turns, like a sampler's warm-up and two samples.
    struct Turning;

    impl Scenario for Turning {
        fn id(&self) -> &str {
            "c/turns/x/n=1"
        }
        fn role(&self) -> Role {
            Role::Alone
        }
        fn run(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
            for _ in 0..3 {
                ctx.timer.turn();
            }
            Ok(BTreeMap::from([(
                scenario::WALL_TIME.into(),
                wall(&[1.0, 1.0]),
            )]))
        }
    }

    #[test]
    fn a_worker_takes_turns_only_when_the_line_asks_for_them() {
        let text = serve_smoke(
            &Registry::of(|r| r.add(Turning)),
            &[],
            "turns c/turns/x/n=1\ngo\ngo\ngo\nc/turns/x/n=1\n",
        );
        let lines: Vec<&str> = text.lines().collect();
        let hello: Hello = serde_json::from_str(lines[0]).expect("hello json");
        assert!(hello.turns);
        assert_eq!(
            &lines[1..4],
            [TURN, TURN, TURN],
            "one turn per go, then the answer"
        );
        assert_eq!(
            lines.len(),
            6,
            "the second run, without turns, says no turn: {lines:?}"
        );
        for answer in &lines[4..] {
            assert!(matches!(
                serde_json::from_str(answer),
                Ok(Reply::Scenario(_))
            ));
        }
    }

    /// A scripted worker: after its scenario line it takes `turns` turns, logging each go it is
    /// given, then answers. Any other line panics.
    struct Scripted {
        name: &'static str,
        turns: usize,
        started: bool,
        log: std::rc::Rc<RefCell<Vec<&'static str>>>,
    }

    impl TakesTurns for Scripted {
        fn send(&mut self, line: &str) -> Result<(), Error> {
            match line.strip_prefix(TURNS_PREFIX) {
                Some(_) if !self.started => self.started = true,
                None if line == GO && self.started => self.log.borrow_mut().push(self.name),
                _ => panic!("{} was sent an unexpected {line:?}", self.name),
            }
            Ok(())
        }
        fn listen(&mut self) -> Result<Event, Error> {
            if self.turns == 0 {
                return Ok(Event::Done(ScenarioRecord {
                    id: self.name.to_owned(),
                    before: None,
                    metrics: BTreeMap::new(),
                    duration_s: 0.0,
                }));
            }
            self.turns -= 1;
            Ok(Event::Turn)
        }
    }

    fn lockstep_of(a: usize, b: usize) -> Result<(Vec<&'static str>, String, String), Error> {
        let log = std::rc::Rc::new(RefCell::new(Vec::new()));
        let mut first = Scripted {
            name: "A",
            turns: a,
            started: false,
            log: log.clone(),
        };
        let mut second = Scripted {
            name: "B",
            turns: b,
            started: false,
            log: log.clone(),
        };
        let (x, y) = lockstep(&mut first, &mut second, "c/s/x/n=1")?;
        let order = log.borrow().clone();
        Ok((order, x.id, y.id))
    }

    #[test]
    fn lockstep_alternates_abba_and_lets_the_slower_one_finish_alone() {
        let (order, first, second) = lockstep_of(3, 3).expect("both finish");
        assert_eq!(order, ["A", "B", "B", "A", "A", "B"]);
        assert_eq!((first.as_str(), second.as_str()), ("A", "B"));
        let (order, _, _) = lockstep_of(1, 3).expect("both finish");
        assert_eq!(order, ["A", "B", "B", "B"]);
        let (order, _, _) = lockstep_of(0, 0).expect("neither samples");
        assert!(order.is_empty(), "a scenario without samples takes no turn");
        let err = lockstep_of(0, usize::MAX).expect_err("bounded");
        assert!(err.to_string().contains("more than"), "{err}");
    }
}
