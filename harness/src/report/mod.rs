//! Reports: every output format is an [`Exporter`] in its own module, rendering the same
//! [`ReportInput`]; [`write_all`] writes each one atomically into the reports directory.

pub mod ab;
pub mod bmf;
pub mod charts;
pub mod github;
pub mod html;
pub mod json;
pub mod markdown;

use std::path::{Path, PathBuf};

use crate::compare::Comparison;
use crate::error::Error;
use crate::history::Series;
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

impl ReportInput<'_> {
    /// The minimum detectable slowdown of `metric` of `scenario` in an A/B, if measured.
    pub fn mds(&self, scenario: &str, metric: &str) -> Option<f64> {
        self.power?
            .metrics
            .iter()
            .find(|m| m.scenario == scenario && m.metric == metric)?
            .mds
    }
}

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
