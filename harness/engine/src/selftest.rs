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
    /// "After" scenarios not in the baseline yet: not swapped (nothing to compare with) until blessed.
    pub unblessed: Vec<String>,
}

impl ComponentResult {
    /// Caught only when every swapped scenario was flagged.
    pub fn all_caught(&self) -> bool {
        !self.swapped.is_empty() && self.caught.len() == self.swapped.len()
    }

    /// Whether this component fails the selftest: something was swapped and not all of it caught.
    /// A component with no blessed "after" yet does not fail (like `check`, which shows new
    /// scenarios without gating them) but is reported so it gets blessed.
    pub fn failed(&self) -> bool {
        !self.swapped.is_empty() && !self.all_caught()
    }
}

/// Whether a selftest passed: no component failed and at least one swap was caught.
pub fn passed(results: &[ComponentResult]) -> bool {
    results.iter().all(|r| !r.failed()) && results.iter().any(ComponentResult::all_caught)
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
    let (after_ids, unblessed): (BTreeSet<String>, BTreeSet<String>) = chosen
        .iter()
        .filter(|s| matches!(s.role(), Role::After { .. }))
        .map(|s| s.id().to_owned())
        .partition(|id| baseline.scenario(id).is_some());
    let swapped_ctx = RunContext {
        plan: ctx.plan,
        timer: ctx.timer,
        swap_in_before: true,
    };
    let record = scenario::run(&chosen, &[], Suite::Smoke, &swapped_ctx, progress)?;
    let comparison = compare::compare(baseline, &record, config, &|id| after_ids.contains(id));

    let mut results: BTreeMap<&str, ComponentResult> = BTreeMap::new();
    let new_result = |component: &str| ComponentResult {
        component: component.to_owned(),
        swapped: Vec::new(),
        caught: Vec::new(),
        caught_by: BTreeSet::new(),
        unblessed: Vec::new(),
    };
    for id in &unblessed {
        let component = id.split('/').next().unwrap_or_default();
        results
            .entry(component)
            .or_insert_with(|| new_result(component))
            .unblessed
            .push(id.clone());
    }
    for id in &after_ids {
        let component = id.split('/').next().unwrap_or_default();
        let entry = results
            .entry(component)
            .or_insert_with(|| new_result(component));
        entry.swapped.push(id.clone());
        let failing: Vec<_> = comparison
            .rows
            .iter()
            .filter(|r| &r.key.scenario == id && r.fails())
            .collect();
        if !failing.is_empty() {
            entry.caught.push(id.clone());
            entry
                .caught_by
                .extend(failing.iter().map(|r| r.key.metric.clone()));
        }
    }
    Ok((results.into_values().collect(), comparison))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(swapped: &[&str], caught: &[&str], unblessed: &[&str]) -> ComponentResult {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ComponentResult {
            component: "c".to_owned(),
            swapped: own(swapped),
            caught: own(caught),
            caught_by: BTreeSet::new(),
            unblessed: own(unblessed),
        }
    }

    #[test]
    fn a_miss_fails_an_unblessed_component_does_not_and_something_must_be_caught() {
        let caught = result(&["a"], &["a"], &[]);
        let missed = result(&["a", "b"], &["a"], &[]);
        let unblessed = result(&[], &[], &["x"]);
        assert!(passed(&[caught.clone(), unblessed.clone()]));
        assert!(!passed(&[caught, missed.clone()]));
        assert!(missed.failed() && !unblessed.failed());
        assert!(!passed(&[unblessed]), "nothing proven");
    }
}
