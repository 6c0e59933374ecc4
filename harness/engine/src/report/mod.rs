//! Reports: every output format is an [`Exporter`] in its own module, rendering the same
//! [`ReportInput`]; [`write_all`] writes each one atomically into the reports directory.

pub mod ab;
pub mod bmf;
pub mod charts;
pub mod github;
pub mod html;
pub mod json;
pub mod markdown;
pub mod overview;

use std::path::{Path, PathBuf};

use crate::compare::Comparison;
use crate::error::Error;
use crate::history::{Series, Step};
use crate::model::RunRecord;
pub use crate::model::human;
use crate::store;

/// What every report renders.
pub struct ReportInput<'a> {
    /// The run.
    pub record: &'a RunRecord,
    /// Its comparison with the baseline, when there was one.
    pub comparison: Option<&'a Comparison>,
    /// Where the baseline came from, for the reader.
    pub baseline_path: Option<&'a Path>,
    /// The baseline itself (for its confidence intervals), when there was one.
    pub baseline: Option<&'a RunRecord>,
    /// Each metric over the history (this run last), when `--history` was given.
    pub history: &'a [Series],
    /// The A/B comparison this run is the head of (`ab --base REV`), when there was one.
    pub ab: Option<&'a crate::ab::AbResult>,
    /// The A/B's measured power on this machine (`perfgate power`), to show each wall metric's
    /// minimum detectable slowdown beside it.
    pub power: Option<&'a crate::power::PowerResult>,
}

impl<'a> ReportInput<'a> {
    /// The report of `record` alone: no baseline, history, A/B or power.
    pub fn new(record: &'a RunRecord) -> Self {
        Self {
            record,
            comparison: None,
            baseline_path: None,
            baseline: None,
            history: &[],
            ab: None,
            power: None,
        }
    }

    /// How many runs the history holds (0 without one).
    pub fn history_runs(&self) -> usize {
        self.history
            .iter()
            .map(|s| s.points.len())
            .max()
            .unwrap_or(0)
    }

    /// The minimum detectable slowdown of `metric` of `scenario` in an A/B, if measured.
    pub fn mds(&self, scenario: &str, metric: &str) -> Option<f64> {
        self.power?
            .metrics
            .iter()
            .find(|m| m.scenario == scenario && m.metric == metric)?
            .mds
    }
}

/// A sampled metric's confidence interval, `1.2 ms – 1.4 ms` in its unit; `–` for a single value.
/// Shared by the Markdown and HTML tables.
pub fn interval_text(m: &crate::model::Metric) -> String {
    m.summary.as_ref().map_or_else(
        || "–".to_owned(),
        |s| {
            format!(
                "{} – {}",
                human(s.ci.lower, &m.unit),
                human(s.ci.upper, &m.unit)
            )
        },
    )
}

/// "31 hold, 2 too close to call, 8 do not, 5 not measured": a run's claims counted by verdict.
pub fn claim_counts(record: &RunRecord) -> String {
    use crate::model::ClaimVerdict as V;
    let count = |v: V| record.claims.iter().filter(|c| c.verdict() == v).count();
    let mut parts = vec![
        format!("{} hold", count(V::Holds)),
        format!("{} do not", count(V::DoesNotHold)),
    ];
    let close = count(V::TooClose);
    if close > 0 {
        parts.insert(1, format!("{close} too close to call"));
    }
    parts.push(format!("{} not measured", count(V::NotMeasured)));
    parts.join(", ")
}

/// A change point of one series, as the reports list it.
pub struct Change<'a> {
    /// The series it is in.
    pub series: &'a Series,
    /// The change point.
    pub step: Step,
    /// Index of the run (in the history shown) where the new segment starts.
    pub run: usize,
}

/// The change points of the `history` series whose new segment starts in the last `last_runs` runs,
/// most recent first (the largest step first among those of the same run).
pub fn history_changes(history: &[Series], last_runs: usize) -> Vec<Change<'_>> {
    let runs = history
        .iter()
        .filter_map(|s| s.points.last().map(|p| p.0 + 1))
        .max()
        .unwrap_or(0);
    let from = runs.saturating_sub(last_runs);
    let mut changes: Vec<Change<'_>> = history
        .iter()
        .flat_map(|s| {
            s.steps.iter().filter_map(move |&step| {
                let run = s.points.get(step.at)?.0;
                (run >= from).then_some(Change {
                    series: s,
                    step,
                    run,
                })
            })
        })
        .collect();
    changes.sort_by(|a, b| {
        b.run.cmp(&a.run).then(
            b.step
                .ratio()
                .ln()
                .abs()
                .total_cmp(&a.step.ratio().ln().abs()),
        )
    });
    changes
}

/// Change points the summary lists: those whose new segment starts in this many last runs.
pub const RECENT_RUNS: usize = 10;

/// One output format.
pub trait Exporter {
    /// File name inside the reports directory.
    fn file_name(&self) -> &'static str;
    /// The file's content.
    fn render(&self, input: &ReportInput<'_>) -> Result<Vec<u8>, Error>;
}

/// The exporters `check` and `run` write.
pub fn default_exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(json::RunJson),
        Box::new(markdown::Summary),
        Box::new(html::HtmlReport),
    ]
}

/// The exporter for a `--export FORMAT=PATH` format, or `None` when the format is unknown.
pub fn export_format(format: &str) -> Option<Box<dyn Exporter>> {
    match format {
        "bmf" => Some(Box::new(bmf::Bmf)),
        "github" => Some(Box::new(github::GithubBenchmark)),
        "json" => Some(Box::new(json::RunJson)),
        "markdown" | "md" => Some(Box::new(markdown::Summary)),
        "html" => Some(Box::new(html::HtmlReport)),
        _ => None,
    }
}

/// The formats [`export_format`] knows, for error messages.
pub const EXPORT_FORMATS: &str = "bmf, github, json, markdown, html";

/// Renders every exporter into `dir`, atomically; returns the paths written.
pub fn write_all(
    dir: &Path,
    exporters: &[Box<dyn Exporter>],
    input: &ReportInput<'_>,
) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for e in exporters {
        let path = dir.join(e.file_name());
        store::write_atomic(&path, &e.render(input)?)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use crate::model::human;

    #[test]
    fn human_units() {
        assert_eq!(human(1500.0, "ns"), "1.500 µs");
        assert_eq!(human(2.5e7, "ns"), "25.00 ms");
        assert_eq!(human(3.0, "entries"), "3 entries");
        assert_eq!(human(0.25, "ratio"), "0.2500×");
    }
}
