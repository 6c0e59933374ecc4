//! The multi-server SNTP query, before and after: `SequentialQuery` (host by host, attempt by attempt,
//! address by address, resolving every time, RTT from the wall clock, as the original) and
//! `ParallelQuery` (resolve once through the DNS cache, every exchange at once, early stop, deadline,
//! RTT from the monotonic clock). Both run on tokio over any [`NtpTransport`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::dns::{CachingResolver, ResolveError, Resolver};
use super::packet::{self, NtpTimestamp, PACKET_LEN, PacketError};
use crate::clock::{Clock, MonoInstant};

/// The NTP port.
pub const NTP_PORT: u16 = 123;
/// Attempts per host, as the original.
pub const ATTEMPTS: usize = 2;
/// How long one exchange may take, as the original's socket timeout.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// The best reply is rejected when its delay is above this.
pub const MAX_DELAY: Duration = Duration::from_millis(500);
/// A reply with at most this delay (and an offset under [`GOOD_OFFSET`]) stops the parallel query.
pub const GOOD_DELAY: Duration = Duration::from_millis(100);
/// See [`GOOD_DELAY`].
pub const GOOD_OFFSET: Duration = Duration::from_secs(1);
/// The parallel query's overall deadline.
pub const DEADLINE: Duration = Duration::from_secs(6);

/// Why one exchange failed at the transport level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The request could not be sent.
    #[error("cannot send to {addr}: {why}")]
    Send {
        /// The server.
        addr: SocketAddr,
        /// What the OS said.
        why: String,
    },
    /// Waiting for the reply failed.
    #[error("cannot receive from {addr}: {why}")]
    Receive {
        /// The server.
        addr: SocketAddr,
        /// What the OS said.
        why: String,
    },
    /// Nothing listens there (ICMP port unreachable, or no such simulated server).
    #[error("{addr} is unreachable")]
    Unreachable {
        /// The server.
        addr: SocketAddr,
    },
    /// Only datagrams from other addresses arrived, more than the transport is willing to skip.
    #[error("gave up after {ignored} datagrams from addresses other than {addr}")]
    WrongSource {
        /// The server.
        addr: SocketAddr,
        /// Datagrams skipped.
        ignored: usize,
    },
}

/// Sends one SNTP request and returns the reply's bytes.
pub trait NtpTransport: Send + Sync {
    /// Sends `request` to `to` and waits for a datagram from `to`. It may wait forever (a lost
    /// packet): callers bound it with their timeout, and dropping the future abandons the exchange.
    fn exchange(
        &self,
        to: SocketAddr,
        request: [u8; PACKET_LEN],
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}

impl<T: NtpTransport> NtpTransport for Arc<T> {
    fn exchange(
        &self,
        to: SocketAddr,
        request: [u8; PACKET_LEN],
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send {
        (**self).exchange(to, request)
    }
}

/// Why one exchange gave no sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The host did not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// No reply within the per-query timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The reply was rejected (kiss-o'-death, short, garbled, wrong origin, ...).
    #[error("bad reply: {0}")]
    Packet(#[from] PacketError),
    /// Our own wall clock cannot be written as an NTP era-0 timestamp.
    #[error("the local wall clock ({0}) is outside 1970-2036, cannot stamp a request")]
    Clock(String),
    /// Dropped unfinished: a good-enough reply came first or the deadline passed.
    #[error("cancelled: a good-enough reply came first or the deadline passed")]
    Cancelled,
}

impl QueryError {
    /// The kiss code (`RATE`, `DENY`, ...) when the server sent a kiss-o'-death.
    pub fn kiss_code(&self) -> Option<&str> {
        match self {
            QueryError::Packet(PacketError::KissOfDeath { code }) => Some(code),
            _ => None,
        }
    }

    /// Whether the address may be stale: no reply or a transport failure (not a bad reply, which
    /// proves someone answers there).
    fn suggests_stale_address(&self) -> bool {
        matches!(self, QueryError::Timeout(_) | QueryError::Transport(_))
    }
}

/// Why a sync gave no time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The configuration lists no server.
    #[error("no servers configured")]
    NoServers,
    /// Every exchange failed.
    #[error("no usable reply from any server ({failed} exchanges failed)")]
    NoReply {
        /// Exchanges (and lookups) that failed.
        failed: usize,
    },
    /// The overall deadline passed before any usable reply.
    #[error("no usable reply before the {0:?} deadline")]
    Deadline(Duration),
    /// The best reply's delay is above the limit.
    #[error("best delay {delay_ns} ns is above the {max_ns} ns limit")]
    DelayTooHigh {
        /// The best delay.
        delay_ns: i64,
        /// The limit.
        max_ns: i64,
    },
}

/// One server as configured: a name (or address literal) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    /// Host name or IP literal.
    pub host: String,
    /// UDP port.
    pub port: u16,
}

/// A server string that is not `HOST`, `HOST:PORT` or `[IPV6]:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not HOST, HOST:PORT or [IPV6]:PORT: {why}")]
pub struct ServerParseError {
    /// The text given.
    pub given: String,
    /// What is wrong with it.
    pub why: String,
}

impl Server {
    /// `host` on the NTP port.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: NTP_PORT,
        }
    }

    /// Parses `HOST`, `HOST:PORT` or `[IPV6]:PORT` (a bare IPv6 address takes port 123).
    pub fn parse(text: &str) -> Result<Self, ServerParseError> {
        let bad = |why: &str| ServerParseError {
            given: text.to_owned(),
            why: why.to_owned(),
        };
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("no closing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("junk after ']'")),
            }
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = match port {
            None => NTP_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("the port is not a number in 1-65535"))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What both queries are told: the servers, attempts, per-query timeout and thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// The servers, in the order the sequential query asks them.
    pub servers: Vec<Server>,
    /// Attempts per server.
    pub attempts: usize,
    /// How long one exchange may take.
    pub timeout: Duration,
    /// The best reply is rejected above this delay.
    pub max_delay: Duration,
    /// Parallel only: a reply with at most this delay ...
    pub good_delay: Duration,
    /// ... and an offset under this stops the query early.
    pub good_offset: Duration,
    /// Parallel only: the whole sync ends by then.
    pub deadline: Duration,
}

impl SyncConfig {
    /// The original's settings for `servers`: 2 attempts, 3 s timeout, 0.5 s delay limit, early stop
    /// at 0.1 s delay and 1 s offset, 6 s deadline.
    pub fn new(servers: Vec<Server>) -> Self {
        Self {
            servers,
            attempts: ATTEMPTS,
            timeout: QUERY_TIMEOUT,
            max_delay: MAX_DELAY,
            good_delay: GOOD_DELAY,
            good_offset: GOOD_OFFSET,
            deadline: DEADLINE,
        }
    }

    /// The sync's result from the servers' `outcomes`: none configured, or the best reply (see
    /// [`pick_best`]; `deadline` when the deadline cut the sync short).
    fn best(
        &self,
        outcomes: &[ServerOutcome],
        deadline: Option<Duration>,
    ) -> Result<Measurement, SyncError> {
        if self.servers.is_empty() {
            Err(SyncError::NoServers)
        } else {
            pick_best(outcomes, self.max_delay, deadline)
        }
    }
}

/// How request (T1) and arrival (T4) times are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamping {
    /// Read the wall clock at each stamp, as the original's `time.time()`: a wall-clock step during
    /// an exchange goes straight into its delay and offset.
    Wall,
    /// Read the wall clock once when the sync starts, then add monotonic time elapsed since:
    /// `T = wall_start + (mono_now - mono_start)`. A step of the wall clock changes nothing.
    Monotonic,
}

/// A usable reply: who answered and what it says about our clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement {
    /// The configured server.
    pub server: Server,
    /// The address that answered.
    pub addr: SocketAddr,
    /// The server's stratum (1-15).
    pub stratum: u8,
    /// Server clock minus ours, nanoseconds.
    pub offset_ns: i64,
    /// Round-trip delay less the server's hold time, nanoseconds.
    pub delay_ns: i64,
}

/// The outcome of one exchange (or of a lookup that failed, with no address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOutcome {
    /// The configured server.
    pub server: Server,
    /// The address asked, if the name resolved.
    pub addr: Option<SocketAddr>,
    /// Attempt number, from 0.
    pub attempt: usize,
    /// The sample or why there is none.
    pub result: Result<Measurement, QueryError>,
}

/// What a sync did and found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The lowest-delay usable reply, or why there is none.
    pub best: Result<Measurement, SyncError>,
    /// Every exchange (and failed lookup), in the configured order: server, attempt, address.
    pub servers: Vec<ServerOutcome>,
    /// Requests sent.
    pub packets_sent: u64,
    /// Lookups asked of the resolver this query holds (the parallel query's go through its cache).
    pub lookups: u64,
    /// Monotonic time the sync took.
    pub elapsed: Duration,
    /// Whether the parallel query stopped on a good-enough reply.
    pub stopped_early: bool,
}

impl SyncReport {
    /// Exchanges dropped unfinished.
    pub fn cancelled(&self) -> usize {
        self.servers
            .iter()
            .filter(|o| matches!(o.result, Err(QueryError::Cancelled)))
            .count()
    }
}

/// A multi-server SNTP query.
pub trait SntpQuery {
    /// Asks the configured servers and returns the best reply and what it took.
    fn sync(&self) -> impl Future<Output = SyncReport>;
}

/// Takes T1/T4 as [`Stamping`] says.
struct Stamper<'c> {
    clock: &'c dyn Clock,
    mode: Stamping,
    wall_start: Result<u128, QueryError>,
    mono_start: MonoInstant,
}

fn unix_nanos(t: SystemTime) -> Result<u128, QueryError> {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .map_err(|_| QueryError::Clock(format!("{t:?}")))
}

impl<'c> Stamper<'c> {
    fn start(clock: &'c dyn Clock, mode: Stamping) -> Self {
        Self {
            clock,
            mode,
            wall_start: unix_nanos(clock.wall()),
            mono_start: clock.now(),
        }
    }

    fn now(&self) -> Result<NtpTimestamp, QueryError> {
        let nanos = match self.mode {
            Stamping::Wall => unix_nanos(self.clock.wall())?,
            Stamping::Monotonic => {
                self.wall_start.clone()? + (self.clock.now() - self.mono_start).as_nanos()
            }
        };
        NtpTimestamp::from_unix_nanos(nanos)
            .ok_or_else(|| QueryError::Clock(format!("{nanos} ns after 1970")))
    }
}

/// One exchange: stamp T1, send, wait at most `timeout`, stamp T4, check the reply, compute.
async fn exchange_one<T: NtpTransport>(
    transport: &T,
    stamper: &Stamper<'_>,
    server: &Server,
    addr: SocketAddr,
    timeout: Duration,
    sent: &AtomicU64,
) -> Result<Measurement, QueryError> {
    let t1 = stamper.now()?;
    sent.fetch_add(1, Ordering::Relaxed);
    let bytes = tokio::time::timeout(timeout, transport.exchange(addr, packet::request(t1)))
        .await
        .map_err(|_| QueryError::Timeout(timeout))??;
    let t4 = stamper.now()?;
    let reply = packet::parse_reply(&bytes, t1)?;
    let s = packet::sample(t1, reply.receive, reply.transmit, t4);
    Ok(Measurement {
        server: server.clone(),
        addr,
        stratum: reply.stratum,
        offset_ns: s.offset_ns,
        delay_ns: s.delay_ns,
    })
}

fn nanos_i64(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The lowest-delay usable reply (the first of equals), checked against the delay limit.
fn pick_best(
    outcomes: &[ServerOutcome],
    max_delay: Duration,
    deadline: Option<Duration>,
) -> Result<Measurement, SyncError> {
    let mut best: Option<&Measurement> = None;
    for m in outcomes.iter().filter_map(|o| o.result.as_ref().ok()) {
        if best.is_none_or(|b| m.delay_ns < b.delay_ns) {
            best = Some(m);
        }
    }
    match best {
        Some(b) if b.delay_ns > nanos_i64(max_delay) => Err(SyncError::DelayTooHigh {
            delay_ns: b.delay_ns,
            max_ns: nanos_i64(max_delay),
        }),
        Some(b) => Ok(b.clone()),
        None => match deadline {
            Some(d) => Err(SyncError::Deadline(d)),
            None => Err(SyncError::NoReply {
                failed: outcomes.len(),
            }),
        },
    }
}

/// The original: for each server, for each attempt, resolve the name again, then ask each address
/// in turn with the per-query timeout; keep the lowest delay; stamp with the wall clock.
pub struct SequentialQuery<T, R> {
    transport: T,
    resolver: R,
    clock: Arc<dyn Clock>,
    config: SyncConfig,
    stamping: Stamping,
}

impl<T: NtpTransport, R: Resolver> SequentialQuery<T, R> {
    /// The original's query: every lookup goes to `resolver`, stamps come from the wall clock.
    pub fn new(transport: T, resolver: R, clock: Arc<dyn Clock>, config: SyncConfig) -> Self {
        Self {
            transport,
            resolver,
            clock,
            config,
            stamping: Stamping::Wall,
        }
    }

    /// The same with other stamping (to show the wall clock is what breaks it).
    pub fn with_stamping(mut self, stamping: Stamping) -> Self {
        self.stamping = stamping;
        self
    }
}

impl<T: NtpTransport, R: Resolver> SntpQuery for SequentialQuery<T, R> {
    async fn sync(&self) -> SyncReport {
        let clock = self.clock.as_ref();
        let start = clock.now();
        let stamper = Stamper::start(clock, self.stamping);
        let sent = AtomicU64::new(0);
        let mut lookups = 0;
        let mut servers = Vec::new();
        for server in &self.config.servers {
            for attempt in 0..self.config.attempts {
                lookups += 1;
                let addrs = match self.resolver.resolve(&server.host, server.port) {
                    Ok(addrs) => addrs,
                    Err(e) => {
                        servers.push(ServerOutcome {
                            server: server.clone(),
                            addr: None,
                            attempt,
                            result: Err(e.into()),
                        });
                        continue;
                    }
                };
                for addr in addrs {
                    let result = exchange_one(
                        &self.transport,
                        &stamper,
                        server,
                        addr,
                        self.config.timeout,
                        &sent,
                    )
                    .await;
                    servers.push(ServerOutcome {
                        server: server.clone(),
                        addr: Some(addr),
                        attempt,
                        result,
                    });
                }
            }
        }
        SyncReport {
            best: self.config.best(&servers, None),
            servers,
            packets_sent: sent.load(Ordering::Relaxed),
            lookups,
            elapsed: clock.now() - start,
            stopped_early: false,
        }
    }
}

/// The improvement: resolve every server once through a TTL cache, ask every server x attempt x
/// address at once, keep the lowest delay, stop at the first good-enough reply or the deadline and
/// drop what is still outstanding; a server that times out is forgotten by the cache.
///
/// Lookups are plain calls to the [`Resolver`] before any exchange starts: the system resolver
/// blocks the task while it runs (once per host per TTL, thanks to the cache).
pub struct ParallelQuery<T, R> {
    transport: T,
    cache: CachingResolver<R>,
    clock: Arc<dyn Clock>,
    config: SyncConfig,
    stamping: Stamping,
}

impl<T: NtpTransport, R: Resolver> ParallelQuery<T, R> {
    /// A query whose lookups go through a [`CachingResolver`] (30 s, 100 entries) over `resolver`,
    /// kept across syncs, with monotonic stamping.
    pub fn new(transport: T, resolver: R, clock: Arc<dyn Clock>, config: SyncConfig) -> Self {
        Self {
            transport,
            cache: CachingResolver::new(resolver, Arc::clone(&clock)),
            clock,
            config,
            stamping: Stamping::Monotonic,
        }
    }

    /// The same with other stamping.
    pub fn with_stamping(mut self, stamping: Stamping) -> Self {
        self.stamping = stamping;
        self
    }

    /// The DNS cache (hit and miss counters).
    pub fn cache(&self) -> &CachingResolver<R> {
        &self.cache
    }

    fn good_enough(&self, m: &Measurement) -> bool {
        m.delay_ns <= nanos_i64(self.config.good_delay)
            && m.offset_ns.unsigned_abs() < self.config.good_offset.as_nanos() as u64
    }
}

impl<T: NtpTransport, R: Resolver> SntpQuery for ParallelQuery<T, R> {
    async fn sync(&self) -> SyncReport {
        let clock = self.clock.as_ref();
        let start = clock.now();
        let deadline = tokio::time::Instant::now() + self.config.deadline;
        let stamper = Stamper::start(clock, self.stamping);
        let sent = AtomicU64::new(0);
        let mut lookups = 0;
        // Outcomes keyed by (server index, job index), sorted at the end into the configured order
        // (server, attempt, address), the sequential query's: among equal delays the first wins
        // in both, whatever order the replies came in.
        let mut keyed: Vec<((usize, usize), ServerOutcome)> = Vec::new();
        let mut jobs: Vec<(usize, &Server, SocketAddr, usize)> = Vec::new();
        for (s, server) in self.config.servers.iter().enumerate() {
            lookups += 1;
            match self.cache.resolve(&server.host, server.port) {
                Ok(addrs) => {
                    for attempt in 0..self.config.attempts {
                        jobs.extend(addrs.iter().map(|&a| (s, server, a, attempt)));
                    }
                }
                Err(e) => keyed.push((
                    (s, 0),
                    ServerOutcome {
                        server: server.clone(),
                        addr: None,
                        attempt: 0,
                        result: Err(e.into()),
                    },
                )),
            }
        }
        // Job `i`'s outcome with its key.
        let keyed_outcome = |i: usize, result: Result<Measurement, QueryError>| {
            let (s, server, addr, attempt) = jobs[i];
            (
                (s, i),
                ServerOutcome {
                    server: server.clone(),
                    addr: Some(addr),
                    attempt,
                    result,
                },
            )
        };
        let mut done = vec![false; jobs.len()];
        let mut deadline_passed = false;
        let mut stopped_early = false;
        {
            let (transport, stamper, sent) = (&self.transport, &stamper, &sent);
            let timeout = self.config.timeout;
            let mut pending: FuturesUnordered<_> = jobs
                .iter()
                .enumerate()
                .map(|(i, &(_, server, addr, _))| async move {
                    (
                        i,
                        exchange_one(transport, stamper, server, addr, timeout, sent).await,
                    )
                })
                .collect();
            // Each job completes once: at most `jobs.len()` rounds.
            for _ in 0..jobs.len() {
                let (i, result) = match tokio::time::timeout_at(deadline, pending.next()).await {
                    Ok(Some(next)) => next,
                    Ok(None) => break,
                    Err(_) => {
                        deadline_passed = true;
                        break;
                    }
                };
                done[i] = true;
                let server = jobs[i].1;
                if result
                    .as_ref()
                    .err()
                    .is_some_and(QueryError::suggests_stale_address)
                {
                    self.cache.invalidate(&server.host, server.port);
                }
                let good = result.as_ref().is_ok_and(|m| self.good_enough(m));
                keyed.push(keyed_outcome(i, result));
                if good {
                    stopped_early = true;
                    break;
                }
            }
            // Dropping `pending` here cancels every exchange still outstanding.
        }
        for (i, done) in done.into_iter().enumerate() {
            if !done {
                keyed.push(keyed_outcome(i, Err(QueryError::Cancelled)));
            }
        }
        keyed.sort_by_key(|(k, _)| *k);
        let servers: Vec<ServerOutcome> = keyed.into_iter().map(|(_, o)| o).collect();
        SyncReport {
            best: self
                .config
                .best(&servers, deadline_passed.then_some(self.config.deadline)),
            servers,
            packets_sent: sent.load(Ordering::Relaxed),
            lookups,
            elapsed: clock.now() - start,
            stopped_early,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_parse_with_and_without_ports() {
        assert_eq!(
            Server::parse("time.example:1123"),
            Ok(Server {
                host: "time.example".into(),
                port: 1123
            })
        );
        assert_eq!(
            Server::parse("time.example"),
            Ok(Server::new("time.example"))
        );
        assert_eq!(
            Server::parse("[::1]:5000").map(|s| (s.host, s.port)),
            Ok(("::1".to_owned(), 5000))
        );
        assert_eq!(Server::parse("::1").map(|s| s.port), Ok(123));
        for bad in [
            "",
            ":123",
            "host:0",
            "host:x",
            "host:70000",
            "[::1",
            "[::1]x",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Server::parse("[::1]:9").map(|s| s.to_string()),
            Ok("[::1]:9".to_owned())
        );
    }
}
