//! TimeSync (seed `timesync-plan.md`), the file-timestamp fallback so far: the original's recursive
//! globs against the targeted scan, on generated trees of 2,000 and 20,000 files.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use components::timesync::scan::{GlobScan, ORIGINAL_PATTERNS, TargetedScan, TimestampScan};
use fixtures::datagen::tree::{self, GeneratedTree, MtimeSpec, SizeDist, TreeSpec};

use crate::measure;
use crate::model::{Claim, ClaimCheck, Metric};
use crate::scenario::{Registry, Role, RunContext, Scenario, WALL_TIME};

/// Tree sizes (files) the scan scenarios run at.
pub const SCAN_SCALES: [usize; 2] = [2_000, 20_000];
const TREE_SEED: u64 = 0x5CA9_71E5;
const SEED: &str = "timesync-plan.md";

/// The scanned tree: files one directory down (within the targeted scan's depth), recent mtimes.
pub fn scan_tree_spec(files: usize) -> TreeSpec {
    TreeSpec {
        files,
        depth: 1,
        fan_out: 16,
        sizes: SizeDist::Fixed(0),
        mtimes: MtimeSpec {
            newest_unix_s: 1_767_225_600,
            spread_s: 7 * 86_400,
        },
    }
}

/// The original's patterns with `*.dat` (the generated files) standing in for `*.log`.
fn glob_patterns() -> Vec<&'static str> {
    ORIGINAL_PATTERNS
        .iter()
        .map(|p| if *p == "*.log" { "*.dat" } else { p })
        .collect()
}

/// Which scan a scenario measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanVariant {
    /// `GlobScan`: a full walk per pattern per root, the original.
    Glob,
    /// `TargetedScan`: depth 2, 100 files.
    Targeted,
}

impl ScanVariant {
    /// The variant as it appears in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::Glob => "glob",
            Self::Targeted => "targeted",
        }
    }
}

/// The scenario id for a variant and scale.
pub fn scan_id(variant: ScanVariant, files: usize) -> String {
    format!("timesync/scan/{}/files={files}", variant.name())
}

/// The scan of `variant` over `root`: the setup the scenarios and benches share.
pub fn scan_for(
    variant: ScanVariant,
    root: &std::path::Path,
) -> Result<Box<dyn TimestampScan>, String> {
    Ok(match variant {
        ScanVariant::Glob => Box::new(
            GlobScan::new(vec![root.to_path_buf()], &glob_patterns()).map_err(|e| e.to_string())?,
        ),
        ScanVariant::Targeted => Box::new(TargetedScan::new(Vec::new(), vec![root.to_path_buf()])),
    })
}

struct LazyScanTree {
    files: usize,
    tree: Mutex<Option<Arc<GeneratedTree>>>,
}

impl LazyScanTree {
    fn get(&self) -> Result<Arc<GeneratedTree>, String> {
        let mut slot = self
            .tree
            .lock()
            .map_err(|_| "scan tree setup panicked earlier".to_owned())?;
        if let Some(t) = slot.as_ref() {
            return Ok(Arc::clone(t));
        }
        let t = Arc::new(
            tree::generate_under(
                &super::scratch_dir(),
                &scan_tree_spec(self.files),
                TREE_SEED,
            )
            .map_err(|e| e.to_string())?,
        );
        *slot = Some(Arc::clone(&t));
        Ok(t)
    }
}

/// `timesync/scan/{glob,targeted}/files=N`: one fallback scan, its entries visited and time.
struct ScanScenario {
    id: String,
    variant: ScanVariant,
    tree: Arc<LazyScanTree>,
}

impl Scenario for ScanScenario {
    fn id(&self) -> &str {
        &self.id
    }

    fn role(&self) -> Role {
        match self.variant {
            ScanVariant::Glob => Role::Before,
            ScanVariant::Targeted => Role::After {
                before: scan_id(ScanVariant::Glob, self.tree.files),
            },
        }
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
        let tree = self.tree.get()?;
        let variant = if ctx.swap_in_before {
            ScanVariant::Glob
        } else {
            self.variant
        };
        let scan = scan_for(variant, tree.path())?;
        let out = scan.scan();
        // Correctness: the full scan finds the newest mtime; the bounded one finds a plausible
        // lower bound of it (it stops after 100 files: that is its point).
        let newest = tree.manifest().files.iter().map(|f| f.mtime_unix_s).max();
        match (variant, out.newest_unix_s) {
            (ScanVariant::Glob, got) if got == newest => {}
            (ScanVariant::Targeted, Some(got)) if newest.is_some_and(|n| got <= n) => {}
            (_, got) => {
                return Err(format!(
                    "{} scan answered {got:?}, the tree's newest mtime is {newest:?}",
                    variant.name()
                ));
            }
        }
        let samples = measure::sample(ctx.timer, &ctx.plan, || {
            std::hint::black_box(scan.scan());
            Ok::<(), String>(())
        })?;
        Ok(BTreeMap::from([
            (
                "entries_visited".to_owned(),
                Metric::count(out.entries_visited, "entries"),
            ),
            (
                "files_examined".to_owned(),
                Metric::count(out.files_examined, "files"),
            ),
            (
                WALL_TIME.to_owned(),
                samples.into_metric(ctx.plan.confidence),
            ),
        ]))
    }
}

/// Registers the TimeSync scenarios and claims.
pub fn register(r: &mut Registry) {
    for files in SCAN_SCALES {
        let tree = Arc::new(LazyScanTree {
            files,
            tree: Mutex::new(None),
        });
        for variant in [ScanVariant::Glob, ScanVariant::Targeted] {
            r.add(ScanScenario {
                id: scan_id(variant, files),
                variant,
                tree: Arc::clone(&tree),
            });
        }
    }
    let largest = SCAN_SCALES[SCAN_SCALES.len() - 1];
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 127,
        text: "Expected Impact: 90%+ reduction in fallback scan time".to_owned(),
        check: ClaimCheck::RatioAtMost {
            before: scan_id(ScanVariant::Glob, largest),
            after: scan_id(ScanVariant::Targeted, largest),
            metric: WALL_TIME.to_owned(),
            max: 0.1,
        },
    });
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 31,
        text: "Use targeted scanner with limited depth and early cutoff (read as: cost flat in \
               tree size)"
            .to_owned(),
        check: ClaimCheck::Exponent {
            family: "timesync/scan/targeted".to_owned(),
            metric: "entries_visited".to_owned(),
            min: -0.2,
            max: 0.2,
        },
    });
}
