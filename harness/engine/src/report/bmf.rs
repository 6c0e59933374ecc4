//! Bencher Metric Format (`--export bmf=PATH`): `{"<benchmark>":{"<measure>":{"value":n,
//! "lower_value":n,"upper_value":n}}}`, one benchmark per scenario, one measure per metric.

use serde::Serialize;
use std::collections::BTreeMap;

use super::{Exporter, ReportInput};
use crate::error::Error;

/// Writes the run in Bencher Metric Format.
pub struct Bmf;

/// One measure of one benchmark.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct BmfMetric {
    /// The headline value (a median for sampled metrics), in the metric's unit.
    pub value: f64,
    /// Lower bound of its confidence interval, when sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_value: Option<f64>,
    /// Upper bound of its confidence interval, when sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_value: Option<f64>,
}

/// The whole document: benchmark -> measure -> metric.
pub type BmfDocument = BTreeMap<String, BTreeMap<String, BmfMetric>>;

/// The document for a run.
pub fn document(input: &ReportInput<'_>) -> BmfDocument {
    input.record.map_metrics(|m| {
        let ci = m.summary.as_ref().map(|s| s.ci);
        BmfMetric {
            value: m.value.as_f64(),
            lower_value: ci.map(|c| c.lower),
            upper_value: ci.map(|c| c.upper),
        }
    })
}

impl Exporter for Bmf {
    fn file_name(&self) -> &'static str {
        "bmf.json"
    }

    fn render(&self, input: &ReportInput<'_>) -> Result<Vec<u8>, Error> {
        let mut out = serde_json::to_vec_pretty(&document(input))
            .map_err(|e| Error::Usage(format!("cannot serialize the BMF export: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}
