//! Comparing a run with a baseline: match scenarios and metrics, apply the limits from `perfgate.toml`
//! by metric kind, and give each a verdict and the rule that decided it. Works on records only.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{GateConfig, Limits};
use crate::model::{
    Direction, Interval, MachineInfo, Metric, MetricKey, MetricKind, RunRecord, format_sig, human,
};
use crate::stats;

/// The outcome for one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse beyond the limit (and significant, for noisy metrics).
    Regressed,
    /// In the baseline, not in this run: an error, never a silent pass.
    Missing,
    /// Better beyond the limit (and significant, for noisy metrics).
    Improved,
    /// Within the limit, or not significant.
    Same,
    /// In this run, not in the baseline: shown, not gated until blessed.
    New,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Regressed => "regressed",
            Verdict::Missing => "missing",
            Verdict::Improved => "improved",
            Verdict::Same => "same",
            Verdict::New => "new",
        })
    }
}

/// Which rule decided a verdict, so the summary can say why a figure did or did not gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Deterministic metric (exact count, virtual time, instructions): the ratio alone decides.
    Ratio,
    /// Noisy metric on the same machine: the ratio, and a bootstrap test that the change is real.
    RatioAndSignificance,
    /// Absolute wall time, not from one labelled machine (`PERFGATE_MACHINE`): shown, not gated.
    OtherMachine,
    /// The absolute hard limit from `perfgate.toml` was crossed (for a noisy metric: by its whole
    /// confidence interval).
    HardLimit,
    /// A noisy metric measured once crossed its hard limit: one value cannot tell a crossing from
    /// noise, so it is shown, not gated here; `ab` decides it on the median of paired rounds.
    HardLimitSingleValue,
    /// `gate = false` in `perfgate.toml`.
    NotGated,
    /// Nothing to compare with (new or missing).
    Presence,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Ratio => "ratio (deterministic)",
            Rule::RatioAndSignificance => "ratio + significance",
            Rule::OtherMachine => "shown (no machine label)",
            Rule::HardLimit => "hard limit",
            Rule::HardLimitSingleValue => "over the hard limit once (single value: ab decides)",
            Rule::NotGated => "not gated (perfgate.toml)",
            Rule::Presence => "presence",
        })
    }
}

/// One metric of one scenario, compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Scenario, metric, kind and unit (the kind and unit from the current run, else the
    /// baseline).
    #[serde(flatten)]
    pub key: MetricKey,
    /// Baseline value, if any.
    pub baseline: Option<f64>,
    /// Current value, if any.
    pub current: Option<f64>,
    /// `current / baseline` (infinite when the baseline is zero and the current is not).
    pub ratio: Option<f64>,
    /// Confidence interval of the ratio, for noisy metrics.
    pub ratio_ci: Option<Interval>,
    /// The soft limit applied: the configured one, widened for a noisy metric to the noise band its
    /// baseline showed between bless rounds.
    pub threshold: f64,
    /// The baseline's noise band (largest / smallest round value at bless), for noisy metrics blessed
    /// over several rounds.
    pub noise_band: Option<f64>,
    /// The hard limit applied, if any.
    pub hard: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether this row can fail the gate.
    pub gated: bool,
    /// The rule that decided.
    pub rule: Rule,
}

impl Row {
    /// The limits applied, as text: `+50%`, `+66.7% (noise band 1.667×)`, `+50%, hard 10 ms`.
    pub fn limit_text(&self) -> String {
        let mut text = format!("+{}%", format_sig(self.threshold * 100.0));
        if let Some(band) = self.noise_band {
            text.push_str(&format!(" (noise band {}×)", format_sig(band)));
        }
        if let Some(h) = self.hard {
            text.push_str(&format!(", hard {}", human(h, &self.key.unit)));
        }
        text
    }

    /// The ratio and its interval as text: `1.027× [1.008, 1.053]`, `∞ (baseline 0)`, `–`.
    pub fn ratio_text(&self) -> String {
        match self.ratio {
            Some(r) if r.is_infinite() => "∞ (baseline 0)".to_owned(),
            Some(r) => match self.ratio_ci {
                Some(ci) => format!(
                    "{}× [{}, {}]",
                    format_sig(r),
                    format_sig(ci.lower),
                    format_sig(ci.upper)
                ),
                None => format!("{}×", format_sig(r)),
            },
            None => "–".to_owned(),
        }
    }

    /// Whether this row fails the gate.
    pub fn fails(&self) -> bool {
        self.gated && matches!(self.verdict, Verdict::Regressed | Verdict::Missing)
    }
}

/// A whole comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Whether both records come from the same machine (absolute wall times gate only then).
    pub same_machine: bool,
    /// The baseline's machine fingerprint.
    pub baseline_machine: String,
    /// The current run's machine fingerprint.
    pub current_machine: String,
    /// Confidence level of the significance tests.
    pub confidence: f64,
    /// Every compared metric, failures first, then by scenario and metric.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Whether any row fails the gate.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(Row::fails)
    }

    /// Which gating rule applied, in one sentence; `baseline` names the baseline for the reader.
    pub fn rule_text(&self, baseline: &str) -> String {
        if self.same_machine {
            format!(
                "same machine as {baseline} ({}): every metric gates; wall times only when the change \
                 is also significant (bootstrap, {}% confidence) and beyond the noise band seen at bless.",
                self.current_machine,
                format_sig(self.confidence * 100.0)
            )
        } else {
            format!(
                "{baseline} ({}) and this run ({}) are not one labelled machine: absolute wall times \
                 are shown but do not gate; exact counts, virtual times and in-run ratios (after/before \
                 in this run) still do. Set PERFGATE_MACHINE on a stable machine, bless there, to gate \
                 wall times too.",
                self.baseline_machine, self.current_machine
            )
        }
    }

    /// How many rows have each verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }

    /// The counts for a headline: regressions and missing metrics that gate (what fails), then
    /// improved, same and new; worse-beyond-limit figures that do not gate are counted apart, so
    /// "PASS" never stands beside "2 regressed".
    pub fn headline(&self) -> String {
        let gated = |v: Verdict| {
            self.rows
                .iter()
                .filter(|r| r.verdict == v && r.gated)
                .count()
        };
        let shown = self
            .rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Regressed | Verdict::Missing) && !r.gated)
            .count();
        let mut text = format!(
            "{} regressed, {} missing, {} improved, {} same, {} new",
            gated(Verdict::Regressed),
            gated(Verdict::Missing),
            self.count(Verdict::Improved),
            self.count(Verdict::Same),
            self.count(Verdict::New)
        );
        if shown > 0 {
            text.push_str(&format!(" ({shown} worse but not gated)"));
        }
        text
    }
}

/// Whether absolute wall times may gate: both runs carry the same `PERFGATE_MACHINE` label. An
/// unlabelled match of hardware fingerprints is not enough (see [`crate::machine::detect`]).
pub fn same_labelled_machine(baseline: &MachineInfo, current: &MachineInfo) -> bool {
    baseline.label.is_some() && baseline.label == current.label
}

/// Compares `current` with `baseline` for the baseline scenarios `in_scope` accepts (a filtered run
/// must not report the scenarios it did not select as missing).
pub fn compare(
    baseline: &RunRecord,
    current: &RunRecord,
    config: &GateConfig,
    in_scope: &dyn Fn(&str) -> bool,
) -> Comparison {
    let same_machine = same_labelled_machine(&baseline.machine, &current.machine);
    let mut rows = Vec::new();
    for base in baseline.scenarios.iter().filter(|s| in_scope(&s.id)) {
        let cur = current.scenario(&base.id);
        for (name, bm) in &base.metrics {
            let limits = config.limits(&base.id, name);
            let row = match cur.and_then(|c| c.metrics.get(name)) {
                Some(cm) => judge(&base.id, name, Some(bm), cm, limits, same_machine),
                None => presence_row(&base.id, name, bm, Verdict::Missing, limits),
            };
            rows.push(row);
        }
    }
    for cur in &current.scenarios {
        let base = baseline.scenario(&cur.id);
        for (name, cm) in &cur.metrics {
            if base.is_none_or(|b| !b.metrics.contains_key(name)) {
                let limits = config.limits(&cur.id, name);
                rows.push(judge(&cur.id, name, None, cm, limits, same_machine));
            }
        }
    }
    rows.sort_by(|a, b| {
        listing_order(a.fails(), a.verdict, &a.key).cmp(&listing_order(
            b.fails(),
            b.verdict,
            &b.key,
        ))
    });
    Comparison {
        same_machine,
        baseline_machine: baseline.machine.fingerprint.clone(),
        current_machine: current.machine.fingerprint.clone(),
        confidence: config.gate.confidence,
        rows,
    }
}

/// Where a row stands in a listing of rows: what fails first, then by verdict, scenario and metric.
pub(crate) fn listing_order(fails: bool, verdict: Verdict, key: &MetricKey) -> impl Ord + '_ {
    (!fails, verdict, &key.scenario, &key.metric)
}

fn presence_row(scenario: &str, name: &str, m: &Metric, verdict: Verdict, limits: Limits) -> Row {
    let value = Some(m.value.as_f64());
    let (baseline, current) = match verdict {
        Verdict::Missing => (value, None),
        _ => (None, value),
    };
    Row {
        key: MetricKey::new(scenario, name, m),
        baseline,
        current,
        ratio: None,
        ratio_ci: None,
        threshold: limits.threshold,
        noise_band: None,
        hard: limits.hard,
        verdict,
        gated: limits.gate,
        rule: Rule::Presence,
    }
}

/// `worse` as a factor > 1 when the change is for the worse, whatever the metric's direction.
fn worse_factor(direction: Direction, ratio: f64) -> f64 {
    match direction {
        Direction::LowerIsBetter => ratio,
        Direction::HigherIsBetter => 1.0 / ratio,
    }
}

fn judge(
    scenario: &str,
    name: &str,
    base: Option<&Metric>,
    cur: &Metric,
    limits: Limits,
    same_machine: bool,
) -> Row {
    let Some(base) = base else {
        return presence_row(scenario, name, cur, Verdict::New, limits);
    };
    let (b, c) = (base.value.as_f64(), cur.value.as_f64());
    let ratio = if b == 0.0 {
        if c == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        c / b
    };
    let worse = worse_factor(cur.direction, ratio);
    // A noisy metric that moved by X between the bless rounds of the same code can move by X again:
    // such a move is not a regression, so the soft limit is at least the band.
    let noise_band = base.noise_band().filter(|_| cur.kind.is_noisy());
    let t = noise_band.map_or(limits.threshold, |band| limits.threshold.max(band - 1.0));
    let mut verdict = if worse > 1.0 + t {
        Verdict::Regressed
    } else if worse < 1.0 / (1.0 + t) {
        Verdict::Improved
    } else {
        Verdict::Same
    };

    let mut ratio_ci = None;
    let mut rule = Rule::Ratio;
    if cur.kind.is_noisy() {
        rule = Rule::RatioAndSignificance;
        ratio_ci = noisy_ratio_ci(base, cur, limits.confidence);
        let significant = match (verdict, ratio_ci) {
            // Worse means the whole interval lies on the worse side of "no change".
            (Verdict::Regressed, Some(ci)) => {
                worse_factor(cur.direction, ci_bound(cur.direction, ci, true)) > 1.0
            }
            (Verdict::Improved, Some(ci)) => {
                worse_factor(cur.direction, ci_bound(cur.direction, ci, false)) < 1.0
            }
            (_, _) => false,
        };
        if !significant {
            verdict = Verdict::Same;
        }
        if matches!(cur.kind, MetricKind::WallTime | MetricKind::CpuTime) && !same_machine {
            rule = Rule::OtherMachine;
        }
    }
    let mut gated = limits.gate && rule != Rule::OtherMachine;
    if let Some(hard) = limits.hard {
        let over = |v: f64| match cur.direction {
            Direction::LowerIsBetter => v > hard,
            Direction::HigherIsBetter => v < hard,
        };
        // A noisy metric crosses only when its whole interval does: the bound nearest the limit.
        let evidence = if cur.kind.is_noisy() {
            cur.summary
                .as_ref()
                .filter(|s| s.n >= 2)
                .map(|s| match cur.direction {
                    Direction::LowerIsBetter => s.ci.lower,
                    Direction::HigherIsBetter => s.ci.upper,
                })
        } else {
            Some(c)
        };
        match evidence {
            Some(v) if over(v) => {
                verdict = Verdict::Regressed;
                rule = Rule::HardLimit;
                gated = limits.gate;
            }
            None if over(c) => {
                verdict = Verdict::Regressed;
                rule = Rule::HardLimitSingleValue;
                gated = false;
            }
            _ => {}
        }
    }
    if !limits.gate {
        rule = Rule::NotGated;
    }
    Row {
        key: MetricKey::new(scenario, name, cur),
        baseline: Some(b),
        current: Some(c),
        ratio: Some(ratio),
        ratio_ci,
        threshold: t,
        noise_band,
        hard: limits.hard,
        verdict,
        gated,
        rule,
    }
}

/// The bound of a ratio interval nearest to "no change" on the side of the verdict: for a regression
/// the least-bad bound (`toward_worse`), for an improvement the least-good one.
fn ci_bound(direction: Direction, ci: Interval, toward_worse: bool) -> f64 {
    match (direction, toward_worse) {
        (Direction::LowerIsBetter, true) | (Direction::HigherIsBetter, false) => ci.lower,
        (Direction::LowerIsBetter, false) | (Direction::HigherIsBetter, true) => ci.upper,
    }
}

/// Interval of `current / baseline` for a noisy metric: bootstrap over both sample sets when both
/// kept samples and the value is their median; otherwise (a quantile such as a p99, or no samples)
/// from the current run's own interval against the baseline's point value.
fn noisy_ratio_ci(base: &Metric, cur: &Metric, level: f64) -> Option<Interval> {
    let medians = base.quantile.is_none() && cur.quantile.is_none();
    if medians && !base.samples.is_empty() && !cur.samples.is_empty() {
        return stats::ratio_of_medians_ci(&cur.samples, &base.samples, level);
    }
    let b = base.value.as_f64();
    let ci = cur.summary.as_ref()?.ci;
    (b > 0.0).then(|| Interval {
        level: ci.level,
        lower: ci.lower / b,
        upper: ci.upper / b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::testutil::{config, record, wall};

    fn cmp(base: &RunRecord, cur: &RunRecord) -> Comparison {
        compare(base, cur, &GateConfig::default(), &|_| true)
    }

    /// A record from machine `m` holding the one metric `name` of scenario `a/b/c`.
    fn one(name: &str, metric: Metric) -> RunRecord {
        record("m", vec![("a/b/c", name, metric)])
    }

    fn only(c: &Comparison, metric: &str) -> Row {
        c.rows
            .iter()
            .find(|r| r.key.metric == metric)
            .cloned()
            .expect("row present")
    }

    #[test]
    fn exact_counts_gate_on_the_ratio_alone() {
        let base = one("visits", Metric::count(100, "entries"));
        for (value, verdict) in [
            (150, Verdict::Same),
            (151, Verdict::Regressed),
            (66, Verdict::Improved),
            (67, Verdict::Same),
        ] {
            let cur = one("visits", Metric::count(value, "entries"));
            let row = only(&cmp(&base, &cur), "visits");
            assert_eq!(row.verdict, verdict, "value {value}");
            assert_eq!(row.rule, Rule::Ratio);
        }
    }

    #[test]
    fn a_zero_baseline_regresses_on_any_increase() {
        let base = one("visits", Metric::count(0, "entries"));
        let cur = one("visits", Metric::count(1, "entries"));
        let c = cmp(&base, &cur);
        assert!(c.failed());
        assert_eq!(only(&c, "visits").ratio, Some(f64::INFINITY));
        let same = cmp(&base, &base);
        assert!(!same.failed());
        assert_eq!(only(&same, "visits").verdict, Verdict::Same);
    }

    #[test]
    fn direction_is_respected() {
        let mut m = Metric::count(100, "ops/s");
        m.direction = Direction::HigherIsBetter;
        let base = one("tput", m.clone());
        m.value = Value::Int(60);
        let cur = one("tput", m.clone());
        assert_eq!(only(&cmp(&base, &cur), "tput").verdict, Verdict::Regressed);
        m.value = Value::Int(200);
        let cur = one("tput", m);
        assert_eq!(only(&cmp(&base, &cur), "tput").verdict, Verdict::Improved);
    }

    #[test]
    fn wall_time_needs_significance() {
        let walls = |samples: &[f64]| one("wall_time", wall(samples));
        let base = walls(&[
            100.0, 101.0, 99.0, 100.5, 99.5, 100.0, 100.2, 99.8, 100.1, 99.9,
        ]);
        // A clean 2x slowdown: regressed.
        let slow = walls(&[
            200.0, 202.0, 198.0, 201.0, 199.0, 200.0, 200.4, 199.6, 200.2, 199.8,
        ]);
        let row = only(&cmp(&base, &slow), "wall_time");
        assert_eq!(
            (row.verdict, row.rule),
            (Verdict::Regressed, Rule::RatioAndSignificance)
        );
        // Median 2x, but the samples are all over the place: not significant, so not a regression.
        let noisy = walls(&[
            200.0, 20.0, 400.0, 50.0, 300.0, 90.0, 250.0, 30.0, 500.0, 60.0,
        ]);
        let row = only(&cmp(&base, &noisy), "wall_time");
        assert_eq!(row.verdict, Verdict::Same, "{row:?}");
    }

    #[test]
    fn a_quantile_is_compared_on_its_own_interval_not_on_a_bootstrap_of_medians() {
        use crate::measure::quantile_metric;
        // Same median (50), the p99 twice as far out: a bootstrap of the samples' medians would
        // read "same"; the p99's order-statistic interval against the baseline's p99 does not.
        let base: Vec<f64> = (1..=100).map(f64::from).collect();
        let mut cur = base.clone();
        cur.iter_mut().skip(90).for_each(|x| *x *= 2.0);
        let (b, c) = (
            quantile_metric(&base, 0.99, 0.95),
            quantile_metric(&cur, 0.99, 0.95),
        );
        let ci = noisy_ratio_ci(&b, &c, 0.95).expect("interval");
        let s = c.summary.expect("summary");
        assert_eq!((ci.lower, ci.upper), (s.ci.lower / 99.0, s.ci.upper / 99.0));
        assert!(ci.lower > 1.5, "{ci:?}");
    }

    #[test]
    fn a_noise_band_at_bless_widens_the_soft_limit_of_noisy_metrics_only() {
        let steady = |v: f64| wall(&[v, v * 1.001, v * 0.999, v, v * 1.002, v * 0.998]);
        // Blessed over rounds that moved between 9 and 15 (band 1.667): 1.6x is within it.
        let mut blessed = steady(9.0);
        blessed.rounds = vec![9.0, 15.0, 12.0];
        let base = one("wall_time", blessed.clone());
        let cur = one("wall_time", steady(14.4));
        let row = only(&cmp(&base, &cur), "wall_time");
        assert_eq!(row.verdict, Verdict::Same, "{row:?}");
        assert!(
            (row.threshold - 2.0 / 3.0).abs() < 1e-9,
            "{}",
            row.threshold
        );
        assert!(row.noise_band.is_some());
        // 2x is outside the band: still a regression.
        let cur = one("wall_time", steady(18.0));
        assert_eq!(
            only(&cmp(&base, &cur), "wall_time").verdict,
            Verdict::Regressed
        );
        // A band narrower than the configured limit changes nothing.
        blessed.rounds = vec![9.0, 9.9];
        let base = one("wall_time", blessed);
        let row = only(&cmp(&base, &cur), "wall_time");
        assert_eq!((row.verdict, row.threshold), (Verdict::Regressed, 0.5));
        // Exact counts never widen: rounds of a count agree, and if they did not, the count gates as is.
        let mut count = Metric::count(100, "entries");
        count.rounds = vec![100.0, 300.0];
        let base = one("visits", count);
        let cur = one("visits", Metric::count(160, "entries"));
        let row = only(&cmp(&base, &cur), "visits");
        assert_eq!((row.verdict, row.noise_band), (Verdict::Regressed, None));
    }

    #[test]
    fn absolute_wall_times_from_another_machine_do_not_gate() {
        let base = record("laptop", vec![("a/b/c", "wall_time", wall(&[100.0; 10]))]);
        let cur = record(
            "ci",
            vec![(
                "a/b/c",
                "wall_time",
                wall(&[
                    300.0, 301.0, 299.0, 300.0, 300.5, 299.5, 300.0, 300.0, 300.1, 299.9,
                ]),
            )],
        );
        let c = cmp(&base, &cur);
        let row = only(&c, "wall_time");
        assert_eq!(row.rule, Rule::OtherMachine);
        assert!(!row.gated && !c.failed() && !c.same_machine);
    }

    #[test]
    fn the_headline_counts_only_gated_regressions_as_regressed() {
        let slow = wall(&[
            300.0, 301.0, 299.0, 300.0, 300.5, 299.5, 300.0, 300.0, 300.1, 299.9,
        ]);
        let base = record("laptop", vec![("a/b/c", "wall_time", wall(&[100.0; 10]))]);
        let elsewhere = cmp(
            &base,
            &record("ci", vec![("a/b/c", "wall_time", slow.clone())]),
        );
        assert!(!elsewhere.failed());
        assert_eq!(
            elsewhere.headline(),
            "0 regressed, 0 missing, 0 improved, 0 same, 0 new (1 worse but not gated)"
        );
        let here = cmp(&base, &record("laptop", vec![("a/b/c", "wall_time", slow)]));
        assert!(here.failed());
        assert!(
            here.headline().starts_with("1 regressed, "),
            "{}",
            here.headline()
        );
    }

    #[test]
    fn matching_hardware_without_a_label_is_not_the_same_machine() {
        let slow = wall(&[
            300.0, 301.0, 299.0, 300.0, 300.5, 299.5, 300.0, 300.0, 300.1, 299.9,
        ]);
        let mut base = record("vm", vec![("a/b/c", "wall_time", wall(&[100.0; 10]))]);
        let mut cur = record("vm", vec![("a/b/c", "wall_time", slow)]);
        assert!(cmp(&base, &cur).failed(), "labelled alike: walls gate");
        base.machine.label = None;
        cur.machine.label = None;
        let c = cmp(&base, &cur);
        assert_eq!(base.machine.fingerprint, cur.machine.fingerprint);
        assert!(!c.same_machine && !c.failed(), "{c:?}");
        assert_eq!(only(&c, "wall_time").rule, Rule::OtherMachine);
        assert!(c.rule_text("smoke.json").contains("PERFGATE_MACHINE"));
        // One side labelled is not enough either.
        cur.machine.label = Some("vm".to_owned());
        assert!(!cmp(&base, &cur).same_machine);
    }

    #[test]
    fn cpu_times_gate_like_wall_times() {
        let mut base_m = wall(&[100.0; 10]);
        base_m.kind = MetricKind::CpuTime;
        let mut cur_m = wall(&[
            300.0, 301.0, 299.0, 300.0, 300.5, 299.5, 300.0, 300.0, 300.1, 299.9,
        ]);
        cur_m.kind = MetricKind::CpuTime;
        let base = record("laptop", vec![("a/b/c", "cpu", base_m.clone())]);
        let elsewhere = cmp(&base, &record("ci", vec![("a/b/c", "cpu", cur_m.clone())]));
        assert_eq!(only(&elsewhere, "cpu").rule, Rule::OtherMachine);
        assert!(!elsewhere.failed());
        let here = cmp(&base, &record("laptop", vec![("a/b/c", "cpu", cur_m)]));
        assert!(here.failed(), "{here:?}");
    }

    #[test]
    fn in_run_ratios_gate_on_any_machine() {
        let mut r = wall(&[0.5, 0.51, 0.49, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
        r.kind = MetricKind::InRunRatio;
        let base = record("laptop", vec![("a/b/c", "ratio", r.clone())]);
        let mut worse = wall(&[1.0, 1.01, 0.99, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        worse.kind = MetricKind::InRunRatio;
        let cur = record("ci", vec![("a/b/c", "ratio", worse)]);
        let c = cmp(&base, &cur);
        assert!(c.failed(), "{c:?}");
    }

    #[test]
    fn missing_fails_new_does_not() {
        let base = one("visits", Metric::count(1, "e"));
        let cur = record("m", vec![("x/y/z", "visits", Metric::count(1, "e"))]);
        let c = cmp(&base, &cur);
        assert!(c.failed());
        assert_eq!(c.count(Verdict::Missing), 1);
        assert_eq!(c.count(Verdict::New), 1);
        assert_eq!(c.rows[0].verdict, Verdict::Missing, "failures sort first");
        // Out of scope: the baseline scenario is not expected.
        let scoped = compare(&base, &cur, &GateConfig::default(), &|id| {
            id.starts_with("x/")
        });
        assert!(!scoped.failed());
    }

    #[test]
    fn hard_limits_and_ungated_metrics() {
        let config = config(
            "[[override]]\nmetric = \"visits\"\nhard = 10\n[[override]]\nmetric = \"info\"\ngate = false\n",
        );
        let base = record(
            "m",
            vec![
                ("a/b/c", "visits", Metric::count(11, "e")),
                ("a/b/c", "info", Metric::count(1, "e")),
            ],
        );
        let cur = record(
            "m",
            vec![
                ("a/b/c", "visits", Metric::count(11, "e")),
                ("a/b/c", "info", Metric::count(100, "e")),
            ],
        );
        let c = compare(&base, &cur, &config, &|_| true);
        let visits = only(&c, "visits");
        assert_eq!(
            (visits.verdict, visits.rule),
            (Verdict::Regressed, Rule::HardLimit)
        );
        let info = only(&c, "info");
        assert_eq!(
            (info.verdict, info.rule, info.gated),
            (Verdict::Regressed, Rule::NotGated, false)
        );
        assert!(c.rows.iter().filter(|r| r.fails()).count() == 1);
    }

    #[test]
    fn a_noisy_hard_limit_needs_the_whole_interval_and_a_single_value_only_shows() {
        let config = config("[[override]]\nmetric = \"*\"\nhard = 1000\n");
        let judge_one = |m: Metric| {
            let base = one("t", m.clone());
            let c = compare(&base, &one("t", m), &config, &|_| true);
            only(&c, "t")
        };
        // Median 1,050 but the interval reaches well under 1,000: noise, not a crossing.
        let straddling = judge_one(wall(&[700.0, 900.0, 1050.0, 1100.0, 1200.0, 800.0, 1300.0]));
        assert_eq!(straddling.verdict, Verdict::Same, "{straddling:?}");
        // Every sample over: crossed.
        let over = judge_one(wall(&[1500.0; 12]));
        assert_eq!(
            (over.verdict, over.rule, over.gated),
            (Verdict::Regressed, Rule::HardLimit, true)
        );
        // One CPU-time value over: shown, not gated (ab decides over rounds).
        let mut single = Metric::count(1500, "ns");
        single.kind = MetricKind::CpuTime;
        let once = judge_one(single);
        assert_eq!(
            (once.verdict, once.rule, once.gated),
            (Verdict::Regressed, Rule::HardLimitSingleValue, false)
        );
        assert!(!once.fails());
    }
}
