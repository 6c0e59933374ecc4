//! What a run says beyond single figures: growth exponents fitted over each family's scales, and the
//! seeds' claims checked against the measured figures. Works on records only.

use std::collections::BTreeMap;

use crate::model::{
    Claim, ClaimCheck, ClaimResult, GrowthFit, Metric, RunRecord, ScenarioId, Value, change_words,
    format_sig, human,
};
use crate::stats;

/// (family, varying parameter, the other parameters, metric).
type GroupKey = (String, String, String, String);

/// Fills in what a run's scenarios imply: the growth fits over each family's scales, and `claims`
/// checked against the run.
pub fn analyze(record: &mut RunRecord, claims: &[Claim]) {
    record.growth = growth(record);
    record.claims = check_claims(claims, record, &record.growth);
}

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
        .map(|c| check_claim(c, record, growth, None))
        .collect()
}

/// Checks `record`'s claims again, widening each noisy claim's interval by the run-to-run spread of
/// its quantity over the rounds `baseline` was blessed from: one run's interval covers the noise
/// within the run, not the machine's from one run to the next, so a claim near its bound would
/// otherwise hold in one check and not in the next.
///
/// Then each claim whose estimate in this run agrees with the baseline's (the baseline's estimate
/// lies within this run's widened interval, widened once more by the run-to-run spread) takes the
/// verdict of the baseline's rounds, which measured the same code more times: ten checks of an
/// unchanged tree then say the same of every claim, instead of flipping between "holds" and "too
/// close to call" as a claim near its bound is measured a little above or below it. A run that
/// disagrees (the code or the machine changed the quantity) is decided on its own figures.
pub fn recheck_claims(record: &mut RunRecord, baseline: &RunRecord) {
    let claims: Vec<Claim> = record.claims.iter().map(|c| c.claim.clone()).collect();
    let base_growth = growth(baseline);
    record.claims = claims
        .iter()
        .map(|c| {
            let now = check_claim(c, record, &record.growth, Some(baseline));
            let blessed = check_claim(c, baseline, &base_growth, Some(baseline));
            anchored(now, &blessed)
        })
        .collect();
}

/// `now` with `blessed`'s verdict when the two estimates agree (see [`recheck_claims`]).
fn anchored(now: ClaimResult, blessed: &ClaimResult) -> ClaimResult {
    let (Some(v), Some(b), Some((lo, hi))) = (now.measured, blessed.measured, now.interval) else {
        return now;
    };
    if now.holds == blessed.holds {
        return now;
    }
    // The interval's reach beyond the estimate, once more on each side.
    let agrees = match now.claim.check {
        ClaimCheck::Exponent { .. } => (b - v).abs() <= 2.0 * (hi - v).max(v - lo),
        _ if v > 0.0 && lo > 0.0 && b > 0.0 => {
            (b / v).ln().abs() <= 2.0 * (hi / v).ln().max((v / lo).ln())
        }
        _ => false,
    };
    if !agrees {
        return now;
    }
    let verdict = blessed.verdict().word();
    ClaimResult {
        holds: blessed.holds,
        detail: format!(
            "{}; the baseline's rounds measured {} and this run agrees with them: {verdict}",
            now.detail,
            format_sig(b)
        ),
        ..now
    }
}

/// The factor by which one run's value of a quantity may differ from its typical value, from the
/// quantity's values `rounds` in separate runs: a 95 % prediction interval of one more run, on logs
/// (`exp(t · sd · sqrt(1 + 1/n))`). `None` with fewer than two positive rounds.
fn run_to_run_factor(rounds: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = rounds
        .iter()
        .filter(|v| **v > 0.0)
        .map(|v| v.ln())
        .collect();
    let n = logs.len();
    if n < 2 {
        return None;
    }
    let mean = logs.iter().sum::<f64>() / n as f64;
    let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let t = stats::student_t_quantile_upper(0.025, (n - 1) as f64);
    let factor = (t * sd * (1.0 + 1.0 / n as f64).sqrt()).exp();
    factor.is_finite().then_some(factor)
}

/// The growth exponent of `family`'s `metric` in each round `record` was merged from (a noisy
/// metric keeps its per-round values); empty when the metric is not noisy or has no rounds.
fn round_exponents(record: &RunRecord, family: &str, metric: &str) -> Vec<f64> {
    let rounds = record
        .scenarios
        .iter()
        .filter_map(|s| s.metrics.get(metric))
        .filter(|m| m.kind.is_noisy())
        .map(|m| m.rounds.len())
        .max()
        .unwrap_or(0);
    (0..rounds)
        .filter_map(|r| {
            let mut one = record.clone();
            for s in &mut one.scenarios {
                if let Some(m) = s.metrics.get_mut(metric) {
                    m.value = Value::Float(*m.rounds.get(r)?);
                }
            }
            growth(&one)
                .into_iter()
                .find(|g| g.family == family && g.metric == metric)?
                .exponent
        })
        .collect()
}

/// Half the width of a 95 % prediction interval of one more run's exponent, from the exponents of
/// `rounds` separate runs (`t · sd · sqrt(1 + 1/n)`). `None` with fewer than two.
fn exponent_band(rounds: &[f64]) -> Option<f64> {
    let n = rounds.len();
    if n < 2 {
        return None;
    }
    let mean = rounds.iter().sum::<f64>() / n as f64;
    let sd = (rounds.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let band =
        stats::student_t_quantile_upper(0.025, (n - 1) as f64) * sd * (1.0 + 1.0 / n as f64).sqrt();
    band.is_finite().then_some(band)
}

/// `interval` widened to cover `value` times and divided by `factor`.
fn widen(value: f64, interval: Option<(f64, f64)>, factor: Option<f64>) -> Option<(f64, f64)> {
    match (interval, factor) {
        (Some((lo, hi)), Some(f)) => Some((lo.min(value / f), hi.max(value * f))),
        (None, Some(f)) => Some((value / f, value * f)),
        (interval, None) => interval,
    }
}

/// Which side of a claim's upper bound `max` the measured value is on: with an interval, only when
/// the whole interval is on one side (`None`: too close to call).
fn side_of(value: f64, interval: Option<(f64, f64)>, max: f64) -> Option<bool> {
    match interval {
        Some((_, hi)) if hi <= max => Some(true),
        Some((lo, _)) if lo > max => Some(false),
        Some(_) => None,
        None => Some(value <= max),
    }
}

/// ` [lo, hi]: too close to call` and the like: what the interval adds to a claim's detail.
fn interval_words(
    interval: Option<(f64, f64)>,
    holds: Option<bool>,
    show: &dyn Fn(f64) -> String,
) -> String {
    match (interval, holds) {
        (Some((lo, hi)), None) => {
            format!(", interval {} to {}: too close to call", show(lo), show(hi))
        }
        (Some((lo, hi)), Some(_)) => format!(", interval {} to {}", show(lo), show(hi)),
        (None, _) => String::new(),
    }
}

fn check_claim(
    claim: &Claim,
    record: &RunRecord,
    growth: &[GrowthFit],
    noise: Option<&RunRecord>,
) -> ClaimResult {
    // The quantity's values over the baseline's rounds, for a noisy metric.
    let rounds = |id: &str, metric: &str| {
        noise
            .and_then(|b| b.metric(id, metric))
            .filter(|m| m.kind.is_noisy())
            .map(|m| m.rounds.clone())
            .unwrap_or_default()
    };
    let metric_of = |id: &str, metric: &str| record.metric(id, metric);
    // A noisy metric's claim is decided on its interval: a point estimate near the bound would flip
    // between runs of the same code.
    let ci = |m: &Metric| {
        m.kind
            .is_noisy()
            .then(|| m.summary.as_ref().map(|s| (s.ci.lower, s.ci.upper)))
            .flatten()
    };
    let (measured, interval, holds, detail) = match &claim.check {
        ClaimCheck::RatioAtMost {
            before,
            after,
            metric,
            max,
        } => match (metric_of(before, metric), metric_of(after, metric)) {
            (Some(bm), Some(am)) if bm.value.as_f64() > 0.0 => {
                let (b, a, unit) = (bm.value.as_f64(), am.value.as_f64(), &bm.unit);
                let r = a / b;
                // Each median's interval, combined the conservative way.
                let interval = match (ci(bm), ci(am)) {
                    (Some((b_lo, b_hi)), Some((a_lo, a_hi))) if b_lo > 0.0 => {
                        Some((a_lo / b_hi, a_hi / b_lo))
                    }
                    _ => None,
                };
                // The ratio in each baseline round: its spread is the claim's run-to-run noise.
                let per_round: Vec<f64> = rounds(before, metric)
                    .iter()
                    .zip(rounds(after, metric))
                    .filter(|(b, _)| **b > 0.0)
                    .map(|(b, a)| a / b)
                    .collect();
                let interval = widen(r, interval, run_to_run_factor(&per_round));
                let holds = side_of(r, interval, *max);
                (
                    Some(r),
                    interval,
                    holds,
                    format!(
                        "{metric}: before {}, after {}, after/before = {} ({}{}; claim: <= {})",
                        human(b, unit),
                        human(a, unit),
                        format_sig(r),
                        change_words(r),
                        interval_words(interval, holds, &|v| format_sig(v)),
                        format_sig(*max)
                    ),
                )
            }
            _ => (
                None,
                None,
                None,
                format!("not measured: {before} or {after} has no {metric} in this run"),
            ),
        },
        ClaimCheck::AtMost {
            scenario,
            metric,
            max,
        } => match metric_of(scenario, metric) {
            Some(m) => {
                let (v, unit) = (m.value.as_f64(), &m.unit);
                let interval = widen(v, ci(m), run_to_run_factor(&rounds(scenario, metric)));
                let holds = side_of(v, interval, *max);
                (
                    Some(v),
                    interval,
                    holds,
                    format!(
                        "{metric} of {scenario}: {}{} (claim: <= {})",
                        human(v, unit),
                        interval_words(interval, holds, &|x| human(x, unit)),
                        human(*max, unit)
                    ),
                )
            }
            None => (
                None,
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
                }) => {
                    // The exponent in each of the baseline's rounds: its spread is the claim's
                    // run-to-run noise, an additive band around this run's exponent.
                    let per_round: Vec<f64> = noise
                        .map(|b| round_exponents(b, family, metric))
                        .unwrap_or_default();
                    let interval = exponent_band(&per_round).map(|band| (e - band, e + band));
                    let holds = match interval {
                        Some((lo, hi)) if *min <= lo && hi <= *max => Some(true),
                        Some((lo, hi)) if hi < *min || lo > *max => Some(false),
                        Some(_) => None,
                        None => Some(*min <= *e && *e <= *max),
                    };
                    (
                        Some(*e),
                        interval,
                        holds,
                        format!(
                            "{metric} grows as {param}^{} over {param} = {}..{}{} (claim: exponent in [{}, {}])",
                            format_sig(*e),
                            points.first().map_or(0.0, |p| p.0),
                            points.last().map_or(0.0, |p| p.0),
                            interval_words(interval, holds, &|v| format_sig(v)),
                            format_sig(*min),
                            format_sig(*max)
                        ),
                    )
                }
                _ => (
                    None,
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
        interval,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClaimVerdict, Metric};
    use crate::testutil::record;

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

    /// "40 % faster": after/before of `c/x/{old,new}/n=1`'s wall time at most 0.6.
    fn forty_percent_faster() -> Claim {
        Claim::new(
            "s.md",
            1,
            "40 % faster",
            ClaimCheck::RatioAtMost {
                before: "c/x/old/n=1".into(),
                after: "c/x/new/n=1".into(),
                metric: "wall_time".into(),
                max: 0.6,
            },
        )
    }

    /// A run of that pair: the before at 1000 ns, the after at `after`, each ±3 %.
    fn pair_run(after: f64) -> RunRecord {
        use crate::testutil::wall;
        let spread = |v: f64| [v * 0.97, v * 0.99, v, v * 1.01, v * 1.03];
        record(
            "m",
            vec![
                ("c/x/old/n=1", "wall_time", wall(&spread(1000.0))),
                ("c/x/new/n=1", "wall_time", wall(&spread(after))),
            ],
        )
    }

    /// `rec` as a baseline blessed from rounds in which the after measured `after_rounds` (the
    /// before 1000 each time).
    fn blessed(mut rec: RunRecord, after_rounds: [f64; 3]) -> RunRecord {
        for (id, rounds) in [
            ("c/x/old/n=1", [1000.0, 1000.0, 1000.0]),
            ("c/x/new/n=1", after_rounds),
        ] {
            let m = rec
                .scenarios
                .iter_mut()
                .find(|s| s.id == id)
                .expect("scenario");
            m.metrics.get_mut("wall_time").expect("metric").rounds = rounds.to_vec();
        }
        rec
    }

    #[test]
    fn a_noisy_claim_near_its_bound_is_too_close_to_call_until_its_interval_clears_it() {
        let claim = forty_percent_faster();
        let run = pair_run;
        let verdict =
            |r: &RunRecord| check_claims(std::slice::from_ref(&claim), r, &[])[0].verdict();
        // 0.59 is below 0.6, but its interval is not: neither holds nor fails.
        assert_eq!(verdict(&run(590.0)), ClaimVerdict::TooClose);
        assert_eq!(verdict(&run(400.0)), ClaimVerdict::Holds);
        assert_eq!(verdict(&run(800.0)), ClaimVerdict::DoesNotHold);
        // A baseline whose rounds of the ratio spread 0.45..0.75 widens 0.5 to too close to call.
        let mut current = run(500.0);
        current.claims = check_claims(std::slice::from_ref(&claim), &current, &[]);
        assert_eq!(current.claims[0].verdict(), ClaimVerdict::Holds);
        let baseline = blessed(run(600.0), [450.0, 600.0, 750.0]);
        recheck_claims(&mut current, &baseline);
        assert_eq!(
            current.claims[0].verdict(),
            ClaimVerdict::TooClose,
            "{}",
            current.claims[0].detail
        );
        assert!(current.claims[0].detail.contains("too close to call"));
    }

    #[test]
    fn checks_of_an_unchanged_tree_give_a_claim_near_its_bound_the_baselines_verdict() {
        let claim = forty_percent_faster();
        let run = |after: f64| {
            let mut r = pair_run(after);
            r.claims = check_claims(std::slice::from_ref(&claim), &r, &[]);
            r
        };
        // Blessed from three rounds whose ratios were 0.56, 0.575 and 0.59.
        let baseline = blessed(run(575.0), [560.0, 575.0, 590.0]);
        // Ten checks of the same code, each measuring the ratio a little differently.
        let checks = [
            500.0, 520.0, 540.0, 555.0, 570.0, 585.0, 600.0, 615.0, 530.0, 590.0,
        ];
        let mut alone = std::collections::BTreeSet::new();
        let mut anchored = std::collections::BTreeSet::new();
        for after in checks {
            let mut current = run(after);
            let own = check_claim(&claim, &current, &[], Some(&baseline)).verdict();
            alone.insert(own.word());
            recheck_claims(&mut current, &baseline);
            anchored.insert(current.claims[0].verdict().word());
            if current.claims[0].verdict() != own {
                assert!(
                    current.claims[0].detail.contains("agrees with them"),
                    "{}",
                    current.claims[0].detail
                );
            }
        }
        assert!(alone.len() > 1, "each run alone flips: {alone:?}");
        assert_eq!(anchored.len(), 1, "{anchored:?}");
        // A run that measured something else (the after got slower) is decided on its own.
        let mut slower = run(900.0);
        recheck_claims(&mut slower, &baseline);
        assert_eq!(slower.claims[0].verdict(), ClaimVerdict::DoesNotHold);
        assert!(!slower.claims[0].detail.contains("agrees"));
    }
}
