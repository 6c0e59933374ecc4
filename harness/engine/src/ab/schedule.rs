//! Where an A/B round spends its time: the expensive scenarios whose metrics are quiet run in one
//! stream per round, and the stream that skips them spends the time saved on extra pairs of the
//! cheap scenarios whose metrics are noisy, so both streams end together. Planned from the
//! machine's measured power (each metric's pair-to-pair noise) and the baseline's durations.

use std::collections::{BTreeMap, BTreeSet};

/// Below this pair-to-pair noise (sd of log ratios) a scenario needs no extra pairs.
pub const NOISY: f64 = 0.08;
/// Below this noise a scenario's pairs are nearly exact: half of them decide it as well.
pub const QUIET: f64 = 0.02;
/// A quiet scenario is run in one stream of a round only when it takes at least this long.
pub const SPARSE_FROM_S: f64 = 1.0;
/// At most this many extra pairs of one scenario in one round.
pub const MAX_REPEATS: usize = 4;
/// At most this many seconds of extra pairs in a stream per round (they also never take longer than
/// what skipping the sparse scenarios saved that stream).
pub const EXTRA_BUDGET_S: f64 = 12.0;

/// The plan: extra pairs per scenario, and the scenarios run in one stream per round only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// Scenario id -> extra base/head pairs in the stream that skips the sparse scenarios.
    pub repeats: BTreeMap<String, usize>,
    /// Scenarios a multi-stream round runs in one stream only (alternating between rounds).
    pub sparse: BTreeSet<String>,
}

impl Schedule {
    /// Plans from `noise` (scenario -> the largest pair-to-pair noise of its paired metrics) and
    /// `cost` (scenario -> seconds one run of it takes). Extra pairs go where they shrink the noise
    /// of an estimate most per second (variance `sd² / pairs`), one at a time, within what the
    /// sparse scenarios cost both sides (at most [`EXTRA_BUDGET_S`]); a scenario without both
    /// figures is left as it is.
    pub fn plan(noise: &BTreeMap<String, f64>, cost: &BTreeMap<String, f64>) -> Self {
        let mut s = Schedule::default();
        for (id, &sd) in noise {
            if let Some(&c) = cost.get(id)
                && sd < QUIET
                && c >= SPARSE_FROM_S
            {
                s.sparse.insert(id.clone());
            }
        }
        let candidates: Vec<(&String, f64, f64)> = noise
            .iter()
            .filter(|(_, sd)| **sd >= NOISY)
            .filter_map(|(id, &sd)| Some((id, sd, *cost.get(id)?)))
            .filter(|(_, _, c)| c.is_finite() && *c > 0.0)
            .collect();
        let saved: f64 = s
            .sparse
            .iter()
            .filter_map(|id| cost.get(id))
            .map(|c| 2.0 * c)
            .sum();
        let mut left = saved.min(EXTRA_BUDGET_S);
        // Bounded: each pass adds one repeat or stops; at most MAX_REPEATS per candidate.
        for _ in 0..candidates.len() * MAX_REPEATS {
            let best = candidates
                .iter()
                .filter(|(id, _, c)| {
                    s.repeats.get(*id).copied().unwrap_or(0) < MAX_REPEATS && 2.0 * c <= left
                })
                .map(|&(id, sd, c)| {
                    let pairs = 1.0 + s.repeats.get(id).copied().unwrap_or(0) as f64;
                    let gain = sd * sd * (1.0 / pairs - 1.0 / (pairs + 1.0)) / (2.0 * c);
                    (id, c, gain)
                })
                .max_by(|a, b| a.2.total_cmp(&b.2));
            let Some((id, c, _)) = best else {
                break;
            };
            *s.repeats.entry(id.clone()).or_default() += 1;
            left -= 2.0 * c;
        }
        s
    }

    /// Extra pairs of `id` each round.
    pub fn repeats(&self, id: &str) -> usize {
        self.repeats.get(id).copied().unwrap_or(0)
    }

    /// One line for the terminal and the report.
    pub fn describe(&self) -> String {
        if self.repeats.is_empty() && self.sparse.is_empty() {
            return "every scenario once per stream".to_owned();
        }
        let extra: Vec<String> = self
            .repeats
            .iter()
            .map(|(id, n)| format!("{id} +{n}"))
            .collect();
        format!(
            "{} quiet expensive scenario(s) in one stream per round, the other stream runs extra pairs of noisy cheap ones ({})",
            self.sparse.len(),
            extra.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, f64)]) -> BTreeMap<String, f64> {
        v.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
    }

    #[test]
    fn extra_pairs_go_to_cheap_noisy_scenarios_within_the_budget() {
        let noise = map(&[
            ("lateness", 0.2),
            ("walk", 0.03),
            ("shutdown", 0.3),
            ("idle", 0.2),
            ("sync", 0.005),
            ("pooled", 0.01),
        ]);
        let cost = map(&[
            ("lateness", 0.45),
            ("walk", 0.2),
            ("shutdown", 0.1),
            ("idle", 1.2),
            ("sync", 2.0),
            ("pooled", 0.5),
        ]);
        let s = Schedule::plan(&noise, &cost);
        // Quiet scenarios get none; the cheapest noisy one gets the most.
        assert_eq!(s.repeats("walk"), 0);
        assert_eq!(s.repeats("sync"), 0);
        assert_eq!(s.repeats("shutdown"), MAX_REPEATS);
        assert!(s.repeats("lateness") >= 1);
        let spent: f64 = s
            .repeats
            .iter()
            .map(|(id, n)| 2.0 * cost[id] * *n as f64)
            .sum();
        assert!(spent <= EXTRA_BUDGET_S + 1e-9, "{spent}");
        assert!(s.repeats.values().all(|&n| n <= MAX_REPEATS));
        // The expensive quiet one runs in one stream per round (the cheap quiet one everywhere).
        assert_eq!(s.sparse.iter().collect::<Vec<_>>(), vec!["sync"]);
        // Nothing sparse, nothing saved: no extra pairs.
        let mut cheap = cost.clone();
        cheap.insert("sync".into(), 0.5);
        assert!(Schedule::plan(&noise, &cheap).repeats.is_empty());
        // Unknown cost or noise: left alone.
        let s = Schedule::plan(&map(&[("x", 0.5)]), &BTreeMap::new());
        assert_eq!(s, Schedule::default());
    }
}
