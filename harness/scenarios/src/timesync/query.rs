//! SNTP sync, sequential vs parallel (seed `timesync-plan.md`, phases 1 and 2): the original's six
//! hosts simulated by `fixtures::ntp::SimNet` in tokio's paused time (clean, 30 % loss, one dead
//! host, +/- 1 h wall-clock steps), and on real loopback UDP servers in wall time (full suite).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use components::clock::{Clock, SystemClock};
use components::timesync::query::{
    NtpTransport, ParallelQuery, SequentialQuery, Server, SntpQuery, SyncConfig, SyncReport,
};
use components::timesync::udp::UdpTransport;
use fixtures::clock::TokioClock;
use fixtures::dns::StubResolver;
use fixtures::ntp::{
    ADDRESSES_PER_HOST, Behaviour, OFFSETS_MS, ORIGINAL_DELAYS_MS, ORIGINAL_HOSTS, ServerSpec,
    UdpServer, original_hosts,
};

use super::SEED;
use perfgate::measure;
use perfgate::model::{Claim, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry, RunContext, WALL_TIME};

/// Seed of the simulated network's loss and jitter.
pub const NET_SEED: u64 = 0x0005_4E7F;
/// Where in an undisturbed sync (percent of its duration) the jump scenario steps the wall clock,
/// each once forward and once back by an hour: 8 syncs.
pub const JUMP_AT_PERCENT: [u32; 4] = [1, 25, 50, 75];
/// The wall-clock step.
pub const JUMP: Duration = Duration::from_secs(3600);
/// The loopback servers answer after the simulated delays divided by this (5-15 ms), so a full-suite
/// sample of the sequential query takes about 0.2 s instead of 2 s.
pub const LOOPBACK_SCALE_DOWN: u32 = 10;

/// One sync from start to its answer, virtual ns.
pub const SYNC_TIME: MetricName = MetricName::new("sync_time");
/// SNTP requests sent in one sync.
pub const PACKETS_SENT: MetricName = MetricName::new("packets_sent");
/// Name lookups in one sync.
pub const DNS_LOOKUPS: MetricName = MetricName::new("dns_lookups");
/// Syncs of 8 whose answer was more than 1 ms off (a clock jump mid-sync).
pub const WRONG_RESULTS: MetricName = MetricName::new("wrong_results");
/// The largest error of those syncs' answers, ms.
pub const WORST_ERROR_MS: MetricName = MetricName::new("worst_error_ms");

pair_variants! {
    /// Which query a scenario measures.
    pub enum QueryVariant {
        /// `SequentialQuery`: the original.
        Sequential => "sequential",
        /// `ParallelQuery`.
        Parallel => "parallel",
    }
}

/// The network a sync runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Situation {
    /// Every server answers after its delay.
    Clean,
    /// Every request is lost with probability 0.3 (seeded).
    Loss30,
    /// time.google.com (the fastest) never answers.
    Dead1,
    /// Clean, with the wall clock stepped an hour mid-sync.
    Jump,
    /// Real UDP servers on 127.0.0.1, real time (full suite).
    Loopback,
}

impl Situation {
    /// The situation as it appears in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Loss30 => "loss30",
            Self::Dead1 => "dead1",
            Self::Jump => "jump",
            Self::Loopback => "loopback",
        }
    }

    /// Host `h`'s address `a` in this situation.
    fn spec(self, h: usize, _a: usize, spec: ServerSpec) -> ServerSpec {
        match self {
            Self::Loss30 => spec.loss(0.3),
            Self::Dead1 if h == 0 => spec.behaving(Behaviour::Dead),
            _ => spec,
        }
    }
}

/// The situation is the last segment of a query scenario's id.
impl std::fmt::Display for Situation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The original's configuration for the six hosts: 2 attempts, 3 s timeout, 6 s deadline.
pub fn config() -> SyncConfig {
    SyncConfig::new(ORIGINAL_HOSTS.iter().map(|h| Server::new(*h)).collect())
}

/// One sync of `variant` (a fresh query: the parallel one's cache starts empty).
async fn sync_with<T: NtpTransport>(
    variant: QueryVariant,
    transport: T,
    resolver: Arc<StubResolver>,
    clock: Arc<dyn Clock>,
) -> SyncReport {
    match variant {
        QueryVariant::Sequential => {
            SequentialQuery::new(transport, resolver, clock, config())
                .sync()
                .await
        }
        QueryVariant::Parallel => {
            ParallelQuery::new(transport, resolver, clock, config())
                .sync()
                .await
        }
    }
}

/// What one simulated sync gave.
#[derive(Debug)]
pub struct Simulated {
    /// The query's report.
    pub report: SyncReport,
    /// Requests the simulated servers received.
    pub packets: u64,
    /// Lookups the stub resolver answered.
    pub lookups: u64,
}

fn paused_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))
}

/// One sync of `variant` against the six simulated hosts in `situation`, in paused (virtual) time,
/// with the wall clock stepped by `jump` (forward when its flag is set) at the given moment.
pub fn simulate(
    variant: QueryVariant,
    situation: Situation,
    jump: Option<(Duration, bool)>,
) -> Result<Simulated, String> {
    paused_runtime()?.block_on(async {
        let clock = Arc::new(TokioClock::new());
        let net = Arc::new(original_hosts(Arc::clone(&clock), NET_SEED, |h, a, s| {
            situation.spec(h, a, s)
        }));
        let stub = Arc::new(net.resolver());
        if let Some((at, forward)) = jump {
            clock.jump_wall_after(at, JUMP, forward);
        }
        let report = sync_with(variant, Arc::clone(&net), Arc::clone(&stub), clock).await;
        Ok(Simulated {
            report,
            packets: net.packets_sent(),
            lookups: stub.total_lookups(),
        })
    })
}

/// The jump runs: for each moment in [`JUMP_AT_PERCENT`] of the undisturbed sync, a step forward and
/// one back. A run is wrong when its best sample's delay or offset differs from the undisturbed
/// sync's by more than 1 ms, or it has none. Returns (wrong runs, worst error, the undisturbed sync).
pub fn jump_runs(variant: QueryVariant) -> Result<(u64, Duration, Simulated), String> {
    let calm = simulate(variant, Situation::Jump, None)?;
    let truth = calm
        .report
        .best
        .clone()
        .map_err(|e| format!("the undisturbed {} sync failed: {e}", variant.name()))?;
    let (mut wrong, mut worst) = (0, 0_u64);
    for pct in JUMP_AT_PERCENT {
        let at = calm.report.elapsed * pct / 100;
        for forward in [true, false] {
            let run = simulate(variant, Situation::Jump, Some((at, forward)))?;
            let error = match &run.report.best {
                Ok(b) => (b.offset_ns - truth.offset_ns)
                    .unsigned_abs()
                    .max((b.delay_ns - truth.delay_ns).unsigned_abs()),
                Err(_) => u64::MAX,
            };
            if error > 1_000_000 {
                wrong += 1;
            }
            worst = worst.max(error);
        }
    }
    Ok((wrong, Duration::from_nanos(worst), calm))
}

/// `timesync/query/{sequential,parallel}/{clean,loss30,dead1,jump}`: one sync in virtual time; sync
/// time, packets sent and lookups, exact; for `jump`, syncs that came out wrong of 8.
fn simulated_query(
    variant: QueryVariant,
    &situation: &Situation,
) -> Result<BTreeMap<String, Metric>, String> {
    let mut metrics = BTreeMap::new();
    let sim = if situation == Situation::Jump {
        let (wrong, worst, calm) = jump_runs(variant)?;
        metrics.insert(WRONG_RESULTS.into(), Metric::count(wrong, "syncs of 8"));
        metrics.insert(
            WORST_ERROR_MS.into(),
            Metric::count(u64::try_from(worst.as_millis()).unwrap_or(u64::MAX), "ms"),
        );
        calm
    } else {
        simulate(variant, situation, None)?
    };
    if let Err(e) = &sim.report.best {
        return Err(format!("{} in {situation}: no time: {e}", variant.name()));
    }
    metrics.insert(SYNC_TIME.into(), Metric::virtual_ns(sim.report.elapsed));
    metrics.insert(PACKETS_SENT.into(), Metric::count(sim.packets, "packets"));
    metrics.insert(DNS_LOOKUPS.into(), Metric::count(sim.lookups, "lookups"));
    Ok(metrics)
}

/// The six hosts as real UDP servers on 127.0.0.1 (delays scaled down), and a resolver for them.
struct Loopback {
    _servers: Vec<UdpServer>,
    names: Vec<(String, Vec<SocketAddr>)>,
}

async fn start_loopback(clock: Arc<dyn Clock>) -> Result<Loopback, String> {
    let mut servers = Vec::new();
    let mut names = Vec::new();
    for (h, host) in ORIGINAL_HOSTS.iter().enumerate() {
        let mut addrs = Vec::new();
        for a in 0..ADDRESSES_PER_HOST[h] {
            let spec =
                ServerSpec::new(Duration::from_millis(ORIGINAL_DELAYS_MS[h]) / LOOPBACK_SCALE_DOWN)
                    .offset_ns(OFFSETS_MS[h] * 1_000_000);
            let s = UdpServer::start(spec, Arc::clone(&clock), (h * 2 + a) as u64)
                .await
                .map_err(|e| format!("cannot start a loopback SNTP server: {e}"))?;
            addrs.push(s.addr());
            servers.push(s);
        }
        names.push(((*host).to_owned(), addrs));
    }
    Ok(Loopback {
        _servers: servers,
        names,
    })
}

/// `timesync/query/{sequential,parallel}/loopback`: one sync's wall time against real UDP servers
/// on 127.0.0.1 answering after 5-15 ms (full suite).
fn loopback_query(
    variant: QueryVariant,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let loopback = rt.block_on(start_loopback(Arc::clone(&clock)))?;
    let mut last = None;
    let samples = measure::sample(ctx.timer, &ctx.plan, || {
        let stub = Arc::new(StubResolver::instant(loopback.names.clone()));
        let report = rt.block_on(sync_with(
            variant,
            UdpTransport::new(),
            Arc::clone(&stub),
            Arc::clone(&clock),
        ));
        if let Err(e) = &report.best {
            return Err(format!("{}: no time over loopback: {e}", variant.name()));
        }
        last = Some((report.packets_sent, stub.total_lookups()));
        Ok(())
    })?;
    let (packets, lookups) = last.unwrap_or_default();
    Ok(BTreeMap::from([
        (WALL_TIME.into(), samples.into_metric(ctx.plan.confidence)),
        (PACKETS_SENT.into(), Metric::count(packets, "packets")),
        (DNS_LOOKUPS.into(), Metric::count(lookups, "lookups")),
    ]))
}

/// Registers the query scenarios and the seed's sync-time and clock-jump claims.
pub fn register(r: &mut Registry) {
    let simulated = [
        Situation::Clean,
        Situation::Loss30,
        Situation::Dead1,
        Situation::Jump,
    ];
    use QueryVariant::{Parallel, Sequential};
    let sim = r
        .pair("timesync/query", Sequential, Parallel)
        .cases(simulated)
        .metrics([
            SYNC_TIME,
            PACKETS_SENT,
            DNS_LOOKUPS,
            WRONG_RESULTS,
            WORST_ERROR_MS,
        ])
        .measure(|variant, situation, _| simulated_query(variant, situation));
    let loopback = r
        .pair("timesync/query", Sequential, Parallel)
        .cases([Situation::Loopback])
        .smoke(|_, _| false)
        .metrics([WALL_TIME, PACKETS_SENT, DNS_LOOKUPS])
        .measure(|variant, _, ctx| loopback_query(variant, ctx));
    for situation in [Situation::Clean, Situation::Loss30, Situation::Dead1] {
        r.claim(Claim::new(
            SEED,
            53,
            format!(
                "Expected Impact: 70-90% reduction in synchronization time (read as: at least \
                 70 % less virtual sync time, six hosts, {})",
                situation.name()
            ),
            sim.ratio_at_most(situation, SYNC_TIME, 0.3),
        ));
    }
    r.claim(Claim::new(
        SEED,
        201,
        "Wall Time: 70-90% reduction in sync time (read as: at least 70 % less wall time, six \
         loopback UDP servers at 5-15 ms; full suite)",
        loopback.ratio_at_most(Situation::Loopback, WALL_TIME, 0.3),
    ));
    r.claim(Claim::new(
        SEED,
        207,
        format!(
            "Clock Jump Resilience: 100% success rate under clock changes (read as: no wrong \
             result in {} syncs with the wall clock stepped 1 h forward or back mid-sync)",
            JUMP_AT_PERCENT.len() * 2
        ),
        sim.after_at_most(Situation::Jump, WRONG_RESULTS, 0.0),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::measure::{RealTimer, SamplingPlan};

    fn run(variant: QueryVariant, situation: Situation, swap: bool) -> BTreeMap<String, Metric> {
        let timer = RealTimer::new();
        let ctx = RunContext {
            plan: SamplingPlan::SMOKE,
            timer: &timer,
            swap_in_before: swap,
        };
        let r = Registry::of(register);
        let id = format!("timesync/query/{}/{situation}", variant.name());
        r.find(&id)
            .unwrap_or_else(|| panic!("{id} registered"))
            .run(&ctx)
            .expect("runs")
    }

    fn value(m: &BTreeMap<String, Metric>, name: &str) -> f64 {
        m[name].value.as_f64()
    }

    #[test]
    fn the_clean_sync_repeats_exactly_and_the_parallel_one_is_its_fastest_reply() {
        let seq = run(QueryVariant::Sequential, Situation::Clean, false);
        assert_eq!(seq, run(QueryVariant::Sequential, Situation::Clean, false));
        let par = run(QueryVariant::Parallel, Situation::Clean, false);
        assert_eq!(value(&seq, "sync_time"), 1.74e9);
        assert_eq!(value(&par, "sync_time"), 50e6);
        assert_eq!(
            (value(&seq, "packets_sent"), value(&par, "packets_sent")),
            (18.0, 18.0)
        );
        assert_eq!(
            (value(&seq, "dns_lookups"), value(&par, "dns_lookups")),
            (12.0, 6.0)
        );
        // The selftest's swap runs the sequential query under the parallel id.
        assert_eq!(run(QueryVariant::Parallel, Situation::Clean, true), seq);
    }

    #[test]
    fn a_dead_host_and_loss_cost_the_original_timeouts() {
        let seq = run(QueryVariant::Sequential, Situation::Dead1, false);
        assert_eq!(value(&seq, "sync_time"), 7.64e9);
        let par = run(QueryVariant::Parallel, Situation::Dead1, false);
        assert_eq!(value(&par, "sync_time"), 60e6);
        let lossy = run(QueryVariant::Sequential, Situation::Loss30, false);
        assert!(value(&lossy, "sync_time") > 3e9 + 1.74e9 * 0.5);
    }

    #[test]
    fn wall_clock_steps_fool_only_the_original() {
        let (wrong, worst, _) = jump_runs(QueryVariant::Parallel).expect("runs");
        assert_eq!((wrong, worst), (0, Duration::ZERO));
        let (wrong, worst, _) = jump_runs(QueryVariant::Sequential).expect("runs");
        assert!(wrong >= 4, "every step back mid-exchange is wrong: {wrong}");
        assert!(worst >= Duration::from_secs(1800), "{worst:?}");
    }

    #[test]
    fn every_query_scenario_has_its_pair_and_loopback_is_full_suite_only() {
        let r = Registry::of(register);
        let ids: Vec<&str> = r.scenarios().map(|s| s.id()).collect();
        assert_eq!(ids.len(), 10);
        assert!(ids.contains(&"timesync/query/parallel/jump"));
        let loopback: Vec<bool> = r
            .scenarios()
            .filter(|s| s.id().ends_with("/loopback"))
            .map(|s| s.in_smoke())
            .collect();
        assert_eq!(loopback, vec![false, false]);
    }
}
