//! The metric model and the versioned run record: what a run measured, kept apart from how it was
//! measured or judged, so records from anywhere (our scenarios, criterion, gungraun) gate the same way.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The record format's name, stored in every record so a foreign JSON file is recognised as such.
pub const SCHEMA_NAME: &str = "perfgate.run";
/// Bumped whenever a field changes meaning or a required field or a value is added; readers take
/// [`OLDEST_READ_VERSION`] up to this one and refuse the rest (a newer record may hold what they
/// cannot read). v2 added the `cpu_time` metric kind; a v1 record is a valid v2 record.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest record version this perfgate reads (older committed baselines stay readable).
pub const OLDEST_READ_VERSION: u32 = 1;

/// Whether a record of `version` can be read by this perfgate.
pub fn readable_version(version: u64) -> bool {
    (u64::from(OLDEST_READ_VERSION)..=u64::from(SCHEMA_VERSION)).contains(&version)
}

/// A metric's value: exact integers stay integers (counts never round-trip through floats).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A count: requests, entries visited, instructions.
    Int(u64),
    /// A measured or derived quantity: nanoseconds, a ratio.
    Float(f64),
}

impl Value {
    /// The value as a float, for ratios and charts.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{}", format_sig(*v)),
        }
    }
}

/// A ratio after/before in words: "83.00% less", "3.000% more", "53846× less" (below 1 % a
/// percentage would round to 100 %), "2.500× more".
pub fn change_words(ratio: f64) -> String {
    if ratio > 0.0 && ratio < 0.01 {
        format!("{}× less", format_sig(1.0 / ratio))
    } else if ratio <= 1.0 {
        format!("{}% less", format_sig((1.0 - ratio) * 100.0))
    } else if ratio < 2.0 {
        format!("{}% more", format_sig((ratio - 1.0) * 100.0))
    } else {
        format!("{}× more", format_sig(ratio))
    }
}

/// Four significant digits, without exponent for the usual ranges.
pub fn format_sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = 4 - 1 - v.abs().log10().floor() as i32;
    if (0..=9).contains(&digits) {
        format!("{v:.*}", digits as usize)
    } else if digits < 0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3e}")
    }
}

/// A value with its unit, in the unit a person reads best (ns become µs, ms or s).
pub fn human(value: f64, unit: &str) -> String {
    if unit == "ns" {
        let (v, u) = match value.abs() {
            x if x >= 1e9 => (value / 1e9, "s"),
            x if x >= 1e6 => (value / 1e6, "ms"),
            x if x >= 1e3 => (value / 1e3, "µs"),
            _ => (value, "ns"),
        };
        return format!("{} {u}", format_sig(v));
    }
    if unit == "ratio" {
        return format!("{}×", format_sig(value));
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0} {unit}");
    }
    format!("{} {unit}", format_sig(value))
}

/// `parts` joined with ", ", or "none" when there are none.
pub fn join_or_none(parts: &[String]) -> String {
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// What kind of measurement a metric is; this decides how it gates (see `compare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A deterministic count from counters in fixtures or components: gates on the ratio, no noise.
    Exact,
    /// Time under a mock clock or paused tokio: deterministic, gates like `Exact`.
    VirtualTime,
    /// Instruction counts (callgrind): near-exact.
    Instructions,
    /// Sampled wall time: gates only on the same machine, and only when the change is significant.
    WallTime,
    /// Process CPU time (user + system): as noisy and as machine-bound as wall time, gated the same
    /// way, but a different quantity (a thread that sleeps costs wall time, not CPU).
    CpuTime,
    /// A ratio of two wall times measured in the same run (after / before): gates on any machine,
    /// when significant.
    InRunRatio,
}

impl MetricKind {
    /// Whether the metric is noisy and needs a significance test before it can fail the gate.
    pub fn is_noisy(self) -> bool {
        matches!(
            self,
            MetricKind::WallTime | MetricKind::CpuTime | MetricKind::InRunRatio
        )
    }

    /// The kind as written in records and shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Exact => "exact",
            MetricKind::VirtualTime => "virtual time",
            MetricKind::Instructions => "instructions",
            MetricKind::WallTime => "wall time",
            MetricKind::CpuTime => "cpu time",
            MetricKind::InRunRatio => "in-run ratio",
        }
    }
}

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Time, counts, bytes.
    LowerIsBetter,
    /// Throughput.
    HigherIsBetter,
}

/// Robust summary of a sample set (all in the metric's unit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Median absolute deviation (raw, not scaled to a normal sigma).
    pub mad: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Confidence interval of the median, distribution-free (order statistics).
    pub ci: Interval,
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// A metric's name. A component's scenarios declare theirs once, as constants
/// (`pub const WAIT_MEAN: MetricName = MetricName::new("wait_mean")`), build their values and name
/// them in claims through them, and list them on their pair
/// ([`crate::scenario::PairBuilder::metrics`]): a claim or override naming a metric no scenario
/// declares is an error when the registry is checked, not a silent "not measured".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricName(&'static str);

impl MetricName {
    /// The name `name` (lower case, `_` between words: it is a key in records and exports).
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The name as written in records.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl AsRef<str> for MetricName {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl From<MetricName> for String {
    fn from(name: MetricName) -> Self {
        name.0.to_owned()
    }
}

impl PartialEq<MetricName> for String {
    fn eq(&self, other: &MetricName) -> bool {
        self == other.0
    }
}

impl PartialEq<MetricName> for str {
    fn eq(&self, other: &MetricName) -> bool {
        self == other.0
    }
}

impl PartialEq<MetricName> for &str {
    fn eq(&self, other: &MetricName) -> bool {
        *self == other.0
    }
}

/// The wall time of a timed scenario (criterion results get it too, through `ingest`).
pub const WALL_TIME: MetricName = MetricName::new("wall_time");
/// The in-run ratio `after wall_time / before wall_time` the engine adds to every "after" scenario
/// whose "before" ran in the same run.
pub const WALL_RATIO: MetricName = MetricName::new("wall_ratio_to_before");
/// Instructions executed, from gungraun results through `ingest`.
pub const INSTRUCTIONS: MetricName = MetricName::new("instructions");
/// The metric names the engine itself writes, whatever the scenarios declare.
pub const ENGINE_METRICS: [MetricName; 3] = [WALL_TIME, WALL_RATIO, INSTRUCTIONS];

/// One measured quantity of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// What is measured: the gate's, the summary's and the chart's meaning.
    pub kind: MetricKind,
    /// Unit of `value`, `summary` and `samples`: "ns", "entries", "ratio", …
    pub unit: String,
    /// Which way is better.
    pub direction: Direction,
    /// The headline figure (the median for sampled metrics, or their [`Metric::quantile`]).
    pub value: Value,
    /// For sampled metrics: their summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// For sampled metrics: the raw samples, so a later comparison can test significance and an A/B
    /// can pool the samples of repeated runs. `value` is their median, or their `quantile`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    /// When `value` is not the median of `samples` but this quantile of them (nearest rank: 0.99
    /// for a p99). Comparisons that test medians of samples leave such a metric to its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// For a baseline blessed over several rounds: each round's headline value, in run order. Their
    /// spread is the metric's run-to-run noise band (see [`Metric::noise_band`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<f64>,
}

impl Metric {
    /// An exact count, lower is better.
    pub fn count(value: u64, unit: &str) -> Self {
        Self {
            kind: MetricKind::Exact,
            unit: unit.to_owned(),
            direction: Direction::LowerIsBetter,
            value: Value::Int(value),
            summary: None,
            samples: Vec::new(),
            rounds: Vec::new(),
            quantile: None,
        }
    }

    /// A duration under a mock clock or in a simulation, in nanoseconds, lower is better.
    pub fn virtual_ns(d: std::time::Duration) -> Self {
        Self {
            kind: MetricKind::VirtualTime,
            unit: "ns".to_owned(),
            direction: Direction::LowerIsBetter,
            value: Value::Int(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            summary: None,
            samples: Vec::new(),
            rounds: Vec::new(),
            quantile: None,
        }
    }

    /// Largest over smallest of the per-round values (>= 1), when there are two or more positive
    /// rounds: how far this metric moved between whole runs of the same code on the same machine.
    pub fn noise_band(&self) -> Option<f64> {
        if self.rounds.len() < 2 || self.rounds.iter().any(|r| !(*r > 0.0 && r.is_finite())) {
            return None;
        }
        let max = self.rounds.iter().copied().fold(f64::MIN, f64::max);
        let min = self.rounds.iter().copied().fold(f64::MAX, f64::min);
        Some(max / min)
    }
}

/// The results of one scenario in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// `component/situation/variant/scale`, e.g. `flowcache/size/indexed/files=10000`.
    pub id: String,
    /// The "before" scenario this one is the "after" of, at the same scale (for in-run ratios).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Metrics by name (sorted, so records diff cleanly).
    pub metrics: BTreeMap<String, Metric>,
    /// Seconds this scenario took to set up and measure.
    pub duration_s: f64,
}

/// Where a run happened; two records gate absolute wall times only when their `fingerprint`s match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// What identifies the machine class for wall-time comparisons (`PERFGATE_MACHINE` overrides).
    pub fingerprint: String,
    /// Host name, for people.
    pub hostname: String,
    /// `std::env::consts::OS`.
    pub os: String,
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Total memory in bytes (0 if unknown).
    pub memory_bytes: u64,
    /// `PERFGATE_MACHINE` when set: the machine is declared stable (a dedicated runner, a quiet
    /// workstation), and absolute wall times gate between runs carrying the same label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The build that ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Toolchain {
    /// `rustc -V` of the compiler that built the harness.
    pub rustc: String,
    /// "release" or "debug".
    pub profile: String,
}

/// The source that ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    /// Commit hash, or "unknown" outside a git checkout.
    pub commit: String,
    /// Whether the work tree had uncommitted changes.
    pub dirty: bool,
}

/// A seed's claim: a statement (file, line, text) turned into a check on two scenarios.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Seed file name, e.g. `cache-optimizations.md`.
    pub seed: String,
    /// Line of the statement in that file.
    pub line: u32,
    /// The statement, quoted.
    pub text: String,
    /// What is checked.
    pub check: ClaimCheck,
}

impl Claim {
    /// The claim at `seed`:`line` quoting `text`, checked by `check`.
    pub fn new(seed: &str, line: u32, text: impl Into<String>, check: ClaimCheck) -> Self {
        Self {
            seed: seed.to_owned(),
            line,
            text: text.into(),
            check,
        }
    }
}

/// How a claim is checked against a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClaimCheck {
    /// `after / before` of `metric` is at most `max` (0.2 = "80 % faster").
    RatioAtMost {
        /// The "before" scenario.
        before: String,
        /// The "after" scenario.
        after: String,
        /// The metric compared.
        metric: String,
        /// Largest ratio for which the claim holds.
        max: f64,
    },
    /// The scenario's `metric` is at most `max` (in the metric's unit).
    AtMost {
        /// The scenario.
        scenario: String,
        /// The metric.
        metric: String,
        /// Largest value for which the claim holds.
        max: f64,
    },
    /// The fitted growth exponent of `metric` over the family's scales lies in `[min, max]`
    /// (0 = flat, 1 = linear).
    Exponent {
        /// The family: a scenario id without its scale, e.g. `flowcache/size/indexed`.
        family: String,
        /// The metric.
        metric: String,
        /// Smallest exponent for which the claim holds.
        min: f64,
        /// Largest exponent for which the claim holds.
        max: f64,
    },
}

/// A claim and what this run measured for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    /// The claim.
    pub claim: Claim,
    /// The measured ratio, value or exponent; `None` when its scenarios were not run.
    pub measured: Option<f64>,
    /// Whether it holds; `None` when not measured, or when the measured interval straddles the
    /// claim's bound (too close to call: see [`ClaimResult::verdict`]).
    pub holds: Option<bool>,
    /// For a claim on a noisy metric: the 95 % interval of `measured` the verdict was decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// The figures behind the verdict, in words.
    pub detail: String,
}

/// What a run says of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// Measured, and on the claim's side of its bound (the whole interval, for a noisy metric).
    Holds,
    /// Measured, and on the other side of its bound (the whole interval, for a noisy metric).
    DoesNotHold,
    /// Measured, but the interval holds values on both sides of the bound.
    TooClose,
    /// Its scenarios or metric were not in this run.
    NotMeasured,
}

impl ClaimVerdict {
    /// In words, for reports.
    pub fn word(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::DoesNotHold => "does not hold",
            ClaimVerdict::TooClose => "too close to call",
            ClaimVerdict::NotMeasured => "not measured",
        }
    }
}

impl ClaimResult {
    /// What this run says of the claim.
    pub fn verdict(&self) -> ClaimVerdict {
        match (self.holds, self.measured) {
            (Some(true), _) => ClaimVerdict::Holds,
            (Some(false), _) => ClaimVerdict::DoesNotHold,
            (None, Some(_)) => ClaimVerdict::TooClose,
            (None, None) => ClaimVerdict::NotMeasured,
        }
    }
}

/// Cost against scale: the slope of log(cost) over log(size) across a family's scales.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrowthFit {
    /// Scenario id without the scale, e.g. `flowcache/size/walk`.
    pub family: String,
    /// The scale parameter that varies, e.g. `files`.
    pub param: String,
    /// The metric fitted.
    pub metric: String,
    /// `(size, value)` points, sorted by size.
    pub points: Vec<(f64, f64)>,
    /// The fitted exponent: 0 = flat, 1 = linear, 2 = quadratic; `None` if a value is zero.
    pub exponent: Option<f64>,
}

/// Everything one run measured, as written to `reports/run.json` and blessed into `baselines/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always [`SCHEMA_NAME`].
    pub schema: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The suite that ran (`smoke`, `full`, or `ingested`).
    pub suite: String,
    /// RFC 3339 time the run started.
    pub started: String,
    /// Seconds the whole run took.
    pub duration_s: f64,
    /// Where it ran.
    pub machine: MachineInfo,
    /// What built it.
    pub toolchain: Toolchain,
    /// What source it ran.
    pub git: GitInfo,
    /// Per scenario results, in run order.
    pub scenarios: Vec<ScenarioRecord>,
    /// Growth exponents fitted over the scenarios' scales.
    #[serde(default)]
    pub growth: Vec<GrowthFit>,
    /// The seeds' claims and what this run says of them.
    #[serde(default)]
    pub claims: Vec<ClaimResult>,
    /// Slowdowns injected into this run's wall and CPU times (`--inject PATTERN=FACTOR`, to measure
    /// the gate's power): such a record measures the gate, not the code, and is never blessed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injected: Vec<String>,
    /// The A/B comparison this record is one side of (`ab --base REV`), when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ab: Option<Box<crate::ab::AbResult>>,
}

impl RunRecord {
    /// A fresh record of the current schema: its scenarios, where and when they ran; no growth
    /// fits, claims, injections or A/B yet (`analysis::analyze` adds the first two).
    pub fn new(
        suite: String,
        started: String,
        duration_s: f64,
        machine: MachineInfo,
        toolchain: Toolchain,
        git: GitInfo,
        scenarios: Vec<ScenarioRecord>,
    ) -> Self {
        Self {
            schema: SCHEMA_NAME.to_owned(),
            schema_version: SCHEMA_VERSION,
            suite,
            started,
            duration_s,
            machine,
            toolchain,
            git,
            scenarios,
            growth: Vec::new(),
            claims: Vec::new(),
            injected: Vec::new(),
            ab: None,
        }
    }

    /// The scenario with this id, if it ran.
    pub fn scenario(&self, id: &str) -> Option<&ScenarioRecord> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    /// The metric `name` of scenario `id`, if both exist.
    pub fn metric(&self, id: &str, name: impl AsRef<str>) -> Option<&Metric> {
        self.scenario(id).and_then(|s| s.metrics.get(name.as_ref()))
    }

    /// Scenario id → metric name → `f` of the metric, for every metric of the record (the shape of
    /// the history's lines and of the BMF export).
    pub fn map_metrics<T>(
        &self,
        f: impl Fn(&Metric) -> T,
    ) -> BTreeMap<String, BTreeMap<String, T>> {
        self.scenarios
            .iter()
            .map(|s| {
                let metrics = s.metrics.iter().map(|(name, m)| (name.clone(), f(m)));
                (s.id.clone(), metrics.collect())
            })
            .collect()
    }
}

/// Which metric a compared row is about: scenario, metric name, kind and unit. The rows of `check`
/// ([`compare::Row`](crate::compare::Row)) and of `ab` ([`AbRow`](crate::ab::AbRow)) embed it with
/// `#[serde(flatten)]`, so their JSON keeps these four fields at the top level of each row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricKey {
    /// Scenario id.
    pub scenario: String,
    /// Metric name.
    pub metric: String,
    /// Metric kind.
    pub kind: MetricKind,
    /// Unit.
    pub unit: String,
}

impl MetricKey {
    /// `metric` of `scenario`, of the kind and unit of `m`.
    pub fn new(scenario: &str, metric: &str, m: &Metric) -> Self {
        Self {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            kind: m.kind,
            unit: m.unit.clone(),
        }
    }
}

/// A scenario id split into its parts: `component/situation/variant/scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioId<'a> {
    /// `component/situation/variant` (everything before the scale).
    pub family: &'a str,
    /// Scale parameters in order, e.g. `[("files", "10000")]`.
    pub scale: Vec<(&'a str, &'a str)>,
}

impl<'a> ScenarioId<'a> {
    /// Splits an id; the last segment is the scale when it contains `=`.
    pub fn parse(id: &'a str) -> Self {
        match id.rsplit_once('/') {
            Some((family, last)) if last.contains('=') => ScenarioId {
                family,
                scale: last
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .collect(),
            },
            _ => ScenarioId {
                family: id,
                scale: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_formats;

    #[test]
    fn change_words_never_round_a_big_win_to_100_percent() {
        assert_formats(
            change_words,
            &[
                (0.17, "83.00% less"),
                (0.00001785, "56022× less"),
                (1.03, "3.000% more"),
                (2.5, "2.500× more"),
                (0.0, "100.0% less"),
            ],
        );
    }

    #[test]
    fn ids_split_into_family_and_scale() {
        let id = ScenarioId::parse("timesync/query/parallel/hosts=6,attempts=2");
        assert_eq!(id.family, "timesync/query/parallel");
        assert_eq!(id.scale, vec![("hosts", "6"), ("attempts", "2")]);
        let plain = ScenarioId::parse("flowcache/size/walk");
        assert_eq!(plain.family, "flowcache/size/walk");
        assert!(plain.scale.is_empty());
    }

    #[test]
    fn values_keep_integers_exact() {
        let big = Value::Int(u64::MAX - 1);
        let json = serde_json::to_string(&big).expect("serialize");
        let back: Value = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, big);
        let f: Value = serde_json::from_str("1.5").expect("float");
        assert_eq!(f, Value::Float(1.5));
    }

    #[test]
    fn significant_digits() {
        assert_formats(
            format_sig,
            &[
                (1234.5678, "1235"),
                (0.012345, "0.01235"),
                (1.5, "1.500"),
                (123456.0, "123456"),
            ],
        );
    }
}
