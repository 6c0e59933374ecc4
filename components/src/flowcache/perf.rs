//! Performance metrics (seed section 4): each timed operation appends `timestamp,operation,duration_ms`
//! to a CSV whose size is bounded, aggregated on demand into `{"op":{"count":n,"total":ms,"avg":ms}}`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::batch::wall_ms;
use super::setting::env_setting;
use super::{CacheError, io_error, write_atomic};
use crate::clock::Clock;

/// The environment variable that switches monitoring, as in FlowForge.
pub const PERF_MONITORING_VAR: &str = "CACHE_PERF_MONITORING";
/// The CSV's first line.
pub const CSV_HEADER: &str = "timestamp,operation,duration_ms\n";
/// Default size past which the CSV is trimmed: 1 MiB (the seed's "~1MB for 10,000 operations").
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
/// Longest operation name accepted.
pub const MAX_OPERATION_LEN: usize = 64;

env_setting! {
    /// Whether operations are recorded, from `CACHE_PERF_MONITORING=enabled|disabled` (default
    /// enabled).
    pub enum PerfMonitoring from PERF_MONITORING_VAR {
        /// Record every timed operation.
        Enabled = "enabled",
        /// Run operations untimed: no clock read, no I/O.
        Disabled = "disabled",
    }
}

/// One operation's aggregate, durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    /// How many times it ran.
    pub count: u64,
    /// Their total duration.
    pub total: f64,
    /// `total / count`.
    pub avg: f64,
}

/// The CSV aggregated per operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aggregate {
    /// Per operation name.
    pub ops: BTreeMap<String, OpSummary>,
    /// Lines that were not `timestamp,operation,duration_ms` (e.g. a line cut short by a crash).
    pub skipped_lines: u64,
}

impl Aggregate {
    /// The seed's JSON: `{"op":{"count":n,"total":ms,"avg":ms}}`.
    pub fn to_json(&self) -> String {
        // A map of strings to plain numbers always serializes; fall back to an empty object.
        serde_json::to_string(&self.ops).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[derive(Debug, Default)]
struct Sink {
    file: Option<File>,
    len: u64,
}

/// Records operation durations into a CSV file. Durations come from the clock's monotonic time,
/// timestamps from its wall time (Unix seconds). The file is appended to through one open handle;
/// past `max_bytes` it is trimmed to its newest lines, at most half the limit, by writing a temp file
/// and renaming it over the CSV, so it never grows without bound and is never half-written. One
/// monitor per file: another process trimming the same file would leave this one's handle on the
/// replaced file. [`PerfMonitor::append_only`] is the seed's shell version, for comparison.
pub struct PerfMonitor {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    monitoring: PerfMonitoring,
    max_bytes: u64,
    reopen_per_record: bool,
    sink: Mutex<Sink>,
    records: AtomicU64,
    trims: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for PerfMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfMonitor")
            .field("path", &self.path)
            .field("monitoring", &self.monitoring)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl PerfMonitor {
    /// A monitor writing to `path` (created on the first record), trimming past [`DEFAULT_MAX_BYTES`].
    pub fn new(
        path: impl Into<PathBuf>,
        clock: Arc<dyn Clock>,
        monitoring: PerfMonitoring,
    ) -> Self {
        Self {
            path: path.into(),
            clock,
            monitoring,
            max_bytes: DEFAULT_MAX_BYTES,
            reopen_per_record: false,
            sink: Mutex::new(Sink::default()),
            records: AtomicU64::new(0),
            trims: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The same monitor trimming past `max_bytes` (at least enough for the header and a line).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes.max(2 * CSV_HEADER.len() as u64 + 128);
        self
    }

    /// The original (seed section 4, `echo "$ts,$op,$ms" >> "$PERF_LOG"`): every record opens the
    /// file, appends one line and closes it, and nothing trims it (the seed's
    /// `cleanup_performance_metrics` is a separate manual step), so it grows with every operation.
    pub fn append_only(
        path: impl Into<PathBuf>,
        clock: Arc<dyn Clock>,
        monitoring: PerfMonitoring,
    ) -> Self {
        Self {
            max_bytes: u64::MAX,
            reopen_per_record: true,
            ..Self::new(path, clock, monitoring)
        }
    }

    /// Whether operations are recorded.
    pub fn enabled(&self) -> bool {
        self.monitoring == PerfMonitoring::Enabled
    }

    /// The CSV file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f`, and when enabled records how long it took under `operation`. A failure to record
    /// does not fail the operation (the seed's graceful degradation): it is counted in
    /// [`failures`](Self::failures).
    pub fn time<T>(&self, operation: &str, f: impl FnOnce() -> T) -> T {
        if !self.enabled() {
            return f();
        }
        let start = self.clock.now();
        let out = f();
        let took = self.clock.now() - start;
        if self.record(operation, took).is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    /// Appends one line for `operation` (nothing when disabled); trims the file if it grew past the
    /// limit.
    pub fn record(&self, operation: &str, took: Duration) -> Result<(), CacheError> {
        if !self.enabled() {
            return Ok(());
        }
        if !valid_operation(operation) {
            return Err(CacheError::BadOperationName {
                name: operation.to_owned(),
            });
        }
        let line = format!(
            "{},{operation},{:.3}\n",
            wall_ms(self.clock.wall()) / 1000,
            took.as_secs_f64() * 1000.0
        );
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        if sink.file.is_none() {
            self.open(&mut sink)?;
        }
        if let Some(file) = sink.file.as_mut() {
            file.write_all(line.as_bytes())
                .map_err(|e| io_error(&self.path, e))?;
        }
        sink.len += line.len() as u64;
        self.records.fetch_add(1, Ordering::Relaxed);
        if self.reopen_per_record {
            sink.file = None;
        }
        if sink.len > self.max_bytes {
            self.trim(&mut sink)?;
        }
        Ok(())
    }

    /// Reads the CSV and sums it per operation (an absent file is an empty aggregate).
    pub fn aggregate(&self) -> Result<Aggregate, CacheError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => Ok(aggregate_csv(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Aggregate::default()),
            Err(e) => Err(io_error(&self.path, e)),
        }
    }

    /// Lines recorded by this monitor.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Times the CSV was trimmed.
    pub fn trims(&self) -> u64 {
        self.trims.load(Ordering::Relaxed)
    }

    /// Records that failed inside [`time`](Self::time).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Bytes the CSV holds now, as this monitor knows it.
    pub fn csv_bytes(&self) -> u64 {
        self.sink.lock().unwrap_or_else(PoisonError::into_inner).len
    }

    fn open(&self, sink: &mut Sink) -> Result<(), CacheError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io_error(&self.path, e))?;
        let mut len = file.metadata().map_err(|e| io_error(&self.path, e))?.len();
        if len == 0 {
            file.write_all(CSV_HEADER.as_bytes())
                .map_err(|e| io_error(&self.path, e))?;
            len = CSV_HEADER.len() as u64;
        }
        sink.file = Some(file);
        sink.len = len;
        Ok(())
    }

    /// Keeps the header and the newest whole lines that fit in half the limit.
    fn trim(&self, sink: &mut Sink) -> Result<(), CacheError> {
        sink.file = None;
        let text = fs::read_to_string(&self.path).map_err(|e| io_error(&self.path, e))?;
        let half = usize::try_from(self.max_bytes / 2).unwrap_or(usize::MAX);
        let budget = half.saturating_sub(CSV_HEADER.len());
        let body = text.strip_prefix(CSV_HEADER).unwrap_or(&text);
        // The earliest line start from which the rest fits the budget (whole lines only).
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(body.match_indices('\n').map(|(at, _)| at + 1))
            .filter(|&at| at < body.len())
            .collect();
        let start = line_starts
            .into_iter()
            .find(|&at| body.len() - at <= budget)
            .unwrap_or(body.len());
        let kept = format!("{CSV_HEADER}{}", &body[start..]);
        write_atomic(&self.path, kept.as_bytes())?;
        self.trims.fetch_add(1, Ordering::Relaxed);
        self.open(sink)
    }
}

fn valid_operation(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_OPERATION_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Sums a metrics CSV per operation; the header and malformed lines are skipped (the latter counted).
pub fn aggregate_csv(text: &str) -> Aggregate {
    let mut agg = Aggregate::default();
    for line in text.lines() {
        if line.is_empty() || line == CSV_HEADER.trim_end() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(',');
        let parsed = match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(ts), Some(op), Some(ms), None) => ts
                .parse::<u64>()
                .ok()
                .zip(ms.parse::<f64>().ok())
                .filter(|(_, ms)| ms.is_finite() && *ms >= 0.0 && valid_operation(op))
                .map(|(_, ms)| (op, ms)),
            _ => None,
        };
        match parsed {
            Some((op, ms)) => {
                let entry = agg.ops.entry(op.to_owned()).or_insert(OpSummary {
                    count: 0,
                    total: 0.0,
                    avg: 0.0,
                });
                entry.count += 1;
                entry.total += ms;
                entry.avg = entry.total / entry.count as f64;
            }
            None => agg.skipped_lines += 1,
        }
    }
    agg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn monitor(dir: &Path, monitoring: PerfMonitoring) -> PerfMonitor {
        PerfMonitor::new(
            dir.join("perf.csv"),
            Arc::new(SystemClock::new()),
            monitoring,
        )
    }

    #[test]
    fn records_lines_and_aggregates_them_as_the_seeds_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = monitor(dir.path(), PerfMonitoring::Enabled);
        m.record("get", Duration::from_millis(2)).expect("record");
        m.record("get", Duration::from_millis(4)).expect("record");
        m.record("batch_write", Duration::from_micros(45_500))
            .expect("record");
        let text = fs::read_to_string(m.path()).expect("csv");
        assert!(text.starts_with(CSV_HEADER), "{text}");
        assert_eq!(text.lines().count(), 4);
        assert!(
            text.lines()
                .nth(3)
                .expect("line")
                .ends_with(",batch_write,45.500")
        );
        let json: serde_json::Value =
            serde_json::from_str(&m.aggregate().expect("aggregate").to_json()).expect("json");
        assert_eq!(json["get"]["count"], 2);
        assert_eq!(json["get"]["total"], 6.0);
        assert_eq!(json["get"]["avg"], 3.0);
        assert_eq!(json["batch_write"]["count"], 1);
        assert_eq!(m.records(), 3);
    }

    #[test]
    fn disabled_runs_the_operation_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = monitor(dir.path(), PerfMonitoring::Disabled);
        assert_eq!(m.time("get", || 7), 7);
        assert!(!m.path().exists());
        assert_eq!(m.records(), 0);
    }

    #[test]
    fn a_bad_operation_name_is_refused_and_time_counts_the_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = monitor(dir.path(), PerfMonitoring::Enabled);
        let err = m.record("a,b", Duration::ZERO).expect_err("comma");
        assert!(
            matches!(err, CacheError::BadOperationName { .. }),
            "{err:?}"
        );
        assert_eq!(m.time("no\nnewline", || 1), 1);
        assert_eq!(m.failures(), 1);
    }

    #[test]
    fn the_csv_stays_under_its_limit_and_keeps_the_newest_whole_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = monitor(dir.path(), PerfMonitoring::Enabled).with_max_bytes(4096);
        for i in 0..2000_u64 {
            m.record(&format!("op{}", i % 3), Duration::from_micros(i))
                .expect("record");
            assert!(m.csv_bytes() <= 4096, "after {i}: {}", m.csv_bytes());
        }
        assert!(m.trims() > 0);
        let text = fs::read_to_string(m.path()).expect("csv");
        assert_eq!(text.len() as u64, m.csv_bytes());
        assert!(text.starts_with(CSV_HEADER));
        assert_eq!(
            aggregate_csv(&text).skipped_lines,
            0,
            "only whole lines kept"
        );
        assert!(
            text.trim_end().ends_with(",op1,1.999"),
            "newest kept: {text}"
        );
    }

    #[test]
    fn the_append_only_original_grows_with_every_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = PerfMonitor::append_only(
            dir.path().join("perf.csv"),
            Arc::new(SystemClock::new()),
            PerfMonitoring::Enabled,
        );
        for i in 0..2000_u64 {
            m.record("get", Duration::from_micros(i)).expect("record");
        }
        let text = fs::read_to_string(m.path()).expect("csv");
        assert_eq!(text.lines().count(), 2001);
        assert_eq!(text.len() as u64, m.csv_bytes());
        assert_eq!(m.trims(), 0);
    }

    #[test]
    fn malformed_lines_are_skipped_and_counted() {
        let agg = aggregate_csv(
            "timestamp,operation,duration_ms\n1,get,1.5\n2,get\nx,get,1\n3,put,-1\n4,get,2.5\n",
        );
        assert_eq!(agg.skipped_lines, 3);
        assert_eq!(agg.ops["get"].count, 2);
        assert_eq!(agg.ops["get"].avg, 2.0);
    }
}
