//! Rule sync (seed `rulesync-performance-guide.md`): the original sequential sync (a client per call)
//! against the pooled one, over generated folder files of 10k/20k/50k hostnames.
//!
//! `rulesync/sync/*` run against the simulated API served on 127.0.0.1 (real TCP, real latency):
//! wall time, requests by method, TCP connections, clients, peak heap; each also replays the sync in
//! process under tokio's paused clock for an exact virtual sync time. `rulesync/{storm,faults,push}`
//! run in virtual time only (a 429 storm's waits are seconds long; virtual time makes them free and
//! exact).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use components::rulesync::{
    Endpoint, PooledSync, ReqwestConnector, RuleSync, SequentialSync, SyncConfig, SyncReport, dedup,
};
use fixtures::controld::{ApiBehaviour, Budget, SimulatedApi};
use fixtures::datagen::rules::{self, RuleSet, RuleSetSpec};

use super::MadeOnce;
use perfgate::measure::{self, SamplingPlan};
use perfgate::model::{Claim, ClaimCheck, Direction, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry, RunContext, WALL_TIME};

const SEED: &str = "rulesync-performance-guide.md";
const RULES_SEED: u64 = 0xC7_21D5;
const PROFILE: &str = "perfgate";
const TOKEN: &str = "perfgate-token";

/// Rule-set sizes (hostnames over all folder files) of the sync scenarios.
pub const SCALES: [usize; 3] = [10_000, 20_000, 50_000];
/// Per-request latencies (ms) of the simulated API in the sync scenarios.
pub const LATENCIES_MS: [u64; 2] = [0, 20];

/// Requests beyond a push per 500 new hostnames of each folder plus the fixed calls.
pub const REQUESTS_OVER_MINIMUM: MetricName = MetricName::new("requests_over_minimum");
/// Sync time under tokio's paused clock, in process (exact).
pub const SYNC_TIME_VIRTUAL: MetricName = MetricName::new("sync_time_virtual");
/// Push-stage time under tokio's paused clock, in process (exact).
pub const PUSH_TIME_VIRTUAL: MetricName = MetricName::new("push_time_virtual");
/// Peak heap growth of the process during one sync (client and simulated server), bytes.
pub const PEAK_HEAP: MetricName = MetricName::new("peak_heap");

/// GET requests the API served.
pub const REQUESTS_GET: MetricName = MetricName::new("requests_get");
/// POST requests the API served.
pub const REQUESTS_POST: MetricName = MetricName::new("requests_post");
/// DELETE requests the API served.
pub const REQUESTS_DELETE: MetricName = MetricName::new("requests_delete");
/// Requests in all.
pub const REQUESTS_TOTAL: MetricName = MetricName::new("requests_total");
/// API calls per 1,000 rules synced.
pub const CALLS_PER_1000_RULES: MetricName = MetricName::new("calls_per_1000_rules");
/// TCP connections the API accepted.
pub const TCP_CONNECTIONS: MetricName = MetricName::new("tcp_connections");
/// HTTP clients the sync built.
pub const HTTP_CLIENTS: MetricName = MetricName::new("http_clients");
/// Rules pushed.
pub const PUSHED_RULES: MetricName = MetricName::new("pushed_rules");
/// 1 when the sync completed (higher is better).
pub const COMPLETED: MetricName = MetricName::new("completed");
/// Rules of the set missing on the API afterwards.
pub const LOST_RULES: MetricName = MetricName::new("lost_rules");
/// Rules the API holds twice afterwards.
pub const DUPLICATED_RULES: MetricName = MetricName::new("duplicated_rules");
/// Requests retried.
pub const RETRIES: MetricName = MetricName::new("retries");
/// 429 answers.
pub const THROTTLED: MetricName = MetricName::new("throttled");
/// 5xx answers.
pub const SERVER_ERRORS: MetricName = MetricName::new("server_errors");

/// How the perfgate binary reads its counting allocator (the library cannot own the global one).
#[derive(Clone, Copy, Debug)]
pub struct HeapProbe {
    /// Bytes allocated now.
    pub current: fn() -> usize,
    /// Most bytes allocated at once since the last reset.
    pub peak: fn() -> usize,
    /// Starts a new peak from the current usage.
    pub reset_peak: fn(),
}

static HEAP: OnceLock<HeapProbe> = OnceLock::new();

/// Installs the heap probe (once; the perfgate binary does it at start). Without one the sync
/// scenarios report no `peak_heap`.
pub fn set_heap_probe(probe: HeapProbe) {
    let _ = HEAP.set(probe);
}

pair_variants! {
    /// Which sync a scenario runs.
    pub enum Variant {
        /// `SequentialSync`: a client per call, every step in turn.
        Sequential => SequentialSync::NAME,
        /// `PooledSync`: one client, bounded concurrent workers.
        Pooled => PooledSync::NAME,
    }
}

impl Variant {
    fn sync(
        self,
        endpoint: Endpoint,
        connector: Arc<dyn components::rulesync::Connector>,
    ) -> Box<dyn RuleSync> {
        let config = SyncConfig::new(endpoint);
        match self {
            Self::Sequential => Box::new(SequentialSync::new(config, connector)),
            Self::Pooled => Box::new(PooledSync::new(config, connector)),
        }
    }
}

/// The standard rule set of `rules` hostnames the sync scenarios use (fixed seed): the benches'
/// setup too.
pub fn standard_rules(rules: usize) -> Result<RuleSet, String> {
    rules::generate(&RuleSetSpec::standard(rules), RULES_SEED).map_err(|e| e.to_string())
}

/// The CPU-bound part of a sync on its own, for the benches: `variant`'s dedup and validation of
/// every folder of `set` against its kept folders' rules. The new hostnames, per folder.
pub fn dedup_all(variant: Variant, set: &RuleSet) -> Result<Vec<Vec<String>>, String> {
    let existing: std::collections::HashSet<String> = set
        .kept
        .iter()
        .flat_map(|f| f.hostnames.iter().cloned())
        .collect();
    let mut dropped = dedup::Dropped::default();
    match variant {
        Variant::Sequential => {
            let mut added = std::collections::HashSet::new();
            set.folders
                .iter()
                .map(|f| {
                    dedup::new_validating_first(&f.hostnames, &existing, &mut added, &mut dropped)
                        .map_err(|e| e.to_string())
                })
                .collect()
        }
        Variant::Pooled => {
            let mut added = std::collections::HashSet::new();
            Ok(set
                .folders
                .iter()
                .map(|f| dedup::new_known_first(&f.hostnames, &existing, &mut added, &mut dropped))
                .collect())
        }
    }
}

/// A generated rule set, made on first use and shared by the variants.
pub struct LazyRules {
    spec: RuleSetSpec,
    set: MadeOnce<RuleSet>,
}

impl LazyRules {
    /// The set of `spec` (seeded), not generated yet.
    pub fn new(spec: RuleSetSpec) -> Self {
        Self {
            spec,
            set: MadeOnce::new(),
        }
    }

    /// The set, generating it the first time.
    pub fn get(&self) -> Result<Arc<RuleSet>, String> {
        self.set.get("rule set", || {
            rules::generate(&self.spec, RULES_SEED).map_err(|e| e.to_string())
        })
    }
}

/// Puts the profile's starting folders into `api` and serves the folder files; returns their paths.
fn load(api: &SimulatedApi, set: &RuleSet) -> Vec<String> {
    reset_profile(api, set);
    set.folders.iter().map(|f| api.add_folder_file(f)).collect()
}

fn reset_profile(api: &SimulatedApi, set: &RuleSet) {
    api.clear_store();
    for f in set.kept.iter().chain(&set.replaced) {
        api.seed_folder(PROFILE, f);
    }
}

fn endpoint(api_base: String) -> Endpoint {
    Endpoint {
        api_base,
        profile: PROFILE.to_owned(),
        token: TOKEN.to_owned(),
    }
}

/// Hostnames missing from their folder and hostnames pushed twice, after a sync.
fn lost_and_duplicated(api: &SimulatedApi, set: &RuleSet) -> (u64, u64) {
    let folders = api.folders(PROFILE);
    let lost: usize = set
        .folders
        .iter()
        .zip(set.expected_new())
        .map(|(f, want)| {
            let got: std::collections::HashSet<&str> = folders
                .iter()
                .filter(|s| s.name == f.name)
                .flat_map(|s| s.rules.iter().map(String::as_str))
                .collect();
            want.iter().filter(|h| !got.contains(h.as_str())).count()
        })
        .sum();
    (lost as u64, api.duplicate_rules())
}

/// The minimum requests of a correct sync: files, list, deletes, reads of kept folders, creates,
/// and a push per 500 new hostnames of each folder.
fn minimum_requests(set: &RuleSet) -> u64 {
    let f = set.folders.len();
    (f + 1 + set.replaced.len() + set.kept.len() + f + set.expected_batches()) as u64
}

/// Runs `variant` once in process on a paused clock against an API behaving as `behaviour`.
fn run_virtual(
    variant: Variant,
    set: &RuleSet,
    behaviour: ApiBehaviour,
) -> Result<(SyncReport, SimulatedApi), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let api = SimulatedApi::new(ApiBehaviour {
        token: Some(TOKEN.to_owned()),
        ..behaviour
    });
    let client = api.in_process();
    let urls: Vec<String> = load(&api, set)
        .into_iter()
        .map(|p| format!("{}{p}", fixtures::controld::IN_PROCESS_BASE))
        .collect();
    let sync = variant.sync(endpoint(client.api_base()), Arc::new(client));
    let report = rt
        .block_on(sync.sync(&urls))
        .map_err(|e| format!("{} sync: {e}", variant.name()))?;
    Ok((report, api))
}

/// The sync scenarios' sampling plan: each sync is a whole run of the tool (0.1-3 s), so a few,
/// after the counted one. Three in the smoke suite: against the 20 ms simulated latency the syncs
/// are the quietest wall times measured here (pair-to-pair spread 0.3-0.5 % in
/// baselines/power.json), and the sequential one takes 0.67 s a sync; five made them 30 % of
/// `check`.
fn sync_plan(ctx: &RunContext<'_>) -> SamplingPlan {
    let n = if ctx.plan == SamplingPlan::SMOKE {
        3
    } else {
        10
    };
    SamplingPlan {
        warm_up: Duration::ZERO,
        budget: Duration::ZERO,
        min_samples: n,
        max_samples: n,
        ..ctx.plan
    }
}

/// `rulesync/sync/{variant}/rules=N,latency=Lms`: a full sync of `set` by `variant` against the API
/// on loopback answering after `latency_ms`.
fn sync_on_loopback(
    variant: Variant,
    set: &LazyRules,
    latency_ms: u64,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let set = set.get()?;
    let behaviour = ApiBehaviour {
        token: Some(TOKEN.to_owned()),
        latency: Duration::from_millis(latency_ms),
        ..ApiBehaviour::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let api = SimulatedApi::new(behaviour.clone());
    let server = rt
        .block_on(api.serve())
        .map_err(|e| format!("cannot serve the simulated API: {e}"))?;
    let urls: Vec<String> = load(&api, &set)
        .into_iter()
        .map(|p| format!("{}{p}", server.base_url()))
        .collect();
    let sync = variant.sync(
        endpoint(server.api_base()),
        Arc::new(ReqwestConnector::default()),
    );

    // One counted sync: requests, connections, heap.
    reset_profile(&api, &set);
    let heap = HEAP.get().copied();
    let heap_start = heap.map(|h| {
        (h.reset_peak)();
        (h.current)()
    });
    let report = rt
        .block_on(sync.sync(&urls))
        .map_err(|e| format!("{} sync: {e}", variant.name()))?;
    let peak = heap
        .zip(heap_start)
        .map(|(h, start)| (h.peak)().saturating_sub(start));
    let (lost, duplicated) = lost_and_duplicated(&api, &set);
    if lost > 0 || duplicated > 0 {
        return Err(format!(
            "{} sync lost {lost} and duplicated {duplicated} hostnames",
            variant.name()
        ));
    }
    let get = api.requests_by_method("GET");
    let post = api.requests_by_method("POST");
    let delete = api.requests_by_method("DELETE");
    let total = get + post + delete;
    let connections = api.connections();

    // The counted sync was the warm-up; now the timed ones, each from the same starting state.
    let plan = sync_plan(ctx);
    let mut ns = Vec::with_capacity(plan.max_samples);
    for _ in 0..plan.max_samples {
        reset_profile(&api, &set);
        let t0 = ctx.timer.elapsed();
        rt.block_on(sync.sync(&urls))
            .map_err(|e| format!("{} sync: {e}", variant.name()))?;
        ns.push(ctx.timer.elapsed().saturating_sub(t0).as_nanos() as f64);
    }
    let samples = measure::Samples {
        ns_per_iter: ns,
        batch: 1,
    };
    drop(server);

    let (virt, _) = run_virtual(variant, &set, behaviour)?;
    let mut m = BTreeMap::from([
        (WALL_TIME.into(), samples.into_metric(ctx.plan.confidence)),
        (REQUESTS_GET.into(), Metric::count(get, "requests")),
        (REQUESTS_POST.into(), Metric::count(post, "requests")),
        (REQUESTS_DELETE.into(), Metric::count(delete, "requests")),
        (REQUESTS_TOTAL.into(), Metric::count(total, "requests")),
        (
            REQUESTS_OVER_MINIMUM.into(),
            Metric::count(total.saturating_sub(minimum_requests(&set)), "requests"),
        ),
        (
            CALLS_PER_1000_RULES.into(),
            super::cpu::exact_rate(report.calls_per_1000_rules(), "calls"),
        ),
        (
            TCP_CONNECTIONS.into(),
            Metric::count(connections, "connections"),
        ),
        (
            HTTP_CLIENTS.into(),
            Metric::count(report.calls.clients, "clients"),
        ),
        (PUSHED_RULES.into(), Metric::count(report.pushed, "rules")),
        (
            SYNC_TIME_VIRTUAL.into(),
            Metric::virtual_ns(virt.stages.total()),
        ),
        (
            PUSH_TIME_VIRTUAL.into(),
            Metric::virtual_ns(virt.stages.push),
        ),
    ]);
    if let Some(p) = peak {
        m.insert(PEAK_HEAP.into(), Metric::count(p as u64, "bytes"));
    }
    Ok(m)
}

/// `rulesync/{storm,faults,push}/…`: one sync of `set` by `variant` in virtual time against an API
/// behaving as `behaviour`; completion, retries, nothing lost or duplicated, virtual times.
fn sync_in_virtual_time(
    variant: Variant,
    set: &LazyRules,
    behaviour: ApiBehaviour,
) -> Result<BTreeMap<String, Metric>, String> {
    let set = set.get()?;
    let (report, api) = run_virtual(variant, &set, behaviour)?;
    let (lost, duplicated) = lost_and_duplicated(&api, &set);
    Ok(BTreeMap::from([
        (
            COMPLETED.into(),
            Metric {
                direction: Direction::HigherIsBetter,
                ..Metric::count(1, "syncs")
            },
        ),
        (LOST_RULES.into(), Metric::count(lost, "rules")),
        (DUPLICATED_RULES.into(), Metric::count(duplicated, "rules")),
        (
            RETRIES.into(),
            Metric::count(report.calls.retries, "retries"),
        ),
        (
            THROTTLED.into(),
            Metric::count(report.calls.throttled, "responses"),
        ),
        (
            SERVER_ERRORS.into(),
            Metric::count(report.calls.server_errors, "responses"),
        ),
        (
            REQUESTS_TOTAL.into(),
            Metric::count(report.calls.total(), "requests"),
        ),
        (
            HTTP_CLIENTS.into(),
            Metric::count(report.calls.clients, "clients"),
        ),
        (
            SYNC_TIME_VIRTUAL.into(),
            Metric::virtual_ns(report.stages.total()),
        ),
        (
            PUSH_TIME_VIRTUAL.into(),
            Metric::virtual_ns(report.stages.push),
        ),
    ]))
}

/// A sync scale: `rules=N,latency=Lms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SyncScale {
    rules: usize,
    latency_ms: u64,
}

impl std::fmt::Display for SyncScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rules={},latency={}ms", self.rules, self.latency_ms)
    }
}

/// A sync case: its scale and its rule set, generated on first use and shared by both variants
/// and both latencies.
struct SyncCase {
    scale: SyncScale,
    set: Arc<LazyRules>,
}

impl std::fmt::Display for SyncCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.scale.fmt(f)
    }
}

/// Registers the rule sync scenarios and claims.
pub fn register(r: &mut Registry) {
    let sets: Vec<(usize, Arc<LazyRules>)> = SCALES
        .iter()
        .map(|&n| (n, Arc::new(LazyRules::new(RuleSetSpec::standard(n)))))
        .collect();
    let cases = sets.iter().flat_map(|(rules, set)| {
        LATENCIES_MS.map(|latency_ms| SyncCase {
            scale: SyncScale {
                rules: *rules,
                latency_ms,
            },
            set: Arc::clone(set),
        })
    });
    let sync = r
        .pair("rulesync/sync", Variant::Sequential, Variant::Pooled)
        .cases(cases)
        .smoke(|_, case| case.scale.rules == SCALES[0] && case.scale.latency_ms == 20)
        .metrics([
            WALL_TIME,
            REQUESTS_GET,
            REQUESTS_POST,
            REQUESTS_DELETE,
            REQUESTS_TOTAL,
            REQUESTS_OVER_MINIMUM,
            CALLS_PER_1000_RULES,
            TCP_CONNECTIONS,
            HTTP_CLIENTS,
            PUSHED_RULES,
            SYNC_TIME_VIRTUAL,
            PUSH_TIME_VIRTUAL,
            PEAK_HEAP,
        ])
        .measure(|variant, case, ctx| {
            sync_on_loopback(variant, &case.set, case.scale.latency_ms, ctx)
        });

    let mut in_virtual_time = |family: &str,
                               scale: String,
                               set: &Arc<LazyRules>,
                               behaviour: ApiBehaviour| {
        let set = Arc::clone(set);
        r.pair(family, Variant::Sequential, Variant::Pooled)
            .scales([scale])
            .metrics([
                COMPLETED,
                LOST_RULES,
                DUPLICATED_RULES,
                RETRIES,
                THROTTLED,
                SERVER_ERRORS,
                REQUESTS_TOTAL,
                HTTP_CLIENTS,
                SYNC_TIME_VIRTUAL,
                PUSH_TIME_VIRTUAL,
            ])
            .measure(move |variant, _, _| sync_in_virtual_time(variant, &set, behaviour.clone()))
    };
    let latency = Duration::from_millis(20);
    let first = &sets[0].1;
    let push_scale = "rules=2000,latency=100ms";
    let push = in_virtual_time(
        "rulesync/push",
        push_scale.to_owned(),
        &Arc::new(LazyRules::new(RuleSetSpec::clean(2_000))),
        ApiBehaviour {
            latency: Duration::from_millis(100),
            ..ApiBehaviour::default()
        },
    );
    in_virtual_time(
        "rulesync/storm",
        format!("rules={},budget=5per1s", SCALES[0]),
        first,
        ApiBehaviour {
            latency,
            budget: Some(Budget {
                requests: 5,
                window: Duration::from_secs(1),
            }),
            ..ApiBehaviour::default()
        },
    );
    in_virtual_time(
        "rulesync/faults",
        format!("rules={},errors=5pct", SCALES[0]),
        first,
        ApiBehaviour {
            latency,
            fault_rate: 0.05,
            fault_seed: 0xFA_0175,
            faults_after_apply: true,
            ..ApiBehaviour::default()
        },
    );

    r.claim(Claim::new(
        SEED,
        13,
        "Rule batch pushing (3 workers); its authors measured 2,000 rules at 100 ms latency: \
         0.4 s -> 0.2 s (read as: push time at most 0.55 of the sequential one)",
        push.ratio_at_most(push_scale, PUSH_TIME_VIRTUAL, 0.55),
    ));
    r.claim(Claim::new(
        SEED,
        127,
        "Target metric: Calls per 1,000 rules processed (read as: requests = a push per 500 new \
         unique hostnames of each folder plus the fixed calls, none more)",
        sync.after_at_most(
            SyncScale {
                rules: SCALES[0],
                latency_ms: 20,
            },
            REQUESTS_OVER_MINIMUM,
            0.0,
        ),
    ));
    r.claim(Claim::new(
        SEED,
        244,
        "Memory footprint: Maintain or reduce (especially for 50k+ rules) (read as: peak heap at \
         most linear in the rules, exponent <= 1.1, latency 0 ms)",
        ClaimCheck::Exponent {
            family: "rulesync/sync/pooled/latency=0ms".to_owned(),
            metric: PEAK_HEAP.into(),
            min: 0.0,
            max: 1.1,
        },
    ));
    r.claim(Claim::new(
        SEED,
        244,
        "Memory footprint (especially for 50k+ rules) (read as: peak heap during a 50k sync, \
         client and simulated server together, under 64 MiB; full suite)",
        sync.after_at_most(
            SyncScale {
                rules: SCALES[2],
                latency_ms: 0,
            },
            PEAK_HEAP,
            64.0 * 1024.0 * 1024.0,
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::measure::RealTimer;

    #[test]
    fn the_benches_dedup_gives_what_a_correct_sync_pushes_for_both_variants() {
        let set = standard_rules(10_000).expect("rule set");
        let want = set.expected_new();
        assert!(want.iter().map(Vec::len).sum::<usize>() > 5_000);
        assert_eq!(dedup_all(Variant::Sequential, &set).expect("dedup"), want);
        assert_eq!(dedup_all(Variant::Pooled, &set).expect("dedup"), want);
    }

    fn run(id: &str, swap: bool) -> BTreeMap<String, Metric> {
        let r = crate::registry();
        let s = r.scenarios().find(|s| s.id() == id).expect("registered");
        let timer = RealTimer::new();
        s.run(&RunContext {
            plan: SamplingPlan::SMOKE,
            timer: &timer,
            swap_in_before: swap,
        })
        .expect("runs")
    }

    fn value(m: &BTreeMap<String, Metric>, name: MetricName) -> f64 {
        m[name.as_str()].value.as_f64()
    }

    #[test]
    fn the_authors_push_case_halves_with_3_workers_and_the_swap_shows() {
        let seq = run("rulesync/push/sequential/rules=2000,latency=100ms", false);
        let pooled = run("rulesync/push/pooled/rules=2000,latency=100ms", false);
        assert_eq!(value(&seq, PUSH_TIME_VIRTUAL), 400e6);
        assert_eq!(value(&pooled, PUSH_TIME_VIRTUAL), 200e6);
        let swapped = run("rulesync/push/pooled/rules=2000,latency=100ms", true);
        assert_eq!(value(&swapped, PUSH_TIME_VIRTUAL), 400e6);
    }

    #[test]
    fn storms_and_faults_lose_and_duplicate_nothing() {
        for id in [
            "rulesync/storm/sequential/rules=10000,budget=5per1s",
            "rulesync/storm/pooled/rules=10000,budget=5per1s",
            "rulesync/faults/sequential/rules=10000,errors=5pct",
            "rulesync/faults/pooled/rules=10000,errors=5pct",
        ] {
            let m = run(id, false);
            assert_eq!(value(&m, LOST_RULES), 0.0);
            assert_eq!(value(&m, DUPLICATED_RULES), 0.0);
            assert!(value(&m, RETRIES) > 0.0, "{id}");
        }
    }
}
