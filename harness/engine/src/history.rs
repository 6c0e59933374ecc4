//! Run history for one machine: an append-only JSON-lines file with one slim line per run (each
//! metric's value, unit and kind), each metric's series over the last runs, and every change point in
//! a series, so a slow drift or a regression that was later fixed is seen even if no run gated.
//!
//! Appending writes one line and syncs it: the cost does not grow with the history, and a crash
//! mid-append leaves at most that line cut short, which the next read skips and the next append
//! removes. Reading the last N runs reads the file from its end and parses only those N lines.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::changepoint;
use crate::error::Error;
use crate::model::{
    MetricKind, OLDEST_READ_VERSION, RunRecord, SCHEMA_NAME, SCHEMA_VERSION, readable_version,
};

/// `schema` of a history line.
pub const HISTORY_SCHEMA: &str = "perfgate.history";
/// Version of the history line format this perfgate writes and reads.
pub const HISTORY_VERSION: u32 = 1;
/// Bytes read from the end of the file at a time when looking for the last lines (public so tests
/// can put lines across the chunks' boundaries).
pub const TAIL_CHUNK: usize = 256 * 1024;

/// One run as the history keeps it: what the trends need, not the samples or claims of the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRun {
    /// Always [`HISTORY_SCHEMA`].
    pub schema: String,
    /// [`HISTORY_VERSION`] of the writer.
    pub schema_version: u32,
    /// RFC 3339 time the run started.
    pub started: String,
    /// The commit that ran (empty when unknown).
    #[serde(default)]
    pub commit: String,
    /// The suite that ran.
    pub suite: String,
    /// The machine's fingerprint.
    pub machine: String,
    /// Scenario id → metric name → its headline value.
    pub metrics: BTreeMap<String, BTreeMap<String, Point>>,
}

/// One metric of one run in the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The headline value (the median for sampled metrics).
    pub v: f64,
    /// Its unit.
    pub u: String,
    /// What kind of measurement it is (decides whether a change point can be noise).
    pub k: MetricKind,
}

impl HistoryRun {
    /// The slim history line of `record`.
    pub fn of(record: &RunRecord) -> Self {
        let metrics = record.map_metrics(|m| Point {
            v: m.value.as_f64(),
            u: m.unit.clone(),
            k: m.kind,
        });
        Self {
            schema: HISTORY_SCHEMA.to_owned(),
            schema_version: HISTORY_VERSION,
            started: record.started.clone(),
            commit: record.git.commit.clone(),
            suite: record.suite.clone(),
            machine: record.machine.fingerprint.clone(),
            metrics,
        }
    }
}

/// The last runs of a history file, oldest first, and what was skipped reading them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    /// The runs read.
    pub runs: Vec<HistoryRun>,
    /// A message for each line that was skipped (a last line cut short by an interrupted append).
    pub skipped: Vec<String>,
}

/// Appends `record` to the history file at `path` (created if missing) as one line, and syncs it.
/// The file is never rewritten: a crash mid-append leaves at most this line cut short. A last line
/// cut short by an earlier crash is removed first; the returned message says so.
pub fn append(path: &Path, record: &RunRecord) -> Result<Option<String>, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut line = serde_json::to_vec(&HistoryRun::of(record)).map_err(|e| Error::BadRecord {
        path: path.to_owned(),
        what: format!("cannot serialize the run: {e}"),
        fix: "report this as a bug".to_owned(),
    })?;
    line.push(b'\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    let repaired = drop_torn_tail(&mut file).map_err(io)?;
    // One write of the whole line: with O_APPEND it lands after whatever is there.
    file.write_all(&line).map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok(repaired.map(|bytes| {
        format!(
            "{}: removed its last line ({bytes} bytes without a newline: an append that was \
             interrupted)",
            path.display()
        )
    }))
}

/// If the file does not end with a newline, cuts it back to just after its last newline and returns
/// how many bytes were removed.
fn drop_torn_tail(file: &mut File) -> std::io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut end = [0];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut end)?;
    if end == *b"\n" {
        return Ok(None);
    }
    let (tail, start) = read_tail(file, len, 1)?;
    let keep = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => start + i as u64 + 1,
        None => start,
    };
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(Some(len - keep))
}

/// Reads backwards from the end of `file` (of length `len`) until the bytes read hold `lines` whole
/// lines that are not blank (a line is whole once the newline before it is read; the piece after the
/// file's last newline never counts: it is empty or cut short), or the start is reached. Returns the
/// bytes and their offset. Blank lines are not counted: they are not runs, and counting them would
/// leave the last runs unread behind a run of blank lines.
fn read_tail(file: &mut File, len: u64, lines: usize) -> std::io::Result<(Vec<u8>, u64)> {
    let mut start = len;
    // Chunks from the end backwards; each is scanned once and the whole is joined once.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut seen = 0_usize;
    // Whether the line being read (backwards) is the file's last piece, and has a non-blank byte.
    let (mut in_last_piece, mut filled) = (true, false);
    while start > 0 && seen < lines {
        let step = (TAIL_CHUNK as u64).min(start);
        start -= step;
        let mut chunk = vec![0; usize::try_from(step).unwrap_or(TAIL_CHUNK)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        let mut pieces = chunk.rsplit(|&b| b == b'\n');
        // The first piece continues the line whose end was read with the chunk after this one.
        if let Some(piece) = pieces.next() {
            filled |= !piece.trim_ascii().is_empty();
        }
        for piece in pieces {
            // A newline: the line after it is whole.
            seen += usize::from(filled && !in_last_piece);
            in_last_piece = false;
            filled = !piece.trim_ascii().is_empty();
        }
        chunks.push(chunk);
    }
    let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
    for chunk in chunks.iter().rev() {
        buf.extend_from_slice(chunk);
    }
    Ok((buf, start))
}

/// Reads the last `last` runs of the history file at `path`, oldest first, parsing only those
/// lines. A missing file is an empty history; a last line without its newline (an append cut short)
/// is skipped with a message; any other line that is not a history line is an error naming it.
/// Lines written by older perfgates (whole run records) are read too.
pub fn load(path: &Path, last: usize) -> Result<Loaded, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(source) => return Err(io(source)),
    };
    let len = file.metadata().map_err(io)?.len();
    if len == 0 || last == 0 {
        return Ok(Loaded::default());
    }
    let (tail, start) = read_tail(&mut file, len, last).map_err(io)?;
    let mut loaded = Loaded::default();
    let mut body: &[u8] = &tail;
    if !tail.ends_with(b"\n") {
        let cut = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        loaded.skipped.push(format!(
            "{}: skipped its last line ({} bytes without a newline: an append that was interrupted; \
             the next append removes it)",
            path.display(),
            tail.len() - cut
        ));
        body = &tail[..cut];
    }
    let mut lines: Vec<(u64, &[u8])> = Vec::new();
    let mut offset = start;
    for line in body.split_inclusive(|&b| b == b'\n') {
        lines.push((offset, line));
        offset += line.len() as u64;
    }
    // The first piece is only whole when it starts the file.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let lines: Vec<(u64, &[u8])> = lines
        .into_iter()
        .filter(|(_, l)| !l.trim_ascii().is_empty())
        .collect();
    let skip = lines.len().saturating_sub(last);
    for &(at, line) in &lines[skip..] {
        match parse_line(line) {
            Ok(run) => loaded.runs.push(run),
            Err(what) => {
                return Err(Error::BadRecord {
                    path: path.to_owned(),
                    what: format!("line {}: {what}", line_number(&mut file, at).map_err(io)?),
                    fix: "delete that line (each line is one run, written by `--history`)"
                        .to_owned(),
                });
            }
        }
    }
    Ok(loaded)
}

/// The 1-based line number of the line starting at byte `at` (only computed for an error; read in
/// chunks, so a long history does not have to fit in memory).
fn line_number(file: &mut File, at: u64) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(0))?;
    let mut chunk = vec![0; TAIL_CHUNK];
    let (mut read, mut newlines) = (0_u64, 0_usize);
    while read < at {
        let want = usize::try_from(at - read).map_or(TAIL_CHUNK, |left| left.min(TAIL_CHUNK));
        file.read_exact(&mut chunk[..want])?;
        newlines += chunk[..want].iter().filter(|&&b| b == b'\n').count();
        read += want as u64;
    }
    Ok(newlines + 1)
}

/// Which line format a line is, read before the rest of it.
#[derive(Deserialize)]
struct Header {
    schema: String,
    schema_version: u64,
}

fn parse_line(line: &[u8]) -> Result<HistoryRun, String> {
    let header: Header = serde_json::from_slice(line)
        .map_err(|e| format!("not a history line (perfgate.history or perfgate.run): {e}"))?;
    match header.schema.as_str() {
        HISTORY_SCHEMA if header.schema_version == u64::from(HISTORY_VERSION) => {
            serde_json::from_slice(line).map_err(|e| format!("not a history line: {e}"))
        }
        SCHEMA_NAME if readable_version(header.schema_version) => {
            let record: RunRecord =
                serde_json::from_slice(line).map_err(|e| format!("not a run record: {e}"))?;
            Ok(HistoryRun::of(&record))
        }
        other => Err(format!(
            "schema {other} v{}, this perfgate reads {HISTORY_SCHEMA} v{HISTORY_VERSION} and \
             {SCHEMA_NAME} v{OLDEST_READ_VERSION} to v{SCHEMA_VERSION}",
            header.schema_version
        )),
    }
}

/// One metric's values over the history, oldest first, with the run each came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// Scenario id.
    pub scenario: String,
    /// Metric name.
    pub metric: String,
    /// Unit of the values.
    pub unit: String,
    /// The metric's kind (in the last run that measured it).
    pub kind: MetricKind,
    /// `(index of the run in the history, value)`, for the runs that measured it.
    pub points: Vec<(usize, f64)>,
    /// Every change point, oldest first.
    pub steps: Vec<Step>,
}

/// A change point in a series: the runs from `at` on form a new segment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Index (into the series' points) of the first run of the new segment.
    pub at: usize,
    /// Median of the segment before.
    pub before: f64,
    /// Median of the segment from `at` on.
    pub after: f64,
}

impl Step {
    /// `after / before`.
    pub fn ratio(&self) -> f64 {
        self.after / self.before
    }
}

/// Every metric's series over `history` (oldest first), each with its change points found by
/// [`changepoint`] with its default settings.
pub fn series(history: &[HistoryRun]) -> Vec<Series> {
    let mut by_metric: BTreeMap<(&str, &str), Series> = BTreeMap::new();
    for (run, entry) in history.iter().enumerate() {
        for (scenario, metrics) in &entry.metrics {
            for (name, point) in metrics {
                let s = by_metric
                    .entry((scenario.as_str(), name.as_str()))
                    .or_insert_with(|| Series {
                        scenario: scenario.clone(),
                        metric: name.clone(),
                        unit: point.u.clone(),
                        kind: point.k,
                        points: Vec::new(),
                        steps: Vec::new(),
                    });
                s.kind = point.k;
                s.points.push((run, point.v));
            }
        }
    }
    let mut all: Vec<Series> = by_metric.into_values().collect();
    // Hundreds of independent segmentations of up to thousands of points: one per core.
    all.par_iter_mut().for_each(|s| s.steps = steps(&s.points));
    all
}

/// The change points of one series, with the medians on either side.
pub fn steps(points: &[(usize, f64)]) -> Vec<Step> {
    let values: Vec<Option<f64>> = points.iter().map(|p| Some(p.1)).collect();
    let segments = changepoint::segments(&values, &changepoint::Config::default());
    segments
        .windows(2)
        .filter(|w| w[0].median != w[1].median)
        .map(|w| Step {
            at: w[1].start,
            before: w[0].median,
            after: w[1].median,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;
    use crate::testutil::record;

    fn wobble(i: usize) -> f64 {
        // Deterministic noise of +-2 %.
        [1.0, 1.02, 0.99, 1.01, 0.98, 1.0, 1.015, 0.985][i % 8]
    }

    fn points(values: impl IntoIterator<Item = f64>) -> Vec<(usize, f64)> {
        values.into_iter().enumerate().collect()
    }

    #[test]
    fn a_20_percent_step_is_found_where_it_happened() {
        let p = points((0..20).map(|i| 100.0 * wobble(i) * if i >= 12 { 1.2 } else { 1.0 }));
        let found = steps(&p);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].at, 12);
        assert!((found[0].ratio() - 1.2).abs() < 0.03, "{found:?}");
    }

    #[test]
    fn a_regression_and_its_fix_are_two_change_points() {
        let p = points((0..40).map(|i| {
            let level = if (15..28).contains(&i) { 1.3 } else { 1.0 };
            100.0 * wobble(i) * level
        }));
        let found = steps(&p);
        let at: Vec<usize> = found.iter().map(|s| s.at).collect();
        assert_eq!(at, vec![15, 28], "{found:?}");
        assert!(found[0].ratio() > 1.2 && found[1].ratio() < 0.85);
    }

    #[test]
    fn a_step_in_an_exact_count_is_found_and_noise_alone_is_not() {
        let exact = points((0..30).map(|i| if i >= 20 { 1100.0 } else { 1000.0 }));
        assert_eq!(steps(&exact).iter().map(|s| s.at).collect::<Vec<_>>(), [20]);
        assert!(steps(&points((0..30).map(|i| 100.0 * wobble(i)))).is_empty());
        assert!(steps(&points([7.0; 12])).is_empty());
        assert!(steps(&points([1.0, 1.0, 2.0])).is_empty());
    }

    fn visits(n: u64) -> RunRecord {
        record("m", vec![("a/b/c", "visits", Metric::count(n, "entries"))])
    }

    fn values(loaded: &Loaded) -> Vec<f64> {
        loaded
            .runs
            .iter()
            .map(|r| r.metrics["a/b/c"]["visits"].v)
            .collect()
    }

    #[test]
    fn history_round_trips_and_keeps_the_last_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        assert!(load(&path, 10).expect("missing is empty").runs.is_empty());
        for n in 1..=5_u64 {
            assert_eq!(append(&path, &visits(n)).expect("append"), None);
        }
        let last = load(&path, 3).expect("load");
        assert_eq!(values(&last), vec![3.0, 4.0, 5.0]);
        assert!(last.skipped.is_empty());
        assert_eq!(
            values(&load(&path, 50).expect("load all")),
            [1., 2., 3., 4., 5.]
        );
        let s = series(&last.runs);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].points, vec![(0, 3.0), (1, 4.0), (2, 5.0)]);
        assert_eq!(s[0].kind, MetricKind::Exact);
    }

    #[test]
    fn the_last_lines_are_found_across_chunk_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        // Lines of ~40 KB: several runs per 256 KB chunk, and lines that straddle chunks.
        let mut big = visits(0);
        for i in 0..400 {
            big.scenarios[0].metrics.insert(
                format!("metric_{i:04}_{}", "x".repeat(60)),
                Metric::count(i, "n"),
            );
        }
        for n in 0..20_u64 {
            big.scenarios[0]
                .metrics
                .insert("visits".into(), Metric::count(n, "entries"));
            append(&path, &big).expect("append");
        }
        for last in [1, 5, 7, 19, 20, 25] {
            let loaded = load(&path, last).expect("load");
            let want: Vec<f64> = (20_usize.saturating_sub(last)..20)
                .map(|n| n as f64)
                .collect();
            assert_eq!(values(&loaded), want, "last {last}");
        }
    }

    #[test]
    fn a_line_cut_short_is_skipped_named_and_removed_by_the_next_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        for n in 1..=3_u64 {
            append(&path, &visits(n)).expect("append");
        }
        let whole = std::fs::read(&path).expect("read");
        // Cut the last line in half, as a crash mid-append would.
        let last_start = whole[..whole.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .expect("several lines")
            + 1;
        let cut = last_start + (whole.len() - last_start) / 2;
        std::fs::write(&path, &whole[..cut]).expect("truncate");
        let loaded = load(&path, 10).expect("a torn last line is not an error");
        assert_eq!(values(&loaded), [1.0, 2.0]);
        assert_eq!(loaded.skipped.len(), 1);
        assert!(
            loaded.skipped[0].contains("history.jsonl"),
            "{:?}",
            loaded.skipped
        );
        let repaired = append(&path, &visits(4)).expect("append");
        assert!(repaired.is_some_and(|m| m.contains("removed its last line")));
        let loaded = load(&path, 10).expect("load");
        assert_eq!(values(&loaded), [1.0, 2.0, 4.0]);
        assert!(loaded.skipped.is_empty());
    }

    #[test]
    fn a_bad_line_is_named_with_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        append(&path, &visits(1)).expect("append");
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{\"not\": \"a record\"}\n");
        std::fs::write(&path, &text).expect("write");
        append(&path, &visits(3)).expect("append");
        let err = load(&path, 10).expect_err("bad line").to_string();
        assert!(
            err.contains("line 2") && err.contains("history.jsonl"),
            "{err}"
        );
        // Reading only past it does not touch it.
        assert_eq!(values(&load(&path, 1).expect("load")), [3.0]);
    }

    #[test]
    fn lines_of_older_perfgates_are_whole_run_records_and_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        let mut text = serde_json::to_string(&visits(7)).expect("json");
        text.push('\n');
        std::fs::write(&path, text).expect("write");
        append(&path, &visits(8)).expect("append");
        assert_eq!(values(&load(&path, 10).expect("load")), [7.0, 8.0]);
    }
}
