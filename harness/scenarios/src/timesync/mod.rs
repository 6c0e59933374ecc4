//! TimeSync (seed `timesync-plan.md`): the sequential and parallel SNTP queries (`query`), the
//! file-timestamp fallback (the original's recursive globs against the targeted scan, on generated
//! trees of 1k, 10k and 50k files), the DNS cache (a lookup per host per attempt against a 30 s TTL
//! cache, in virtual time) and FastDate64 (`fastdate`).

pub mod fastdate;
pub mod query;

use std::collections::BTreeMap;
use std::sync::Arc;

use std::net::SocketAddr;
use std::time::Duration;

use components::timesync::dns::{CachingResolver, Resolver};
use components::timesync::scan::{GlobScan, ORIGINAL_PATTERNS, TargetedScan, TimestampScan};
use fixtures::clock::MockClock;
use fixtures::datagen::tree::{MtimeSpec, SizeDist, TreeSpec};
use fixtures::dns::StubResolver;

use super::LazyTree;
use perfgate::measure;
use perfgate::model::{Claim, ClaimCheck, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry, RunContext, WALL_TIME};

/// Tree sizes (files) the scan scenarios run at.
pub const SCAN_SCALES: [usize; 3] = [1_000, 10_000, 50_000];
/// The largest tree the smoke suite scans (a glob scan of 50k files takes ~0.5 s a sample).
pub const SMOKE_SCAN_MAX: usize = 10_000;
const TREE_SEED: u64 = 0x5CA9_71E5;
/// The seed file the claims quote.
pub const SEED: &str = "timesync-plan.md";

/// Directory entries one fallback scan visits.
pub const ENTRIES_VISITED: MetricName = MetricName::new("entries_visited");
/// Files whose mtime one fallback scan read.
pub const FILES_EXAMINED: MetricName = MetricName::new("files_examined");
/// Lookups that reached the resolver.
pub const RESOLVER_LOOKUPS: MetricName = MetricName::new("resolver_lookups");
/// Time spent in lookups, virtual ns.
pub const LOOKUP_TIME: MetricName = MetricName::new("lookup_time");

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

pair_variants! {
    /// Which scan a scenario measures.
    pub enum ScanVariant {
        /// `GlobScan`: a full walk per pattern per root, the original.
        Glob => "glob",
        /// `TargetedScan`: depth 2, 100 files.
        Targeted => "targeted",
    }
}

/// The scale of a scan: the generated tree both variants scan (`files=N` in ids).
pub struct ScanScale(Arc<LazyTree>);

impl std::fmt::Display for ScanScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "files={}", self.0.files())
    }
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

/// The generated scan tree of `files` files.
pub fn scan_tree(files: usize) -> LazyTree {
    LazyTree::new(scan_tree_spec(files), TREE_SEED)
}

/// `timesync/scan/{glob,targeted}/files=N`: one fallback scan, its entries visited and time.
fn scan_once(
    variant: ScanVariant,
    scale: &ScanScale,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let tree = scale.0.get()?;
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
            ENTRIES_VISITED.into(),
            Metric::count(out.entries_visited, "entries"),
        ),
        (
            FILES_EXAMINED.into(),
            Metric::count(out.files_examined, "files"),
        ),
        (WALL_TIME.into(), samples.into_metric(ctx.plan.confidence)),
    ]))
}

/// The original's default servers.
pub const DEFAULT_HOSTS: [&str; 6] = fixtures::ntp::ORIGINAL_HOSTS;
/// Attempts per host, as the original.
pub const ATTEMPTS: usize = components::timesync::query::ATTEMPTS;
/// Virtual latency of one stub lookup (the seed gives none; a typical uncached recursive lookup).
pub const LOOKUP_LATENCY: Duration = Duration::from_millis(20);
/// Syncs per scenario, 10 s apart: all within the cache's 30 s TTL.
const SYNCS: usize = 3;

pair_variants! {
    /// Whether lookups go through the cache.
    pub enum DnsVariant {
        /// A lookup for every host, every attempt, every sync (the original's getaddrinfo each time).
        Uncached => "uncached",
        /// The same calls through `CachingResolver` (30 s TTL, 100 entries).
        Cached => "cached",
    }
}

/// `timesync/dns/{uncached,cached}/hosts=6,attempts=2`: three syncs 10 s apart, each resolving every
/// host once per attempt; lookups reaching the resolver and virtual time spent in them.
fn dns_syncs(variant: DnsVariant) -> Result<BTreeMap<String, Metric>, String> {
    let clock = Arc::new(MockClock::new());
    let names = DEFAULT_HOSTS.iter().enumerate().map(|(i, h)| {
        let last = u8::try_from(i + 1).unwrap_or(u8::MAX);
        (
            (*h).to_owned(),
            vec![SocketAddr::from(([127, 0, 0, last], 0))],
        )
    });
    let stub = Arc::new(StubResolver::new(names, LOOKUP_LATENCY, clock.clone()));
    let resolver: Box<dyn Resolver> = match variant {
        DnsVariant::Uncached => Box::new(Arc::clone(&stub)),
        DnsVariant::Cached => Box::new(CachingResolver::new(Arc::clone(&stub), clock.clone())),
    };
    let mut in_lookups = Duration::ZERO;
    for _ in 0..SYNCS {
        for host in DEFAULT_HOSTS {
            for _ in 0..ATTEMPTS {
                let before = clock.elapsed();
                let addrs = resolver.resolve(host, 123).map_err(|e| e.to_string())?;
                in_lookups += clock.elapsed() - before;
                if addrs.is_empty() || addrs.iter().any(|a| a.port() != 123) {
                    return Err(format!("{host} resolved to {addrs:?}"));
                }
            }
        }
        clock.advance(Duration::from_secs(10));
    }
    Ok(BTreeMap::from([
        (
            RESOLVER_LOOKUPS.into(),
            Metric::count(stub.total_lookups(), "lookups"),
        ),
        (LOOKUP_TIME.into(), Metric::virtual_ns(in_lookups)),
    ]))
}

/// Registers the TimeSync scenarios and claims.
pub fn register(r: &mut Registry) {
    let dns_scale = format!("hosts={},attempts={ATTEMPTS}", DEFAULT_HOSTS.len());
    let dns = r
        .pair("timesync/dns", DnsVariant::Uncached, DnsVariant::Cached)
        .scales([dns_scale.clone()])
        .metrics([RESOLVER_LOOKUPS, LOOKUP_TIME])
        .measure(|variant, _, _| dns_syncs(variant));
    r.claim(Claim::new(
        SEED,
        108,
        "Expected Impact: 20-40% reduction in DNS lookup time (read as: at least 20 %)",
        dns.ratio_at_most(&dns_scale, LOOKUP_TIME, 0.8),
    ));
    let scan = r
        .pair("timesync/scan", ScanVariant::Glob, ScanVariant::Targeted)
        .cases(SCAN_SCALES.map(|files| ScanScale(Arc::new(scan_tree(files)))))
        .smoke(|_, scale| scale.0.files() <= SMOKE_SCAN_MAX)
        .metrics([ENTRIES_VISITED, FILES_EXAMINED, WALL_TIME])
        .measure(scan_once);
    let at_smoke_max = format!("files={SMOKE_SCAN_MAX}");
    r.claim(Claim::new(
        SEED,
        127,
        "Expected Impact: 90%+ reduction in fallback scan time (read as: at 10k files)",
        scan.ratio_at_most(&at_smoke_max, WALL_TIME, 0.1),
    ));
    r.claim(Claim::new(
        SEED,
        31,
        "Use targeted scanner with limited depth and early cutoff (read as: cost flat in tree \
         size)",
        ClaimCheck::Exponent {
            family: "timesync/scan/targeted".to_owned(),
            metric: ENTRIES_VISITED.into(),
            min: -0.2,
            max: 0.2,
        },
    ));
    query::register(r);
    fastdate::register(r);
}
