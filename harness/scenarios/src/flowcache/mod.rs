//! The file cache (seed `cache-optimizations.md`): size queries here (`du`-style walk versus the
//! `.size-index` file on generated trees of 1k / 10k / 50k files); lock, batch and metrics below. Also
//! the file-system syscall counts (`syscalls_<kind>`, from the kernel) that the cache scenarios share.

pub mod batch;
pub mod lock;
pub mod metrics;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use components::flowcache::{CacheDir, IndexedSize, SizeStrategy, WalkSize};
use fixtures::datagen::tree::{MtimeSpec, SizeDist, TreeSpec};
use fixtures::probe::syscalls::{SyscallCounter, SyscallCounts, SyscallKind};

use super::LazyTree;
use perfgate::measure;
use perfgate::model::{Claim, ClaimCheck, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry, RunContext, WALL_TIME};

/// Cache sizes (files) the size scenarios run at.
pub const SIZE_SCALES: [usize; 3] = [1_000, 10_000, 50_000];
/// Seed of the generated cache trees.
pub const TREE_SEED: u64 = 0xF10C_AC4E;
const SEED: &str = "cache-optimizations.md";

/// Directory entries one size query visits.
pub const ENTRIES_VISITED: MetricName = MetricName::new("entries_visited");

/// The file-system syscall metrics, one per kind in [`SyscallKind::ALL`]'s order: calls in the
/// counted step.
pub const SYSCALL_METRICS: [MetricName; 7] = [
    MetricName::new("syscalls_open"),
    MetricName::new("syscalls_read"),
    MetricName::new("syscalls_write"),
    MetricName::new("syscalls_sync"),
    MetricName::new("syscalls_rename"),
    MetricName::new("syscalls_stat"),
    MetricName::new("syscalls_unlink"),
];

/// The metric counting `kind`'s calls.
pub fn syscall_metric(kind: SyscallKind) -> MetricName {
    SYSCALL_METRICS[match kind {
        SyscallKind::Open => 0,
        SyscallKind::Read => 1,
        SyscallKind::Write => 2,
        SyscallKind::Sync => 3,
        SyscallKind::Rename => 4,
        SyscallKind::Stat => 5,
        SyscallKind::Unlink => 6,
    }]
}

/// Runs `step` with its file-system system calls counted by kind, by the kernel (the calling thread
/// and threads it starts): an fsync on tmpfs costs no time and moves no counter of ours, but it is
/// counted here. The counts are `None`, with a note on stderr (once), where the kernel does not let
/// us count (no tracefs, no permission, not Linux): the metrics are then left out, not zero. The
/// counters are closed before this returns, so nothing timed afterwards pays for them.
pub fn count_syscalls<T: Send>(
    id: &str,
    step: impl FnOnce() -> T + Send,
) -> Result<(T, Option<SyscallCounts>), String> {
    // On a thread of its own: a syscall tracepoint, once enabled for a thread, slowed that thread's
    // later syscalls 1.8x here (the 10,000-file walk timed 27-32 ms against 15-22 ms) even after the
    // counters were closed. Counting on a thread that then exits keeps the timed thread clean.
    std::thread::scope(|scope| {
        scope
            .spawn(|| count_here(id, step))
            .join()
            .unwrap_or_else(|_| Err(format!("{id}: the counted step panicked")))
    })
}

fn count_here<T>(id: &str, step: impl FnOnce() -> T) -> Result<(T, Option<SyscallCounts>), String> {
    static NOTED: AtomicBool = AtomicBool::new(false);
    match SyscallCounter::new() {
        Ok(counter) => {
            let (out, counts) = counter.count(step).map_err(|e| format!("{id}: {e}"))?;
            Ok((out, Some(counts)))
        }
        Err(e) => {
            if !NOTED.swap(true, Ordering::Relaxed) {
                eprintln!("note: syscalls_* not measured: {e}");
            }
            Ok((step(), None))
        }
    }
}

/// A cache scenario's metrics: its one count, its wall time and, if counted, one exact metric per
/// kind, `syscalls_<kind>` (calls in the counted step).
pub fn step_metrics(
    (name, count): (MetricName, Metric),
    wall: Metric,
    syscalls: Option<&SyscallCounts>,
) -> BTreeMap<String, Metric> {
    let mut m = BTreeMap::from([(name.into(), count), (WALL_TIME.into(), wall)]);
    if let Some(c) = syscalls {
        m.extend(
            c.iter()
                .map(|(kind, n)| (syscall_metric(kind).into(), Metric::count(n, "calls"))),
        );
    }
    m
}

/// A fresh, empty cache with an exact size index, in a scratch directory named `prefix…` that is
/// removed on drop.
fn fresh_cache(prefix: &str) -> Result<(tempfile::TempDir, CacheDir), String> {
    let scratch = super::scratch_dir();
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&scratch)
        .map_err(|e| format!("cannot create a cache under {}: {e}", scratch.display()))?;
    let cache = CacheDir::open(dir.path(), Box::new(IndexedSize)).map_err(|e| e.to_string())?;
    Ok((dir, cache))
}

/// The cache tree of one scale: generated once, shared by the walk and the indexed variant.
pub fn cache_tree_spec(files: usize) -> TreeSpec {
    TreeSpec {
        files,
        depth: 2,
        fan_out: 16,
        sizes: SizeDist::Uniform { min: 0, max: 1024 },
        mtimes: MtimeSpec {
            newest_unix_s: 1_767_225_600,
            spread_s: 30 * 86_400,
        },
    }
}

/// The generated cache directory of `files` files.
pub fn cache_tree(files: usize) -> LazyTree {
    LazyTree::new(cache_tree_spec(files), TREE_SEED)
}

pair_variants! {
    /// Which size strategy a scenario measures.
    pub enum SizeVariant {
        /// `WalkSize`: the `du -sb` original.
        Walk => WalkSize::NAME,
        /// `IndexedSize`: the `.size-index` file.
        Indexed => IndexedSize::NAME,
    }
}

impl SizeVariant {
    fn strategy(self) -> Box<dyn SizeStrategy> {
        match self {
            SizeVariant::Walk => Box::new(WalkSize),
            SizeVariant::Indexed => Box::new(IndexedSize),
        }
    }
}

/// Opens the cache over `root` with `variant`'s strategy, ready to query (an index is built here,
/// outside the measurement, as a long-lived cache would have it).
pub fn open_cache(root: &Path, variant: SizeVariant) -> Result<CacheDir, String> {
    let cache = CacheDir::open(root, variant.strategy()).map_err(|e| e.to_string())?;
    cache.size().map_err(|e| e.to_string())?;
    Ok(cache)
}

/// `flowcache/size/{walk,indexed}/files=N`: one size query on `tree` with `variant`, timed, and
/// the directory entries it visits. `id` names it in errors.
fn size_query(
    id: &str,
    variant: SizeVariant,
    tree: &LazyTree,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let tree = tree.get()?;
    let cache = open_cache(tree.path(), variant)?;

    // Correctness first: a fast wrong answer must not pass as an improvement. This query's
    // file-system calls are counted.
    cache.stats().reset();
    let bytes = cache.size().map_err(|e| e.to_string())?;
    let expected = tree.manifest().total_bytes;
    if bytes != expected {
        return Err(format!(
            "{} reports {bytes} bytes, the tree holds {expected}",
            cache.strategy_name()
        ));
    }
    let visited = cache.stats().entries_visited();

    let samples = measure::sample(ctx.timer, &ctx.plan, || {
        cache.size().map(drop).map_err(|e| e.to_string())
    })?;
    // Counted last: tracepoints slow what runs after them (see `count_syscalls`).
    let (counted, syscalls) = count_syscalls(id, || cache.size())?;
    counted.map_err(|e| e.to_string())?;
    Ok(step_metrics(
        (ENTRIES_VISITED, Metric::count(visited, "entries")),
        samples.into_metric(ctx.plan.confidence),
        syscalls.as_ref(),
    ))
}

/// Registers every cache scenario and claim.
pub fn register(r: &mut Registry) {
    register_size(r);
    lock::register(r);
    batch::register(r);
    metrics::register(r);
}

/// A size scale: `files=N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Files(usize);

impl std::fmt::Display for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "files={}", self.0)
    }
}

/// A size case: the cache tree of its scale, generated on first use and shared by both variants.
struct SizeCase {
    files: Files,
    tree: LazyTree,
}

impl std::fmt::Display for SizeCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.files.fmt(f)
    }
}

/// Registers the cache-size scenarios and claims.
fn register_size(r: &mut Registry) {
    const FAMILY: &str = "flowcache/size";
    let size = r
        .pair(FAMILY, SizeVariant::Walk, SizeVariant::Indexed)
        .cases(SIZE_SCALES.map(|files| SizeCase {
            files: Files(files),
            tree: cache_tree(files),
        }))
        .metrics([ENTRIES_VISITED, WALL_TIME])
        .metrics(SYSCALL_METRICS)
        .measure(|variant, case, ctx| {
            let id = format!("{FAMILY}/{}/{case}", variant.name());
            size_query(&id, variant, &case.tree, ctx)
        });
    let largest = SIZE_SCALES[SIZE_SCALES.len() - 1];
    let claim = |line, text: &str, check| Claim::new(SEED, line, text, check);
    r.claim(claim(
        35,
        "Cache size queries now complete in <10ms vs 50-200ms previously",
        size.after_at_most(Files(largest), WALL_TIME, 10e6),
    ));
    r.claim(claim(
        36,
        "Scales linearly with cache directory size (read as: the du walk it replaces does)",
        ClaimCheck::Exponent {
            family: "flowcache/size/walk".to_owned(),
            metric: WALL_TIME.into(),
            min: 0.8,
            max: 1.2,
        },
    ));
    r.claim(claim(
        166,
        "After: <10ms (consistent regardless of cache size)",
        ClaimCheck::Exponent {
            family: "flowcache/size/indexed".to_owned(),
            metric: WALL_TIME.into(),
            min: -0.2,
            max: 0.2,
        },
    ));
    r.claim(claim(
        167,
        "Improvement: 80-95% faster",
        size.ratio_at_most(Files(largest), WALL_TIME, 0.2),
    ));
}
