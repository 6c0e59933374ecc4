//! Name resolution for the SNTP queries: a resolver trait, the system resolver, and a TTL cache in
//! front of any resolver (30 s, 100 entries, least recently used out first, failures cached too).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, MonoInstant};

/// How long a lookup is kept.
pub const DNS_TTL: Duration = Duration::from_secs(30);
/// Most names kept.
pub const DNS_CAPACITY: usize = 100;

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The resolver failed or found nothing.
    #[error("cannot resolve {host}:{port}: {why}")]
    NotFound {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
        /// What the resolver said.
        why: String,
    },
}

/// Turns a host and port into addresses.
pub trait Resolver: Send + Sync {
    /// The addresses of `host:port`, in the resolver's order; an empty answer is an error.
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError>;
}

impl<R: Resolver + ?Sized> Resolver for Arc<R> {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        (**self).resolve(host, port)
    }
}

/// The operating system's resolver (`getaddrinfo`), as the original called every time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let not_found = |why: String| ResolveError::NotFound {
            host: host.to_owned(),
            port,
            why,
        };
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| not_found(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(not_found("no addresses".to_owned()));
        }
        Ok(addrs)
    }
}

/// The kept lookups and a use counter that orders them for LRU eviction.
type Table = (HashMap<(String, u16), Entry>, u64);

struct Entry {
    answer: Result<Vec<SocketAddr>, ResolveError>,
    expires: MonoInstant,
    last_used: u64,
}

/// A TTL cache in front of `R`: answers (and failures: the original meant to cache them but treated
/// an empty result as a miss) are kept for the TTL; past the capacity the least recently used goes.
pub struct CachingResolver<R> {
    inner: R,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Table>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<R: Resolver> CachingResolver<R> {
    /// A cache with the original's TTL (30 s) and capacity (100).
    pub fn new(inner: R, clock: Arc<dyn Clock>) -> Self {
        Self::with_limits(inner, clock, DNS_TTL, DNS_CAPACITY)
    }

    /// A cache with its own TTL and capacity (at least 1).
    pub fn with_limits(inner: R, clock: Arc<dyn Clock>, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            clock,
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new((HashMap::new(), 0)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that went to the inner resolver.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Forgets `host:port`: call it when a query to its addresses failed, so the next lookup asks
    /// the resolver again instead of retrying a dead address for the rest of the TTL.
    pub fn invalidate(&self, host: &str, port: u16) {
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.remove(&(host.to_owned(), port));
    }

    /// Names currently kept (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<R: Resolver> Resolver for CachingResolver<R> {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let key = (host.to_owned(), port);
        let now = self.clock.now();
        {
            let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let (map, tick) = &mut *guard;
            *tick += 1;
            let t = *tick;
            if let Some(e) = map.get_mut(&key).filter(|e| now < e.expires) {
                e.last_used = t;
                self.hits.fetch_add(1, Ordering::Relaxed);
                return e.answer.clone();
            }
        }
        // Resolve outside the lock: a slow lookup must not block other names.
        self.misses.fetch_add(1, Ordering::Relaxed);
        let answer = self.inner.resolve(host, port);
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, tick) = &mut *guard;
        *tick += 1;
        if !map.contains_key(&key) && map.len() >= self.capacity {
            // Expired entries go first, then the least recently used one.
            map.retain(|_, e| now < e.expires);
            if map.len() >= self.capacity
                && let Some(lru) = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&lru);
            }
        }
        map.insert(
            key,
            Entry {
                answer: answer.clone(),
                expires: now + self.ttl,
                last_used: *tick,
            },
        );
        answer
    }
}
