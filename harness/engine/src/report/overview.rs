//! The answer a reviewer reads first, shared by every markup: what changed (only the rows that moved,
//! what fails first) and one card per component (its before -> after headline per family, its claims,
//! the A/B's minimum detectable slowdown where measured).

use std::collections::BTreeMap;

use super::ReportInput;
use crate::compare::{Comparison, Row, Verdict};
use crate::model::{
    ClaimCheck, ClaimVerdict, Metric, RunRecord, change_words, format_sig, human, join_or_none,
};

/// Changed rows the first screen lists before folding the rest.
pub const CHANGED_SHOWN: usize = 10;

/// The compared rows that moved (not "same"), in the order a reviewer needs them: what fails the
/// gate, then worse but not gated, missing, new, improved.
pub fn changed(c: &Comparison) -> Vec<&Row> {
    let rank = |r: &Row| match (r.fails(), r.verdict) {
        (true, _) => 0,
        (false, Verdict::Regressed) => 1,
        (false, Verdict::Missing) => 2,
        (false, Verdict::New) => 3,
        _ => 4,
    };
    let mut rows: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| r.verdict != Verdict::Same)
        .collect();
    rows.sort_by_key(|r| rank(r));
    rows
}

/// The component of a scenario id (`flowcache` of `flowcache/size/walk/files=10`).
pub fn component_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// Why a row gated or did not, in a few words: its rule and its limit.
pub fn why(row: &Row) -> String {
    format!("{}; limit {}", row.rule, row.limit_text())
}

/// `before -> now` of a row.
pub fn before_now(row: &Row) -> String {
    let show = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| human(v, &row.key.unit));
    format!("{} → {}", show(row.baseline), show(row.current))
}

/// One family's before -> after at its largest scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Headline {
    /// `size` of `flowcache/size`.
    pub situation: String,
    /// The "before" variant.
    pub before: String,
    /// The "after" variant.
    pub after: String,
    /// The scale compared (`files=50000`), empty when the family has none.
    pub scale: String,
    /// The metric compared.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// Before's value.
    pub before_value: f64,
    /// After's value.
    pub after_value: f64,
}

impl Headline {
    /// "size: walk → indexed, wall_time 70.00 ms → 1.300 µs (53846× less) at files=50000".
    pub fn words(&self) -> String {
        let change = if self.before_value > 0.0 {
            change_words(self.after_value / self.before_value)
        } else if self.after_value == 0.0 {
            "both 0".to_owned()
        } else {
            "from 0".to_owned()
        };
        let scale = if self.scale.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.scale)
        };
        format!(
            "{}: {} → {}, {} {} → {} ({change}){scale}",
            self.situation,
            self.before,
            self.after,
            self.metric,
            human(self.before_value, &self.unit),
            human(self.after_value, &self.unit)
        )
    }
}

/// One component's card.
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    /// The component.
    pub component: String,
    /// One headline per family with a before/after pair.
    pub headlines: Vec<Headline>,
    /// Its claims by verdict: holds, too close to call, does not hold, not measured.
    pub claims: [usize; 4],
    /// Rows that fail the gate, and rows improved, in the comparison.
    pub failing: usize,
    /// Improved rows.
    pub improved: usize,
    /// The A/B's median minimum detectable slowdown over the component's metrics, and how many.
    pub mds: Option<(f64, usize)>,
}

impl Card {
    /// "5 hold, 1 too close to call, 1 does not" (only the non-zero counts; "none" when empty).
    pub fn claims_words(&self) -> String {
        let words = ["hold", "too close to call", "do not hold", "not measured"];
        let parts: Vec<String> = self
            .claims
            .iter()
            .zip(words)
            .filter(|(n, _)| **n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
        join_or_none(&parts)
    }

    /// "2 failing, 1 improved": the component's rows in the comparison against the baseline.
    pub fn baseline_words(&self) -> String {
        format!("{} failing, {} improved", self.failing, self.improved)
    }

    /// "A/B detects 1.41× (median of 6 metrics)", when measured.
    pub fn mds_words(&self) -> Option<String> {
        self.mds.map(|(m, n)| {
            format!(
                "A/B detects a {}× slowdown (median over {n} metric{})",
                format_sig(m),
                if n == 1 { "" } else { "s" }
            )
        })
    }
}

/// The metric a family's headline compares: wall time when measured, else the first metric both
/// variants have whose values differ, else the first they share.
fn headline_metric<'a>(
    before: &'a BTreeMap<String, Metric>,
    after: &BTreeMap<String, Metric>,
) -> Option<&'a str> {
    let shared: Vec<&str> = before
        .keys()
        .filter(|k| after.contains_key(*k) && k.as_str() != crate::scenario::WALL_RATIO)
        .map(String::as_str)
        .collect();
    if shared.contains(&"wall_time") {
        return Some("wall_time");
    }
    shared
        .iter()
        .copied()
        .find(|k| before[*k].value.as_f64() != after[*k].value.as_f64())
        .or_else(|| shared.first().copied())
}

/// One card per component of `input`'s run, in the order the run measured them.
pub fn cards(input: &ReportInput<'_>) -> Vec<Card> {
    let r = input.record;
    let mut order: Vec<&str> = Vec::new();
    for s in &r.scenarios {
        let c = component_of(&s.id);
        if !order.contains(&c) {
            order.push(c);
        }
    }
    order
        .into_iter()
        .map(|component| Card {
            component: component.to_owned(),
            headlines: headlines(r, component),
            claims: claim_counts(r, component),
            failing: input.comparison.map_or(0, |c| {
                c.rows
                    .iter()
                    .filter(|row| row.fails() && component_of(&row.key.scenario) == component)
                    .count()
            }),
            improved: input.comparison.map_or(0, |c| {
                c.rows
                    .iter()
                    .filter(|row| {
                        row.verdict == Verdict::Improved
                            && component_of(&row.key.scenario) == component
                    })
                    .count()
            }),
            mds: input.power.and_then(|p| {
                let mut m: Vec<f64> = p
                    .metrics
                    .iter()
                    .filter(|m| component_of(&m.scenario) == component)
                    .filter_map(|m| m.mds)
                    .collect();
                m.sort_by(f64::total_cmp);
                (!m.is_empty()).then(|| (m[m.len() / 2], m.len()))
            }),
        })
        .collect()
}

fn headlines(r: &RunRecord, component: &str) -> Vec<Headline> {
    // The last pair of each family in run order: scales run smallest first.
    let mut by_family: BTreeMap<String, Headline> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for after in r
        .scenarios
        .iter()
        .filter(|s| component_of(&s.id) == component)
    {
        let Some(before) = after.before.as_deref().and_then(|b| r.scenario(b)) else {
            continue;
        };
        let Some(metric) = headline_metric(&before.metrics, &after.metrics) else {
            continue;
        };
        // `component/situation/variant/scale…`: the scale is whatever follows the variant.
        let parts = |id: &str| -> (String, String, String) {
            let mut p = id.splitn(4, '/').skip(1);
            let situation = p.next().unwrap_or("").to_owned();
            let variant = p.next().unwrap_or("").to_owned();
            (situation, variant, p.next().unwrap_or("").to_owned())
        };
        let (situation, after_variant, scale) = parts(&after.id);
        let (_, before_variant, _) = parts(&before.id);
        if !order.contains(&situation) {
            order.push(situation.clone());
        }
        by_family.insert(
            situation.clone(),
            Headline {
                situation,
                before: before_variant,
                after: after_variant,
                scale,
                metric: metric.to_owned(),
                unit: before.metrics[metric].unit.clone(),
                before_value: before.metrics[metric].value.as_f64(),
                after_value: after.metrics[metric].value.as_f64(),
            },
        );
    }
    order
        .into_iter()
        .filter_map(|s| by_family.remove(&s))
        .collect()
}

/// The component a claim is about: the first segment of the scenario or family it checks.
fn claim_component(check: &ClaimCheck) -> &str {
    match check {
        ClaimCheck::RatioAtMost { after, .. } => component_of(after),
        ClaimCheck::AtMost { scenario, .. } => component_of(scenario),
        ClaimCheck::Exponent { family, .. } => component_of(family),
    }
}

fn claim_counts(r: &RunRecord, component: &str) -> [usize; 4] {
    let mut counts = [0; 4];
    for c in r
        .claims
        .iter()
        .filter(|c| claim_component(&c.claim.check) == component)
    {
        counts[match c.verdict() {
            ClaimVerdict::Holds => 0,
            ClaimVerdict::TooClose => 1,
            ClaimVerdict::DoesNotHold => 2,
            ClaimVerdict::NotMeasured => 3,
        }] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::config::GateConfig;
    use crate::model::Metric;
    use crate::testutil::{record, wall};

    fn pair(walk: f64, indexed: f64) -> RunRecord {
        let mut r = record(
            "m",
            vec![
                ("cache/size/walk/files=10", "wall_time", wall(&[walk; 5])),
                (
                    "cache/size/indexed/files=10",
                    "wall_time",
                    wall(&[indexed; 5]),
                ),
                (
                    "cache/size/walk/files=10",
                    "visits",
                    Metric::count(10, "entries"),
                ),
                (
                    "cache/size/indexed/files=10",
                    "visits",
                    Metric::count(1, "entries"),
                ),
                (
                    "cache/size/walk/files=1000",
                    "wall_time",
                    wall(&[walk * 100.0; 5]),
                ),
                (
                    "cache/size/indexed/files=1000",
                    "wall_time",
                    wall(&[indexed; 5]),
                ),
                (
                    "pool/idle/spin/workers=4",
                    "wakeups",
                    Metric::count(400, "wakeups"),
                ),
                (
                    "pool/idle/park/workers=4",
                    "wakeups",
                    Metric::count(0, "wakeups"),
                ),
            ],
        );
        for (after, before) in [
            ("cache/size/indexed/files=10", "cache/size/walk/files=10"),
            (
                "cache/size/indexed/files=1000",
                "cache/size/walk/files=1000",
            ),
            ("pool/idle/park/workers=4", "pool/idle/spin/workers=4"),
        ] {
            let s = r
                .scenarios
                .iter_mut()
                .find(|s| s.id == after)
                .expect("after");
            s.before = Some(before.to_owned());
        }
        r
    }

    #[test]
    fn a_card_per_component_with_the_largest_scale_as_its_headline() {
        let r = pair(1000.0, 10.0);
        let input = ReportInput::new(&r);
        let cards = cards(&input);
        let names: Vec<&str> = cards.iter().map(|c| c.component.as_str()).collect();
        assert_eq!(names, ["cache", "pool"]);
        assert_eq!(
            cards[0].headlines[0].words(),
            "size: walk → indexed, wall_time 100.0 µs → 10.00 ns (10000× less) at files=1000"
        );
        // No wall time: the metric that differs.
        assert_eq!(
            cards[1].headlines[0].words(),
            "idle: spin → park, wakeups 400 wakeups → 0 wakeups (100.0% less) at workers=4"
        );
        assert_eq!(cards[0].claims_words(), "none");
        assert_eq!(cards[0].mds_words(), None);
    }

    #[test]
    fn changed_rows_put_what_fails_first_and_leave_out_the_same() {
        let base = pair(1000.0, 10.0);
        let mut cur = pair(1000.0, 10.0);
        for s in &mut cur.scenarios {
            if s.id == "pool/idle/park/workers=4" {
                s.metrics
                    .insert("wakeups".into(), Metric::count(50, "wakeups"));
            }
            if s.id == "pool/idle/spin/workers=4" {
                s.metrics
                    .insert("wakeups".into(), Metric::count(100, "wakeups"));
            }
        }
        let c = compare(&base, &cur, &GateConfig::default(), &|_| true);
        let rows = changed(&c);
        let what: Vec<(&str, Verdict)> = rows
            .iter()
            .map(|r| (r.key.scenario.as_str(), r.verdict))
            .collect();
        assert_eq!(
            what,
            [
                ("pool/idle/park/workers=4", Verdict::Regressed),
                ("pool/idle/spin/workers=4", Verdict::Improved)
            ]
        );
        assert!(why(rows[0]).contains("limit +"), "{}", why(rows[0]));
        assert_eq!(before_now(rows[1]), "400 wakeups → 100 wakeups");
    }
}
