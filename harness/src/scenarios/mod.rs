//! The concrete scenarios and claims: one module per component, each registering its before/after
//! scenarios at every scale and the seed claims they test. The only part of the harness that imports
//! `components` and `fixtures`.

pub mod flowcache;

use crate::scenario::Registry;

/// Every scenario and claim perfgate runs.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    flowcache::register(&mut r);
    r
}
