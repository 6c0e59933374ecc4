//! `run.json`: the run record itself, the input of `compare` and `bless`.

use super::{Exporter, ReportInput};
use crate::error::Error;

/// Writes the run record as pretty JSON.
pub struct RunJson;

impl Exporter for RunJson {
    fn file_name(&self) -> &'static str {
        "run.json"
    }

    fn render(&self, input: &ReportInput<'_>) -> Result<Vec<u8>, Error> {
        let mut out = serde_json::to_vec_pretty(input.record)
            .map_err(|e| Error::Usage(format!("cannot serialize the run record: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}
