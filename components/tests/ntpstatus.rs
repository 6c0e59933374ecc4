//! The NTP status command source against fake programs (chronyc first, ntpq as the fallback, what
//! each attempt gave), and the strategies and the recorder on `MockClock`: same answers from both
//! strategies, exact spawn counts, staleness, the write-path wait measured on the injected timer, bad
//! settings.
//! (An integration test, so `fixtures::clock::MockClock` implements the same `Clock` trait.)

use std::sync::Arc;
use std::time::Duration;

use components::clock::Clock;
use components::ntpstatus::*;
use fixtures::clock::MockClock;
use fixtures::fakecmd::{
    FakeNtpCommands, FakeOutput, FakeProgram, GENEROUS_TIMEOUT, SYNCED_CHRONYC_OFFSET_MS,
    SYNCED_NTPQ_OFFSET_MS, UNSYNCED_CHRONYC_OFFSET_MS,
};

/// The fake `chronyc` and `ntpq`, each printing its `output` at once.
fn fake_commands(chronyc: FakeOutput, ntpq: FakeOutput) -> FakeNtpCommands {
    FakeNtpCommands::new(FakeProgram::new(chronyc), FakeProgram::new(ntpq)).expect("fake")
}

fn source_for(fake: &FakeNtpCommands, timeout: Duration) -> CommandSource {
    CommandSource::new(CommandConfig {
        chronyc: fake.chronyc_path(),
        ntpq: fake.ntpq_path(),
        timeout,
    })
}

#[test]
fn source_prefers_chronyc_and_counts_one_process() {
    let fake = FakeNtpCommands::chronyc(FakeOutput::Synced, Duration::ZERO).expect("fake");
    let src = source_for(&fake, GENEROUS_TIMEOUT);
    let q = src.query();
    assert_eq!(q.chronyc, Attempt::Parsed);
    assert_eq!(q.ntpq, None);
    assert_eq!(q.spawned, 1);
    assert_eq!(q.status.source, StatusSource::Chronyc);
    assert_eq!(q.status.offset_ms, Some(SYNCED_CHRONYC_OFFSET_MS));
    assert!(q.status.synced);
    assert_eq!(src.spawned(), 1);
    assert_eq!(fake.runs("chronyc").expect("count"), 1);
    assert_eq!(fake.runs("ntpq").expect("count"), 0);
}

#[test]
fn source_falls_back_to_ntpq_and_reports_why() {
    for (chronyc, attempt, spawned) in [
        (FakeOutput::Missing, Attempt::Missing, 1),
        (FakeOutput::Fail, Attempt::Failed(Some(1)), 2),
    ] {
        let fake = fake_commands(chronyc, FakeOutput::Synced);
        let src = source_for(&fake, GENEROUS_TIMEOUT);
        let q = src.query();
        assert_eq!(q.chronyc, attempt);
        assert_eq!(q.ntpq, Some(Attempt::Parsed));
        assert_eq!(q.status.source, StatusSource::Ntpq);
        assert_eq!(q.status.offset_ms, Some(SYNCED_NTPQ_OFFSET_MS));
        assert_eq!(q.spawned, spawned);
        assert_eq!(fake.total_runs().expect("count"), u64::from(spawned));
    }
}

#[test]
fn garbage_or_missing_everywhere_is_unknown_not_an_error() {
    let fake = fake_commands(FakeOutput::Garbage, FakeOutput::Garbage);
    let q = source_for(&fake, GENEROUS_TIMEOUT).query();
    assert_eq!(q.status, NtpStatus::UNKNOWN);
    assert!(matches!(q.chronyc, Attempt::Unparsable(_)));
    assert!(matches!(
        q.ntpq,
        Some(Attempt::Unparsable(ParseError::MissingField {
            field: "offset",
            ..
        }))
    ));
    assert_eq!(q.spawned, 2);

    let none = fake_commands(FakeOutput::Missing, FakeOutput::Missing);
    let q = source_for(&none, GENEROUS_TIMEOUT).query();
    assert_eq!(q.status, NtpStatus::UNKNOWN);
    assert_eq!(q.spawned, 0);
}

#[test]
fn unsynced_outputs_keep_their_offset_but_are_not_synced() {
    let fake = FakeNtpCommands::chronyc(FakeOutput::Unsynced, Duration::ZERO).expect("fake");
    let q = source_for(&fake, GENEROUS_TIMEOUT).query();
    assert_eq!(q.status.offset_ms, Some(UNSYNCED_CHRONYC_OFFSET_MS));
    assert!(!q.status.synced);
    let fake = fake_commands(FakeOutput::Missing, FakeOutput::Unsynced);
    let q = source_for(&fake, GENEROUS_TIMEOUT).query();
    assert_eq!(q.status.stratum, Some(16));
    assert!(!q.status.synced);
}

/// The one test that waits in real time: a hanging program must be killed at the timeout. The timeout
/// is injected as 50 ms (not the default 2 s) to keep that wait short; it cannot be virtual, since the
/// child process runs in real time.
#[test]
fn a_hanging_program_is_killed_at_the_timeout_and_central_stays_usable() {
    let fake = fake_commands(FakeOutput::Hang, FakeOutput::Missing);
    let src = Arc::new(source_for(&fake, Duration::from_millis(50)));
    let clock = Arc::new(MockClock::new());
    let central = CentralStatus::new(Arc::clone(&src), clock.clone(), DEFAULT_STALE_AFTER);
    assert_eq!(central.refresh(), 1);
    assert_eq!(src.timeouts(), 1);
    let w = central.for_write();
    assert_eq!(w.spawned, 0);
    assert_eq!(w.ntp.source, StatusSource::Unknown);
    assert_eq!(w.ntp.offset_ms, None);
    assert!(!w.ntp.synced);
    assert!(!w.ntp.stale);
    let snap = central.snapshot().expect("a snapshot");
    assert_eq!(snap.status, NtpStatus::UNKNOWN);
}

#[test]
fn central_marks_a_stale_snapshot_unsynced_without_an_offset() {
    let fake = FakeNtpCommands::chronyc(FakeOutput::Synced, Duration::ZERO).expect("fake");
    let src = Arc::new(source_for(&fake, GENEROUS_TIMEOUT));
    let clock = Arc::new(MockClock::new());
    let central = CentralStatus::new(src, clock.clone(), Duration::from_secs(30));
    let before = central.for_write();
    assert_eq!(before.ntp.age, None, "no status before the first refresh");
    assert!(!before.ntp.synced);
    assert_eq!(central.refresh(), 1);
    clock.advance(Duration::from_secs(30));
    let at_limit = central.for_write();
    assert_eq!(at_limit.ntp.age, Some(Duration::from_secs(30)));
    assert!(at_limit.ntp.synced && !at_limit.ntp.stale);
    assert_eq!(at_limit.ntp.offset_ms, Some(SYNCED_CHRONYC_OFFSET_MS));
    clock.advance(Duration::from_millis(1));
    let stale = central.for_write();
    assert!(stale.ntp.stale);
    assert!(!stale.ntp.synced);
    assert_eq!(stale.ntp.offset_ms, None);
    assert_eq!(stale.ntp.source, StatusSource::Chronyc);
    assert_eq!(stale.spawned, 0);
    assert_eq!(
        fake.runs("chronyc").expect("count"),
        1,
        "reads spawn nothing"
    );
}

fn ntp_fields(dir: &std::path::Path, channels: usize, minutes: u32) -> Vec<String> {
    let mut out = Vec::new();
    for m in 0..minutes {
        for c in 0..channels {
            let text =
                std::fs::read_to_string(Recorder::file_path(dir, c, m)).expect("file written");
            let ntp = text
                .split("\"ntp\":{")
                .nth(1)
                .and_then(|r| r.split('}').next())
                .expect("ntp object");
            // Everything but the age, which differs by design.
            out.push(
                ntp.split(',')
                    .filter(|f| !f.starts_with("\"age_ms\""))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    out
}

fn record(strategy: &str, minutes: u32) -> (tempfile::TempDir, RecordReport, u64, u64) {
    let fake = FakeNtpCommands::chronyc(FakeOutput::Synced, Duration::ZERO).expect("fake");
    let src = Arc::new(source_for(&fake, GENEROUS_TIMEOUT));
    let clock = Arc::new(MockClock::new());
    let strategy: Arc<dyn StatusStrategy> = match strategy {
        "per-write" => Arc::new(PerWriteStatus::new(Arc::clone(&src))),
        _ => Arc::new(CentralStatus::new(
            Arc::clone(&src),
            clock.clone(),
            DEFAULT_STALE_AFTER,
        )),
    };
    let out = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::new(
        RecorderConfig::new(out.path(), minutes),
        strategy,
        clock.clone(),
        clock.clone(),
    );
    let report = rec.run().expect("records");
    assert_eq!(
        clock.elapsed(),
        Duration::from_secs(60 * u64::from(minutes))
    );
    (
        out,
        report,
        src.spawned(),
        fake.total_runs().expect("count"),
    )
}

#[test]
fn both_strategies_write_the_same_status_and_central_spawns_a_third_less() {
    let minutes = 3;
    let (per_dir, per, per_spawned, per_runs) = record("per-write", minutes);
    let (cen_dir, cen, cen_spawned, cen_runs) = record("central", minutes);
    for r in [&per, &cen] {
        assert_eq!(r.files_written, 27);
        assert_eq!(r.synced_files, 27);
        assert_eq!(r.stale_files, 0);
        assert_eq!(r.write_waits.len(), 27);
    }
    assert_eq!((per.write_path_spawns, per.refresh_spawns), (27, 0));
    assert_eq!((cen.write_path_spawns, cen.refresh_spawns), (0, 18));
    assert_eq!(cen.refreshes, 18, "6 a minute");
    assert_eq!(
        (per_spawned, per_runs),
        (27, 27),
        "the fake saw every spawn"
    );
    assert_eq!((cen_spawned, cen_runs), (18, 18));
    let (a, b) = (
        ntp_fields(per_dir.path(), 9, minutes),
        ntp_fields(cen_dir.path(), 9, minutes),
    );
    assert_eq!(a, b);
    assert!(a[0].contains("\"offset_ms\":0.006523"), "{}", a[0]);
    assert!(a[0].contains("\"synced\":true"), "{}", a[0]);
    let leftovers: Vec<_> = std::fs::read_dir(cen_dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// A strategy whose write path waits `wait` on the given (mock) clock.
struct Waiting {
    clock: Arc<MockClock>,
    wait: Duration,
}

impl StatusStrategy for Waiting {
    fn name(&self) -> &'static str {
        "waiting"
    }
    fn for_write(&self) -> WriteStatus {
        self.clock.sleep(self.wait);
        WriteStatus {
            ntp: FileNtp {
                offset_ms: Some(1.0),
                synced: true,
                source: StatusSource::Chronyc,
                age: Some(Duration::ZERO),
                stale: false,
            },
            spawned: 1,
        }
    }
    fn refresh(&self) -> u32 {
        0
    }
}

#[test]
fn the_recorder_measures_each_write_path_wait_on_its_timer() {
    let sim = Arc::new(MockClock::new());
    let timer = Arc::new(MockClock::new());
    let out = tempfile::tempdir().expect("tempdir");
    let config = RecorderConfig {
        channels: 1,
        ..RecorderConfig::new(out.path(), 4)
    };
    let strategy = Arc::new(Waiting {
        clock: Arc::clone(&timer),
        wait: Duration::from_millis(7),
    });
    let report = Recorder::new(config, strategy, sim.clone(), timer.clone())
        .run()
        .expect("records");
    assert_eq!(report.write_waits, vec![Duration::from_millis(7); 4]);
    assert_eq!(report.write_path_spawns, 4);
    assert_eq!(sim.sleeps(), 24, "one virtual sleep per 10 s tick");
}

/// A strategy that proves a minute's writes and its last refresh run at the same time: the refresh
/// that ends a minute waits for that minute's 9 writes, and each write waits for that refresh to
/// have started. Run one after the other, whichever comes first waits in vain; the waits give up
/// after 10 s of real time (the failure case only) and count themselves.
#[derive(Default)]
struct Overlap {
    state: std::sync::Mutex<OverlapState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct OverlapState {
    refreshes: u32,
    minute_refreshes: u32,
    writes_started: u32,
    writes_done: u32,
    gave_up: u32,
}

const GIVE_UP: Duration = Duration::from_secs(10);

impl StatusStrategy for Overlap {
    fn name(&self) -> &'static str {
        "overlap"
    }
    fn for_write(&self) -> WriteStatus {
        let mut s = self.state.lock().expect("lock");
        let minute = s.writes_started / 9;
        s.writes_started += 1;
        let (mut s, wait) = self
            .changed
            .wait_timeout_while(s, GIVE_UP, |s| s.minute_refreshes <= minute)
            .expect("lock");
        s.gave_up += u32::from(wait.timed_out());
        s.writes_done += 1;
        self.changed.notify_all();
        WriteStatus {
            ntp: FileNtp {
                offset_ms: None,
                synced: false,
                source: StatusSource::Unknown,
                age: None,
                stale: false,
            },
            spawned: 0,
        }
    }
    fn refresh(&self) -> u32 {
        let mut s = self.state.lock().expect("lock");
        s.refreshes += 1;
        if s.refreshes.is_multiple_of(6) {
            s.minute_refreshes += 1;
            self.changed.notify_all();
            let want = 9 * s.minute_refreshes;
            let (mut s, wait) = self
                .changed
                .wait_timeout_while(s, GIVE_UP, |s| s.writes_done < want)
                .expect("lock");
            s.gave_up += u32::from(wait.timed_out());
        }
        0
    }
}

/// Every minute's writes run while a refresh is in flight, the last minute's too: with one minute
/// (the 200 ms scenario) a refresh that held the snapshot's lock while its command ran would
/// otherwise never be in a write's way, and the write-path waits could not show it.
#[test]
fn every_minutes_writes_run_while_a_refresh_is_in_flight() {
    for minutes in [1, 2] {
        let sim = Arc::new(MockClock::new());
        let out = tempfile::tempdir().expect("tempdir");
        let strategy = Arc::new(Overlap::default());
        let report = Recorder::new(
            RecorderConfig::new(out.path(), minutes),
            strategy.clone(),
            sim.clone(),
            sim.clone(),
        )
        .run()
        .expect("records");
        assert_eq!(report.refreshes, 6 * u64::from(minutes), "6 a minute");
        let s = strategy.state.lock().expect("lock");
        assert_eq!(s.writes_done, 9 * minutes);
        assert_eq!(
            s.gave_up, 0,
            "a write or a refresh waited for the other in vain"
        );
    }
}

/// The hook between ticks runs once before each tick, on the recording thread, when nothing of the
/// recorder is running (every write of a minute is done before the next tick's hook), and the
/// recording is the one `run` makes.
#[test]
fn the_recorder_offers_a_pause_before_each_tick_and_records_the_same() {
    let fake = FakeNtpCommands::chronyc(FakeOutput::Synced, Duration::ZERO).expect("fake");
    let src = Arc::new(source_for(&fake, GENEROUS_TIMEOUT));
    let sim = Arc::new(MockClock::new());
    let strategy: Arc<dyn StatusStrategy> = Arc::new(CentralStatus::new(
        Arc::clone(&src),
        sim.clone(),
        DEFAULT_STALE_AFTER,
    ));
    let out = tempfile::tempdir().expect("tempdir");
    let recorder = Recorder::new(
        RecorderConfig::new(out.path(), 2),
        strategy,
        sim.clone(),
        sim.clone(),
    );
    let written = || {
        std::fs::read_dir(out.path())
            .expect("out dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count()
    };
    let (mut seen, mut files_at) = (Vec::new(), Vec::new());
    let report = recorder
        .run_with(|| {
            seen.push(sim.elapsed());
            files_at.push(written());
        })
        .expect("records");
    let tick = Duration::from_secs(10);
    assert_eq!(seen, (0..12).map(|k| tick * k).collect::<Vec<_>>());
    // Before the 7th tick (end of minute 1) the 9 files of minute 0 are all there, none of minute 1.
    assert_eq!(files_at[..7], [0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(files_at[11], 9);
    let (_out, plain, _, _) = record("central", 2);
    assert_eq!(report.files_written, plain.files_written);
    assert_eq!(report.refreshes, plain.refreshes);
    assert_eq!(report.synced_files, plain.synced_files);
}

#[test]
fn bad_recorder_settings_name_the_field() {
    let out = tempfile::tempdir().expect("tempdir");
    let clock: Arc<dyn Clock> = Arc::new(MockClock::new());
    let strategy: Arc<dyn StatusStrategy> = Arc::new(Waiting {
        clock: Arc::new(MockClock::new()),
        wait: Duration::ZERO,
    });
    for (config, field) in [
        (
            RecorderConfig {
                channels: 0,
                ..RecorderConfig::new(out.path(), 1)
            },
            "channels",
        ),
        (RecorderConfig::new(out.path(), 0), "minutes"),
        (
            RecorderConfig {
                refresh_every: Duration::from_secs(7),
                ..RecorderConfig::new(out.path(), 1)
            },
            "refresh_every",
        ),
    ] {
        let e = Recorder::new(config, Arc::clone(&strategy), clock.clone(), clock.clone())
            .run()
            .expect_err(field);
        assert!(e.to_string().contains(field), "{e}");
    }
    let blocked = out.path().join("file");
    std::fs::write(&blocked, b"x").expect("write");
    let e = Recorder::new(
        RecorderConfig::new(blocked.join("sub"), 1),
        strategy,
        clock.clone(),
        clock,
    )
    .run()
    .expect_err("a file in the way");
    assert!(e.to_string().contains("sub"), "{e}");
}
