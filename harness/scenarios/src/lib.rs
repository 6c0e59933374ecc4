//! This repository's scenarios and claims, handed to the perfgate engine: one module per component,
//! each declaring its before/after pairs at every scale and the seed claims they test. The only crate
//! of the harness that imports `components`, `fixtures` and tokio.

/// A scenario's variant enum and its [`PairVariant`](perfgate::scenario::PairVariant) impl: each
/// variant is written beside its name in the scenario ids (a component's `NAME`, or a string),
/// under its doc comment; the enum derives `Clone`, `Copy`, `Debug`, `PartialEq` and `Eq`.
///
/// ```text
/// pair_variants! {
///     /// Which watcher a scenario measures.
///     pub enum WatchVariant { Polling => PollingWatcher::NAME, Notify => NotifyWatcher::NAME }
/// }
/// ```
macro_rules! pair_variants {
    (
        $(#[$doc:meta])*
        $vis:vis enum $enum:ident {
            $($(#[$variant_doc:meta])* $variant:ident => $name:expr),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $enum {
            $($(#[$variant_doc])* $variant,)+
        }

        impl perfgate::scenario::PairVariant for $enum {
            fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

pub mod cpu;
pub mod flowcache;
pub mod ntpstatus;
pub mod pool;
pub mod ratelimit;
pub mod rulesync;
pub mod timesync;
pub mod watch;

use std::sync::{Arc, Mutex};

use fixtures::datagen::tree::{self, GeneratedTree, TreeSpec};

use perfgate::scenario::Registry;

/// Every scenario and claim perfgate runs.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    flowcache::register(&mut r);
    ntpstatus::register(&mut r);
    timesync::register(&mut r);
    ratelimit::register(&mut r);
    pool::register(&mut r);
    watch::register(&mut r);
    rulesync::register(&mut r);
    r
}

/// A value made on first use and shared: every later call gets the same `Arc`; a failed attempt
/// leaves nothing, so the next call tries again.
struct MadeOnce<T> {
    slot: Mutex<Option<Arc<T>>>,
}

impl<T> MadeOnce<T> {
    const fn new() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }

    /// The value, made by `make` the first time; `what` names it when an earlier `make` panicked.
    fn get(&self, what: &str, make: impl FnOnce() -> Result<T, String>) -> Result<Arc<T>, String> {
        let mut slot = self
            .slot
            .lock()
            .map_err(|_| format!("{what} setup panicked earlier"))?;
        if let Some(v) = slot.as_ref() {
            return Ok(Arc::clone(v));
        }
        let v = Arc::new(make()?);
        *slot = Some(Arc::clone(&v));
        Ok(v)
    }
}

/// A generated file tree, made on first use under [`scratch_dir`] and shared by the scenarios (every
/// variant at one scale measures the same tree) and by the benches.
pub struct LazyTree {
    spec: TreeSpec,
    seed: u64,
    tree: MadeOnce<GeneratedTree>,
}

impl LazyTree {
    /// The tree of `spec` and `seed`, not generated yet.
    pub fn new(spec: TreeSpec, seed: u64) -> Self {
        Self {
            spec,
            seed,
            tree: MadeOnce::new(),
        }
    }

    /// Files the tree holds.
    pub fn files(&self) -> usize {
        self.spec.files
    }

    /// The tree, generating it the first time.
    pub fn get(&self) -> Result<Arc<GeneratedTree>, String> {
        self.tree.get("tree", || {
            tree::generate_under(&scratch_dir(), &self.spec, self.seed).map_err(|e| e.to_string())
        })
    }
}

/// Where scenarios put generated data (file trees): `$PERFGATE_SCRATCH` when set, else `/dev/shm`
/// when it is a directory (RAM: setting up 50,000 files costs no disk I/O and does not slow down as a
/// cloud disk's burst credit runs out), else the system temp dir.
pub fn scratch_dir() -> std::path::PathBuf {
    pick_scratch(
        std::env::var_os("PERFGATE_SCRATCH").map(Into::into),
        std::path::Path::new("/dev/shm"),
    )
}

fn pick_scratch(
    configured: Option<std::path::PathBuf>,
    shm: &std::path::Path,
) -> std::path::PathBuf {
    match configured {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ if shm.is_dir() => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::scenario::Suite;

    #[test]
    fn scratch_prefers_the_configured_dir_then_shm_then_temp() {
        let shm = tempfile::tempdir().expect("tempdir");
        let set = std::path::PathBuf::from("/some/where");
        assert_eq!(pick_scratch(Some(set.clone()), shm.path()), set);
        assert_eq!(pick_scratch(Some("".into()), shm.path()), shm.path());
        assert_eq!(pick_scratch(None, shm.path()), shm.path());
        let gone = shm.path().join("missing");
        assert_eq!(pick_scratch(None, &gone), std::env::temp_dir());
    }

    /// Every registration at once: each claim names registered scenarios and a metric they
    /// declare, and each override in the repository's perfgate.toml a declared metric.
    #[test]
    fn every_claim_and_override_names_registered_scenarios_and_declared_metrics() {
        let r = registry();
        r.validate().expect("the registry is consistent");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../perfgate.toml");
        let config = perfgate::config::GateConfig::load(&path).expect("perfgate.toml");
        r.validate_overrides(&config, &path)
            .expect("every override names a metric");
    }

    /// A claim that does not say "full suite" is checked by every `check`: its scenarios run in
    /// the smoke suite.
    #[test]
    fn claims_outside_the_full_suite_name_smoke_scenarios() {
        use perfgate::model::ClaimCheck;
        let r = registry();
        let smoke = r.ids(Suite::Smoke);
        for c in r.claims().iter().filter(|c| !c.text.contains("full suite")) {
            let named = match &c.check {
                ClaimCheck::AtMost { scenario, .. } => vec![scenario],
                ClaimCheck::RatioAtMost { before, after, .. } => vec![before, after],
                ClaimCheck::Exponent { .. } => Vec::new(),
            };
            for id in named {
                assert!(
                    smoke.contains(&id.as_str()),
                    "{}:{} names {id}, which the smoke suite does not run",
                    c.seed,
                    c.line
                );
            }
        }
    }
}
