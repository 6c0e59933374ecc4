//! Parsers for `chronyc tracking` (text and `-c` CSV) and `ntpq -c rv` output: every field typed, every
//! defect a [`ParseError`] naming the field and what was expected, never a panic.

use std::fmt;

use super::{NtpStatus, StatusSource, is_synced};

/// Longest output accepted (bytes): real outputs are under 2 KiB; anything bigger is not a status.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Why a status program's output could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Nothing (or only whitespace) was printed.
    #[error("{program} printed nothing; check that the NTP daemon runs (`{program}` by hand)")]
    Empty {
        /// `chronyc` or `ntpq`.
        program: &'static str,
    },
    /// The bytes are not UTF-8 text.
    #[error("{program} output is not UTF-8 text (bad byte at {at}); run it with LC_ALL=C")]
    NotUtf8 {
        /// `chronyc` or `ntpq`.
        program: &'static str,
        /// Offset of the first invalid byte.
        at: usize,
    },
    /// The output is longer than [`MAX_OUTPUT_BYTES`].
    #[error(
        "{program} printed {len} bytes, more than the {max} a status can be; is it the right program?"
    )]
    TooLong {
        /// `chronyc` or `ntpq`.
        program: &'static str,
        /// Bytes printed.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is absent (truncated or unexpected output).
    #[error("{program} output has no `{field}` field; expected {expected}")]
    MissingField {
        /// `chronyc` or `ntpq`.
        program: &'static str,
        /// The field's name as printed.
        field: &'static str,
        /// What a correct line looks like.
        expected: &'static str,
    },
    /// A field is present but its value does not parse.
    #[error("{program} field `{field}` has value {value:?}; expected {expected}")]
    BadValue {
        /// `chronyc` or `ntpq`.
        program: &'static str,
        /// The field's name as printed.
        field: &'static str,
        /// The value found (cut to 80 characters).
        value: String,
        /// What a correct value looks like.
        expected: &'static str,
    },
    /// CSV output with the wrong number of fields.
    #[error(
        "chronyc -c tracking printed {found} comma-separated fields, expected {expected}; \
         is this `chronyc -c tracking` of chrony 3 or 4?"
    )]
    FieldCount {
        /// Fields found.
        found: usize,
        /// Fields expected.
        expected: usize,
    },
}

/// chrony's leap status (the `Leap status` line, last CSV field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeapStatus {
    /// `Normal`.
    Normal,
    /// `Insert second`.
    InsertSecond,
    /// `Delete second`.
    DeleteSecond,
    /// `Not synchronised`: chronyd has no usable source; the offset it prints means nothing.
    NotSynchronised,
}

impl LeapStatus {
    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "Normal" => Some(Self::Normal),
            "Insert second" => Some(Self::InsertSecond),
            "Delete second" => Some(Self::DeleteSecond),
            "Not synchronised" | "Not synchronized" => Some(Self::NotSynchronised),
            _ => None,
        }
    }

    /// The text chrony prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::InsertSecond => "Insert second",
            Self::DeleteSecond => "Delete second",
            Self::NotSynchronised => "Not synchronised",
        }
    }
}

impl fmt::Display for LeapStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every field of `chronyc tracking` (text or `-c` CSV).
///
/// Sign convention (kept from chrony, where the originals dropped it): [`Self::system_time_s`] and
/// [`Self::frequency_ppm`] are **positive when the system clock is slow**, i.e. behind NTP time
/// (`0.000006523 seconds slow of NTP time` → `+0.000006523`; `… fast …` → negative). This is also the
/// sign of chrony's CSV output and of ntpq's `offset` (server minus local).
#[derive(Clone, Debug, PartialEq)]
pub struct ChronyTracking {
    /// `Reference ID`: the refid as a number (`CB00710F`).
    pub reference_id: u32,
    /// The name in parentheses after the refid (`foo.example.net`; empty when unsynchronised).
    pub reference_name: String,
    /// `Stratum`.
    pub stratum: u8,
    /// `Ref time (UTC)` as printed (a date in text mode, seconds since the epoch in CSV mode).
    pub ref_time: String,
    /// `System time` in seconds, positive when the system clock is behind NTP time ("slow").
    pub system_time_s: f64,
    /// `Last offset` in seconds (signed as printed).
    pub last_offset_s: f64,
    /// `RMS offset` in seconds.
    pub rms_offset_s: f64,
    /// `Frequency` in ppm, positive when "slow".
    pub frequency_ppm: f64,
    /// `Residual freq` in ppm.
    pub residual_freq_ppm: f64,
    /// `Skew` in ppm.
    pub skew_ppm: f64,
    /// `Root delay` in seconds.
    pub root_delay_s: f64,
    /// `Root dispersion` in seconds.
    pub root_dispersion_s: f64,
    /// `Update interval` in seconds.
    pub update_interval_s: f64,
    /// `Leap status`.
    pub leap_status: LeapStatus,
}

impl ChronyTracking {
    /// The NTP offset in ms with the sign kept: positive = system clock behind NTP time.
    pub fn offset_ms(&self) -> f64 {
        self.system_time_s * 1000.0
    }

    /// The status this output stands for. Synced: |offset| <= 100 ms and chronyd is synchronised
    /// (the original ignored `Not synchronised`, whose offset of 0 it took for perfect sync).
    pub fn status(&self) -> NtpStatus {
        let offset_ms = self.offset_ms();
        NtpStatus {
            offset_ms: Some(offset_ms),
            stratum: Some(self.stratum),
            synced: self.leap_status != LeapStatus::NotSynchronised && is_synced(offset_ms, None),
            source: StatusSource::Chronyc,
        }
    }
}

/// The variables of `ntpq -c rv` (or `ntpq -c "rv 0 offset,stratum"`) this crate uses.
#[derive(Clone, Debug, PartialEq)]
pub struct NtpqVars {
    /// `offset=`: combined offset in ms, positive when the system clock is behind the servers.
    pub offset_ms: f64,
    /// `stratum=`, when printed (`rv 0 offset` prints only the offset).
    pub stratum: Option<u8>,
    /// `leap=` (two bits as printed, `00` … `11`), when printed.
    pub leap: Option<String>,
    /// `refid=`, when printed.
    pub refid: Option<String>,
    /// `sys_jitter=` in ms, when printed.
    pub sys_jitter_ms: Option<f64>,
    /// Every `key=value` pair in order, quotes removed, for fields not broken out above.
    pub all: Vec<(String, String)>,
}

impl NtpqVars {
    /// Synced: |offset| <= 100 ms and stratum <= 4 (an absent stratum fails the rule).
    pub fn status(&self) -> NtpStatus {
        NtpStatus {
            offset_ms: Some(self.offset_ms),
            stratum: self.stratum,
            synced: is_synced(self.offset_ms, Some(self.stratum.unwrap_or(u8::MAX))),
            source: StatusSource::Ntpq,
        }
    }
}

fn text<'a>(program: &'static str, bytes: &'a [u8]) -> Result<&'a str, ParseError> {
    if bytes.len() > MAX_OUTPUT_BYTES {
        return Err(ParseError::TooLong {
            program,
            len: bytes.len(),
            max: MAX_OUTPUT_BYTES,
        });
    }
    let s = std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8 {
        program,
        at: e.valid_up_to(),
    })?;
    if s.trim().is_empty() {
        return Err(ParseError::Empty { program });
    }
    Ok(s)
}

fn cut(value: &str) -> String {
    value.chars().take(80).collect()
}

fn bad(
    program: &'static str,
    field: &'static str,
    value: &str,
    expected: &'static str,
) -> ParseError {
    ParseError::BadValue {
        program,
        field,
        value: cut(value),
        expected,
    }
}

/// A finite float; `NaN`, `inf` and friends are refused (Rust's parser accepts them).
fn float(program: &'static str, field: &'static str, value: &str) -> Result<f64, ParseError> {
    let v = value.trim();
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(bad(program, field, v, "a finite decimal number")),
    }
}

fn stratum(program: &'static str, value: &str) -> Result<u8, ParseError> {
    let v = value.trim();
    v.parse::<u8>()
        .ok()
        .filter(|s| *s <= 16)
        .ok_or_else(|| bad(program, "stratum", v, "an integer 0..=16"))
}

fn refid(value: &str) -> Result<u32, ParseError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 8 {
        return Err(bad(
            "chronyc",
            "Reference ID",
            v,
            "up to 8 hex digits, e.g. CB00710F",
        ));
    }
    u32::from_str_radix(v, 16).map_err(|_| {
        bad(
            "chronyc",
            "Reference ID",
            v,
            "up to 8 hex digits, e.g. CB00710F",
        )
    })
}

const CHRONY: &str = "chronyc";

/// The field names of `chronyc tracking` (text mode), in chrony's order.
pub const CHRONY_FIELD_NAMES: [&str; 13] = [
    "Reference ID",
    "Stratum",
    "Ref time (UTC)",
    "System time",
    "Last offset",
    "RMS offset",
    "Frequency",
    "Residual freq",
    "Skew",
    "Root delay",
    "Root dispersion",
    "Update interval",
    "Leap status",
];

/// A `chronyc tracking` field that holds a number and its unit, with what the error for a bad value
/// says a correct one looks like.
#[derive(Clone, Copy)]
struct Quantity {
    field: &'static str,
    unit: &'static str,
    expected: &'static str,
}

impl Quantity {
    fn bad(self, value: &str) -> ParseError {
        bad(CHRONY, self.field, value, self.expected)
    }

    /// `-0.000006747 seconds` → the number, checking the unit.
    fn parse(self, value: &str) -> Result<f64, ParseError> {
        let mut words = value.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(number), Some(u), None) if u == self.unit => float(CHRONY, self.field, number),
            _ => Err(self.bad(value)),
        }
    }

    /// `12.345 ppm slow` / `… fast` / `0.000006523 seconds slow of NTP time` → signed (slow positive).
    fn parse_slow_fast(self, value: &str) -> Result<f64, ParseError> {
        let mut words = value.split_whitespace();
        let (Some(number), Some(u), Some(dir)) = (words.next(), words.next(), words.next()) else {
            return Err(self.bad(value));
        };
        // The direction carries the sign: `-1 seconds fast` contradicts itself (chrony never prints it),
        // and reading it as either sign would be a guess.
        if u != self.unit || number.starts_with('-') {
            return Err(self.bad(value));
        }
        let magnitude = float(CHRONY, self.field, number)?;
        match dir {
            "slow" => Ok(magnitude),
            "fast" => Ok(-magnitude),
            _ => Err(self.bad(value)),
        }
    }
}

/// Parses `chronyc tracking` (text mode). All thirteen fields are required; unknown lines (newer
/// chrony versions) are ignored.
pub fn parse_chronyc_tracking(bytes: &[u8]) -> Result<ChronyTracking, ParseError> {
    let s = text(CHRONY, bytes)?;
    let mut values: [Option<&str>; 13] = [None; 13];
    for line in s.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(i) = CHRONY_FIELD_NAMES.iter().position(|f| *f == name.trim()) {
            values[i] = Some(value.trim());
        }
    }
    let get = |i: usize, expected: &'static str| {
        values[i].ok_or(ParseError::MissingField {
            program: CHRONY,
            field: CHRONY_FIELD_NAMES[i],
            expected,
        })
    };

    // Text field `i`, a number in `unit`; `line` and `value` show a correct one, for the errors.
    let number = |i: usize, unit: &'static str, line: &'static str, value: &'static str| {
        let quantity = Quantity {
            field: CHRONY_FIELD_NAMES[i],
            unit,
            expected: value,
        };
        quantity.parse(get(i, line)?)
    };

    let reference = get(0, "`Reference ID    : CB00710F (foo.example.net)`")?;
    let (id, name) = match reference.split_once('(') {
        Some((id, rest)) => match rest.strip_suffix(')') {
            Some(name) => (id, name.trim()),
            None => {
                return Err(bad(CHRONY, "Reference ID", reference, "`CB00710F (name)`"));
            }
        },
        None => (reference, ""),
    };
    let system_time = get(
        3,
        "`System time     : 0.000006523 seconds slow of NTP time`",
    )?;
    let expected = "`X seconds slow of NTP time` or `X seconds fast of NTP time`";
    let system_time_s = match system_time.strip_suffix("of NTP time") {
        Some(rest) => Quantity {
            field: "System time",
            unit: "seconds",
            expected,
        }
        .parse_slow_fast(rest)?,
        None => return Err(bad(CHRONY, "System time", system_time, expected)),
    };
    let leap = get(12, "`Leap status     : Normal`")?;
    Ok(ChronyTracking {
        reference_id: refid(id)?,
        reference_name: name.to_owned(),
        stratum: stratum(CHRONY, get(1, "`Stratum         : 3`")?)?,
        ref_time: get(2, "`Ref time (UTC)  : Thu Nov 27 12:00:00 2025`")?.to_owned(),
        system_time_s,
        last_offset_s: number(
            4,
            "seconds",
            "`Last offset     : -0.000006747 seconds`",
            "`-0.000006747 seconds`",
        )?,
        rms_offset_s: number(
            5,
            "seconds",
            "`RMS offset      : 0.000012345 seconds`",
            "`0.000012345 seconds`",
        )?,
        frequency_ppm: Quantity {
            field: "Frequency",
            unit: "ppm",
            expected: "`12.345 ppm slow` or `12.345 ppm fast`",
        }
        .parse_slow_fast(get(6, "`Frequency       : 12.345 ppm slow`")?)?,
        residual_freq_ppm: number(7, "ppm", "`Residual freq   : +0.001 ppm`", "`+0.001 ppm`")?,
        skew_ppm: number(8, "ppm", "`Skew            : 0.012 ppm`", "`0.012 ppm`")?,
        root_delay_s: number(
            9,
            "seconds",
            "`Root delay      : 0.001234567 seconds`",
            "`0.001234567 seconds`",
        )?,
        root_dispersion_s: number(
            10,
            "seconds",
            "`Root dispersion : 0.000456789 seconds`",
            "`0.000456789 seconds`",
        )?,
        update_interval_s: number(
            11,
            "seconds",
            "`Update interval : 64.2 seconds`",
            "`64.2 seconds`",
        )?,
        leap_status: LeapStatus::parse(leap).ok_or_else(|| {
            bad(
                CHRONY,
                "Leap status",
                leap,
                "Normal, Insert second, Delete second or Not synchronised",
            )
        })?,
    })
}

/// Fields of `chronyc -c tracking`, one line of comma-separated values.
pub const CHRONY_CSV_FIELDS: usize = 14;

/// Parses `chronyc -c tracking`: one line, [`CHRONY_CSV_FIELDS`] comma-separated values in the text
/// mode's order (`refid,name,stratum,ref time,system time,…,leap status`), signed numbers.
pub fn parse_chronyc_csv(bytes: &[u8]) -> Result<ChronyTracking, ParseError> {
    let s = text(CHRONY, bytes)?;
    let mut lines = s.lines().filter(|l| !l.trim().is_empty());
    let line = lines.next().unwrap_or_default();
    let f: Vec<&str> = line.split(',').collect();
    // A second line is never part of the record: count its fields too, so the message shows it.
    let extra: usize = lines.map(|l| l.split(',').count()).sum();
    if f.len() != CHRONY_CSV_FIELDS || extra > 0 {
        return Err(ParseError::FieldCount {
            found: f.len() + extra,
            expected: CHRONY_CSV_FIELDS,
        });
    }
    // CSV index i holds text field i - 1 from index 2 on (refid and name are two CSV fields).
    let named = |i: usize| float(CHRONY, CHRONY_FIELD_NAMES[i - 1], f[i]);
    let ref_time = f[3].trim();
    float(CHRONY, "Ref time (UTC)", ref_time)?;
    Ok(ChronyTracking {
        reference_id: refid(f[0])?,
        reference_name: f[1].trim().to_owned(),
        stratum: stratum(CHRONY, f[2])?,
        ref_time: ref_time.to_owned(),
        system_time_s: named(4)?,
        last_offset_s: named(5)?,
        rms_offset_s: named(6)?,
        frequency_ppm: named(7)?,
        residual_freq_ppm: named(8)?,
        skew_ppm: named(9)?,
        root_delay_s: named(10)?,
        root_dispersion_s: named(11)?,
        update_interval_s: named(12)?,
        leap_status: LeapStatus::parse(f[13]).ok_or_else(|| {
            bad(
                CHRONY,
                "Leap status",
                f[13],
                "Normal, Insert second, Delete second or Not synchronised",
            )
        })?,
    })
}

const NTPQ: &str = "ntpq";

/// Splits on `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: impl Fn(char) -> bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && sep(c) {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Parses `ntpq -c rv` or `ntpq -c "rv 0 offset"`: comma-separated `key=value` pairs over several
/// lines (values may be quoted; words without `=`, like `leap_none` in the status, are skipped).
/// `offset=` is required; `stratum=` is read when present.
pub fn parse_ntpq_rv(bytes: &[u8]) -> Result<NtpqVars, ParseError> {
    let s = text(NTPQ, bytes)?;
    let mut all = Vec::new();
    for piece in split_outside_quotes(s, |c| c == ',') {
        for token in split_outside_quotes(piece, char::is_whitespace) {
            if let Some((k, v)) = token.split_once('=') {
                let k = k.trim();
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                all.push((k.to_owned(), v.trim().trim_matches('"').to_owned()));
            }
        }
    }
    let find = |key: &str| all.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let offset = find("offset").ok_or(ParseError::MissingField {
        program: NTPQ,
        field: "offset",
        expected: "`offset=-0.123456` (ms) as printed by `ntpq -c rv`",
    })?;
    let offset_ms = float(NTPQ, "offset", offset)?;
    let stratum = find("stratum").map(|v| stratum(NTPQ, v)).transpose()?;
    let sys_jitter_ms = find("sys_jitter")
        .map(|v| float(NTPQ, "sys_jitter", v))
        .transpose()?;
    Ok(NtpqVars {
        offset_ms,
        stratum,
        leap: find("leap").map(str::to_owned),
        refid: find("refid").map(str::to_owned),
        sys_jitter_ms,
        all,
    })
}
