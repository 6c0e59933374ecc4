//! Where an A/B round spends its time: the expensive scenarios whose metrics are quiet are split in
//! two halves of about equal cost, each stream of a round runs one half and skips the other, and
//! spends the time its skipped half saves on extra pairs of the cheap scenarios whose metrics are
//! noisy, so both streams end together and every stream's pairs of a noisy scenario are several.
//! Planned from the machine's measured power (each metric's pair-to-pair noise) and the baseline's
//! durations.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::join_or_none;

/// Below this pair-to-pair noise (sd of log ratios) a scenario needs no extra pairs.
pub const NOISY: f64 = 0.08;
/// Below this noise a scenario's pairs are nearly exact: half of them decide it as well.
pub const QUIET: f64 = 0.02;
/// A quiet scenario is run in one stream of a round only when it takes at least this long.
pub const SPARSE_FROM_S: f64 = 1.0;
/// At most this many extra pairs of one scenario in one stream of a round.
pub const MAX_REPEATS: usize = 6;
/// At most this many seconds of extra pairs in a stream per round (they also never take longer than
/// what skipping its half of the sparse scenarios saved that stream).
pub const EXTRA_BUDGET_S: f64 = 12.0;

/// The slowdown the A/B is meant to catch in a wall time of at least [`SMALL_WALL_NS`]…
pub const TARGET_SLOWDOWN: f64 = 1.25;
/// …and in a shorter wall time (a few hundred nanoseconds: scheduling decides it) or a CPU time.
pub const TARGET_SLOWDOWN_SMALL: f64 = 1.5;
/// Below this median (ns) a wall time is held to [`TARGET_SLOWDOWN_SMALL`].
pub const SMALL_WALL_NS: f64 = 100_000.0;

/// How much of a metric's pair-to-pair noise counts when planning extra pairs: 1 for a metric held
/// to [`TARGET_SLOWDOWN`], less for one held to [`TARGET_SLOWDOWN_SMALL`], as the room between
/// the A/B's margin (`threshold`, 0.1 = 10 %) and the slowdown to catch is larger there. Noise
/// over room is what sets the pairs a metric needs.
pub fn noise_weight(wall_time: bool, median: f64, threshold: f64) -> f64 {
    let room = |target: f64| (target / (1.0 + threshold)).ln().max(1e-3);
    if wall_time && median >= SMALL_WALL_NS {
        1.0
    } else {
        room(TARGET_SLOWDOWN) / room(TARGET_SLOWDOWN_SMALL)
    }
}

/// The plan: the sparse scenarios in two halves, and the extra pairs a stream runs per scenario
/// when it skips each half.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// Scenarios a multi-stream round runs in one stream only, in two halves of about equal cost
    /// (see [`Schedule::skipped`] for which stream runs which).
    pub sparse: [BTreeSet<String>; 2],
    /// `repeats[h]`: scenario id -> extra base/head pairs in a stream that skips half `h`.
    pub repeats: [BTreeMap<String, usize>; 2],
}

impl Schedule {
    /// Plans from `noise` (scenario -> the largest pair-to-pair noise of its paired metrics) and
    /// `cost` (scenario -> seconds one run of it takes). The quiet scenarios that take
    /// [`SPARSE_FROM_S`] or more go into two halves, the most expensive first into the cheaper
    /// half; for each half, extra pairs go where they shrink the noise of an estimate most per
    /// second (variance `sd² / pairs`), one at a time, within what the half costs both sides (at
    /// most [`EXTRA_BUDGET_S`]). A scenario without both figures is left as it is.
    pub fn plan(noise: &BTreeMap<String, f64>, cost: &BTreeMap<String, f64>) -> Self {
        let mut sparse: Vec<(&String, f64)> = noise
            .iter()
            .filter(|(_, sd)| **sd < QUIET)
            .filter_map(|(id, _)| Some((id, *cost.get(id)?)))
            .filter(|(_, c)| *c >= SPARSE_FROM_S)
            .collect();
        sparse.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let mut s = Schedule::default();
        let mut half_cost = [0.0f64; 2];
        for (id, c) in sparse {
            let h = usize::from(half_cost[1] < half_cost[0]);
            s.sparse[h].insert(id.clone());
            half_cost[h] += c;
        }
        let candidates: Vec<(&String, f64, f64)> = noise
            .iter()
            .filter(|(_, sd)| **sd >= NOISY)
            .filter_map(|(id, &sd)| Some((id, sd, *cost.get(id)?)))
            .filter(|(_, _, c)| c.is_finite() && *c > 0.0)
            .collect();
        s.repeats = half_cost.map(|c| extra_pairs(&candidates, (2.0 * c).min(EXTRA_BUDGET_S)));
        s
    }

    /// The halves that stream `stream` of `streams` skips in round `round`: with one stream none
    /// (it runs everything, without extra pairs); with more, half 0 runs in stream `round %
    /// streams` and half 1 in the next one, so each sparse scenario runs once a round and, with
    /// two streams, each stream skips one half.
    pub fn skipped(round: usize, stream: usize, streams: usize) -> Vec<usize> {
        if streams < 2 {
            return Vec::new();
        }
        (0..2)
            .filter(|h| (round + h) % streams != stream % streams)
            .collect()
    }

    /// Whether a stream that skips `skipped` leaves `id` out.
    pub fn skips(&self, skipped: &[usize], id: &str) -> bool {
        skipped.iter().any(|&h| self.sparse[h].contains(id))
    }

    /// Extra pairs of `id` in a stream that skips `skipped`.
    pub fn repeats(&self, skipped: &[usize], id: &str) -> usize {
        skipped
            .iter()
            .map(|&h| self.repeats[h].get(id).copied().unwrap_or(0))
            .sum()
    }

    /// One line for the terminal and the report.
    pub fn describe(&self) -> String {
        if self.repeats.iter().all(BTreeMap::is_empty) && self.sparse.iter().all(BTreeSet::is_empty)
        {
            return "every scenario once per stream".to_owned();
        }
        let extra = |h: usize| {
            let v: Vec<String> = self.repeats[h]
                .iter()
                .map(|(id, n)| format!("{id} +{n}"))
                .collect();
            join_or_none(&v)
        };
        format!(
            "{} + {} quiet expensive scenario(s) in one stream per round, in two halves; the stream \
             that skips a half runs extra pairs of noisy cheap ones ({}; {})",
            self.sparse[0].len(),
            self.sparse[1].len(),
            extra(0),
            extra(1)
        )
    }
}

/// Extra pairs within `budget` seconds (both sides), one at a time where `sd² / pairs` falls most
/// per second, at most [`MAX_REPEATS`] per scenario.
fn extra_pairs(candidates: &[(&String, f64, f64)], budget: f64) -> BTreeMap<String, usize> {
    let mut repeats: BTreeMap<String, usize> = BTreeMap::new();
    let mut left = budget;
    // Bounded: each pass adds one repeat or stops; at most MAX_REPEATS per candidate.
    for _ in 0..candidates.len() * MAX_REPEATS {
        let best = candidates
            .iter()
            .filter(|(id, _, c)| {
                repeats.get(*id).copied().unwrap_or(0) < MAX_REPEATS && 2.0 * c <= left
            })
            .map(|&(id, sd, c)| {
                let pairs = 1.0 + repeats.get(id).copied().unwrap_or(0) as f64;
                let gain = sd * sd * (1.0 / pairs - 1.0 / (pairs + 1.0)) / (2.0 * c);
                (id, c, gain)
            })
            .max_by(|a, b| a.2.total_cmp(&b.2));
        let Some((id, c, _)) = best else {
            break;
        };
        *repeats.entry(id.clone()).or_default() += 1;
        left -= 2.0 * c;
    }
    repeats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, f64)]) -> BTreeMap<String, f64> {
        v.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
    }

    #[test]
    fn extra_pairs_go_to_cheap_noisy_scenarios_within_the_budget_of_each_half() {
        let noise = map(&[
            ("lateness", 0.2),
            ("walk", 0.03),
            ("shutdown", 0.3),
            ("idle", 0.2),
            ("sync", 0.005),
            ("sync2", 0.01),
            ("pooled", 0.01),
        ]);
        let cost = map(&[
            ("lateness", 0.45),
            ("walk", 0.2),
            ("shutdown", 0.1),
            ("idle", 1.2),
            ("sync", 2.0),
            ("sync2", 1.5),
            ("pooled", 0.5),
        ]);
        let s = Schedule::plan(&noise, &cost);
        // The expensive quiet ones are split, the most expensive first (the cheap quiet one runs
        // everywhere).
        let names = |h: usize| s.sparse[h].iter().cloned().collect::<Vec<_>>();
        assert_eq!(
            (names(0), names(1)),
            (vec!["sync".into()], vec!["sync2".into()])
        );
        for (h, saved) in [(0, 4.0), (1, 3.0)] {
            // Quiet scenarios get none; the cheapest noisy one gets the most.
            assert_eq!(s.repeats(&[h], "walk"), 0);
            assert_eq!(s.repeats(&[h], "sync"), 0);
            assert_eq!(s.repeats(&[h], "shutdown"), MAX_REPEATS, "half {h}");
            assert!(s.repeats(&[h], "lateness") >= 1, "half {h}");
            let spent: f64 = s.repeats[h]
                .iter()
                .map(|(id, n)| 2.0 * cost[id] * *n as f64)
                .sum();
            assert!(spent <= saved + 1e-9, "half {h}: {spent}");
        }
        assert_eq!(
            s.repeats(&[0, 1], "shutdown"),
            2 * MAX_REPEATS,
            "a stream skipping both halves has the time of both"
        );
        assert!(s.skips(&[1], "sync2") && !s.skips(&[1], "sync") && !s.skips(&[], "sync2"));
        // Nothing sparse, nothing saved: no extra pairs.
        let mut cheap = cost.clone();
        cheap.insert("sync".into(), 0.5);
        cheap.insert("sync2".into(), 0.5);
        let none = Schedule::plan(&noise, &cheap);
        assert!(none.repeats.iter().all(BTreeMap::is_empty), "{none:?}");
        // Unknown cost or noise: left alone.
        let s = Schedule::plan(&map(&[("x", 0.5)]), &BTreeMap::new());
        assert_eq!(s, Schedule::default());
    }

    #[test]
    fn each_half_runs_in_exactly_one_stream_of_a_round() {
        assert!(
            Schedule::skipped(3, 0, 1).is_empty(),
            "one stream runs everything"
        );
        for streams in [2, 3] {
            for round in 0..6 {
                let skipped: Vec<Vec<usize>> = (0..streams)
                    .map(|k| Schedule::skipped(round, k, streams))
                    .collect();
                for h in 0..2 {
                    let running = skipped.iter().filter(|s| !s.contains(&h)).count();
                    assert_eq!(running, 1, "round {round}, {streams} streams, half {h}");
                }
                if streams == 2 {
                    assert!(skipped.iter().all(|s| s.len() == 1), "{skipped:?}");
                }
            }
        }
        // The halves change streams from round to round.
        assert_ne!(Schedule::skipped(0, 0, 2), Schedule::skipped(1, 0, 2));
    }

    #[test]
    fn noise_counts_against_the_slowdown_a_metric_is_held_to() {
        assert_eq!(noise_weight(true, 250e3, 0.1), 1.0);
        let small = noise_weight(true, 600.0, 0.1);
        // ln(1.25 / 1.1) / ln(1.5 / 1.1)
        assert!((small - 0.4122).abs() < 1e-3, "{small}");
        assert_eq!(noise_weight(false, 250e3, 0.1), small, "a CPU time");
    }
}
