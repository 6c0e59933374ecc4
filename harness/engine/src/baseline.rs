//! A baseline from several rounds of the same suite: per metric, the round with the median value (its
//! samples and summary kept together) plus every round's value, whose spread is the noise band.

use crate::model::{RunRecord, ScenarioRecord};

/// Joins `rounds` (whole runs of the same suite, in run order) into one record. Scenarios and metrics
/// come from the first round; a metric missing from a later round keeps the rounds it has. The record's
/// facts (machine, commit, start) are the first round's, its duration the sum.
///
/// Returns `None` when `rounds` is empty.
pub fn merge_rounds(rounds: Vec<RunRecord>) -> Option<RunRecord> {
    let mut rounds = rounds.into_iter();
    let mut merged = rounds.next()?;
    let rest: Vec<RunRecord> = rounds.collect();
    if rest.is_empty() {
        return Some(merged);
    }
    merged.duration_s += rest.iter().map(|r| r.duration_s).sum::<f64>();
    for scenario in &mut merged.scenarios {
        let others: Vec<&ScenarioRecord> = rest
            .iter()
            .filter_map(|r| r.scenario(&scenario.id))
            .collect();
        for (name, metric) in &mut scenario.metrics {
            let mut all = vec![metric.clone()];
            all.extend(others.iter().filter_map(|s| s.metrics.get(name)).cloned());
            let values: Vec<f64> = all.iter().map(|m| m.value.as_f64()).collect();
            let mut order: Vec<usize> = (0..all.len()).collect();
            order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
            // The lower median for an even count: the round actually measured, not an average.
            let median_round = order[(order.len() - 1) / 2];
            *metric = all.swap_remove(median_round);
            metric.rounds = values;
        }
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Metric, Value};
    use crate::testutil::{record, wall};

    fn round(walk_ns: &[f64], count: u64) -> RunRecord {
        let mut r = record("m", vec![("a/walk/n=1", "wall_time", wall(walk_ns))]);
        r.scenarios[0]
            .metrics
            .insert("entries".into(), Metric::count(count, "entries"));
        r.duration_s = 1.0;
        r
    }

    #[test]
    fn picks_the_median_round_and_keeps_every_round_value() {
        let merged = merge_rounds(vec![
            round(&[15.0, 15.0, 16.0], 7),
            round(&[9.0, 9.0, 10.0], 7),
            round(&[14.0, 14.0, 13.0], 7),
        ])
        .expect("three rounds");
        let wall = &merged.scenarios[0].metrics["wall_time"];
        assert_eq!(wall.value, Value::Float(14.0));
        assert_eq!(
            wall.samples,
            vec![14.0, 14.0, 13.0],
            "samples of the same round"
        );
        assert_eq!(wall.rounds, vec![15.0, 9.0, 14.0]);
        let band = wall.noise_band().expect("band");
        assert!((band - 15.0 / 9.0).abs() < 1e-12, "{band}");
        let entries = &merged.scenarios[0].metrics["entries"];
        assert_eq!(entries.noise_band(), Some(1.0));
        assert!((merged.duration_s - 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_round_is_the_round_itself_and_has_no_band() {
        let only = round(&[5.0, 6.0, 7.0], 3);
        let merged = merge_rounds(vec![only.clone()]).expect("one round");
        assert_eq!(merged, only);
        assert_eq!(merged.scenarios[0].metrics["wall_time"].noise_band(), None);
        assert!(merge_rounds(Vec::new()).is_none());
    }

    #[test]
    fn even_count_takes_the_lower_median_round() {
        let merged = merge_rounds(vec![round(&[4.0], 1), round(&[2.0], 1)]).expect("two");
        assert_eq!(
            merged.scenarios[0].metrics["wall_time"].value,
            Value::Float(2.0)
        );
    }
}
