//! The sequential and parallel SNTP queries against simulated servers in tokio's paused time: same
//! answers, wall-clock steps, loss, dead hosts, kiss-o'-death, early stop, deadline, cancellation,
//! the DNS cache, packet and lookup counts; and one real exchange over loopback UDP.

use std::sync::Arc;
use std::time::Duration;

use components::clock::{Clock, SystemClock};
use components::timesync::dns::Resolver;
use components::timesync::packet::{NtpTimestamp, PacketError, request};
use components::timesync::query::{
    NtpTransport, ParallelQuery, QueryError, SequentialQuery, Server, SntpQuery, Stamping,
    SyncConfig, SyncError, SyncReport,
};
use components::timesync::udp::UdpTransport;
use fixtures::clock::TokioClock;
use fixtures::dns::StubResolver;
use fixtures::ntp::{Behaviour, ORIGINAL_HOSTS, ServerSpec, SimNet, UdpServer, original_hosts};

const MS: i64 = 1_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn config() -> SyncConfig {
    SyncConfig::new(ORIGINAL_HOSTS.iter().map(|h| Server::new(*h)).collect())
}

/// The six hosts in tokio's paused time: the clock, the network and its resolver.
struct Sim {
    clock: Arc<TokioClock>,
    net: Arc<SimNet>,
    stub: Arc<StubResolver>,
}

impl Sim {
    /// Each host's addresses changed by `tweak`.
    fn new(tweak: impl Fn(usize, usize, ServerSpec) -> ServerSpec) -> Self {
        let clock = Arc::new(TokioClock::new());
        let net = original_hosts(Arc::clone(&clock), 0x5EED, tweak);
        let stub = Arc::new(net.resolver());
        Self {
            clock,
            net: Arc::new(net),
            stub,
        }
    }

    /// The hosts as they are.
    fn clean() -> Self {
        Self::new(|_, _, s| s)
    }

    /// Steps the wall clock an hour, forward or back, 30 ms in: during a sequential query's first
    /// exchange; after a parallel query has sent every exchange and before any comes back.
    fn step_wall_clock(&self, forward: bool) {
        self.clock
            .jump_wall_after(Duration::from_millis(30), HOUR, forward);
    }

    fn sequential(&self, config: SyncConfig) -> SequentialQuery<Arc<SimNet>, Arc<StubResolver>> {
        let Self { clock, net, stub } = self;
        SequentialQuery::new(net.clone(), stub.clone(), clock.clone(), config)
    }

    fn parallel(&self, config: SyncConfig) -> ParallelQuery<Arc<SimNet>, Arc<StubResolver>> {
        let Self { clock, net, stub } = self;
        ParallelQuery::new(net.clone(), stub.clone(), clock.clone(), config)
    }
}

/// Best delay and offset, in ms, and the host.
fn best(report: &SyncReport) -> (String, i64, i64) {
    let b = report.best.as_ref().expect("a best sample");
    (b.server.host.clone(), b.delay_ns, b.offset_ns)
}

#[tokio::test(start_paused = true)]
async fn both_variants_give_the_same_best_sample_and_the_counts_differ_as_designed() {
    let sim = Sim::clean();
    let seq = sim.sequential(config()).sync().await;
    let sim2 = Sim::clean();
    let par = sim2.parallel(config()).sync().await;
    assert_eq!(seq.best, par.best);
    // time.google.com: 50 ms delay, 12 ms offset plus half the delay (the delay is all before T2).
    assert_eq!(best(&par), ("time.google.com".into(), 50 * MS, 37 * MS));
    // Sequential: 2 attempts x (50 + 2x80 + 120 + 60 + 2x90 + 2x150) ms, one after another.
    assert_eq!(seq.elapsed, Duration::from_millis(1740));
    assert_eq!(par.elapsed, Duration::from_millis(50));
    assert!(par.stopped_early && !seq.stopped_early);
    // 9 addresses x 2 attempts, both; lookups: every attempt against once per host.
    assert_eq!((seq.packets_sent, sim.net.packets_sent()), (18, 18));
    assert_eq!((par.packets_sent, sim2.net.packets_sent()), (18, 18));
    assert_eq!((seq.lookups, sim.stub.total_lookups()), (12, 12));
    assert_eq!((par.lookups, sim2.stub.total_lookups()), (6, 6));
    assert_eq!(seq.servers.len(), 18);
    assert_eq!(par.servers.len(), 18);
    assert_eq!(par.cancelled(), 17);
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_step_mid_query_leaves_the_parallel_result_unchanged() {
    let sim = Sim::clean();
    let undisturbed = sim.parallel(config()).sync().await;
    for forward in [true, false] {
        let sim = Sim::clean();
        sim.step_wall_clock(forward);
        let got = sim.parallel(config()).sync().await;
        assert_eq!(got.best, undisturbed.best, "forward {forward}");
        assert_eq!(best(&got).1, 50 * MS);
    }
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_step_mid_query_corrupts_the_originals_wall_clock_stamps() {
    let sim = Sim::clean();
    let undisturbed = sim.sequential(config()).sync().await;
    assert_eq!(best(&undisturbed).1, 50 * MS);

    // One hour back during the first exchange: its delay is 50 ms - 1 h, the "best" by far.
    let sim = Sim::clean();
    sim.step_wall_clock(false);
    let back = sim.sequential(config()).sync().await;
    let (host, delay, offset) = best(&back);
    assert_eq!(host, "time.google.com");
    assert_eq!(delay, 50 * MS - 3_600_000 * MS);
    assert_eq!(offset, 37 * MS + 1_800_000 * MS);

    // One hour forward: that exchange's delay is 1 h (rejected as the worst); the best is then the
    // next google exchange, stamped after the step: its offset is off by the hour.
    let sim = Sim::clean();
    sim.step_wall_clock(true);
    let fwd = sim.sequential(config()).sync().await;
    assert_eq!(
        best(&fwd),
        ("time.google.com".into(), 50 * MS, 37 * MS - 3_600_000 * MS)
    );

    // The same query with monotonic stamping is immune: the stamps were the bug.
    let sim = Sim::clean();
    sim.step_wall_clock(false);
    let fixed = sim
        .sequential(config())
        .with_stamping(Stamping::Monotonic)
        .sync()
        .await;
    assert_eq!(fixed.best, undisturbed.best);
}

#[tokio::test(start_paused = true)]
async fn under_loss_the_original_waits_a_timeout_per_lost_packet() {
    let lossy = |_, _, s: ServerSpec| s.loss(0.3);
    let sim = Sim::new(lossy);
    let seq = sim.sequential(config()).sync().await;
    let lost = sim.net.dropped();
    assert!(lost > 0, "seeded loss drops some of 18");
    // Each lost packet costs the 3 s timeout instead of its host's delay.
    let answered: Duration = seq
        .servers
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .map(|m| Duration::from_nanos(m.delay_ns as u64))
        .sum();
    assert_eq!(seq.elapsed, answered + Duration::from_secs(3) * lost as u32);
    assert_eq!(
        seq.servers
            .iter()
            .filter(|o| matches!(o.result, Err(QueryError::Timeout(_))))
            .count() as u64,
        lost
    );
    let sim = Sim::new(lossy);
    let par = sim.parallel(config()).sync().await;
    assert!(par.best.is_ok());
    assert!(
        par.elapsed <= Duration::from_millis(150),
        "{:?}",
        par.elapsed
    );
}

#[tokio::test(start_paused = true)]
async fn a_dead_host_costs_the_original_two_timeouts_and_the_parallel_nothing() {
    let dead = |h, _, s: ServerSpec| {
        if h == 0 {
            s.behaving(Behaviour::Dead)
        } else {
            s
        }
    };
    let sim = Sim::new(dead);
    let seq = sim.sequential(config()).sync().await;
    let sim2 = Sim::new(dead);
    let par = sim2.parallel(config()).sync().await;
    assert_eq!(seq.best, par.best);
    assert_eq!(best(&par), ("time.windows.com".into(), 60 * MS, 33 * MS));
    assert_eq!(seq.elapsed, Duration::from_millis(1740 - 100 + 6000));
    assert_eq!(par.elapsed, Duration::from_millis(60));
}

#[tokio::test(start_paused = true)]
async fn bad_replies_get_their_typed_errors_and_the_rest_still_count() {
    let behaviour = |h: usize| match h {
        0 => Behaviour::KissOfDeath(*b"RATE"),
        1 => Behaviour::Short,
        2 => Behaviour::Garbled,
        3 => Behaviour::WrongOrigin,
        4 => Behaviour::Unsynchronized,
        _ => Behaviour::Normal,
    };
    let sim = Sim::new(|h, _, s| s.behaving(behaviour(h)));
    let report = sim.sequential(config()).sync().await;
    let err_of = |host: &str| {
        report
            .servers
            .iter()
            .find(|o| o.server.host == host)
            .and_then(|o| o.result.clone().err())
            .expect("an error")
    };
    assert_eq!(err_of("time.google.com").kiss_code(), Some("RATE"));
    assert_eq!(
        err_of("time.cloudflare.com"),
        QueryError::Packet(PacketError::TooShort { len: 20 })
    );
    assert_eq!(
        err_of("time.apple.com"),
        QueryError::Packet(PacketError::NotServer { mode: 7 })
    );
    assert!(matches!(
        err_of("time.windows.com"),
        QueryError::Packet(PacketError::OriginMismatch { .. })
    ));
    assert_eq!(
        err_of("time.facebook.com"),
        QueryError::Packet(PacketError::Unsynchronized)
    );
    assert_eq!(best(&report).0, "pool.ntp.org");
    let sim = Sim::new(|h, _, s| s.behaving(behaviour(h)));
    let par = sim.parallel(config()).sync().await;
    assert_eq!(par.best, report.best);
}

#[tokio::test(start_paused = true)]
async fn without_a_good_enough_reply_the_parallel_query_waits_for_all() {
    // Every server 2 s off: no reply is good enough to stop on, the best is still the fastest.
    let sim = Sim::new(|_, _, s| s.offset_ns(2_000 * MS));
    let par = sim.parallel(config()).sync().await;
    assert!(!par.stopped_early);
    assert_eq!(par.elapsed, Duration::from_millis(150));
    assert_eq!(par.cancelled(), 0);
    assert_eq!(best(&par), ("time.google.com".into(), 50 * MS, 2_025 * MS));
    assert_eq!(sim.net.replies(), 18);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_sync_and_cancels_every_exchange() {
    let sim = Sim::new(|_, _, s| ServerSpec {
        delay: Duration::from_secs(7),
        ..s
    });
    let mut cfg = config();
    cfg.timeout = Duration::from_secs(10);
    let par = sim.parallel(cfg).sync().await;
    assert_eq!(par.best, Err(SyncError::Deadline(Duration::from_secs(6))));
    assert_eq!(par.elapsed, Duration::from_secs(6));
    assert_eq!(par.cancelled(), 18);
    assert_eq!(
        (sim.net.in_flight(), sim.net.abandoned(), sim.net.replies()),
        (0, 18, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn an_early_stop_drops_the_outstanding_exchanges_at_once() {
    let sim = Sim::clean();
    let par = sim.parallel(config()).sync().await;
    assert!(par.stopped_early);
    // Dropped when the sync returned, not left to run: nothing in flight, no late replies.
    assert_eq!(
        (sim.net.in_flight(), sim.net.abandoned(), sim.net.replies()),
        (0, 17, 1)
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(sim.net.replies(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_cache_keeps_good_hosts_and_forgets_a_host_that_timed_out() {
    let sim = Sim::new(|h, _, s| {
        if h == 2 {
            s.behaving(Behaviour::Dead)
        } else {
            s.offset_ns(5_000 * MS) // never good enough: every exchange runs to its end
        }
    });
    let query = sim.parallel(config());
    let first = query.sync().await;
    let second = query.sync().await;
    assert_eq!(first.best, second.best);
    // time.apple.com timed out in the first sync, so the second resolves it again; the others
    // come from the cache.
    assert_eq!(sim.stub.lookups_of("time.apple.com"), 2);
    assert_eq!(sim.stub.lookups_of("time.google.com"), 1);
    assert_eq!(sim.stub.total_lookups(), 7);
    assert_eq!((query.cache().hits(), query.cache().misses()), (5, 7));
    assert_eq!(first.elapsed, Duration::from_secs(3));
    // Past the 30 s TTL everything is looked up again.
    tokio::time::sleep(Duration::from_secs(31)).await;
    query.sync().await;
    assert_eq!(sim.stub.total_lookups(), 13);
}

#[tokio::test(start_paused = true)]
async fn unknown_hosts_and_no_hosts_are_errors_not_panics() {
    let sim = Sim::clean();
    let cfg = SyncConfig::new(vec![Server::new("nowhere.invalid")]);
    let seq = sim.sequential(cfg.clone()).sync().await;
    assert_eq!(seq.best, Err(SyncError::NoReply { failed: 2 }));
    assert!(matches!(seq.servers[0].result, Err(QueryError::Resolve(_))));
    assert_eq!((seq.lookups, seq.packets_sent), (2, 0));
    let par = sim.parallel(cfg).sync().await;
    assert_eq!(par.best, Err(SyncError::NoReply { failed: 1 }));
    let none = sim.parallel(SyncConfig::new(Vec::new())).sync().await;
    assert_eq!(none.best, Err(SyncError::NoServers));
}

#[tokio::test(start_paused = true)]
async fn a_best_delay_over_half_a_second_is_rejected() {
    let sim = Sim::new(|_, _, s| ServerSpec {
        delay: Duration::from_millis(700),
        ..s
    });
    let seq = sim.sequential(config()).sync().await;
    assert_eq!(
        seq.best,
        Err(SyncError::DelayTooHigh {
            delay_ns: 700 * MS,
            max_ns: 500 * MS
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_exchange_stays_pending_until_dropped() {
    let clock = Arc::new(TokioClock::new());
    let mut net = SimNet::new(Arc::clone(&clock), 3);
    let addr = net.add_host(
        "dead",
        vec![ServerSpec::new(Duration::ZERO).behaving(Behaviour::Dead)],
    )[0];
    let t1 = NtpTimestamp::from_unix_nanos(1_767_225_600_000_000_000).expect("era 0");
    let mut exchange = tokio_test::task::spawn(net.exchange(addr, request(t1)));
    tokio_test::assert_pending!(exchange.poll());
    tokio::time::sleep(Duration::from_secs(60)).await;
    tokio_test::assert_pending!(exchange.poll());
    assert_eq!(net.in_flight(), 1);
    drop(exchange);
    assert_eq!((net.in_flight(), net.abandoned()), (0, 1));
    assert_eq!(net.resolver().resolve("dead", 123).ok(), Some(vec![addr]));
}

/// Real sockets, real time, millisecond delays: the parallel query over UDP finds the fastest of
/// three loopback servers and reads its offset.
#[tokio::test]
async fn the_parallel_query_over_udp_reads_loopback_servers() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let mut servers = Vec::new();
    for (i, (delay_ms, offset_ms)) in [(30, 500), (1, -250), (40, 0)].into_iter().enumerate() {
        let spec = ServerSpec::new(Duration::from_millis(delay_ms)).offset_ns(offset_ms * MS);
        servers.push(
            UdpServer::start(spec, Arc::clone(&clock), i as u64)
                .await
                .expect("binds 127.0.0.1"),
        );
    }
    let names: Vec<Server> = servers
        .iter()
        .map(|s| Server::parse(&s.addr().to_string()).expect("ip:port"))
        .collect();
    let resolver = components::timesync::dns::SystemResolver;
    let query = ParallelQuery::new(UdpTransport::new(), resolver, clock, SyncConfig::new(names));
    let report = query.sync().await;
    let b = report.best.expect("a reply");
    assert_eq!(b.addr, servers[1].addr());
    assert!((b.offset_ns - (-250 * MS)).abs() < 20 * MS, "{b:?}");
    assert!(b.delay_ns >= MS && b.delay_ns < 500 * MS, "{b:?}");
    assert_eq!(report.packets_sent, 6);
}
