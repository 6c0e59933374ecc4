//! The gate's measured power: from rounds of an A/A run (the same build on both sides), how often the
//! A/B fails by chance, how often it catches a known slowdown, and the smallest slowdown of each wall
//! or CPU metric it catches 95 % of the time on this machine (its minimum detectable slowdown).

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ab::{self, AbSettings};
use crate::config::GateConfig;
use crate::model::{Direction, RunRecord, format_sig};
use crate::stats;

/// How the trials are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerSettings {
    /// Trials per condition (A/A, and each injected factor).
    pub trials: usize,
    /// Rounds in each trial (what one `ab` runs).
    pub rounds_per_trial: usize,
    /// Injected slowdowns to report detection rates for.
    pub factors: Vec<f64>,
    /// Detection rate that defines the minimum detectable slowdown.
    pub target: f64,
    /// Seed of the trial draws.
    pub seed: u64,
    /// Records per measured round (its streams, in order): trials draw whole rounds, as one `ab`
    /// runs them, so a scenario that runs in one stream per round is in every trial as often as
    /// in an `ab`.
    #[serde(default = "one")]
    pub streams: usize,
    /// Code layouts per side the rounds ran in (`--layouts`; 1: the default layout only).
    #[serde(default = "one")]
    pub layouts: usize,
}

fn one() -> usize {
    1
}

/// One wall, CPU or in-run-ratio metric's power.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPower {
    /// Scenario id.
    pub scenario: String,
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Median over every measured round (both sides).
    pub median: f64,
    /// Winsorized standard deviation of the per-pair log ratios head / base, over every run's pair:
    /// pair-to-pair noise (a round with extra pairs is tested on their pooled samples or their
    /// median ratio, which varies less).
    pub sd_log: f64,
    /// A/A trials in which this metric failed.
    pub false_alarms: usize,
    /// Detection rate for each of the settings' factors (a slowdown injected into its scenario alone).
    pub detection: Vec<f64>,
    /// Smallest slowdown caught in at least `target` of the trials, if one up to 16x is.
    pub mds: Option<f64>,
}

/// A power measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerResult {
    /// The machine it was measured on (fingerprint, and label if any).
    pub machine: String,
    /// When (RFC 3339).
    pub measured: String,
    /// The commit measured.
    pub commit: String,
    /// Rounds measured in all; trials draw `rounds_per_trial` of them.
    pub rounds_measured: usize,
    /// `sequential` or `duet`.
    pub mode: String,
    /// How the A/B decides.
    pub ab: AbSettings,
    /// How trials were drawn.
    pub settings: PowerSettings,
    /// A/A trials in which any row failed (the family-wise false alarm rate, times `trials`).
    pub aa_failed_trials: usize,
    /// Per metric.
    pub metrics: Vec<MetricPower>,
    /// How trials were formed, in words (disjoint blocks or overlapping draws).
    pub method: String,
}

impl PowerResult {
    /// Minimum detectable slowdowns by (scenario, metric), for reports.
    pub fn mds_map(&self) -> BTreeMap<(String, String), f64> {
        self.metrics
            .iter()
            .filter_map(|m| Some(((m.scenario.clone(), m.metric.clone()), m.mds?)))
            .collect()
    }

    /// The minimum detectable slowdowns, if they hold for an A/B that links each side in `layouts`
    /// code layouts; otherwise why not. Layout is noise the power's rounds either saw or did not:
    /// measured with one layout, the MDS of the scheduler-bound latencies understate an A/B with
    /// six (1.20 -> 1.35x and more, README), so showing them there would promise too much.
    pub fn mds_for_layouts(
        &self,
        layouts: usize,
    ) -> Result<BTreeMap<(String, String), f64>, String> {
        if self.settings.layouts == layouts {
            return Ok(self.mds_map());
        }
        Err(format!(
            "the power was measured with {} code layout(s) a side and this A/B runs {layouts}; \
             measure it as the A/B runs: `cargo perfgate power --layouts {layouts} --out FILE`, \
             then `--power FILE`",
            self.settings.layouts
        ))
    }
}

/// The noisy metrics as a matrix: per metric its per-round (base, head) values.
struct Matrix {
    keys: Vec<(String, String, String, Direction)>,
    /// `values[k][r]`: the `(base, head)` pairs of metric k in round r as the test sees them (one,
    /// one pooled, or one per extra pair of the schedule; none where a side lacked it).
    values: Vec<Vec<Vec<(f64, f64)>>>,
    /// `runs[k]`: every run's `(base, head)` of metric k over all rounds, pooled or not.
    runs: Vec<Vec<(f64, f64)>>,
}

fn matrix(rounds: &[(RunRecord, RunRecord)]) -> Matrix {
    // Every paired metric of any round's head: a sparse scenario runs in one stream of a round.
    let mut keys: Vec<(String, String, String, Direction)> = Vec::new();
    for (_, h) in rounds {
        for s in &h.scenarios {
            for (name, m) in &s.metrics {
                if ab::is_paired(m.kind) && !keys.iter().any(|k| k.0 == s.id && &k.1 == name) {
                    keys.push((s.id.clone(), name.clone(), m.unit.clone(), m.direction));
                }
            }
        }
    }
    let values = keys
        .iter()
        .map(|(s, m, _, _)| {
            rounds
                .iter()
                .map(|r| {
                    ab::round_pairs(std::slice::from_ref(r), s, m)
                        .pop()
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let runs = keys
        .iter()
        .map(|(s, m, _, _)| ab::run_pairs(rounds, s, m).concat())
        .collect();
    Matrix { keys, values, runs }
}

/// Which metrics a trial flags as regressed, given its rounds, with `slow[k]` the factor injected
/// into metric k's head values and `margin[k]` its A/B margin.
fn flagged(m: &Matrix, trial: &[usize], slow: &[f64], s: AbSettings, margin: &[f64]) -> Vec<bool> {
    let mut p = Vec::with_capacity(m.keys.len());
    let mut ok = Vec::with_capacity(m.keys.len());
    for (k, (_, _, _, dir)) in m.keys.iter().enumerate() {
        let f = match dir {
            Direction::LowerIsBetter => slow[k],
            Direction::HigherIsBetter => 1.0 / slow[k],
        };
        let groups: Vec<Vec<(f64, f64)>> = trial
            .iter()
            .map(|&r| m.values[k][r].iter().map(|&(b, h)| (b, h * f)).collect())
            .collect();
        let pairs = ab::per_round(&groups);
        match stats::paired_log_ratio(&pairs, *dir == Direction::HigherIsBetter, 0.0, s.confidence)
        {
            Some(t) => {
                p.push(t.p_worse);
                ok.push(
                    t.ratio.powf(if *dir == Direction::HigherIsBetter {
                        -1.0
                    } else {
                        1.0
                    }) > 1.0 + margin[k],
                );
            }
            None => {
                p.push(1.0);
                ok.push(false);
            }
        }
    }
    stats::holm(&p)
        .into_iter()
        .zip(ok)
        .map(|(adj, ok)| ok && adj <= s.alpha)
        .collect()
}

/// The trials: disjoint blocks of rounds when there are enough, else seeded draws without
/// replacement, of whole rounds (`p.streams` consecutive records each).
fn trials(measured: usize, p: &PowerSettings) -> (Vec<Vec<usize>>, String) {
    let g = p.streams.max(1);
    let n = p.rounds_per_trial.min(measured);
    if measured >= n * p.trials {
        let t = (0..p.trials)
            .map(|i| (i * n..(i + 1) * n).collect())
            .collect();
        return (t, format!("{} disjoint blocks of {n} rounds", p.trials));
    }
    let (groups, per_trial) = (measured.div_ceil(g), n.div_ceil(g));
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let t = (0..p.trials)
        .map(|_| {
            // A partial Fisher-Yates shuffle: the first rounds of a random permutation.
            let mut all: Vec<usize> = (0..groups).collect();
            for i in 0..per_trial {
                let j = rng.random_range(i..groups);
                all.swap(i, j);
            }
            all.truncate(per_trial);
            all.iter()
                .flat_map(|r| r * g..((r + 1) * g).min(measured))
                .collect()
        })
        .collect();
    let whole = if g > 1 {
        format!(" ({g} streams a round, drawn together)")
    } else {
        String::new()
    };
    (
        t,
        format!(
            "{} draws of {n} of the {measured} measured rounds{whole} (overlapping: rates are \
             estimates, not independent trials)",
            p.trials
        ),
    )
}

/// Measures power from `rounds` of an A/A run.
pub fn analyze(
    rounds: &[(RunRecord, RunRecord)],
    config: &GateConfig,
    settings: AbSettings,
    p: &PowerSettings,
) -> (Vec<MetricPower>, usize, String) {
    let m = matrix(rounds);
    let margin: Vec<f64> = m
        .keys
        .iter()
        .map(|(sc, me, _, _)| {
            config
                .limits(sc, me)
                .ab_threshold
                .unwrap_or(settings.threshold)
        })
        .collect();
    let (draws, method) = trials(rounds.len(), p);
    // A/A: the whole A/B, deterministic metrics included (they may vary between processes too).
    let mut alarms: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut failed_trials = 0;
    for t in &draws {
        let subset: Vec<(RunRecord, RunRecord)> = t.iter().map(|&r| rounds[r].clone()).collect();
        let rows = ab::analyze(&subset, config, settings, &BTreeMap::new());
        let mut any = false;
        for r in rows.iter().filter(|r| r.fails()) {
            *alarms
                .entry((r.key.scenario.clone(), r.key.metric.clone()))
                .or_default() += 1;
            any = true;
        }
        failed_trials += usize::from(any);
    }
    // Injected: each scenario alone made `f` times slower; the family is every noisy metric.
    let rate = |k: usize, f: f64| -> f64 {
        let slow: Vec<f64> = m
            .keys
            .iter()
            .map(|key| if key.0 == m.keys[k].0 { f } else { 1.0 })
            .collect();
        let hits = draws
            .iter()
            .filter(|t| flagged(&m, t, &slow, settings, &margin)[k])
            .count();
        hits as f64 / draws.len().max(1) as f64
    };
    let metrics = m
        .keys
        .iter()
        .enumerate()
        .map(|(k, (scenario, metric, unit, _))| {
            let every = &m.runs[k];
            let all: Vec<f64> = every.iter().flat_map(|&(b, h)| [b, h]).collect();
            // Pair-to-pair noise (winsorized, as the test trims), over every run's pair, pooled
            // or not: what the schedule plans extra pairs from.
            let sd = stats::paired_log_ratio(every, false, 0.0, 0.95).map_or(0.0, |t| t.sd_log);
            let detection = p.factors.iter().map(|&f| rate(k, f)).collect();
            // Bisection on the factor (detection grows with it), 1 to 16x, to 1 %.
            let mds = (rate(k, 16.0) >= p.target).then(|| {
                let (mut lo, mut hi) = (1.0f64, 16.0f64);
                while hi / lo > 1.01 {
                    let mid = (lo * hi).sqrt();
                    if rate(k, mid) >= p.target {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                hi
            });
            MetricPower {
                scenario: scenario.clone(),
                metric: metric.clone(),
                unit: unit.clone(),
                median: stats::median(&all),
                sd_log: sd,
                false_alarms: alarms
                    .get(&(scenario.clone(), metric.clone()))
                    .copied()
                    .unwrap_or(0),
                detection,
                mds,
            }
        })
        .collect();
    (metrics, failed_trials, method)
}

/// The power table in Markdown.
pub fn markdown(r: &PowerResult) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# perfgate power\n\nMeasured on {} at {} (commit {}): {} A/A rounds ({}), trials of {} rounds: {}. \
         The A/B flags a metric when the head is slower by more than {} % with family-wise error {}.\n\n\
         A/A trials that failed: **{} of {}**.\n\n",
        r.machine,
        r.measured,
        ab::short(&r.commit),
        r.rounds_measured,
        r.mode,
        r.settings.rounds_per_trial,
        r.method,
        format_sig(r.ab.threshold * 100.0),
        format_sig(r.ab.alpha),
        r.aa_failed_trials,
        r.settings.trials
    ));
    out.push_str(
        "| scenario | metric | median | noise (winsorized sd of log ratio) | A/A false alarms |",
    );
    for f in &r.settings.factors {
        out.push_str(&format!(" caught at {}× |", format_sig(*f)));
    }
    out.push_str(" MDS (95 %) |\n|---|---|---|---|---|");
    for _ in &r.settings.factors {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for m in &r.metrics {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {}/{} |",
            m.scenario,
            m.metric,
            crate::model::human(m.median, &m.unit),
            format_sig(m.sd_log),
            m.false_alarms,
            r.settings.trials
        ));
        for d in &m.detection {
            out.push_str(&format!(
                " {}/{} |",
                (d * r.settings.trials as f64).round(),
                r.settings.trials
            ));
        }
        out.push_str(&match m.mds {
            Some(x) => format!(" {}× |\n", format_sig(x)),
            None => " > 16× |\n".to_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{record, wall};

    /// `n` A/A rounds of two wall metrics: a quiet one (±1 %) and a noisy one (±30 %).
    fn aa(n: usize) -> Vec<(RunRecord, RunRecord)> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut noise = |amp: f64| 1.0 + amp * rng.random_range(-1.0..1.0);
        (0..n)
            .map(|_| {
                let mut side = || {
                    record(
                        "m",
                        vec![
                            ("a/quiet/v/n=1", "wall_time", wall(&[1000.0 * noise(0.01)])),
                            ("a/noisy/v/n=1", "wall_time", wall(&[1000.0 * noise(0.3)])),
                        ],
                    )
                };
                (side(), side())
            })
            .collect()
    }

    /// The power of [`aa`]'s 40 rounds: 10 trials of 8 rounds, at 1.25x and 2x.
    fn measured() -> PowerResult {
        let settings = PowerSettings {
            trials: 10,
            rounds_per_trial: 8,
            factors: vec![1.25, 2.0],
            target: 0.95,
            seed: 1,
            streams: 1,
            layouts: 1,
        };
        let ab = AbSettings {
            threshold: 0.1,
            alpha: 0.05,
            confidence: 0.95,
        };
        let (metrics, failed, method) = analyze(&aa(40), &GateConfig::default(), ab, &settings);
        PowerResult {
            ab,
            aa_failed_trials: failed,
            method,
            ..crate::testutil::power(settings, metrics)
        }
    }

    #[test]
    fn a_quiet_metric_has_a_small_mds_and_a_noisy_one_a_large_one() {
        let p = measured();
        assert!(p.method.contains("draws"), "{}", p.method);
        assert_eq!(p.aa_failed_trials, 0, "A/A trials do not fail");
        let quiet = p
            .metrics
            .iter()
            .find(|m| m.scenario.contains("quiet"))
            .expect("quiet");
        let noisy = p
            .metrics
            .iter()
            .find(|m| m.scenario.contains("noisy"))
            .expect("noisy");
        assert_eq!(quiet.detection, vec![1.0, 1.0], "{quiet:?}");
        let (qm, nm) = (quiet.mds.expect("quiet mds"), noisy.mds.expect("noisy mds"));
        assert!(qm > 1.1 && qm < 1.2, "margin 10 % + a little: {qm}");
        assert!(nm > qm * 1.2, "noisy {nm} vs quiet {qm}");
        assert!(noisy.detection[0] < 1.0);
    }

    #[test]
    fn its_mds_hold_only_for_an_ab_of_as_many_layouts_as_it_ran() {
        let p = measured();
        let same = p.mds_for_layouts(1).expect("one layout, as measured");
        assert_eq!(same, p.mds_map());
        assert_eq!(same.len(), 2, "{same:?}");
        let why = p
            .mds_for_layouts(6)
            .expect_err("six layouts were not measured");
        assert_eq!(
            why,
            "the power was measured with 1 code layout(s) a side and this A/B runs 6; measure it \
             as the A/B runs: `cargo perfgate power --layouts 6 --out FILE`, then `--power FILE`"
        );
    }

    #[test]
    fn trials_draw_whole_rounds_of_every_stream() {
        let p = PowerSettings {
            trials: 20,
            rounds_per_trial: 12,
            factors: vec![1.5],
            target: 0.95,
            seed: 7,
            streams: 2,
            layouts: 1,
        };
        let (draws, method) = trials(48, &p);
        assert!(method.contains("2 streams a round"), "{method}");
        assert_eq!(draws.len(), 20);
        for d in &draws {
            assert_eq!(d.len(), 12, "{d:?}");
            let mut rounds: Vec<usize> = d.iter().map(|i| i / 2).collect();
            rounds.dedup();
            assert_eq!(rounds.len(), 6, "pairs of records of one round: {d:?}");
            assert!(
                d.chunks(2).all(|c| c[0] % 2 == 0 && c[1] == c[0] + 1),
                "{d:?}"
            );
        }
        assert_ne!(
            draws[0], draws[1],
            "seeded draws differ from trial to trial"
        );
    }
}
