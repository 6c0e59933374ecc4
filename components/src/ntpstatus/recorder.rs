//! The recorder: N channels, each writing one file per simulated minute that carries the NTP status,
//! with the status taken per write ([`PerWriteStatus`]) or from a shared snapshot ([`CentralStatus`]).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use super::source::CommandSource;
use super::{NtpStatus, StatusSource, json_number};
use crate::clock::{Clock, MonoInstant};

/// Channels of the seed's recorder.
pub const DEFAULT_CHANNELS: usize = 9;
/// How often the central updater refreshes the snapshot (and how often the main loop ticks).
pub const DEFAULT_REFRESH_EVERY: Duration = Duration::from_secs(10);
/// A snapshot older than this marks files unsynced: three missed refreshes.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30);
/// Most channels a recorder accepts (a thread each per minute).
const MAX_CHANNELS: usize = 256;
/// Most simulated minutes one run accepts.
const MAX_MINUTES: u32 = 7 * 24 * 60;
/// Data samples per file: one per second of the minute.
const SAMPLES_PER_FILE: usize = 60;

/// The NTP fields a file records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileNtp {
    /// Offset in ms (positive = system clock behind NTP time); `None` when unknown or stale.
    pub offset_ms: Option<f64>,
    /// Whether the clock counted as synced when the file was written (false when stale).
    pub synced: bool,
    /// Where the status came from.
    pub source: StatusSource,
    /// Age of the status when the file was written; `None` when there was no status yet.
    pub age: Option<Duration>,
    /// Whether the status was older than the stale limit (its offset is then not recorded).
    pub stale: bool,
}

impl FileNtp {
    fn fresh(status: NtpStatus) -> Self {
        Self {
            offset_ms: status.offset_ms,
            synced: status.synced,
            source: status.source,
            age: Some(Duration::ZERO),
            stale: false,
        }
    }
}

/// What the write path got from a strategy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WriteStatus {
    /// The fields to record.
    pub ntp: FileNtp,
    /// Processes started to get them (on the write path).
    pub spawned: u32,
}

/// Where a file's NTP status comes from. `for_write` is on the write path of every channel;
/// `refresh` is the main loop's, called every [`RecorderConfig::refresh_every`].
pub trait StatusStrategy: Send + Sync {
    /// Mechanism name, for ids and messages.
    fn name(&self) -> &'static str;
    /// The status for a file being written now.
    fn for_write(&self) -> WriteStatus;
    /// The main loop's periodic update; returns the processes it started.
    fn refresh(&self) -> u32;
}

/// The original: every write runs the status command itself (blocking up to the timeout).
#[derive(Debug)]
pub struct PerWriteStatus {
    source: Arc<CommandSource>,
}

impl PerWriteStatus {
    /// Runs `source` on every write.
    pub fn new(source: Arc<CommandSource>) -> Self {
        Self { source }
    }
}

impl PerWriteStatus {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "per-write";
}

impl StatusStrategy for PerWriteStatus {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn for_write(&self) -> WriteStatus {
        let q = self.source.query();
        WriteStatus {
            ntp: FileNtp::fresh(q.status),
            spawned: q.spawned,
        }
    }

    fn refresh(&self) -> u32 {
        0
    }
}

/// A status reading and when it was taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// The reading.
    pub status: NtpStatus,
    /// When the command answered, on the strategy's clock.
    pub taken_at: MonoInstant,
}

/// The seed's intent: one updater refreshes a shared snapshot; writers copy it under a read lock held
/// for a few nanoseconds (the command runs outside the lock), so the write path never waits for a
/// process. A snapshot older than `stale_after` gives files "unsynced" and no offset.
pub struct CentralStatus {
    source: Arc<CommandSource>,
    clock: Arc<dyn Clock>,
    stale_after: Duration,
    snapshot: RwLock<Option<Snapshot>>,
}

impl CentralStatus {
    /// A strategy refreshing from `source`, ageing snapshots on `clock`.
    pub fn new(source: Arc<CommandSource>, clock: Arc<dyn Clock>, stale_after: Duration) -> Self {
        Self {
            source,
            clock,
            stale_after,
            snapshot: RwLock::new(None),
        }
    }

    /// A copy of the current snapshot, if a refresh has completed.
    pub fn snapshot(&self) -> Option<Snapshot> {
        // A poisoned lock still holds a whole `Option<Snapshot>` (a plain copy): use it.
        *self.snapshot.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stale limit.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }
}

impl CentralStatus {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "central";
}

impl StatusStrategy for CentralStatus {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn for_write(&self) -> WriteStatus {
        let ntp = match self.snapshot() {
            None => FileNtp {
                offset_ms: None,
                synced: false,
                source: StatusSource::Unknown,
                age: None,
                stale: false,
            },
            Some(s) => {
                let age = self.clock.now() - s.taken_at;
                let stale = age > self.stale_after;
                FileNtp {
                    offset_ms: if stale { None } else { s.status.offset_ms },
                    synced: s.status.synced && !stale,
                    source: s.status.source,
                    age: Some(age),
                    stale,
                }
            }
        };
        WriteStatus { ntp, spawned: 0 }
    }

    fn refresh(&self) -> u32 {
        let q = self.source.query();
        let snap = Snapshot {
            status: q.status,
            taken_at: self.clock.now(),
        };
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(snap);
        q.spawned
    }
}

/// What went wrong while recording.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A configuration value out of range.
    #[error("recorder setting `{field}` = {value} is not valid: {fix}")]
    BadConfig {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What to set instead.
        fix: &'static str,
    },
    /// Writing a file failed.
    #[error("cannot write `{}`: {source}; check that the directory exists and is writable", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A channel's writer thread panicked.
    #[error(
        "the writer of channel {channel} panicked in minute {minute}; see the panic message above"
    )]
    WriterPanicked {
        /// The channel.
        channel: usize,
        /// The simulated minute.
        minute: u32,
    },
    /// The status updater's thread panicked.
    #[error("the NTP status updater panicked in minute {minute}; see the panic message above")]
    UpdaterPanicked {
        /// The simulated minute.
        minute: u32,
    },
}

/// How a recorder runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RecorderConfig {
    /// Channels, each writing one file per minute (1..=256).
    pub channels: usize,
    /// Simulated minutes to record (1..=10080).
    pub minutes: u32,
    /// Main-loop tick and refresh interval; must divide one minute.
    pub refresh_every: Duration,
    /// Where the files go (created if missing).
    pub out_dir: PathBuf,
}

impl RecorderConfig {
    /// The seed's set-up: 9 channels, 10 s refresh, writing under `out_dir`.
    pub fn new(out_dir: impl Into<PathBuf>, minutes: u32) -> Self {
        Self {
            channels: DEFAULT_CHANNELS,
            minutes,
            refresh_every: DEFAULT_REFRESH_EVERY,
            out_dir: out_dir.into(),
        }
    }

    fn ticks_per_minute(&self) -> Result<u32, RecorderError> {
        let ms = self.refresh_every.as_millis();
        if !(1..=60_000).contains(&ms)
            || 60_000 % ms != 0
            || !self.refresh_every.subsec_nanos().is_multiple_of(1_000_000)
        {
            return Err(RecorderError::BadConfig {
                field: "refresh_every",
                value: format!("{:?}", self.refresh_every),
                fix: "use a whole number of milliseconds that divides 60 s, e.g. 10 s",
            });
        }
        u32::try_from(60_000 / ms).map_err(|_| RecorderError::BadConfig {
            field: "refresh_every",
            value: format!("{:?}", self.refresh_every),
            fix: "use a whole number of milliseconds that divides 60 s, e.g. 10 s",
        })
    }

    fn validate(&self) -> Result<u32, RecorderError> {
        if !(1..=MAX_CHANNELS).contains(&self.channels) {
            return Err(RecorderError::BadConfig {
                field: "channels",
                value: self.channels.to_string(),
                fix: "use 1 to 256 channels (the seed's recorder has 9)",
            });
        }
        if !(1..=MAX_MINUTES).contains(&self.minutes) {
            return Err(RecorderError::BadConfig {
                field: "minutes",
                value: self.minutes.to_string(),
                fix: "use 1 to 10080 minutes (one week)",
            });
        }
        self.ticks_per_minute()
    }
}

/// What a recording did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordReport {
    /// Files written (channels × minutes on success).
    pub files_written: u64,
    /// Time each write waited for its NTP status, on the recorder's timer, in write order per minute.
    pub write_waits: Vec<Duration>,
    /// Processes started on the write path.
    pub write_path_spawns: u64,
    /// Processes started by the main loop's refreshes.
    pub refresh_spawns: u64,
    /// Refreshes the main loop made.
    pub refreshes: u64,
    /// Files whose status was synced.
    pub synced_files: u64,
    /// Files whose status was stale.
    pub stale_files: u64,
}

/// N channels writing a file per simulated minute, the status coming from a [`StatusStrategy`].
///
/// Simulated time runs on `clock` (a mock clock makes a minute cost nothing); the write-path wait is
/// measured on `timer` (the system clock in scenarios: the status command runs in real time).
pub struct Recorder {
    config: RecorderConfig,
    strategy: Arc<dyn StatusStrategy>,
    clock: Arc<dyn Clock>,
    timer: Arc<dyn Clock>,
}

struct Written {
    waited: Duration,
    spawned: u32,
    ntp: FileNtp,
}

impl Recorder {
    /// A recorder; nothing runs until [`Recorder::run`].
    pub fn new(
        config: RecorderConfig,
        strategy: Arc<dyn StatusStrategy>,
        clock: Arc<dyn Clock>,
        timer: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            strategy,
            clock,
            timer,
        }
    }

    /// The path of a channel's minute file.
    pub fn file_path(out_dir: &Path, channel: usize, minute: u32) -> PathBuf {
        out_dir.join(format!("ch{channel:02}-m{minute:05}.json"))
    }

    /// Records `minutes` minutes. The main loop refreshes at t = 0, 10 s, …; at the end of every
    /// minute each channel writes its file on its own thread, while that tick's refresh runs alongside
    /// (as in the seed, where the main loop and the channels are separate threads).
    pub fn run(&self) -> Result<RecordReport, RecorderError> {
        self.run_with(|| {})
    }

    /// [`Recorder::run`], calling `between_ticks` on this thread before each 10 s tick: a point
    /// where no writer, refresh or status command of the recorder is running, so a harness may
    /// pause it there (an A/B hands the CPU to the other build and waits for its turn back).
    ///
    /// Each tick ends with a refresh; on a minute's last tick the refresh runs on its own thread
    /// while the channels write, so every minute's writes meet a status command in flight (with
    /// one minute too: a write that waited for the refresh shows in its wait).
    pub fn run_with(&self, mut between_ticks: impl FnMut()) -> Result<RecordReport, RecorderError> {
        let ticks_per_minute = self.config.validate()?;
        let dir = &self.config.out_dir;
        fs::create_dir_all(dir).map_err(|source| RecorderError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut report = RecordReport::default();
        let total_ticks = self.config.minutes * ticks_per_minute;
        for tick in 1..=total_ticks {
            between_ticks();
            self.clock.sleep(self.config.refresh_every);
            if tick % ticks_per_minute != 0 {
                report.refresh_spawns += u64::from(self.strategy.refresh());
                report.refreshes += 1;
                continue;
            }
            let minute = tick / ticks_per_minute - 1;
            let (refreshed, written) = std::thread::scope(|scope| {
                let updater = scope.spawn(|| self.strategy.refresh());
                let writers: Vec<_> = (0..self.config.channels)
                    .map(|channel| scope.spawn(move || self.write_one(channel, minute)))
                    .collect();
                let written: Vec<_> = writers
                    .into_iter()
                    .enumerate()
                    .map(|(channel, h)| {
                        h.join()
                            .unwrap_or(Err(RecorderError::WriterPanicked { channel, minute }))
                    })
                    .collect();
                (updater.join(), written)
            });
            let spawned = refreshed.map_err(|_| RecorderError::UpdaterPanicked { minute })?;
            report.refresh_spawns += u64::from(spawned);
            report.refreshes += 1;
            for w in written {
                let w = w?;
                report.files_written += 1;
                report.write_waits.push(w.waited);
                report.write_path_spawns += u64::from(w.spawned);
                report.synced_files += u64::from(w.ntp.synced);
                report.stale_files += u64::from(w.ntp.stale);
            }
        }
        Ok(report)
    }

    fn write_one(&self, channel: usize, minute: u32) -> Result<Written, RecorderError> {
        let t0 = self.timer.now();
        let status = self.strategy.for_write();
        let waited = self.timer.now() - t0;
        let wall_ms = self
            .clock
            .wall()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let body = file_json(channel, minute, wall_ms, &status.ntp);
        let path = Self::file_path(&self.config.out_dir, channel, minute);
        write_atomically(&path, body.as_bytes())?;
        Ok(Written {
            waited,
            spawned: status.spawned,
            ntp: status.ntp,
        })
    }
}

/// The file body: the channel's samples for the minute and the NTP status, as JSON.
fn file_json(channel: usize, minute: u32, wall_ms: u128, ntp: &FileNtp) -> String {
    // Deterministic stand-in data: a small LCG per channel and minute.
    let mut x = (channel as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(minute);
    let samples: Vec<String> = (0..SAMPLES_PER_FILE)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((x >> 48) as i16).to_string()
        })
        .collect();
    format!(
        "{{\"channel\":{channel},\"minute\":{minute},\"wall_unix_ms\":{wall_ms},\
         \"ntp\":{{\"offset_ms\":{},\"synced\":{},\"source\":\"{}\",\"age_ms\":{},\"stale\":{}}},\
         \"samples\":[{}]}}\n",
        json_number(ntp.offset_ms),
        ntp.synced,
        ntp.source,
        ntp.age
            .map_or_else(|| "null".to_owned(), |a| a.as_millis().to_string()),
        ntp.stale,
        samples.join(",")
    )
}

/// Writes `bytes` to a hidden temp file beside `path`, then renames it over `path`: a reader sees
/// the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RecorderError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| RecorderError::Io { path: p, source }
    };
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io(path))
}
