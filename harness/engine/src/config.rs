//! `perfgate.toml`: the gate's thresholds. A default soft limit (worse by more than 50 % fails) and
//! per-metric overrides with a soft (relative) and a hard (absolute) limit, first match wins.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Defaults for every metric.
    #[serde(default)]
    pub gate: Defaults,
    /// Overrides, tried in order; the first whose `scenario` and `metric` patterns match applies.
    #[serde(default, rename = "override")]
    pub overrides: Vec<Override>,
    /// `[ab]`: how `ab` decides wall and CPU times on paired rounds.
    #[serde(default)]
    pub ab: AbDefaults,
}

/// `[ab]`: a key left out keeps its [`Default`].
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AbDefaults {
    /// Margin: a wall or CPU time regresses when the head is significantly slower than the base by
    /// more than this fraction (0.1 = 10 %).
    pub threshold: f64,
    /// Family-wise error rate over every wall and CPU time compared (Holm).
    pub alpha: f64,
    /// Rounds when `--rounds` is not given.
    pub rounds: usize,
    /// Code layouts per side when `--layouts` is not given: each build is linked this many times
    /// with its functions shuffled, one pair a round (1: the default layout only).
    pub layouts: usize,
}

impl Default for AbDefaults {
    fn default() -> Self {
        Self {
            threshold: 0.1,
            alpha: 0.05,
            rounds: 6,
            layouts: 1,
        }
    }
}

impl GateConfig {
    /// The A/B's decision settings.
    pub fn ab_settings(&self) -> crate::ab::AbSettings {
        crate::ab::AbSettings {
            threshold: self.ab.threshold,
            alpha: self.ab.alpha,
            confidence: self.gate.confidence,
        }
    }
}

/// `[gate]`: a key left out keeps its [`Default`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    /// Soft limit: a metric worse than baseline by more than this fraction regresses (0.5 = 50 %).
    pub threshold: f64,
    /// Confidence level for the significance of noisy metrics (wall times, in-run ratios).
    pub confidence: f64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            confidence: 0.95,
        }
    }
}

/// `[[override]]`: limits for the metrics whose scenario id and metric name match.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Glob over scenario ids (`*` matches anything, `/` included), e.g. `flowcache/size/*`.
    #[serde(default = "any")]
    pub scenario: String,
    /// Glob over metric names, e.g. `wall_time`.
    #[serde(default = "any")]
    pub metric: String,
    /// Soft limit replacing the default.
    pub threshold: Option<f64>,
    /// Hard limit: an absolute value in the metric's unit that fails the gate when crossed,
    /// whatever the baseline says (above it for lower-is-better, below for higher-is-better).
    pub hard: Option<f64>,
    /// `false` shows the metric but never fails the gate on it.
    #[serde(default = "yes")]
    pub gate: bool,
    /// The A/B's margin for this metric, replacing `[ab] threshold`: for a metric that moves
    /// between two builds of the same source (a sub-microsecond maximum moves with code layout).
    pub ab_threshold: Option<f64>,
}

fn any() -> String {
    "*".to_owned()
}
fn yes() -> bool {
    true
}

/// The limits that apply to one metric of one scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Soft limit (fraction).
    pub threshold: f64,
    /// Hard limit (absolute), if any.
    pub hard: Option<f64>,
    /// Whether the metric can fail the gate.
    pub gate: bool,
    /// Confidence level for significance.
    pub confidence: f64,
    /// The A/B's margin, when an override replaces `[ab] threshold` for this metric.
    pub ab_threshold: Option<f64>,
}

impl GateConfig {
    /// Reads and validates `path`; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(&text, path)
    }

    /// Parses and validates the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let bad = |what: String| Error::Config {
            path: PathBuf::from(path),
            what,
        };
        let config: GateConfig = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        check_fraction("gate.threshold", config.gate.threshold).map_err(bad)?;
        if !(0.5..1.0).contains(&config.gate.confidence) {
            return Err(bad(format!(
                "gate.confidence = {} is outside [0.5, 1): use e.g. 0.95",
                config.gate.confidence
            )));
        }
        check_fraction("ab.threshold", config.ab.threshold).map_err(bad)?;
        if !(config.ab.alpha > 0.0 && config.ab.alpha < 0.5) {
            return Err(bad(format!(
                "ab.alpha = {} is outside (0, 0.5): use e.g. 0.05",
                config.ab.alpha
            )));
        }
        if !(3..=100).contains(&config.ab.rounds) {
            return Err(bad(format!(
                "ab.rounds = {} is outside 3..=100: the paired test needs at least 3 rounds",
                config.ab.rounds
            )));
        }
        if !(1..=100).contains(&config.ab.layouts) {
            return Err(bad(format!(
                "ab.layouts = {} is outside 1..=100: 1 keeps the default layout, 6 gives each of 6 \
                 rounds its own",
                config.ab.layouts
            )));
        }
        for (i, o) in config.overrides.iter().enumerate() {
            for (field, pattern) in [("scenario", &o.scenario), ("metric", &o.metric)] {
                glob::Pattern::new(pattern).map_err(|e| {
                    bad(format!(
                        "override #{} {field} = {pattern:?} is not a valid glob: {e}",
                        i + 1
                    ))
                })?;
            }
            if let Some(t) = o.threshold {
                check_fraction(&format!("override #{} threshold", i + 1), t).map_err(bad)?;
            }
            if let Some(t) = o.ab_threshold {
                check_fraction(&format!("override #{} ab_threshold", i + 1), t).map_err(bad)?;
            }
            if let Some(h) = o.hard
                && !h.is_finite()
            {
                return Err(bad(format!(
                    "override #{} hard = {h} must be finite",
                    i + 1
                )));
            }
        }
        Ok(config)
    }

    /// The limits for `metric` of `scenario`: the first matching override, else the defaults.
    pub fn limits(&self, scenario: &str, metric: &str) -> Limits {
        let mut limits = Limits {
            threshold: self.gate.threshold,
            hard: None,
            gate: true,
            confidence: self.gate.confidence,
            ab_threshold: None,
        };
        let matches =
            |pattern: &str, text: &str| glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text));
        if let Some(o) = self
            .overrides
            .iter()
            .find(|o| matches(&o.scenario, scenario) && matches(&o.metric, metric))
        {
            limits.threshold = o.threshold.unwrap_or(limits.threshold);
            limits.hard = o.hard;
            limits.gate = o.gate;
            limits.ab_threshold = o.ab_threshold;
        }
        limits
    }
}

fn check_fraction(field: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 && value <= 100.0 {
        Ok(())
    } else {
        Err(format!(
            "{field} = {value} must be a positive fraction (0.5 means \"worse by more than 50 % fails\")"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GateConfig, Error> {
        GateConfig::parse(text, Path::new("perfgate.toml"))
    }

    #[test]
    fn defaults_when_empty() {
        let c = parse("").expect("empty is fine");
        let l = c.limits("a/b/c", "wall_time");
        assert_eq!(l.threshold, 0.5);
        assert_eq!(l.confidence, 0.95);
        assert!(l.gate && l.hard.is_none());
        assert_eq!(c.ab, AbDefaults::default());
        // A table that sets some keys keeps the defaults of the others.
        let partial = parse("[gate]\nconfidence = 0.9\n[ab]\nrounds = 10\n").expect("partial");
        assert_eq!(partial.gate.threshold, 0.5);
        assert_eq!(
            partial.ab,
            AbDefaults {
                rounds: 10,
                ..AbDefaults::default()
            }
        );
    }

    #[test]
    fn first_matching_override_wins() {
        let c = parse(
            r#"
            [gate]
            threshold = 0.25
            [[override]]
            scenario = "flowcache/size/*"
            metric = "wall_time"
            threshold = 1.0
            hard = 5e6
            ab_threshold = 0.4
            [[override]]
            scenario = "flowcache/*"
            gate = false
            "#,
        )
        .expect("valid");
        let l = c.limits("flowcache/size/walk/files=1000", "wall_time");
        assert_eq!((l.threshold, l.hard, l.gate), (1.0, Some(5e6), true));
        assert_eq!(l.ab_threshold, Some(0.4));
        assert_eq!(c.limits("flowcache/x", "y").ab_threshold, None);
        let l = c.limits("flowcache/size/walk/files=1000", "entries_visited");
        assert_eq!((l.threshold, l.gate), (0.25, false));
        let l = c.limits("timesync/x/y", "wall_time");
        assert_eq!((l.threshold, l.gate), (0.25, true));
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = parse("[gate]\nthreshhold = 0.5\n").expect_err("typo");
        let msg = e.to_string();
        assert!(
            msg.contains("perfgate.toml") && msg.contains("threshhold"),
            "{msg}"
        );
        let e = parse("[gate]\nthreshold = -1\n").expect_err("negative");
        assert!(e.to_string().contains("gate.threshold"), "{e}");
        let e = parse("[[override]]\nab_threshold = 0\n").expect_err("zero margin");
        assert!(e.to_string().contains("override #1 ab_threshold"), "{e}");
        let e = parse("[[override]]\nscenario = \"[\"\n").expect_err("bad glob");
        assert!(e.to_string().contains("override #1 scenario"), "{e}");
        let e = parse("not toml at all = = =").expect_err("syntax");
        assert!(e.to_string().contains("perfgate.toml"), "{e}");
        let e = parse("[ab]\nlayouts = 0\n").expect_err("no layout");
        assert!(e.to_string().contains("ab.layouts = 0"), "{e}");
        let ab = parse("[ab]\nlayouts = 6\n").expect("six layouts").ab;
        assert_eq!((ab.layouts, ab.rounds), (6, 6));
        assert_eq!(
            parse("").expect("empty").ab.layouts,
            1,
            "the default layout only"
        );
    }
}
