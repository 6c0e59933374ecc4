//! NTP status for a multi-channel recorder (ntp-status-centralization.md): chronyc/ntpq parsers, a
//! subprocess [`CommandSource`], and [`PerWriteStatus`] (a command per file) versus [`CentralStatus`].

mod parse;
mod recorder;
mod source;

#[cfg(test)]
mod tests;

use std::fmt::{self, Write as _};

pub use parse::{
    CHRONY_CSV_FIELDS, CHRONY_FIELD_NAMES, ChronyTracking, LeapStatus, MAX_OUTPUT_BYTES, NtpqVars,
    ParseError, parse_chronyc_csv, parse_chronyc_tracking, parse_ntpq_rv,
};
pub use recorder::{
    CentralStatus, DEFAULT_CHANNELS, DEFAULT_REFRESH_EVERY, DEFAULT_STALE_AFTER, FileNtp,
    PerWriteStatus, RecordReport, Recorder, RecorderConfig, RecorderError, Snapshot,
    StatusStrategy, WriteStatus,
};
pub use source::{Attempt, CommandConfig, CommandSource, DEFAULT_TIMEOUT, Query};

/// Largest |offset| (ms) that still counts as synced.
pub const SYNC_LIMIT_MS: f64 = 100.0;
/// Largest ntpq stratum that still counts as synced.
pub const MAX_SYNCED_STRATUM: u8 = 4;

/// The synced rule: |offset| <= [`SYNC_LIMIT_MS`] and, when a stratum applies (ntpq), stratum <=
/// [`MAX_SYNCED_STRATUM`]. A non-finite offset is never synced.
pub fn is_synced(offset_ms: f64, stratum: Option<u8>) -> bool {
    offset_ms.is_finite()
        && offset_ms.abs() <= SYNC_LIMIT_MS
        && stratum.is_none_or(|s| s <= MAX_SYNCED_STRATUM)
}

/// Which program the status came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusSource {
    /// `chronyc tracking`.
    Chronyc,
    /// `ntpq -c rv`.
    Ntpq,
    /// Neither answered usefully (missing, failed, timed out, unparsable): status unknown.
    Unknown,
}

impl StatusSource {
    /// Lower-case name as written in files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chronyc => "chronyc",
            Self::Ntpq => "ntpq",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for StatusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reading of the NTP status.
///
/// `offset_ms` is positive when the system clock is **behind** NTP time (chrony's "slow", ntpq's
/// server-minus-local offset); `None` when unknown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NtpStatus {
    /// Offset in ms, positive = system clock behind NTP time; `None` when unknown.
    pub offset_ms: Option<f64>,
    /// Stratum, when the program printed one.
    pub stratum: Option<u8>,
    /// Whether the clock counts as synced (see [`is_synced`]).
    pub synced: bool,
    /// Where it came from.
    pub source: StatusSource,
}

impl NtpStatus {
    /// The status when no program answered: no offset, not synced.
    pub const UNKNOWN: NtpStatus = NtpStatus {
        offset_ms: None,
        stratum: None,
        synced: false,
        source: StatusSource::Unknown,
    };

    /// The status as a one-line JSON object.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        let _ = write!(
            s,
            "\"offset_ms\":{},\"stratum\":{},\"synced\":{},\"source\":\"{}\"}}",
            json_number(self.offset_ms),
            self.stratum
                .map_or_else(|| "null".to_owned(), |v| v.to_string()),
            self.synced,
            self.source
        );
        s
    }
}

/// A float as JSON: `null` when absent or not finite (JSON has no NaN). Rust's `Display` for `f64`
/// never uses an exponent, so the text is valid JSON.
pub(crate) fn json_number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_owned(),
    }
}
