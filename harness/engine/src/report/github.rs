//! github-action-benchmark `customSmallerIsBetter` (`--export github=PATH`): `[{"name","unit","value",
//! "range","extra"}]`. That tool has no direction per entry, so metrics where higher is better are
//! left out (their names are listed in the `extra` of no entry; `perfgate` itself gates them).

use serde::Serialize;

use super::{Exporter, ReportInput};
use crate::error::Error;
use crate::model::{Direction, format_sig};

/// Writes the run for github-action-benchmark.
pub struct GithubBenchmark;

/// One entry.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Entry {
    /// `scenario metric`.
    pub name: String,
    /// The metric's unit.
    pub unit: String,
    /// The headline value.
    pub value: f64,
    /// `± half-width of the CI`, when sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// What the value is.
    pub extra: String,
}

/// The entries for a run (lower-is-better metrics only).
pub fn entries(input: &ReportInput<'_>) -> Vec<Entry> {
    let r = input.record;
    r.scenarios
        .iter()
        .flat_map(|s| {
            s.metrics
                .iter()
                .filter(|(_, m)| m.direction == Direction::LowerIsBetter)
                .map(|(name, m)| {
                    let summary = m.summary.as_ref();
                    Entry {
                        name: format!("{} {name}", s.id),
                        unit: m.unit.clone(),
                        value: m.value.as_f64(),
                        range: summary
                            .map(|s| format!("± {}", format_sig((s.ci.upper - s.ci.lower) / 2.0))),
                        extra: match summary {
                            Some(s) => format!(
                                "{} {} of {} samples; commit {}; {}",
                                m.kind.name(),
                                m.quantile.map_or("median".to_owned(), |q| format!(
                                    "p{}",
                                    (q * 100.0).round()
                                )),
                                s.n,
                                r.git.commit,
                                r.machine.fingerprint
                            ),
                            None => format!("{}; commit {}", m.kind.name(), r.git.commit),
                        },
                    }
                })
        })
        .collect()
}

impl Exporter for GithubBenchmark {
    fn file_name(&self) -> &'static str {
        "github-benchmark.json"
    }

    fn render(&self, input: &ReportInput<'_>) -> Result<Vec<u8>, Error> {
        let mut out = serde_json::to_vec_pretty(&entries(input)).map_err(|e| {
            Error::Usage(format!(
                "cannot serialize the github-action-benchmark export: {e}"
            ))
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;
    use crate::report::bmf::{Bmf, BmfDocument};
    use crate::testutil::{record, wall};

    fn input_record() -> crate::model::RunRecord {
        let mut tput = Metric::count(10, "ops/s");
        tput.direction = Direction::HigherIsBetter;
        record(
            "m",
            vec![
                ("a/b/c", "wall_time", wall(&[10.0, 11.0, 9.0, 10.0])),
                ("a/b/c", "visits", Metric::count(7, "entries")),
                ("a/b/c", "throughput", tput),
            ],
        )
    }

    fn input(r: &crate::model::RunRecord) -> ReportInput<'_> {
        ReportInput::new(r)
    }

    #[test]
    fn github_export_parses_back_as_custom_smaller_is_better() {
        let r = input_record();
        let bytes = GithubBenchmark.render(&input(&r)).expect("render");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let list = value.as_array().expect("an array");
        assert_eq!(list.len(), 2, "higher-is-better throughput left out");
        for e in list {
            let o = e.as_object().expect("object");
            assert!(o["name"].is_string() && o["unit"].is_string() && o["value"].is_number());
            assert!(
                o.keys()
                    .all(|k| ["name", "unit", "value", "range", "extra"].contains(&k.as_str()))
            );
        }
        let back: Vec<Entry> = serde_json::from_slice(&bytes).expect("entries");
        let wall = back
            .iter()
            .find(|e| e.name == "a/b/c wall_time")
            .expect("wall");
        assert_eq!((wall.value, wall.unit.as_str()), (10.0, "ns"));
        assert!(wall.range.as_deref().is_some_and(|r| r.starts_with("± ")));
    }

    #[test]
    fn bmf_export_parses_back_with_bounds_for_sampled_metrics() {
        let r = input_record();
        let bytes = Bmf.render(&input(&r)).expect("render");
        let doc: BmfDocument = serde_json::from_slice(&bytes).expect("bmf shape");
        let measures = &doc["a/b/c"];
        assert_eq!(measures.len(), 3);
        let wall = &measures["wall_time"];
        assert_eq!(wall.value, 10.0);
        let (lo, hi) = (
            wall.lower_value.expect("lower"),
            wall.upper_value.expect("upper"),
        );
        assert!(lo <= wall.value && wall.value <= hi);
        assert_eq!(measures["visits"].lower_value, None);
        // The raw shape: benchmark -> measure -> {"value": n, ...} with numbers only.
        let raw: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert!(raw["a/b/c"]["visits"]["value"].is_number());
    }
}
