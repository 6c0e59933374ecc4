//! NTP status (seed `ntp-status-centralization.md`): 9 recorder channels writing a file per simulated
//! minute, the status from a command per write versus a snapshot refreshed every 10 s.
//!
//! Simulated minutes run on `MockClock`, so the 10 s ticks cost nothing; the fake `chronyc` runs as a
//! real process, so its delay costs real time: on the write path of each channel (per-write; the 9
//! channels write in parallel, so a minute costs one delay) or in the updater (central: 6 refreshes a
//! minute, one after the other, so a minute costs 6 delays). Hence the smoke suite runs the 0 ms case
//! over 10 minutes (about 0.3 s) and the 200 ms case over 1 minute (1.2 s for central), and leaves the
//! hanging command (2 s timeout: 12 s a minute for central) and the 10-minute 200 ms case to the full
//! suite. The per-minute metrics do not depend on the number of minutes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use components::clock::{Clock, SystemClock};
use components::ntpstatus::{
    CentralStatus, CommandConfig, CommandSource, DEFAULT_CHANNELS, DEFAULT_STALE_AFTER,
    DEFAULT_TIMEOUT, PerWriteStatus, Recorder, RecorderConfig, StatusStrategy,
};
use fixtures::clock::MockClock;
use fixtures::fakecmd::{FakeNtpCommands, FakeOutput, FakeProgram};

use perfgate::measure::quantile_metric;
use perfgate::model::{Claim, ClaimCheck, Direction, Metric, MetricKind, MetricName, Value};
use perfgate::scenario::{Registry, RunContext};
use perfgate::stats;

const SEED: &str = "ntp-status-centralization.md";

/// Processes started per simulated minute, write path and updater together.
pub const PROCESSES_PER_MINUTE: MetricName = MetricName::new("processes_per_minute");
/// Processes started on the write path per simulated minute.
pub const WRITE_PATH_PROCESSES_PER_MINUTE: MetricName =
    MetricName::new("write_path_processes_per_minute");
/// Median time a write waited for its NTP status (real time, ns).
pub const WRITE_WAIT_P50: MetricName = MetricName::new("write_wait_p50");
/// 99th percentile (nearest rank) of the time a write waited for its NTP status (real time, ns).
pub const WRITE_WAIT_P99: MetricName = MetricName::new("write_wait_p99");
/// Files the recorder wrote.
pub const FILES_WRITTEN: MetricName = MetricName::new("files_written");

/// How the fake status command behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandDelay {
    /// Answers at once (a healthy chronyd: the cost is the process start).
    Zero,
    /// Answers after 200 ms (a busy or remote daemon).
    Ms200,
    /// Never answers: killed at the 2 s timeout (the seed's "each call blocked for ~2 seconds").
    Hang,
}

impl CommandDelay {
    fn name(self) -> &'static str {
        match self {
            Self::Zero => "0ms",
            Self::Ms200 => "200ms",
            Self::Hang => "hang",
        }
    }

    /// The fake `chronyc`/`ntpq` pair behaving like this.
    pub fn fake(self) -> Result<FakeNtpCommands, String> {
        let (chronyc, ntpq) = match self {
            Self::Zero => (FakeProgram::new(FakeOutput::Synced), FakeOutput::Synced),
            Self::Ms200 => (
                FakeProgram::new(FakeOutput::Synced).with_delay(Duration::from_millis(200)),
                FakeOutput::Synced,
            ),
            // ntpq absent: the status is "unknown" after one 2 s timeout, not after two.
            Self::Hang => (FakeProgram::new(FakeOutput::Hang), FakeOutput::Missing),
        };
        FakeNtpCommands::new(chronyc, FakeProgram::new(ntpq)).map_err(|e| e.to_string())
    }

    /// Whether the files must say "synced".
    fn synced(self) -> bool {
        self != Self::Hang
    }
}

pair_variants! {
    /// Which status strategy a scenario measures.
    pub enum StatusVariant {
        /// `PerWriteStatus`: the original, a command per file.
        PerWrite => PerWriteStatus::NAME,
        /// `CentralStatus`: one snapshot refreshed every 10 s.
        Central => CentralStatus::NAME,
    }
}

/// The command source over `fake` and the status strategy of `variant` on `clock`: the setup the
/// scenarios and the criterion bench share.
pub fn status_setup(
    fake: &FakeNtpCommands,
    variant: StatusVariant,
    clock: Arc<MockClock>,
) -> (Arc<CommandSource>, Arc<dyn StatusStrategy>) {
    let source = Arc::new(CommandSource::new(CommandConfig {
        chronyc: fake.chronyc_path(),
        ntpq: fake.ntpq_path(),
        timeout: DEFAULT_TIMEOUT,
    }));
    let strategy: Arc<dyn StatusStrategy> = match variant {
        StatusVariant::PerWrite => Arc::new(PerWriteStatus::new(Arc::clone(&source))),
        StatusVariant::Central => Arc::new(CentralStatus::new(
            Arc::clone(&source),
            clock,
            DEFAULT_STALE_AFTER,
        )),
    };
    (source, strategy)
}

/// One recording: 9 channels record `minutes` simulated minutes with the fake command answering
/// after `delay`. Its `Display` is the scenario id's scale, `delay=200ms,minutes=10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recording {
    /// How long the fake chronyc/ntpq takes.
    pub delay: CommandDelay,
    /// Simulated minutes recorded.
    pub minutes: u32,
}

impl std::fmt::Display for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "delay={},minutes={}", self.delay.name(), self.minutes)
    }
}

/// `ntpstatus/record/{per-write,central}/delay=D,minutes=M`: one recording with `variant`'s status.
pub fn record(
    variant: StatusVariant,
    rec: &Recording,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let fake = rec.delay.fake()?;
    let sim = Arc::new(MockClock::new());
    let (source, strategy) = status_setup(&fake, variant, sim.clone());
    let out = tempfile::Builder::new()
        .prefix("perfgate-ntpstatus-")
        .tempdir_in(super::scratch_dir())
        .map_err(|e| format!("cannot create the recorder's output dir: {e}"))?;
    let timer: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let report = Recorder::new(
        RecorderConfig::new(out.path(), rec.minutes),
        strategy,
        sim,
        timer,
    )
    // Between ticks nothing of the recorder runs: an A/B alternates base and head there.
    .run_with(|| ctx.timer.turn())
    .map_err(|e| e.to_string())?;

    // Correctness first: every file written, every spawn seen by the fake, the right status.
    let files = DEFAULT_CHANNELS as u64 * u64::from(rec.minutes);
    let spawned = report.write_path_spawns + report.refresh_spawns;
    let runs = fake.total_runs().map_err(|e| e.to_string())?;
    if report.files_written != files {
        return Err(format!(
            "{} files written, expected {files}",
            report.files_written
        ));
    }
    if spawned != source.spawned() || runs != spawned {
        return Err(format!(
            "spawn counts disagree: recorder {spawned}, source {}, fake program runs {runs}",
            source.spawned()
        ));
    }
    let want_synced = if rec.delay.synced() { files } else { 0 };
    if report.synced_files != want_synced || report.stale_files != 0 {
        return Err(format!(
            "{} of {files} files synced ({} stale), expected {want_synced} synced and none stale",
            report.synced_files, report.stale_files
        ));
    }

    let waits: Vec<f64> = report
        .write_waits
        .iter()
        .map(|d| d.as_nanos() as f64)
        .collect();
    let confidence = ctx.plan.confidence;
    let median = stats::summarize(&waits, confidence);
    Ok(BTreeMap::from([
        (
            PROCESSES_PER_MINUTE.into(),
            per_minute(spawned, rec.minutes),
        ),
        (
            WRITE_PATH_PROCESSES_PER_MINUTE.into(),
            per_minute(report.write_path_spawns, rec.minutes),
        ),
        (FILES_WRITTEN.into(), Metric::count(files, "files")),
        (
            WRITE_WAIT_P50.into(),
            Metric {
                kind: MetricKind::WallTime,
                unit: "ns".to_owned(),
                direction: Direction::LowerIsBetter,
                value: Value::Float(median.median),
                summary: Some(median),
                samples: waits.clone(),
                rounds: Vec::new(),
                quantile: None,
            },
        ),
        (
            WRITE_WAIT_P99.into(),
            quantile_metric(&waits, 0.99, confidence),
        ),
    ]))
}

/// An exact count per minute: an integer when it divides evenly (it does in every scenario here).
fn per_minute(count: u64, minutes: u32) -> Metric {
    let m = u64::from(minutes.max(1));
    let mut metric = Metric::count(count / m, "processes/min");
    if !count.is_multiple_of(m) {
        metric.value = Value::Float(count as f64 / m as f64);
    }
    metric
}

/// Registers the NTP status scenarios and claims.
pub fn register(r: &mut Registry) {
    let at = |delay, minutes| Recording { delay, minutes };
    let smoke = [at(CommandDelay::Zero, 10), at(CommandDelay::Ms200, 1)];
    let pair = r
        .pair(
            "ntpstatus/record",
            StatusVariant::PerWrite,
            StatusVariant::Central,
        )
        .cases([
            at(CommandDelay::Zero, 10),
            at(CommandDelay::Ms200, 1),
            at(CommandDelay::Ms200, 10),
            at(CommandDelay::Hang, 1),
        ])
        .smoke(move |_, rec| smoke.contains(rec))
        .metrics([
            PROCESSES_PER_MINUTE,
            WRITE_PATH_PROCESSES_PER_MINUTE,
            FILES_WRITTEN,
            WRITE_WAIT_P50,
            WRITE_WAIT_P99,
        ])
        .measure(record);
    let claim = |line, text: &str, check| Claim::new(SEED, line, text, check);
    let per_write = |delay, minutes| pair.before(at(delay, minutes));
    let central = |delay, minutes| pair.after(at(delay, minutes));
    r.claim(claim(
        19,
        "1 subprocess call / 10 seconds = 6 calls/minute total (for all channels)",
        ClaimCheck::AtMost {
            scenario: central(CommandDelay::Zero, 10),
            metric: PROCESSES_PER_MINUTE.into(),
            max: 6.0,
        },
    ));
    r.claim(claim(
        21,
        "67% reduction in subprocess calls (9 a minute before, 6 after)",
        ClaimCheck::RatioAtMost {
            before: per_write(CommandDelay::Zero, 10),
            after: central(CommandDelay::Zero, 10),
            metric: PROCESSES_PER_MINUTE.into(),
            max: 0.33,
        },
    ));
    r.claim(claim(
        22,
        "No blocking in critical write path (read as: no process started on the write path)",
        ClaimCheck::AtMost {
            scenario: central(CommandDelay::Ms200, 1),
            metric: WRITE_PATH_PROCESSES_PER_MINUTE.into(),
            max: 0.0,
        },
    ));
    r.claim(claim(
        193,
        "Critical write path: No blocking (was ~2s per file) (read as: p99 wait under 1 ms with a 200 ms command)",
        ClaimCheck::AtMost {
            scenario: central(CommandDelay::Ms200, 1),
            metric: WRITE_WAIT_P99.into(),
            max: 1e6,
        },
    ));
    r.claim(claim(
        204,
        "Faster file writing (no 2s wait per file) (read as: p99 wait under 1 ms with a hanging command; full suite)",
        ClaimCheck::AtMost {
            scenario: central(CommandDelay::Hang, 1),
            metric: WRITE_WAIT_P99.into(),
            max: 1e6,
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::scenario::{Role, Suite};

    #[test]
    fn per_minute_counts_stay_integers_when_they_divide() {
        assert_eq!(per_minute(90, 10).value, Value::Int(9));
        assert_eq!(per_minute(7, 2).value, Value::Float(3.5));
    }

    #[test]
    fn smoke_keeps_the_slow_cases_short_and_pairs_every_after() {
        let r = Registry::of(register);
        let ids = r.ids(Suite::Full);
        for s in r.scenarios() {
            if let Role::After { before } = s.role() {
                assert!(ids.contains(&before.as_str()), "{before}");
            }
            if s.in_smoke() && s.id().contains("delay=200ms") {
                assert!(s.id().ends_with("minutes=1"), "{}", s.id());
            }
            assert!(
                !(s.in_smoke() && s.id().contains("delay=hang")),
                "{}",
                s.id()
            );
        }
    }

    /// Runs the cheapest pair for real (fake chronyc with no delay, one minute): the after starts no
    /// process on the write path, the before nine a minute.
    #[test]
    fn the_zero_delay_pair_measures_spawns_and_the_swap_is_visible() {
        let timer = Turns::default();
        let ctx = RunContext {
            plan: perfgate::measure::SamplingPlan::SMOKE,
            timer: &timer,
            swap_in_before: false,
        };
        let one_minute = Recording {
            delay: CommandDelay::Zero,
            minutes: 1,
        };
        let run = |variant| record(variant, &one_minute, &ctx).expect("runs");
        let get = |m: &BTreeMap<String, Metric>, k: MetricName| m[k.as_str()].value;
        let before = run(StatusVariant::PerWrite);
        let after = run(StatusVariant::Central);
        assert_eq!(get(&before, PROCESSES_PER_MINUTE), Value::Int(9));
        assert_eq!(get(&before, WRITE_PATH_PROCESSES_PER_MINUTE), Value::Int(9));
        assert_eq!(get(&after, PROCESSES_PER_MINUTE), Value::Int(6));
        assert_eq!(get(&after, WRITE_PATH_PROCESSES_PER_MINUTE), Value::Int(0));
        assert_eq!(get(&after, FILES_WRITTEN), Value::Int(9));
        assert_eq!(after[WRITE_WAIT_P50.as_str()].samples.len(), 9);
        // Each recording offered a turn before each of its 6 ticks (an A/B alternates there).
        assert_eq!(timer.turns.get(), 12);
    }

    /// The real clock, counting the turns it is offered.
    #[derive(Default)]
    struct Turns {
        clock: perfgate::measure::RealTimer,
        turns: std::cell::Cell<usize>,
    }

    impl perfgate::measure::Timer for Turns {
        fn elapsed(&self) -> Duration {
            perfgate::measure::Timer::elapsed(&self.clock)
        }

        fn turn(&self) {
            self.turns.set(self.turns.get() + 1);
        }
    }
}
