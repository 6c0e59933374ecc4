//! `selftest`: proof that the gate bites. Every "after" scenario is run with the "before"
//! implementation swapped in under its own id, and the comparison with the baseline must flag it.

use std::collections::{BTreeMap, BTreeSet};

use crate::compare::{self, Comparison};
use crate::config::GateConfig;
use crate::error::Error;
use crate::model::RunRecord;
use crate::scenario::{self, Progress, Registry, Role, RunContext, Suite};

/// The outcome for one component.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentResult {
    /// The component.
    pub component: String,
    /// "After" scenarios run with the "before" swapped in.
    pub swapped: Vec<String>,
    /// Those the gate flagged.
    pub caught: Vec<String>,
    /// The metrics that flagged them.
    pub caught_by: BTreeSet<String>,
}

impl ComponentResult {
    /// Caught only when every swapped scenario was flagged.
    pub fn all_caught(&self) -> bool {
        !self.swapped.is_empty() && self.caught.len() == self.swapped.len()
    }
}

/// Runs the smoke scenarios of every component that has an "after", swapped, and compares them with
/// `baseline`. Returns one result per component, and the comparison for the report.
pub fn run(
    registry: &Registry,
    baseline: &RunRecord,
    config: &GateConfig,
    ctx: &RunContext<'_>,
    progress: &mut dyn Progress,
) -> Result<(Vec<ComponentResult>, Comparison), Error> {
    let smoke = registry.select(Suite::Smoke, None)?;
    let components: BTreeSet<&str> = smoke
        .iter()
        .filter(|s| matches!(s.role(), Role::After { .. }))
        .map(|s| s.component())
        .collect();
    if components.is_empty() {
        return Err(Error::Usage(
            "no component has an \"after\" scenario in the smoke suite: nothing to swap".to_owned(),
        ));
    }
    let chosen: Vec<_> = smoke
        .into_iter()
        .filter(|s| components.contains(s.component()))
        .collect();
    let after_ids: BTreeSet<String> = chosen
        .iter()
        .filter(|s| matches!(s.role(), Role::After { .. }))
        .map(|s| s.id().to_owned())
        .collect();
    let swapped_ctx = RunContext {
        plan: ctx.plan,
        timer: ctx.timer,
        swap_in_before: true,
    };
    let record = scenario::run(&chosen, &[], Suite::Smoke, &swapped_ctx, progress)?;
    let comparison = compare::compare(baseline, &record, config, &|id| after_ids.contains(id));

    let mut results: BTreeMap<&str, ComponentResult> = BTreeMap::new();
    for id in &after_ids {
        let component = id.split('/').next().unwrap_or_default();
        let entry = results.entry(component).or_insert_with(|| ComponentResult {
            component: component.to_owned(),
            swapped: Vec::new(),
            caught: Vec::new(),
            caught_by: BTreeSet::new(),
        });
        entry.swapped.push(id.clone());
        let failing: Vec<_> = comparison
            .rows
            .iter()
            .filter(|r| &r.scenario == id && r.fails())
            .collect();
        if !failing.is_empty() {
            entry.caught.push(id.clone());
            entry
                .caught_by
                .extend(failing.iter().map(|r| r.metric.clone()));
        }
    }
    Ok((results.into_values().collect(), comparison))
}
