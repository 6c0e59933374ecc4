//! What a run says beyond single figures: growth exponents fitted over each family's scales, and the
//! seeds' claims checked against the measured figures. Works on records only.

use std::collections::BTreeMap;

use crate::model::{
    Claim, ClaimCheck, ClaimResult, GrowthFit, RunRecord, ScenarioId, format_sig, human,
};
use crate::stats;

/// (family, varying parameter, the other parameters, metric).
type GroupKey = (String, String, String, String);

/// Fits a growth exponent for every metric of every family with at least two numeric scales that
/// differ in one parameter only (the others equal).
pub fn growth(record: &RunRecord) -> Vec<GrowthFit> {
    let mut groups: BTreeMap<GroupKey, Vec<(f64, f64)>> = BTreeMap::new();
    for s in &record.scenarios {
        let id = ScenarioId::parse(&s.id);
        for (i, (param, value)) in id.scale.iter().enumerate() {
            let Ok(x) = value.parse::<f64>() else {
                continue;
            };
            let others: Vec<String> = id
                .scale
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (k, v))| format!("{k}={v}"))
                .collect();
            for (name, m) in &s.metrics {
                groups
                    .entry((
                        id.family.to_owned(),
                        (*param).to_owned(),
                        others.join(","),
                        name.clone(),
                    ))
                    .or_default()
                    .push((x, m.value.as_f64()));
            }
        }
    }
    groups
        .into_iter()
        .filter_map(|((family, param, others, metric), mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points.dedup_by(|a, b| a.0 == b.0);
            (points.len() >= 2).then(|| GrowthFit {
                family: if others.is_empty() {
                    family
                } else {
                    format!("{family}/{others}")
                },
                param,
                metric,
                exponent: stats::log_log_slope(&points),
                points,
            })
        })
        .collect()
}

/// Checks each claim against `record` (and its growth fits).
pub fn check_claims(
    claims: &[Claim],
    record: &RunRecord,
    growth: &[GrowthFit],
) -> Vec<ClaimResult> {
    claims
        .iter()
        .map(|c| check_claim(c, record, growth))
        .collect()
}

fn check_claim(claim: &Claim, record: &RunRecord, growth: &[GrowthFit]) -> ClaimResult {
    let value = |id: &str, metric: &str| {
        record
            .metric(id, metric)
            .map(|m| (m.value.as_f64(), m.unit.clone()))
    };
    let (measured, holds, detail) = match &claim.check {
        ClaimCheck::RatioAtMost {
            before,
            after,
            metric,
            max,
        } => match (value(before, metric), value(after, metric)) {
            (Some((b, unit)), Some((a, _))) if b > 0.0 => {
                let r = a / b;
                (
                    Some(r),
                    Some(r <= *max),
                    format!(
                        "{metric}: before {}, after {}, after/before = {} ({}; claim: <= {})",
                        human(b, &unit),
                        human(a, &unit),
                        format_sig(r),
                        change_words(r),
                        format_sig(*max)
                    ),
                )
            }
            _ => (
                None,
                None,
                format!("not measured: {before} or {after} has no {metric} in this run"),
            ),
        },
        ClaimCheck::AtMost {
            scenario,
            metric,
            max,
        } => match value(scenario, metric) {
            Some((v, unit)) => (
                Some(v),
                Some(v <= *max),
                format!(
                    "{metric} of {scenario}: {} (claim: <= {})",
                    human(v, &unit),
                    human(*max, &unit)
                ),
            ),
            None => (
                None,
                None,
                format!("not measured: {scenario} has no {metric} in this run"),
            ),
        },
        ClaimCheck::Exponent {
            family,
            metric,
            min,
            max,
        } => {
            match growth
                .iter()
                .find(|g| &g.family == family && &g.metric == metric)
            {
                Some(GrowthFit {
                    exponent: Some(e),
                    param,
                    points,
                    ..
                }) => (
                    Some(*e),
                    Some(*min <= *e && *e <= *max),
                    format!(
                        "{metric} grows as {param}^{} over {param} = {}..{} (claim: exponent in [{}, {}])",
                        format_sig(*e),
                        points.first().map_or(0.0, |p| p.0),
                        points.last().map_or(0.0, |p| p.0),
                        format_sig(*min),
                        format_sig(*max)
                    ),
                ),
                _ => (
                    None,
                    None,
                    format!("not measured: no growth fit of {metric} for {family}"),
                ),
            }
        }
    };
    ClaimResult {
        claim: claim.clone(),
        measured,
        holds,
        detail,
    }
}

/// A ratio after/before in words a reader checks against a seed: "83.00% less", "3.000% more", or,
/// below 1 %, "1852× less" (a percentage would round to 100 %).
fn change_words(ratio: f64) -> String {
    if ratio > 0.0 && ratio < 0.01 {
        format!("{}× less", format_sig(1.0 / ratio))
    } else if ratio <= 1.0 {
        format!("{}% less", format_sig((1.0 - ratio) * 100.0))
    } else {
        format!("{}% more", format_sig((ratio - 1.0) * 100.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;
    use crate::testutil::record;

    #[test]
    fn change_words_never_round_a_big_win_to_100_percent() {
        assert_eq!(change_words(0.17), "83.00% less");
        assert_eq!(change_words(0.00001785), "56022× less");
        assert_eq!(change_words(1.03), "3.000% more");
        assert_eq!(change_words(0.0), "100.0% less");
    }

    fn scaled() -> RunRecord {
        let mut rows = Vec::new();
        for n in [1000u64, 10_000, 50_000] {
            rows.push((
                format!("c/size/walk/files={n}"),
                "visits",
                Metric::count(n * 2, "e"),
            ));
            rows.push((
                format!("c/size/indexed/files={n}"),
                "visits",
                Metric::count(3, "e"),
            ));
        }
        let rows: Vec<(&str, &str, Metric)> = rows
            .iter()
            .map(|(a, b, c)| (a.as_str(), *b, c.clone()))
            .collect();
        record("m", rows)
    }

    #[test]
    fn growth_exponents_per_family() {
        let fits = growth(&scaled());
        let walk = fits
            .iter()
            .find(|g| g.family == "c/size/walk")
            .expect("walk fit");
        assert!((walk.exponent.expect("fit") - 1.0).abs() < 1e-9);
        assert_eq!(walk.param, "files");
        assert_eq!(walk.points.len(), 3);
        let idx = fits
            .iter()
            .find(|g| g.family == "c/size/indexed")
            .expect("indexed fit");
        assert!(idx.exponent.expect("fit").abs() < 1e-9);
    }

    #[test]
    fn growth_groups_by_the_other_parameters() {
        let r = record(
            "m",
            vec![
                ("t/q/par/hosts=2,attempts=1", "x", Metric::count(2, "e")),
                ("t/q/par/hosts=4,attempts=1", "x", Metric::count(4, "e")),
                ("t/q/par/hosts=2,attempts=2", "x", Metric::count(8, "e")),
            ],
        );
        let fits = growth(&r);
        assert_eq!(fits.len(), 2, "one fit along each parameter: {fits:?}");
        let hosts = fits.iter().find(|g| g.param == "hosts").expect("hosts fit");
        assert_eq!(hosts.family, "t/q/par/attempts=1");
        assert!((hosts.exponent.expect("fit") - 1.0).abs() < 1e-9);
        let attempts = fits
            .iter()
            .find(|g| g.param == "attempts")
            .expect("attempts fit");
        assert_eq!(attempts.family, "t/q/par/hosts=2");
        assert!((attempts.exponent.expect("fit") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn claims_hold_fail_or_are_not_measured() {
        let r = scaled();
        let g = growth(&r);
        let claim = |check| Claim {
            seed: "s.md".into(),
            line: 1,
            text: "t".into(),
            check,
        };
        let ratio = |max| {
            claim(ClaimCheck::RatioAtMost {
                before: "c/size/walk/files=1000".into(),
                after: "c/size/indexed/files=1000".into(),
                metric: "visits".into(),
                max,
            })
        };
        let results = check_claims(
            &[
                ratio(0.2),
                ratio(0.001),
                claim(ClaimCheck::AtMost {
                    scenario: "c/size/indexed/files=1000".into(),
                    metric: "visits".into(),
                    max: 2.0,
                }),
                claim(ClaimCheck::Exponent {
                    family: "c/size/indexed".into(),
                    metric: "visits".into(),
                    min: -0.2,
                    max: 0.2,
                }),
                claim(ClaimCheck::Exponent {
                    family: "nope".into(),
                    metric: "visits".into(),
                    min: 0.0,
                    max: 0.2,
                }),
            ],
            &r,
            &g,
        );
        let holds: Vec<Option<bool>> = results.iter().map(|r| r.holds).collect();
        assert_eq!(
            holds,
            vec![Some(true), Some(false), Some(false), Some(true), None]
        );
        assert!((results[0].measured.expect("measured") - 3.0 / 2000.0).abs() < 1e-12);
    }
}
