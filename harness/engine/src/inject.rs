//! Injected slowdowns (`--inject 'PATTERN=FACTOR'`): every wall and CPU time of the matching scenarios
//! made that factor worse after measuring, so the gate's power can be measured against a known change.

use crate::error::Error;
use crate::model::{Direction, MetricKind, RunRecord, ScenarioRecord, Value};
use crate::scenario::{self, Filter};

/// One `PATTERN=FACTOR`: scenarios matching `pattern` (substring or glob) get `factor` times worse.
pub struct Injection {
    spec: String,
    filter: Filter,
    factor: f64,
}

impl Injection {
    /// Parses `PATTERN=FACTOR`, e.g. `flowcache/size/indexed/*=1.25`; the factor is above 0.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let usage = |what: &str| {
            Error::Usage(format!(
                "--inject {spec:?}: {what}; expected PATTERN=FACTOR, e.g. --inject 'flowcache/size/indexed/*=1.25'"
            ))
        };
        let (pattern, factor) = spec
            .rsplit_once('=')
            .ok_or_else(|| usage("no '=' between the pattern and the factor"))?;
        let factor: f64 = factor
            .trim()
            .parse()
            .map_err(|_| usage(&format!("the factor {factor:?} is not a number")))?;
        if !(factor.is_finite() && factor > 0.0) {
            return Err(usage("the factor must be a finite number above 0"));
        }
        Ok(Self {
            spec: spec.to_owned(),
            filter: Filter::new(Some(pattern))?,
            factor,
        })
    }

    /// The factor.
    pub fn factor(&self) -> f64 {
        self.factor
    }
}

/// Whether a metric of `kind` is one an injection slows down: wall and CPU times (in-run ratios
/// follow from the wall times and are recomputed).
pub fn applies_to(kind: MetricKind) -> bool {
    matches!(kind, MetricKind::WallTime | MetricKind::CpuTime)
}

/// Makes every wall and CPU time of `s` worse by the product of the factors of the injections that
/// match it (value, samples and summary). In-run ratios are left to the caller to recompute.
pub fn scale_scenario(s: &mut ScenarioRecord, injections: &[Injection]) {
    let factor: f64 = injections
        .iter()
        .filter(|i| i.filter.matches(&s.id))
        .map(|i| i.factor)
        .product();
    if factor == 1.0 {
        return;
    }
    for m in s.metrics.values_mut().filter(|m| applies_to(m.kind)) {
        let f = match m.direction {
            Direction::LowerIsBetter => factor,
            Direction::HigherIsBetter => 1.0 / factor,
        };
        m.value = Value::Float(m.value.as_f64() * f);
        m.samples.iter_mut().for_each(|x| *x *= f);
        m.rounds.iter_mut().for_each(|x| *x *= f);
        if let Some(sum) = &mut m.summary {
            for x in [
                &mut sum.median,
                &mut sum.mad,
                &mut sum.mean,
                &mut sum.min,
                &mut sum.max,
                &mut sum.ci.lower,
                &mut sum.ci.upper,
            ] {
                *x *= f;
            }
        }
    }
}

/// Makes every wall and CPU time of the scenarios each injection matches `factor` times worse (value,
/// samples and summary), recomputes the in-run ratios, and notes the injections in the record.
pub fn apply(record: &mut RunRecord, injections: &[Injection], confidence: f64) {
    if injections.is_empty() {
        return;
    }
    for s in &mut record.scenarios {
        scale_scenario(s, injections);
    }
    scenario::add_in_run_ratios(&mut record.scenarios, confidence);
    record.injected.extend(specs(injections));
}

/// The injections as given, for records.
pub fn specs(injections: &[Injection]) -> Vec<String> {
    injections.iter().map(|i| i.spec.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;
    use crate::testutil::{record, wall};

    #[test]
    fn parses_and_refuses_bad_specs() {
        assert_eq!(
            Injection::parse("a/b/*=1.25").expect("valid").factor(),
            1.25
        );
        for bad in ["a/b", "a=fast", "a=0", "a=-1", "a=inf", "[=2"] {
            assert!(Injection::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slows_wall_times_of_matching_scenarios_only() {
        let mut r = record(
            "m",
            vec![
                ("c/size/indexed/n=1", "wall_time", wall(&[10.0, 20.0, 30.0])),
                ("c/size/indexed/n=1", "visits", Metric::count(5, "entries")),
                ("c/size/walk/n=1", "wall_time", wall(&[100.0, 200.0, 300.0])),
            ],
        );
        r.scenarios[0].before = Some("c/size/walk/n=1".to_owned());
        apply(
            &mut r,
            &[Injection::parse("*/indexed/*=1.5").expect("valid")],
            0.95,
        );
        let m = r.metric("c/size/indexed/n=1", "wall_time").expect("kept");
        assert_eq!(m.value.as_f64(), 30.0);
        assert_eq!(m.samples, vec![15.0, 30.0, 45.0]);
        assert_eq!(
            r.metric("c/size/indexed/n=1", "visits").map(|m| m.value),
            Some(Value::Int(5)),
            "counts are not times"
        );
        assert_eq!(
            r.metric("c/size/walk/n=1", "wall_time")
                .map(|m| m.value.as_f64()),
            Some(200.0)
        );
        let ratio = r
            .metric("c/size/indexed/n=1", scenario::WALL_RATIO)
            .expect("recomputed");
        assert!((ratio.value.as_f64() - 0.15).abs() < 1e-12);
        assert_eq!(r.injected, vec!["*/indexed/*=1.5".to_owned()]);
    }
}
