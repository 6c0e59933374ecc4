//! The scenario contract and the runner: a registry of scenarios (component × situation × variant ×
//! scale) and claims, selection by suite and filter, and a run that turns them into a [`RunRecord`].
//! Generic: the concrete scenarios live in `scenarios` and plug in through [`Scenario`].

use std::collections::BTreeMap;
use std::time::Instant;

use crate::analysis;
use crate::error::Error;
use crate::machine;
use crate::measure::{SamplingPlan, Timer};
use crate::model::{
    Claim, ClaimCheck, Direction, ENGINE_METRICS, Interval, Metric, MetricKind, MetricName,
    RunRecord, ScenarioRecord, Summary, Value,
};
use crate::stats;

pub use crate::model::{WALL_RATIO, WALL_TIME};

/// A named set of scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// What `check` runs in CI: fast, deterministic metrics first.
    Smoke,
    /// Everything, with the longer sampling plan.
    Full,
}

impl Suite {
    /// The suite's name as written in records.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Smoke => "smoke",
            Suite::Full => "full",
        }
    }

    /// The sampling plan for the suite.
    pub fn plan(self) -> SamplingPlan {
        match self {
            Suite::Smoke => SamplingPlan::SMOKE,
            Suite::Full => SamplingPlan::FULL,
        }
    }
}

/// A scenario's place in a before/after pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The original mechanism.
    Before,
    /// The improved mechanism; `before` is the id of the same situation and scale with the original.
    After {
        /// Id of the matching "before" scenario.
        before: String,
    },
    /// No pair.
    Alone,
}

/// What a scenario gets when it runs.
pub struct RunContext<'a> {
    /// How to sample wall times.
    pub plan: SamplingPlan,
    /// The timer to sample with.
    pub timer: &'a dyn Timer,
    /// Selftest: an "after" scenario runs the "before" implementation under its own id, so the gate
    /// can show that it would catch the regression.
    pub swap_in_before: bool,
}

/// One measurable situation. Implementations hold their setup lazily and share it across variants.
pub trait Scenario: Send + Sync {
    /// `component/situation/variant/scale`.
    fn id(&self) -> &str;
    /// Its place in a before/after pair.
    fn role(&self) -> Role;
    /// Whether the smoke suite includes it (the full suite includes everything).
    fn in_smoke(&self) -> bool {
        true
    }
    /// The metrics it may return, declared once (empty: undeclared, so no claim can name one of
    /// its metrics). The engine adds [`WALL_RATIO`] to an "after" that returns [`WALL_TIME`].
    fn metrics(&self) -> &[MetricName] {
        &[]
    }
    /// Runs it and returns its metrics by name.
    fn run(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String>;
}

impl dyn Scenario + '_ {
    /// The component: the id's first segment.
    pub fn component(&self) -> &str {
        self.id().split('/').next().unwrap_or_default()
    }

    /// Runs it ([`Scenario::run`]) and checks that it returned only metrics it declares.
    pub fn measure(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
        let metrics = self.run(ctx)?;
        let declared = self.metrics();
        if let Some(stray) = metrics
            .keys()
            .find(|k| !declared.is_empty() && !declared.iter().any(|d| *k == d))
        {
            return Err(format!(
                "returned the metric `{stray}`, which its declaration does not list (it lists {}): \
                 add it to the pair's `.metrics([...])`",
                names(declared)
            ));
        }
        Ok(metrics)
    }

    /// Whether it may report `metric`: declared, or the in-run ratio of an "after" that reports
    /// its wall time.
    pub fn reports(&self, metric: &str) -> bool {
        let declared = self.metrics();
        declared.iter().any(|d| metric == d)
            || (metric == WALL_RATIO
                && matches!(self.role(), Role::After { .. })
                && declared.contains(&WALL_TIME))
    }
}

/// `a, b, c` (or `nothing`), for messages.
fn names(list: &[MetricName]) -> String {
    if list.is_empty() {
        return "nothing".to_owned();
    }
    list.iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every scenario and claim perfgate knows.
#[derive(Default)]
pub struct Registry {
    scenarios: Vec<Box<dyn Scenario>>,
    claims: Vec<Claim>,
}

impl Registry {
    /// The registry `register` fills: `Registry::of(watch::register)` in a component's tests.
    pub fn of(register: impl FnOnce(&mut Registry)) -> Self {
        let mut r = Self::default();
        register(&mut r);
        r
    }

    /// Adds a scenario.
    pub fn add(&mut self, scenario: impl Scenario + 'static) {
        self.scenarios.push(Box::new(scenario));
    }

    /// Declares a before/after pair of `component/situation`: finish with
    /// [`PairBuilder::measure`].
    pub fn pair<V: PairVariant>(
        &mut self,
        family: &str,
        before: V,
        after: V,
    ) -> PairBuilder<'_, V> {
        PairBuilder {
            registry: self,
            family: family.to_owned(),
            before,
            after,
            scales: vec![String::new()],
            smoke: Box::new(|_, _| true),
            metrics: Vec::new(),
        }
    }

    /// Adds a claim.
    pub fn claim(&mut self, claim: Claim) {
        self.claims.push(claim);
    }

    /// All scenarios, in registration order.
    pub fn scenarios(&self) -> impl Iterator<Item = &dyn Scenario> {
        self.scenarios.iter().map(|s| s.as_ref())
    }

    /// The ids of `suite`'s scenarios, in registration order.
    pub fn ids(&self, suite: Suite) -> Vec<&str> {
        self.scenarios()
            .filter(|s| suite == Suite::Full || s.in_smoke())
            .map(|s| s.id())
            .collect()
    }

    /// The scenario with this id, if registered.
    pub fn find(&self, id: &str) -> Option<&dyn Scenario> {
        self.scenarios().find(|s| s.id() == id)
    }

    /// All claims.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// The scenarios of `suite` matching `filter` (a glob when it has `*`, `?` or `[`, else a
    /// substring). A filter that matches nothing is a usage error.
    pub fn select(&self, suite: Suite, filter: Option<&str>) -> Result<Vec<&dyn Scenario>, Error> {
        let matcher = Filter::new(filter)?;
        let chosen: Vec<&dyn Scenario> = self
            .scenarios()
            .filter(|s| suite == Suite::Full || s.in_smoke())
            .filter(|s| matcher.matches(s.id()))
            .collect();
        if chosen.is_empty() {
            return Err(Error::Usage(format!(
                "no {} scenario matches filter {:?}; `cargo perfgate list` shows the ids",
                suite.name(),
                filter.unwrap_or_default()
            )));
        }
        Ok(chosen)
    }
}

impl Registry {
    /// Checks what registration cannot check by types: every claim names registered scenarios and a
    /// metric they declare. One error lists every problem, each with its claim and the fix.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        for c in &self.claims {
            let at = format!("claim {}:{}", c.seed, c.line);
            let (ids, metric): (Vec<&str>, &str) = match &c.check {
                ClaimCheck::RatioAtMost {
                    before,
                    after,
                    metric,
                    ..
                } => (vec![before, after], metric),
                ClaimCheck::AtMost {
                    scenario, metric, ..
                } => (vec![scenario], metric),
                ClaimCheck::Exponent { family, metric, .. } => {
                    // A fit along one parameter of a multi-parameter scale names its family
                    // `family/other=value`.
                    let members: Vec<&str> = self
                        .scenarios()
                        .map(|s| s.id())
                        .filter(|id| {
                            let fam = crate::model::ScenarioId::parse(id).family;
                            fam == family
                                || family
                                    .strip_prefix(fam)
                                    .is_some_and(|rest| rest.starts_with('/'))
                        })
                        .collect();
                    if members.is_empty() {
                        problems.push(format!(
                            "{at}: no registered scenario is in the family `{family}` \
                             (`cargo perfgate list` shows the ids)"
                        ));
                    }
                    (members, metric)
                }
            };
            for id in ids {
                match self.find(id) {
                    None => problems.push(format!(
                        "{at}: no scenario `{id}` is registered (`cargo perfgate list` shows the ids)"
                    )),
                    Some(s) if !s.reports(metric) => problems.push(format!(
                        "{at}: `{id}` does not declare the metric `{metric}` (it declares {}): \
                         fix the name, or add it to the pair's `.metrics([...])`",
                        names(s.metrics())
                    )),
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Registry { problems })
        }
    }

    /// Checks that every `[[override]]` of `config` (read from `path`) names a metric some scenario
    /// declares or the engine writes ([`ENGINE_METRICS`]), its `metric` glob matching at least one:
    /// a misspelled metric would otherwise gate nothing, silently.
    pub fn validate_overrides(
        &self,
        config: &crate::config::GateConfig,
        path: &std::path::Path,
    ) -> Result<(), Error> {
        let mut known: Vec<&str> = self
            .scenarios()
            .flat_map(|s| s.metrics().iter().map(|m| m.as_str()))
            .chain(ENGINE_METRICS.iter().map(|m| m.as_str()))
            .collect();
        known.sort_unstable();
        known.dedup();
        for (i, o) in config.overrides.iter().enumerate() {
            let Ok(pattern) = glob::Pattern::new(&o.metric) else {
                continue; // the config's own check names a bad glob
            };
            if !known.iter().any(|k| pattern.matches(k)) {
                return Err(Error::Config {
                    path: path.to_owned(),
                    what: format!(
                        "override #{} metric = {:?} matches no metric any scenario declares \
                         (misspelled? `cargo perfgate list --metrics` shows them)",
                        i + 1,
                        o.metric
                    ),
                });
            }
        }
        Ok(())
    }

    /// Every metric name declared by a registered scenario, sorted, each once.
    pub fn metric_names(&self) -> Vec<MetricName> {
        let mut all: Vec<MetricName> = self
            .scenarios()
            .flat_map(|s| s.metrics().iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// A variant of a before/after pair: its name in scenario ids (from the component, when it names
/// its own variants).
pub trait PairVariant: Copy + PartialEq + Send + Sync + 'static {
    /// The variant as it appears in ids: `polling`, `blocking`.
    fn name(self) -> &'static str;
}

/// What measures one scenario of a pair: the variant to run (the "before" one when the selftest
/// swaps it in), the scale (`files=1000`, or a typed case whose `Display` is the id's last segment)
/// and the run's context.
type Measure<V, P> =
    dyn Fn(V, &P, &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> + Send + Sync;

/// Which scenarios of a pair the smoke suite runs, by variant and scale.
type SmokeRule<V, P> = dyn Fn(V, &P) -> bool + Send + Sync;

/// A before/after pair declared once, [`Registry::pair`]: its ids, roles and the selftest's swap
/// are derived from it rather than written per scenario.
pub struct PairBuilder<'r, V: PairVariant, P = String> {
    registry: &'r mut Registry,
    family: String,
    before: V,
    after: V,
    scales: Vec<P>,
    smoke: Box<SmokeRule<V, P>>,
    metrics: Vec<MetricName>,
}

impl<'r, V: PairVariant> PairBuilder<'r, V, String> {
    /// The scales it runs at, each `key=value[,key=value]` (default: one, without a scale).
    pub fn scales<S: Into<String>>(mut self, scales: impl IntoIterator<Item = S>) -> Self {
        self.scales = scales.into_iter().map(Into::into).collect();
        self
    }

    /// Typed scales: the measure gets the case itself, its `Display` is the id's last segment
    /// (`delay=200ms,minutes=10`), so nothing parses an id back.
    pub fn cases<P>(self, cases: impl IntoIterator<Item = P>) -> PairBuilder<'r, V, P>
    where
        P: std::fmt::Display + Send + Sync + 'static,
    {
        PairBuilder {
            registry: self.registry,
            family: self.family,
            before: self.before,
            after: self.after,
            scales: cases.into_iter().collect(),
            smoke: Box::new(|_, _| true),
            metrics: self.metrics,
        }
    }
}

impl<V: PairVariant, P: std::fmt::Display + Send + Sync + 'static> PairBuilder<'_, V, P> {
    /// Which of its scenarios the smoke suite runs (default: all).
    pub fn smoke(mut self, keep: impl Fn(V, &P) -> bool + Send + Sync + 'static) -> Self {
        self.smoke = Box::new(keep);
        self
    }

    /// The metrics its measure returns, each declared once as a [`MetricName`] constant: a claim
    /// or override naming anything else is an error ([`Registry::validate`]), and so is a measure
    /// that returns anything else.
    pub fn metrics(mut self, names: impl IntoIterator<Item = MetricName>) -> Self {
        self.metrics.extend(names);
        self
    }

    /// Registers the pair at each scale with what measures it; returns its ids.
    pub fn measure(
        self,
        measure: impl Fn(V, &P, &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String>
        + Send
        + Sync
        + 'static,
    ) -> PairIds<V> {
        let ids = PairIds {
            family: self.family,
            before: self.before,
            after: self.after,
        };
        let measure: std::sync::Arc<Measure<V, P>> = std::sync::Arc::new(measure);
        let metrics: std::sync::Arc<[MetricName]> = self.metrics.into();
        for scale in self.scales {
            let scale = std::sync::Arc::new(scale);
            for variant in [ids.before, ids.after] {
                let role = if variant == ids.before {
                    Role::Before
                } else {
                    Role::After {
                        before: ids.before(&*scale),
                    }
                };
                self.registry.add(PairScenario {
                    id: ids.id(variant, &*scale),
                    role,
                    variant,
                    before: ids.before,
                    in_smoke: (self.smoke)(variant, &scale),
                    scale: std::sync::Arc::clone(&scale),
                    measure: std::sync::Arc::clone(&measure),
                    metrics: std::sync::Arc::clone(&metrics),
                });
            }
        }
        ids
    }
}

/// The ids of a declared pair, for its claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairIds<V> {
    family: String,
    before: V,
    after: V,
}

impl<V: PairVariant> PairIds<V> {
    /// `component/situation/variant[/scale]`.
    pub fn id(&self, variant: V, scale: impl std::fmt::Display) -> String {
        let scale = scale.to_string();
        if scale.is_empty() {
            format!("{}/{}", self.family, variant.name())
        } else {
            format!("{}/{}/{scale}", self.family, variant.name())
        }
    }

    /// The "before" scenario's id at `scale`.
    pub fn before(&self, scale: impl std::fmt::Display) -> String {
        self.id(self.before, scale)
    }

    /// The "after" scenario's id at `scale`.
    pub fn after(&self, scale: impl std::fmt::Display) -> String {
        self.id(self.after, scale)
    }

    /// The check that at `scale`, the "after" scenario's `metric` is at most `max` times the
    /// "before" one's.
    pub fn ratio_at_most(
        &self,
        scale: impl std::fmt::Display,
        metric: MetricName,
        max: f64,
    ) -> ClaimCheck {
        let scale = scale.to_string();
        ClaimCheck::RatioAtMost {
            before: self.before(&scale),
            after: self.after(&scale),
            metric: metric.into(),
            max,
        }
    }

    /// The check that at `scale`, the "after" scenario's `metric` is at most `max`.
    pub fn after_at_most(
        &self,
        scale: impl std::fmt::Display,
        metric: MetricName,
        max: f64,
    ) -> ClaimCheck {
        ClaimCheck::AtMost {
            scenario: self.after(scale),
            metric: metric.into(),
            max,
        }
    }
}

/// One scenario of a declared pair.
struct PairScenario<V: PairVariant, P> {
    id: String,
    role: Role,
    variant: V,
    before: V,
    scale: std::sync::Arc<P>,
    in_smoke: bool,
    measure: std::sync::Arc<Measure<V, P>>,
    metrics: std::sync::Arc<[MetricName]>,
}

impl<V: PairVariant, P: Send + Sync + 'static> Scenario for PairScenario<V, P> {
    fn id(&self) -> &str {
        &self.id
    }

    fn role(&self) -> Role {
        self.role.clone()
    }

    fn in_smoke(&self) -> bool {
        self.in_smoke
    }

    fn metrics(&self) -> &[MetricName] {
        &self.metrics
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
        let variant = if ctx.swap_in_before {
            self.before
        } else {
            self.variant
        };
        (self.measure)(variant, &self.scale, ctx)
    }
}

/// A scenario filter: glob or substring.
pub struct Filter(Option<FilterKind>);

enum FilterKind {
    Glob(glob::Pattern),
    Substring(String),
}

impl Filter {
    /// Parses a filter; `None` matches everything.
    pub fn new(filter: Option<&str>) -> Result<Self, Error> {
        Ok(Filter(match filter {
            None => None,
            Some(f) if f.contains(['*', '?', '[']) => {
                Some(FilterKind::Glob(glob::Pattern::new(f).map_err(|e| {
                    Error::Usage(format!("filter {f:?} is not a valid glob: {e}"))
                })?))
            }
            Some(f) => Some(FilterKind::Substring(f.to_owned())),
        }))
    }

    /// Whether `id` passes.
    pub fn matches(&self, id: &str) -> bool {
        match &self.0 {
            None => true,
            Some(FilterKind::Glob(p)) => p.matches(id),
            Some(FilterKind::Substring(s)) => id.contains(s.as_str()),
        }
    }
}

/// Told about each scenario as it runs (the progress line).
pub trait Progress {
    /// Scenario `index` (0-based) of `total` starts.
    fn start(&mut self, index: usize, total: usize, id: &str);
    /// It finished after `seconds`.
    fn finish(&mut self, id: &str, seconds: f64);
}

/// No progress output.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: usize, _: usize, _: &str) {}
    fn finish(&mut self, _: &str, _: f64) {}
}

/// Runs `selected` and builds the record: metrics, in-run ratios, growth fits and claims.
pub fn run(
    selected: &[&dyn Scenario],
    claims: &[Claim],
    suite: Suite,
    ctx: &RunContext<'_>,
    progress: &mut dyn Progress,
) -> Result<RunRecord, Error> {
    let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let t0 = Instant::now();
    let mut scenarios = Vec::with_capacity(selected.len());
    for (i, s) in selected.iter().enumerate() {
        progress.start(i, selected.len(), s.id());
        let st = Instant::now();
        let metrics = s.measure(ctx).map_err(|what| Error::Scenario {
            id: s.id().to_owned(),
            what,
        })?;
        let duration_s = st.elapsed().as_secs_f64();
        progress.finish(s.id(), duration_s);
        scenarios.push(ScenarioRecord {
            id: s.id().to_owned(),
            before: match s.role() {
                Role::After { before } => Some(before),
                _ => None,
            },
            metrics,
            duration_s,
        });
    }
    add_in_run_ratios(&mut scenarios, ctx.plan.confidence);
    let mut record = RunRecord::new(
        suite.name().to_owned(),
        started,
        t0.elapsed().as_secs_f64(),
        machine::detect(),
        machine::toolchain(),
        machine::git(),
        scenarios,
    );
    analysis::analyze(&mut record, claims);
    Ok(record)
}

/// For every "after" scenario whose "before" ran in the same run, `after / before` of the wall-time
/// medians with a bootstrap interval: the measure that gates on any machine.
pub fn add_in_run_ratios(scenarios: &mut [ScenarioRecord], confidence: f64) {
    let walls: BTreeMap<String, Metric> = scenarios
        .iter()
        .filter_map(|s| {
            s.metrics
                .get(WALL_TIME.as_str())
                .map(|m| (s.id.clone(), m.clone()))
        })
        .collect();
    for s in scenarios.iter_mut() {
        let (Some(before), Some(after)) = (
            s.before.as_ref().and_then(|b| walls.get(b)),
            walls.get(&s.id),
        ) else {
            continue;
        };
        let b = before.value.as_f64();
        if b <= 0.0 {
            continue;
        }
        let ratio = after.value.as_f64() / b;
        let ci = stats::ratio_of_medians_ci(&after.samples, &before.samples, confidence).unwrap_or(
            Interval {
                level: confidence,
                lower: ratio,
                upper: ratio,
            },
        );
        s.metrics.insert(
            WALL_RATIO.into(),
            Metric {
                kind: MetricKind::InRunRatio,
                unit: "ratio".to_owned(),
                direction: Direction::LowerIsBetter,
                value: Value::Float(ratio),
                summary: Some(Summary {
                    n: after.samples.len().min(before.samples.len()),
                    median: ratio,
                    mad: 0.0,
                    mean: ratio,
                    min: ci.lower,
                    max: ci.upper,
                    ci,
                }),
                samples: Vec::new(),
                rounds: Vec::new(),
                quantile: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Toy {
        Slow,
        Fast,
    }

    impl PairVariant for Toy {
        fn name(self) -> &'static str {
            match self {
                Toy::Slow => "slow",
                Toy::Fast => "fast",
            }
        }
    }

    #[test]
    fn a_declared_pair_derives_ids_roles_smoke_and_the_swap() {
        let mut r = Registry::default();
        let ids = r
            .pair("toy/work", Toy::Slow, Toy::Fast)
            .scales(["n=1", "n=2"])
            .smoke(|_, scale| scale == "n=1")
            .measure(|variant, scale, _| {
                let v = if variant == Toy::Slow { 10 } else { 1 };
                Ok(BTreeMap::from([(
                    format!("calls_{scale}"),
                    Metric::count(v, "calls"),
                )]))
            });
        let listed: Vec<(&str, bool, Role)> = r
            .scenarios()
            .map(|s| (s.id(), s.in_smoke(), s.role()))
            .collect();
        let after = |before: &str| Role::After {
            before: before.to_owned(),
        };
        assert_eq!(
            listed,
            [
                ("toy/work/slow/n=1", true, Role::Before),
                ("toy/work/fast/n=1", true, after("toy/work/slow/n=1")),
                ("toy/work/slow/n=2", false, Role::Before),
                ("toy/work/fast/n=2", false, after("toy/work/slow/n=2")),
            ]
        );
        assert_eq!(ids.after("n=2"), "toy/work/fast/n=2");
        let timer = crate::measure::RealTimer::new();
        let run = |swap| {
            let ctx = RunContext {
                plan: SamplingPlan::SMOKE,
                timer: &timer,
                swap_in_before: swap,
            };
            let fast = r.find("toy/work/fast/n=2").expect("registered");
            fast.run(&ctx).expect("runs")["calls_n=2"].value
        };
        assert_eq!(run(false), Value::Int(1));
        assert_eq!(
            run(true),
            Value::Int(10),
            "the swap runs the before variant"
        );
    }

    const CALLS: MetricName = MetricName::new("calls");
    const TYPO: MetricName = MetricName::new("cals");

    /// `toy/work/{slow,fast}/n=1` declaring [`CALLS`] and the wall time, returning `returned`.
    fn declared(returned: MetricName) -> (Registry, PairIds<Toy>) {
        let mut r = Registry::default();
        let ids = r
            .pair("toy/work", Toy::Slow, Toy::Fast)
            .scales(["n=1"])
            .metrics([CALLS, WALL_TIME])
            .measure(move |_, _, _| {
                Ok(BTreeMap::from([(
                    returned.into(),
                    Metric::count(1, "calls"),
                )]))
            });
        (r, ids)
    }

    #[test]
    fn a_claim_on_an_undeclared_metric_is_a_registry_error_naming_claim_and_fix() {
        let (mut r, ids) = declared(CALLS);
        let ratio = |metric: MetricName| ClaimCheck::RatioAtMost {
            before: ids.before("n=1"),
            after: ids.after("n=1"),
            metric: metric.into(),
            max: 0.5,
        };
        r.claim(Claim::new("seed.md", 7, "fewer calls", ratio(CALLS)));
        r.claim(Claim::new(
            "seed.md",
            8,
            "in-run ratio",
            ClaimCheck::AtMost {
                scenario: ids.after("n=1"),
                metric: WALL_RATIO.into(),
                max: 0.5,
            },
        ));
        r.validate()
            .expect("declared metrics, and the engine's ratio of a declared wall time");
        r.claim(Claim::new("seed.md", 9, "typo", ratio(TYPO)));
        r.claim(Claim::new(
            "seed.md",
            10,
            "unknown scenario",
            ClaimCheck::AtMost {
                scenario: "toy/work/fast/n=2".to_owned(),
                metric: CALLS.into(),
                max: 1.0,
            },
        ));
        let e = r
            .validate()
            .expect_err("a typo and an unknown id")
            .to_string();
        assert!(e.contains("3 problem(s)"), "{e}"); // the typo on both sides, the id
        assert!(
            e.contains("claim seed.md:9: `toy/work/slow/n=1` does not declare the metric `cals`")
                && e.contains("it declares `calls`, `wall_time`")
                && e.contains(".metrics([...])"),
            "{e}"
        );
        assert!(
            e.contains("claim seed.md:10: no scenario `toy/work/fast/n=2`"),
            "{e}"
        );
    }

    #[test]
    fn a_measure_returning_an_undeclared_metric_fails_and_says_what_to_declare() {
        let timer = crate::measure::RealTimer::new();
        let ctx = RunContext {
            plan: SamplingPlan::SMOKE,
            timer: &timer,
            swap_in_before: false,
        };
        let (r, _) = declared(CALLS);
        let s = r.find("toy/work/fast/n=1").expect("registered");
        assert!(s.measure(&ctx).is_ok());
        let (r, _) = declared(TYPO);
        let s = r.find("toy/work/fast/n=1").expect("registered");
        let e = s.measure(&ctx).expect_err("undeclared");
        assert!(e.contains("`cals`") && e.contains(".metrics([...])"), "{e}");
    }

    #[test]
    fn an_override_naming_no_declared_metric_is_a_config_error() {
        let (r, _) = declared(CALLS);
        let config = |metric: &str| {
            crate::testutil::config(&format!(
                "[[override]]\nscenario = \"toy/*\"\nmetric = \"{metric}\"\nhard = 1\n"
            ))
        };
        for fine in ["calls", "call*", "instructions", "wall_ratio_to_before"] {
            r.validate_overrides(&config(fine), Path::new("perfgate.toml"))
                .expect(fine);
        }
        let e = r
            .validate_overrides(&config("cals"), Path::new("perfgate.toml"))
            .expect_err("typo")
            .to_string();
        assert!(
            e.starts_with("perfgate.toml: override #1 metric = \"cals\" matches no metric"),
            "{e}"
        );
    }

    #[test]
    fn typed_cases_are_the_ids_last_segment() {
        struct Hold(u64);
        impl std::fmt::Display for Hold {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "hold_ms={}", self.0)
            }
        }
        let mut r = Registry::default();
        let ids = r
            .pair("toy/lock", Toy::Slow, Toy::Fast)
            .cases([Hold(50), Hold(200)])
            .smoke(|_, hold| hold.0 < 100)
            .measure(|_, hold, _| {
                Ok(BTreeMap::from([(
                    "held".to_owned(),
                    Metric::count(hold.0, "ms"),
                )]))
            });
        let smoke = r.ids(Suite::Smoke);
        assert_eq!(
            smoke,
            ["toy/lock/slow/hold_ms=50", "toy/lock/fast/hold_ms=50"]
        );
        assert_eq!(ids.before(Hold(200)), "toy/lock/slow/hold_ms=200");
    }
    use crate::measure::RealTimer;
    use crate::testutil::wall;

    struct Fixed {
        id: &'static str,
        role: Role,
        smoke: bool,
        wall: f64,
    }

    impl Scenario for Fixed {
        fn id(&self) -> &str {
            self.id
        }
        fn role(&self) -> Role {
            self.role.clone()
        }
        fn in_smoke(&self) -> bool {
            self.smoke
        }
        fn run(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
            let w = if ctx.swap_in_before {
                self.wall * 10.0
            } else {
                self.wall
            };
            Ok(BTreeMap::from([(
                WALL_TIME.into(),
                wall(&[w, w * 1.01, w * 0.99]),
            )]))
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::default();
        for (n, smoke) in [(10, true), (100, false)] {
            let before: &'static str = Box::leak(format!("c/s/before/n={n}").into_boxed_str());
            let after: &'static str = Box::leak(format!("c/s/after/n={n}").into_boxed_str());
            r.add(Fixed {
                id: before,
                role: Role::Before,
                smoke,
                wall: 100.0 * f64::from(n),
            });
            r.add(Fixed {
                id: after,
                role: Role::After {
                    before: before.to_owned(),
                },
                smoke,
                wall: 10.0,
            });
        }
        r
    }

    #[test]
    fn selection_by_suite_and_filter() {
        let r = registry();
        assert_eq!(r.select(Suite::Smoke, None).expect("some").len(), 2);
        assert_eq!(r.select(Suite::Full, None).expect("some").len(), 4);
        assert_eq!(r.select(Suite::Full, Some("after")).expect("some").len(), 2);
        assert_eq!(
            r.select(Suite::Full, Some("c/s/*/n=100"))
                .expect("some")
                .len(),
            2
        );
        let e = r
            .select(Suite::Smoke, Some("nothing-like-this"))
            .err()
            .expect("usage error");
        assert!(e.to_string().contains("cargo perfgate list"), "{e}");
    }

    #[test]
    fn run_adds_in_run_ratios_and_growth() {
        let r = registry();
        let timer = RealTimer::new();
        let ctx = RunContext {
            plan: SamplingPlan::SMOKE,
            timer: &timer,
            swap_in_before: false,
        };
        let chosen = r.select(Suite::Full, None).expect("all");
        let rec = run(&chosen, r.claims(), Suite::Full, &ctx, &mut Quiet).expect("runs");
        let ratio = rec
            .metric("c/s/after/n=10", WALL_RATIO)
            .expect("ratio attached");
        assert!((ratio.value.as_f64() - 10.0 / 1000.0).abs() < 1e-12);
        assert!(rec.metric("c/s/before/n=10", WALL_RATIO).is_none());
        let fit = rec
            .growth
            .iter()
            .find(|g| g.family == "c/s/before" && g.metric == WALL_TIME)
            .expect("fit");
        assert!((fit.exponent.expect("exponent") - 1.0).abs() < 1e-9);
        assert_eq!(rec.scenarios[1].before.as_deref(), Some("c/s/before/n=10"));
    }
}

/// `--shard I/N`: a stable 1/N of the scenarios for one job of a CI matrix. Scenarios are dealt by
/// their `component/situation`, so a "before" and its "after" (and all scales of a family) always
/// land in the same shard and in-run ratios, growth fits and claims still work per shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index of this shard.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` with `1 <= I <= N`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Usage(format!(
                "--shard {text:?}: expected I/N with 1 <= I <= N, e.g. --shard 1/3"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether scenario `id` belongs to this shard.
    pub fn contains(&self, id: &str) -> bool {
        let situation: String = id.split('/').take(2).collect::<Vec<_>>().join("/");
        // FNV-1a: stable across runs, machines and Rust versions (unlike `DefaultHasher`).
        let hash = situation.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        hash % u64::from(self.count) == u64::from(self.index - 1)
    }
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn every_scenario_is_in_exactly_one_shard_and_families_stay_together() {
        let ids: Vec<String> = [
            "flowcache/size",
            "flowcache/lock",
            "timesync/query",
            "rulesync/sync",
        ]
        .iter()
        .flat_map(|sit| {
            ["walk", "indexed"]
                .iter()
                .flat_map(move |v| [1, 2].iter().map(move |n| format!("{sit}/{v}/n={n}")))
        })
        .collect();
        for count in 1..=4 {
            let shards: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).collect();
            for id in &ids {
                let homes: Vec<u32> = shards
                    .iter()
                    .filter(|s| s.contains(id))
                    .map(|s| s.index)
                    .collect();
                assert_eq!(homes.len(), 1, "{id} in {homes:?} of {count}");
                let sibling = id.replace("/walk/", "/indexed/");
                assert!(shards[homes[0] as usize - 1].contains(&sibling));
            }
        }
    }

    #[test]
    fn bad_shards_are_usage_errors() {
        assert_eq!(
            Shard::parse("2/3").expect("ok"),
            Shard { index: 2, count: 3 }
        );
        for bad in ["0/3", "4/3", "1", "a/b", "1/0", ""] {
            let err = Shard::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("--shard"), "{err}");
        }
    }
}
