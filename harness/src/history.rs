//! Run history for one machine: a JSON-lines file of run records, each metric's series over the last
//! runs, and step changes in a series, so a slow drift that never crosses the gate in one step is seen.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::Error;
use crate::model::{OLDEST_READ_VERSION, RunRecord, SCHEMA_NAME, SCHEMA_VERSION, readable_version};
use crate::{stats, store};

/// Runs fewer than this on either side of a split are not tested for a step.
pub const MIN_SIDE: usize = 3;
/// Permutations of the series behind a step's p-value (seeded: the same history gives the same flags).
const PERMUTATIONS: usize = 999;
const PERMUTATION_SEED: u64 = 0x5eed_57e9;

/// Appends `record` as one line to the history file at `path` (created if missing), atomically: the
/// file is rewritten through a temp file, so a crash leaves the old history or the new, never half.
pub fn append(path: &Path, record: &RunRecord) -> Result<(), Error> {
    let mut content = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    if !content.is_empty() && !content.ends_with(b"\n") {
        content.push(b'\n');
    }
    let line = serde_json::to_vec(record).map_err(|e| Error::BadRecord {
        path: path.to_owned(),
        what: format!("cannot serialize the run: {e}"),
        fix: "report this as a bug".to_owned(),
    })?;
    content.extend_from_slice(&line);
    content.push(b'\n');
    store::write_atomic(path, &content)
}

/// Reads the last `last` runs of the history file at `path`, oldest first. A missing file is an empty
/// history; a line that is not a run record is an error naming the line.
pub fn load(path: &Path, last: usize) -> Result<Vec<RunRecord>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let skip = lines.len().saturating_sub(last);
    lines[skip..]
        .iter()
        .map(|&(n, line)| parse_line(path, n + 1, line))
        .collect()
}

fn parse_line(path: &Path, line_no: usize, line: &str) -> Result<RunRecord, Error> {
    let bad = |what: String| Error::BadRecord {
        path: path.to_owned(),
        what: format!("line {line_no}: {what}"),
        fix: "delete that line (each line is one `perfgate.run` record written by `--history`)"
            .to_owned(),
    };
    let record: RunRecord =
        serde_json::from_str(line).map_err(|e| bad(format!("not a run record: {e}")))?;
    if record.schema != SCHEMA_NAME || !readable_version(u64::from(record.schema_version)) {
        return Err(bad(format!(
            "schema {} v{}, this perfgate reads {SCHEMA_NAME} v{OLDEST_READ_VERSION} to \
             v{SCHEMA_VERSION}",
            record.schema, record.schema_version
        )));
    }
    Ok(record)
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
    /// `(index of the run in the history, value)`, for the runs that measured it.
    pub points: Vec<(usize, f64)>,
    /// A step change, when one is found.
    pub step: Option<Step>,
}

/// A step change in a series: the runs before `at` and from `at` on differ beyond chance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Index (into the series' points) of the first run after the step.
    pub at: usize,
    /// Median before the step.
    pub before: f64,
    /// Median from the step on.
    pub after: f64,
    /// Permutation p-value of the largest split statistic.
    pub p_value: f64,
}

impl Step {
    /// `after / before`.
    pub fn ratio(&self) -> f64 {
        self.after / self.before
    }
}

/// Every metric's series over `history` (oldest first), with step changes tested at `alpha` and
/// reported only when the medians differ by at least `min_shift` (0.05 = 5 %).
pub fn series(history: &[RunRecord], alpha: f64, min_shift: f64) -> Vec<Series> {
    let mut by_metric: BTreeMap<(String, String), Series> = BTreeMap::new();
    for (run, record) in history.iter().enumerate() {
        for scenario in &record.scenarios {
            for (name, metric) in &scenario.metrics {
                by_metric
                    .entry((scenario.id.clone(), name.clone()))
                    .or_insert_with(|| Series {
                        scenario: scenario.id.clone(),
                        metric: name.clone(),
                        unit: metric.unit.clone(),
                        points: Vec::new(),
                        step: None,
                    })
                    .points
                    .push((run, metric.value.as_f64()));
            }
        }
    }
    let mut all: Vec<Series> = by_metric.into_values().collect();
    for s in &mut all {
        let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
        s.step = detect_step(&values, alpha, min_shift);
    }
    all
}

/// The most likely single step in `values`: the split maximising the standardised difference of
/// means (the statistic behind E-divisive and CUSUM-style change-point tests), kept when a
/// permutation test gives p < `alpha` and the medians on either side differ by `min_shift` or more.
pub fn detect_step(values: &[f64], alpha: f64, min_shift: f64) -> Option<Step> {
    if values.len() < 2 * MIN_SIDE || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let (at, observed) = best_split(values)?;
    let (left, right) = values.split_at(at);
    let (before, after) = (stats::median(left), stats::median(right));
    let shift = if before == 0.0 {
        f64::INFINITY
    } else {
        ((after - before) / before).abs()
    };
    if after == before || shift < min_shift {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(PERMUTATION_SEED);
    let mut shuffled = values.to_vec();
    let mut as_large = 0_usize;
    for _ in 0..PERMUTATIONS {
        shuffled.shuffle(&mut rng);
        if best_split(&shuffled).is_some_and(|(_, t)| t >= observed) {
            as_large += 1;
        }
    }
    let p_value = (as_large + 1) as f64 / (PERMUTATIONS + 1) as f64;
    (p_value < alpha).then_some(Step {
        at,
        before,
        after,
        p_value,
    })
}

/// `(split, statistic)`: for each split with at least [`MIN_SIDE`] values a side, the difference of
/// means over the pooled standard deviation, weighted by `sqrt(nl * nr / n)`; the largest wins.
fn best_split(values: &[f64]) -> Option<(usize, f64)> {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    if var <= 0.0 {
        return None;
    }
    let sd = var.sqrt();
    let mut best: Option<(usize, f64)> = None;
    let mut left_sum = values[..MIN_SIDE - 1].iter().sum::<f64>();
    for at in MIN_SIDE..=n - MIN_SIDE {
        left_sum += values[at - 1];
        let (nl, nr) = (at as f64, (n - at) as f64);
        let right_mean = (mean * n as f64 - left_sum) / nr;
        let t = ((left_sum / nl - right_mean).abs() / sd) * (nl * nr / n as f64).sqrt();
        if best.is_none_or(|(_, b)| t > b) {
            best = Some((at, t));
        }
    }
    best
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

    #[test]
    fn a_20_percent_step_is_found_where_it_happened() {
        let values: Vec<f64> = (0..20)
            .map(|i| 100.0 * wobble(i) * if i >= 12 { 1.2 } else { 1.0 })
            .collect();
        let step = detect_step(&values, 0.01, 0.05).expect("a step");
        assert_eq!(step.at, 12);
        assert!((step.ratio() - 1.2).abs() < 0.03, "{step:?}");
        assert!(step.p_value < 0.01);
    }

    #[test]
    fn noise_alone_and_short_or_flat_series_give_no_step() {
        let noise: Vec<f64> = (0..20).map(|i| 100.0 * wobble(i)).collect();
        assert_eq!(detect_step(&noise, 0.01, 0.05), None);
        assert_eq!(detect_step(&[1.0, 1.0, 2.0, 2.0, 2.0], 0.01, 0.0), None);
        assert_eq!(detect_step(&[7.0; 12], 0.01, 0.0), None);
        assert_eq!(
            detect_step(&[1.0, 2.0, f64::NAN, 1.0, 2.0, 3.0], 0.01, 0.0),
            None
        );
    }

    #[test]
    fn a_real_but_tiny_step_is_below_the_practical_threshold() {
        let values: Vec<f64> = (0..20)
            .map(|i| 100.0 + if i >= 10 { 1.0 } else { 0.0 })
            .collect();
        assert!(
            detect_step(&values, 0.01, 0.0).is_some(),
            "statistically real"
        );
        assert_eq!(detect_step(&values, 0.01, 0.05), None, "but 1 % < 5 %");
    }

    #[test]
    fn history_round_trips_and_keeps_the_last_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        assert!(load(&path, 10).expect("missing is empty").is_empty());
        for n in 1..=5_u64 {
            let r = record("m", vec![("a/b/c", "visits", Metric::count(n, "entries"))]);
            append(&path, &r).expect("append");
        }
        let last = load(&path, 3).expect("load");
        let values: Vec<f64> = last
            .iter()
            .map(|r| r.scenarios[0].metrics["visits"].value.as_f64())
            .collect();
        assert_eq!(values, vec![3.0, 4.0, 5.0]);
        let s = series(&last, 0.01, 0.05);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].points, vec![(0, 3.0), (1, 4.0), (2, 5.0)]);
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        let r = record("m", vec![("a/b/c", "visits", Metric::count(1, "entries"))]);
        append(&path, &r).expect("append");
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{\"not\": \"a record\"}\n");
        std::fs::write(&path, text).expect("write");
        let err = load(&path, 10).expect_err("bad line").to_string();
        assert!(
            err.contains("line 2") && err.contains("history.jsonl"),
            "{err}"
        );
    }
}
