//! A/B of two builds on one machine: base and head run the same scenarios in interleaved rounds, and
//! each noisy metric is decided on its paired per-round ratios with the family-wise error controlled.

pub mod build;
pub mod rounds;
pub mod schedule;
pub mod worker;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::compare::{Verdict, listing_order};
use crate::config::GateConfig;
use crate::model::{
    Direction, Interval, Metric, MetricKey, MetricKind, RunRecord, format_sig, human,
};
use crate::stats;

/// How the A/B decides (`[ab]` in perfgate.toml).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbSettings {
    /// Margin: a noisy metric regresses when the head is significantly worse than the base and its
    /// estimate is worse by more than this fraction (0.1 = 10 %).
    pub threshold: f64,
    /// Family-wise error rate over all noisy metrics compared (Holm).
    pub alpha: f64,
    /// Level of the intervals shown.
    pub confidence: f64,
}

/// Which rule decided an A/B row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbRule {
    /// Noisy metric: paired per-round ratios, t test on logs beyond the margin, Holm over the family.
    Paired,
    /// Deterministic metric: compared once, on the ratio and perfgate.toml's soft limit.
    Deterministic,
    /// The head's median over its rounds crossed the hard limit from perfgate.toml.
    HardLimit,
    /// `gate = false` in perfgate.toml.
    NotGated,
    /// Fewer than three usable rounds: shown, not decided.
    TooFewRounds,
    /// In one build only.
    Presence,
}

impl fmt::Display for AbRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AbRule::Paired => "paired rounds + Holm",
            AbRule::Deterministic => "ratio (deterministic)",
            AbRule::HardLimit => "hard limit (median of rounds)",
            AbRule::NotGated => "not gated (perfgate.toml)",
            AbRule::TooFewRounds => "too few rounds",
            AbRule::Presence => "in one build only",
        })
    }
}

/// One metric of one scenario, base against head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbRow {
    /// Scenario, metric, kind and unit.
    #[serde(flatten)]
    pub key: MetricKey,
    /// Which way is better.
    pub direction: Direction,
    /// The base's median over its rounds.
    pub base: Option<f64>,
    /// The head's median over its rounds.
    pub head: Option<f64>,
    /// Head / base: the geometric mean of the per-round ratios for noisy metrics.
    pub ratio: Option<f64>,
    /// Interval of that ratio (noisy metrics), at the settings' confidence, not adjusted.
    pub interval: Option<Interval>,
    /// Holm-adjusted p-value of the change the verdict names: that the head is worse (better, for an
    /// improved row) than the base (noisy metrics).
    pub p_adjusted: Option<f64>,
    /// Round-to-round noise: standard deviation of the per-round log ratios (noisy metrics).
    pub sd_log: Option<f64>,
    /// Rounds compared.
    pub n: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether this row can fail the A/B.
    pub gated: bool,
    /// The rule that decided.
    pub rule: AbRule,
    /// A remark: a deterministic metric that varied between rounds of one build, a missing side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Minimum detectable slowdown of this metric on this machine (from `perfgate power`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mds: Option<f64>,
}

impl AbRow {
    /// Whether this row fails the A/B.
    pub fn fails(&self) -> bool {
        self.gated && self.verdict == Verdict::Regressed
    }

    /// The ratio and its interval as text: `1.27× [1.21, 1.33]`.
    pub fn ratio_text(&self) -> String {
        match (self.ratio, self.interval) {
            (Some(r), _) if r.is_infinite() => "∞ (base 0)".to_owned(),
            (Some(r), Some(ci)) => format!(
                "{}× [{}, {}]",
                format_sig(r),
                format_sig(ci.lower),
                format_sig(ci.upper)
            ),
            (Some(r), None) => format!("{}×", format_sig(r)),
            (None, _) => "–".to_owned(),
        }
    }

    /// Why the row gated or did not, in a few words.
    pub fn why(&self) -> String {
        let mut text = self.rule.to_string();
        if let Some(p) = self.p_adjusted {
            text.push_str(&format!(", p(adj) {}", format_p(p)));
        }
        if let Some(note) = &self.note {
            text.push_str("; ");
            text.push_str(note);
        }
        text
    }

    /// `base → head` in the metric's unit.
    pub fn change_text(&self) -> String {
        let v = |x: Option<f64>| x.map_or_else(|| "–".to_owned(), |x| human(x, &self.key.unit));
        format!("{} → {}", v(self.base), v(self.head))
    }
}

/// `", functions shuffled with seed N"` for a base relinked by `--base-layout N`, `", K code
/// layouts a side"` for `--layouts K`, else nothing.
pub fn layout_text(seed: Option<u64>, layouts: Option<usize>) -> String {
    match (seed, layouts) {
        (Some(s), _) => format!(", functions shuffled with seed {s}"),
        (None, Some(k)) => format!(", {k} code layouts a side, one pair a round"),
        (None, None) => String::new(),
    }
}

/// A p-value for people: `<0.001`, `0.012`, `1`.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".to_owned()
    } else if p >= 1.0 {
        "1".to_owned()
    } else {
        format!("{p:.3}")
    }
}

/// A whole A/B comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbResult {
    /// The base revision as given (`--base`).
    pub base_rev: String,
    /// Its commit.
    pub base_commit: String,
    /// The seed its functions were shuffled with (`--base-layout`), if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_layout: Option<u64>,
    /// Code layouts per side (`--layouts`): each round ran its own pair, functions shuffled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layouts: Option<usize>,
    /// The head's commit (the working tree, uncommitted changes included when `head_dirty`).
    pub head_commit: String,
    /// Whether the head had uncommitted changes.
    pub head_dirty: bool,
    /// Rounds run (each: one base and one head process).
    pub rounds: usize,
    /// `sequential` (base and head one after the other, in a seeded random order per round) or `duet`
    /// (both at once, each pinned to its own CPU).
    pub mode: String,
    /// Seed of the round order.
    pub seed: u64,
    /// How finely base and head alternated: sample by sample, scenario by scenario, or whole runs.
    #[serde(default)]
    pub interleave: String,
    /// How it decided.
    pub settings: AbSettings,
    /// Slowdowns injected into the head (`--inject`), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injected: Vec<String>,
    /// Seconds the rounds took (building excluded).
    pub duration_s: f64,
    /// Every compared metric, failures first.
    pub rows: Vec<AbRow>,
}

impl AbResult {
    /// Whether any row fails.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(AbRow::fails)
    }

    /// The rows worth a reader's first look: regressed, improved, in one build only.
    pub fn changed(&self) -> impl Iterator<Item = &AbRow> {
        self.rows.iter().filter(|r| r.verdict != Verdict::Same)
    }

    /// The rows judged the same that carry a remark: a deterministic metric that varied between
    /// rounds of one build, a slowdown significant but within the margin.
    pub fn remarked(&self) -> impl Iterator<Item = &AbRow> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Same && r.note.is_some())
    }

    /// Counts for a headline.
    pub fn headline(&self) -> String {
        let count = |v: Verdict| self.rows.iter().filter(|r| r.verdict == v).count();
        let worse_ungated = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regressed && !r.gated)
            .count();
        let mut text = format!(
            "{} regressed, {} improved, {} same, {} in one build only",
            self.rows.iter().filter(|r| r.fails()).count(),
            count(Verdict::Improved),
            count(Verdict::Same),
            count(Verdict::New) + count(Verdict::Missing)
        );
        if worse_ungated > 0 {
            text.push_str(&format!(" ({worse_ungated} worse but not gated)"));
        }
        text
    }

    /// The rule, in one sentence.
    pub fn rule_text(&self) -> String {
        format!(
            "A/B of {} ({}{}) against the head ({}{}) over {} rounds ({}, interleaved {}, seed {}): a wall or \
             CPU time regresses when the head is slower than the base (Yuen's {}-trimmed t test on the per-round \
             log ratios, Holm over {} metrics, family-wise error {}) and its estimate is worse by more \
             than {}; \
             deterministic metrics are compared once against perfgate.toml's limits.",
            self.base_rev,
            short(&self.base_commit),
            layout_text(self.base_layout, self.layouts),
            short(&self.head_commit),
            if self.head_dirty {
                " + uncommitted changes"
            } else {
                ""
            },
            self.rounds,
            self.mode,
            self.interleave,
            self.seed,
            pct(stats::TRIM),
            self.rows.iter().filter(|r| r.p_adjusted.is_some()).count(),
            self.settings.alpha,
            pct(self.settings.threshold),
        )
    }
}

fn pct(f: f64) -> String {
    format!("{} %", (f * 1000.0).round() / 10.0)
}

/// The first 10 characters of a commit hash.
pub fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// Whether a metric of this kind is decided on paired rounds (it is noisy).
pub fn is_paired(kind: MetricKind) -> bool {
    kind.is_noisy()
}

/// A pooled quantile is compared only when at least this many of the pooled samples lie above it
/// (4.5 for the p99 of 450 status waits): a p99 of fewer is one of the largest samples, and the
/// median of the runs' own ratios varies less.
pub const POOLED_TAIL: f64 = 3.0;

/// Whether `m`'s value is a statistic of samples pooled from repeated runs that the A/B can compare
/// as it is (see [`rounds::fold_repeats`] and [`POOLED_TAIL`]).
fn pooled(m: &Metric) -> bool {
    let q = m.quantile.unwrap_or(0.5);
    m.rounds.len() > 1 && m.samples.len() as f64 * (1.0 - q) >= POOLED_TAIL
}

/// The paired values of one metric on both sides, one group per round where both had it: the
/// round's `(base, head)`; when both sides ran the schedule's repeats, their statistics of the
/// samples pooled over the repeats where both sampled enough (see [`POOLED_TAIL`]: all runs' samples,
/// taken turn by turn, compared at once), else the runs' pairs (see [`run_pairs`]).
pub fn round_pairs(
    rounds: &[(RunRecord, RunRecord)],
    scenario: &str,
    metric: &str,
) -> Vec<Vec<(f64, f64)>> {
    paired(rounds, scenario, metric, |bm, hm| {
        if pooled(bm) && pooled(hm) && bm.quantile == hm.quantile {
            vec![(bm.value.as_f64(), hm.value.as_f64())]
        } else {
            each_run(bm, hm)
        }
    })
}

/// Every run's `(base, head)` of one metric, one group per round where both sides had it: the
/// main and extra pairs when both ran the schedule's repeats (the metric's `rounds`, paired index
/// by index), else the round's values. Their spread is the noise of one pair, which the schedule
/// plans from.
pub fn run_pairs(
    rounds: &[(RunRecord, RunRecord)],
    scenario: &str,
    metric: &str,
) -> Vec<Vec<(f64, f64)>> {
    paired(rounds, scenario, metric, each_run)
}

fn paired(
    rounds: &[(RunRecord, RunRecord)],
    scenario: &str,
    metric: &str,
    group: impl Fn(&Metric, &Metric) -> Vec<(f64, f64)>,
) -> Vec<Vec<(f64, f64)>> {
    rounds
        .iter()
        .filter_map(|(b, h)| {
            Some(group(
                b.metric(scenario, metric)?,
                h.metric(scenario, metric)?,
            ))
        })
        .collect()
}

fn each_run(bm: &Metric, hm: &Metric) -> Vec<(f64, f64)> {
    if bm.rounds.len() > 1 && bm.rounds.len() == hm.rounds.len() {
        bm.rounds
            .iter()
            .copied()
            .zip(hm.rounds.iter().copied())
            .collect()
    } else {
        vec![(bm.value.as_f64(), hm.value.as_f64())]
    }
}

/// One `(base, head)` per round for the paired test: a round with extra pairs counts once, with
/// the median of its pairs' ratios (its pairs ran in the same two processes, so they are not
/// independent of each other: counted one by one, an A/A run failed too often), and a pair that
/// straddled a change of the CPU's speed moves that median little.
pub fn per_round(groups: &[Vec<(f64, f64)>]) -> Vec<(f64, f64)> {
    groups
        .iter()
        .filter_map(|g| {
            let usable: Vec<(f64, f64)> = g
                .iter()
                .copied()
                .filter(|(b, h)| b.is_finite() && h.is_finite() && *b > 0.0 && *h > 0.0)
                .collect();
            match usable.len() {
                0 => None,
                1 => Some(usable[0]),
                n => {
                    let ratios: Vec<f64> = usable.iter().map(|(b, h)| h / b).collect();
                    let base = (usable.iter().map(|(b, _)| b.ln()).sum::<f64>() / n as f64).exp();
                    Some((base, base * stats::median(&ratios)))
                }
            }
        })
        .collect()
}

/// [`per_round`] of [`round_pairs`]: what the paired test of one metric sees.
pub fn pairs(rounds: &[(RunRecord, RunRecord)], scenario: &str, metric: &str) -> Vec<(f64, f64)> {
    per_round(&round_pairs(rounds, scenario, metric))
}

fn median(values: &[f64]) -> Option<f64> {
    let m = stats::median(values);
    m.is_finite().then_some(m)
}

/// Compares the head with the base over paired rounds (`(base, head)` records of each round, run
/// with the same selection). `mds` gives known minimum detectable slowdowns by (scenario, metric).
pub fn analyze(
    rounds: &[(RunRecord, RunRecord)],
    config: &GateConfig,
    settings: AbSettings,
    mds: &BTreeMap<(String, String), f64>,
) -> Vec<AbRow> {
    // Every (scenario, metric) either side measured in any round, head order first.
    let mut keys: Vec<(String, String)> = Vec::new();
    for (b, h) in rounds {
        for rec in [h, b] {
            for s in &rec.scenarios {
                for name in s.metrics.keys() {
                    let key = (s.id.clone(), name.clone());
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
    }
    let mut rows = Vec::with_capacity(keys.len());
    let mut tests = Vec::new();
    for (scenario, metric) in keys {
        let find = |side: usize| {
            rounds.iter().find_map(|r| {
                let rec = if side == 0 { &r.0 } else { &r.1 };
                rec.metric(&scenario, &metric)
            })
        };
        let Some(sample) = find(1).or_else(|| find(0)) else {
            continue;
        };
        let limits = config.limits(&scenario, &metric);
        let side_values = |side: usize| -> Vec<f64> {
            rounds
                .iter()
                .filter_map(|r| {
                    let rec = if side == 0 { &r.0 } else { &r.1 };
                    rec.metric(&scenario, &metric).map(|m| m.value.as_f64())
                })
                .collect()
        };
        let (base_values, head_values) = (side_values(0), side_values(1));
        let mut row = AbRow {
            key: MetricKey::new(&scenario, &metric, sample),
            direction: sample.direction,
            base: median(&base_values),
            head: median(&head_values),
            ratio: None,
            interval: None,
            p_adjusted: None,
            sd_log: None,
            n: base_values.len().min(head_values.len()),
            verdict: Verdict::Same,
            gated: limits.gate,
            rule: AbRule::Deterministic,
            note: None,
            mds: mds.get(&(scenario.clone(), metric.clone())).copied(),
        };
        if base_values.is_empty() || head_values.is_empty() {
            row.verdict = if base_values.is_empty() {
                Verdict::New
            } else {
                Verdict::Missing
            };
            row.rule = AbRule::Presence;
            row.gated = false;
            row.note = Some(if base_values.is_empty() {
                "not in the base build".to_owned()
            } else {
                "not in the head build".to_owned()
            });
            rows.push(row);
            continue;
        }
        let worse = |ratio: f64| match sample.direction {
            Direction::LowerIsBetter => ratio,
            Direction::HigherIsBetter => 1.0 / ratio,
        };
        if is_paired(sample.kind) {
            row.rule = AbRule::Paired;
            let p = pairs(rounds, &scenario, &metric);
            // The test is against "no change"; the margin applies to the estimate (below), so a
            // significant but tiny shift (code layout, a few %) is not a regression, and the test
            // keeps its power for the slowdowns that matter.
            match stats::paired_log_ratio(
                &p,
                sample.direction == Direction::HigherIsBetter,
                0.0,
                settings.confidence,
            ) {
                Some(t) => {
                    row.ratio = Some(t.ratio);
                    row.interval = Some(t.interval);
                    row.sd_log = Some(t.sd_log);
                    row.n = t.n;
                    let margin = limits.ab_threshold.unwrap_or(settings.threshold);
                    tests.push((rows.len(), t.p_worse, t.p_better, margin));
                }
                None => {
                    row.rule = AbRule::TooFewRounds;
                    row.gated = false;
                    row.ratio = match (row.base, row.head) {
                        (Some(b), Some(h)) if b > 0.0 => Some(h / b),
                        _ => None,
                    };
                }
            }
        } else {
            let (b, h) = (row.base.unwrap_or(0.0), row.head.unwrap_or(0.0));
            let ratio = if b == 0.0 {
                if h == 0.0 { 1.0 } else { f64::INFINITY }
            } else {
                h / b
            };
            row.ratio = Some(ratio);
            let w = worse(ratio);
            let t = limits.threshold;
            row.verdict = if w > 1.0 + t {
                Verdict::Regressed
            } else if w < 1.0 / (1.0 + t) {
                Verdict::Improved
            } else {
                Verdict::Same
            };
            let spread = |v: &[f64]| {
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (lo != hi)
                    .then(|| format!("{}..{}", human(lo, &row.key.unit), human(hi, &row.key.unit)))
            };
            let varied: Vec<String> = [("base", &base_values), ("head", &head_values)]
                .iter()
                .filter_map(|(side, v)| spread(v).map(|s| format!("{side} {s}")))
                .collect();
            if !varied.is_empty() {
                row.note = Some(format!(
                    "varied between rounds of one build: {}; medians compared",
                    varied.join(", ")
                ));
            }
        }
        if let (Some(hard), Some(h)) = (limits.hard, row.head) {
            let crossed = match sample.direction {
                Direction::LowerIsBetter => h > hard,
                Direction::HigherIsBetter => h < hard,
            };
            if crossed {
                row.verdict = Verdict::Regressed;
                row.rule = AbRule::HardLimit;
                row.note = Some(format!("hard limit {}", human(hard, &row.key.unit)));
            }
        }
        if !limits.gate {
            row.rule = AbRule::NotGated;
            row.gated = false;
        }
        rows.push(row);
    }
    // Holm over every paired test, for each direction.
    let worse_adj = stats::holm(&tests.iter().map(|t| t.1).collect::<Vec<_>>());
    let better_adj = stats::holm(&tests.iter().map(|t| t.2).collect::<Vec<_>>());
    for (((i, _, _, margin), pw), pb) in tests.iter().zip(worse_adj).zip(better_adj) {
        let row = &mut rows[*i];
        // The worse direction's p, unless the row turns out improved (below).
        row.p_adjusted = Some(pw);
        if row.rule == AbRule::HardLimit {
            continue;
        }
        let worse = row.ratio.map_or(1.0, |r| match row.direction {
            Direction::LowerIsBetter => r,
            Direction::HigherIsBetter => 1.0 / r,
        });
        let beyond = 1.0 + margin;
        row.verdict = if pw <= settings.alpha && worse > beyond {
            Verdict::Regressed
        } else if pb <= settings.alpha && worse < 1.0 / beyond {
            row.p_adjusted = Some(pb);
            Verdict::Improved
        } else {
            if pw <= settings.alpha {
                row.note = Some(format!(
                    "significantly slower, but by less than the {} margin",
                    pct(*margin)
                ));
            }
            Verdict::Same
        };
    }
    rows.sort_by(|a, b| {
        listing_order(a.fails(), a.verdict, &a.key).cmp(&listing_order(
            b.fails(),
            b.verdict,
            &b.key,
        ))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_label_says_how_the_code_was_laid_out() {
        assert_eq!(layout_text(None, None), "");
        assert_eq!(
            layout_text(Some(3), None),
            ", functions shuffled with seed 3"
        );
        assert_eq!(
            layout_text(None, Some(6)),
            ", 6 code layouts a side, one pair a round"
        );
    }
    use crate::model::ScenarioRecord;
    use crate::testutil::{config, record, wall};

    const SETTINGS: AbSettings = AbSettings {
        threshold: 0.1,
        alpha: 0.05,
        confidence: 0.95,
    };

    /// Rounds of one wall metric (`a/x/v/n=1`) and one count, the head `factor` times the base, with
    /// ±4 % alternating round noise; `count_head` is the head's count.
    fn rounds(n: usize, factor: f64, count_head: u64) -> Vec<(RunRecord, RunRecord)> {
        (0..n)
            .map(|i| {
                let noise = 1.0 + 0.04 * if i % 2 == 0 { 1.0 } else { -1.0 } * (i as f64 / 10.0);
                let side = |f: f64, count: u64| {
                    let base = 1000.0 * (1.0 + i as f64 / 20.0);
                    record(
                        "m",
                        vec![
                            ("a/x/v/n=1", "wall_time", wall(&[base * f * noise])),
                            ("a/x/v/n=1", "visits", Metric::count(count, "entries")),
                        ],
                    )
                };
                (side(1.0, 100), side(factor, count_head))
            })
            .collect()
    }

    fn row<'a>(rows: &'a [AbRow], metric: &str) -> &'a AbRow {
        rows.iter().find(|r| r.key.metric == metric).expect("row")
    }

    #[test]
    fn extra_pairs_folded_into_a_round_are_paired_index_by_index_and_count_once() {
        // Three rounds; in each, the scenario ran 4 times per side (1 main + 3 extra pairs), the
        // head 1.2x the base in every pair.
        let mut rs = Vec::new();
        for i in 0..3 {
            let run = |f: f64, j: usize| ScenarioRecord {
                id: "a/x/v/n=1".into(),
                before: None,
                metrics: [(
                    "wall_time".to_owned(),
                    wall(&[1000.0 * f * (1.0 + 0.1 * j as f64 + 0.01 * i as f64)]),
                )]
                .into(),
                duration_s: 0.1,
            };
            let mut sides = Vec::new();
            for f in [1.0, 1.2] {
                let mut main = run(f, 0);
                rounds::fold_repeats(&mut main, (1..4).map(|j| run(f, j)).collect());
                let mut rec = record("m", Vec::new());
                rec.scenarios.push(main);
                sides.push(rec);
            }
            let h = sides.pop().expect("head");
            let b = sides.pop().expect("base");
            rs.push((b, h));
        }
        let m = rs[0].0.metric("a/x/v/n=1", "wall_time").expect("metric");
        assert_eq!(m.rounds.len(), 4);
        assert!(
            (m.value.as_f64() - 1150.0).abs() < 1e-6,
            "median of 1000..1300"
        );
        let groups = round_pairs(&rs, "a/x/v/n=1", "wall_time");
        assert_eq!(groups.len(), 3);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert!(
            groups
                .iter()
                .flatten()
                .all(|(b, h)| (h / b - 1.2).abs() < 1e-9),
            "{groups:?}"
        );
        // The test sees one pair per round, at the median ratio of the round's pairs.
        let p = pairs(&rs, "a/x/v/n=1", "wall_time");
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|(b, h)| (h / b - 1.2).abs() < 1e-9), "{p:?}");
        let rows = analyze(&rs, &GateConfig::default(), SETTINGS, &BTreeMap::new());
        let r = row(&rows, "wall_time");
        assert_eq!(r.n, 3);
        assert_eq!(r.verdict, Verdict::Regressed, "{r:?}");
    }

    #[test]
    fn repeated_runs_pool_their_samples_where_the_statistic_allows() {
        use crate::measure::quantile_metric;
        // Run j of a side: a wall time of 5 samples, a p99 of 100 waits and a p99 of 19 gaps.
        let run = |f: f64, j: usize| {
            let at = |k: usize| f * (1000.0 + 100.0 * j as f64 + k as f64);
            let waits: Vec<f64> = (0..100).map(at).collect();
            ScenarioRecord {
                id: "a/x/v/n=1".into(),
                before: None,
                metrics: [
                    ("wall_time", wall(&(0..5).map(at).collect::<Vec<_>>())),
                    ("wait_p99", quantile_metric(&waits, 0.99, 0.95)),
                    ("gap_p99", quantile_metric(&waits[..19], 0.99, 0.95)),
                ]
                .map(|(n, m)| (n.to_owned(), m))
                .into(),
                duration_s: 0.1,
            }
        };
        let side = |f: f64| {
            let mut main = run(f, 0);
            rounds::fold_repeats(&mut main, (1..4).map(|j| run(f, j)).collect());
            let mut rec = record("m", Vec::new());
            rec.scenarios.push(main);
            rec
        };
        let rs = vec![(side(1.0), side(1.25))];
        let wall_m = rs[0].0.metric("a/x/v/n=1", "wall_time").expect("wall");
        assert_eq!((wall_m.samples.len(), wall_m.rounds.len()), (20, 4));
        assert_eq!(wall_m.value.as_f64(), stats::median(&wall_m.samples));
        let p99 = rs[0].0.metric("a/x/v/n=1", "wait_p99").expect("p99");
        assert_eq!((p99.samples.len(), p99.quantile), (400, Some(0.99)));
        assert_eq!(p99.value.as_f64(), 1395.0, "rank 396 of 400 pooled waits");
        let runs = run_pairs(&rs, "a/x/v/n=1", "wall_time");
        assert_eq!(
            runs[0].len(),
            4,
            "every run's pair, for the noise of one: {runs:?}"
        );
        for (metric, groups) in [("wall_time", 1), ("wait_p99", 1), ("gap_p99", 4)] {
            let g = round_pairs(&rs, "a/x/v/n=1", metric);
            assert_eq!(g[0].len(), groups, "{metric}: {g:?}");
            assert!(
                g[0].iter().all(|(b, h)| (h / b - 1.25).abs() < 1e-9),
                "{metric}: {g:?}"
            );
        }
    }

    #[test]
    fn an_override_replaces_the_margin_for_its_metric() {
        let cfg = config(
            "[[override]]\nscenario = \"a/*\"\nmetric = \"wall_time\"\nab_threshold = 0.5\n",
        );
        let rows = analyze(&rounds(8, 1.3, 100), &cfg, SETTINGS, &BTreeMap::new());
        let r = row(&rows, "wall_time");
        assert_eq!(
            r.verdict,
            Verdict::Same,
            "1.3x is within a 50 % margin: {r:?}"
        );
        assert!(
            r.note.as_deref().is_some_and(|n| n.contains("50 % margin")),
            "{r:?}"
        );
        let rows = analyze(&rounds(8, 1.7, 100), &cfg, SETTINGS, &BTreeMap::new());
        assert_eq!(row(&rows, "wall_time").verdict, Verdict::Regressed);
    }

    #[test]
    fn a_known_slowdown_is_found_and_a_a_passes() {
        let none = BTreeMap::new();
        let cfg = GateConfig::default();
        let slow = analyze(&rounds(8, 1.3, 100), &cfg, SETTINGS, &none);
        let r = row(&slow, "wall_time");
        assert_eq!(r.verdict, Verdict::Regressed, "{r:?}");
        assert!((r.ratio.expect("ratio") - 1.3).abs() < 0.02);
        assert!(r.fails());
        let same = analyze(&rounds(8, 1.0, 100), &cfg, SETTINGS, &none);
        assert!(same.iter().all(|r| r.verdict == Verdict::Same), "{same:?}");
        // 5 % slower is within the 10 % margin.
        let small = analyze(&rounds(8, 1.05, 100), &cfg, SETTINGS, &none);
        assert_eq!(row(&small, "wall_time").verdict, Verdict::Same);
        let fast = analyze(&rounds(8, 0.5, 100), &cfg, SETTINGS, &none);
        assert_eq!(row(&fast, "wall_time").verdict, Verdict::Improved);
    }

    #[test]
    fn deterministic_metrics_are_compared_once_and_variation_is_reported() {
        let cfg = GateConfig::default();
        let rows = analyze(&rounds(5, 1.0, 200), &cfg, SETTINGS, &BTreeMap::new());
        let r = row(&rows, "visits");
        assert_eq!(
            (r.verdict, r.rule),
            (Verdict::Regressed, AbRule::Deterministic)
        );
        assert!(r.note.is_none());
        let mut varying = rounds(5, 1.0, 100);
        varying[2].1.scenarios[0]
            .metrics
            .insert("visits".into(), Metric::count(101, "entries"));
        let rows = analyze(&varying, &cfg, SETTINGS, &BTreeMap::new());
        let r = row(&rows, "visits");
        assert_eq!(r.verdict, Verdict::Same);
        assert!(
            r.note.as_deref().is_some_and(|n| n.contains("varied")),
            "{r:?}"
        );
    }

    #[test]
    fn too_few_rounds_and_one_sided_scenarios_do_not_gate() {
        let cfg = GateConfig::default();
        let rows = analyze(&rounds(2, 3.0, 100), &cfg, SETTINGS, &BTreeMap::new());
        assert_eq!(row(&rows, "wall_time").rule, AbRule::TooFewRounds);
        let mut only_head = rounds(4, 1.0, 100);
        for (b, _) in &mut only_head {
            b.scenarios.clear();
        }
        let rows = analyze(&only_head, &cfg, SETTINGS, &BTreeMap::new());
        assert!(rows.iter().all(|r| r.verdict == Verdict::New && !r.gated));
    }

    #[test]
    fn a_rows_json_keeps_its_key_fields_at_the_top_and_reads_back() {
        let rows = analyze(
            &rounds(4, 1.0, 100),
            &GateConfig::default(),
            SETTINGS,
            &BTreeMap::new(),
        );
        let r = row(&rows, "visits");
        let json = serde_json::to_string(r).expect("serializes");
        assert!(
            json.starts_with(
                r#"{"scenario":"a/x/v/n=1","metric":"visits","kind":"exact","unit":"entries","#
            ),
            "{json}"
        );
        let back: AbRow = serde_json::from_str(&json).expect("reads back");
        assert_eq!(&back, r);
    }
}
