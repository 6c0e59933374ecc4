//! TTL entries and the seed's batch operations (section 3): writing many entries and enforcing the
//! cache's limits, one entry at a time ([`PerEntryOps`], the original) or batched ([`BatchedOps`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use walkdir::WalkDir;

use super::size::{is_hidden, walk_error};
use super::{CacheDir, CacheError, SizeChange, absent, io_error, write_atomic};
use crate::clock::Clock;
use crate::named::named_impl;

/// Time to live of an entry written without one, as the original's `write_cache_with_metadata … 300`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Prefix of an entry's metadata file, next to it: `dir/name` has `dir/.meta.name` (hidden, so never
/// an entry and never counted in the size).
pub const META_PREFIX: &str = ".meta.";

/// One entry to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key (see [`CacheDir`] for the rules).
    pub key: &'a str,
    /// The value.
    pub value: &'a [u8],
    /// How long it stays fresh, from the clock's wall time at the write.
    pub ttl: Duration,
}

impl<'a> Entry<'a> {
    /// An entry with the [`DEFAULT_TTL`].
    pub fn new(key: &'a str, value: &'a [u8]) -> Self {
        Self {
            key,
            value,
            ttl: DEFAULT_TTL,
        }
    }

    /// The same entry with another TTL.
    pub fn with_ttl(self, ttl: Duration) -> Self {
        Self { ttl, ..self }
    }
}

/// An entry's metadata: one line `expires_unix_ms accessed_unix_ms`, wall-clock milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// When it stops being fresh.
    pub expires_ms: u64,
    /// When it was last written or read through [`CacheDir::get_fresh`].
    pub accessed_ms: u64,
}

impl EntryMeta {
    fn encode(self) -> String {
        format!("{} {}\n", self.expires_ms, self.accessed_ms)
    }

    /// Parses a metadata file; `None` unless it is exactly two decimal numbers.
    fn decode(text: &str) -> Option<Self> {
        let mut fields = text.split_ascii_whitespace();
        let expires_ms = fields.next()?.parse().ok()?;
        let accessed_ms = fields.next()?.parse().ok()?;
        fields.next().is_none().then_some(Self {
            expires_ms,
            accessed_ms,
        })
    }
}

/// Limits a cleanup enforces: expired entries always go; then least recently used ones until both
/// limits hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most bytes the entries may hold.
    pub max_bytes: u64,
    /// Most entries.
    pub max_entries: u64,
}

/// An entry as a cleanup sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its path relative to the root, `/`-separated (lossy for non-UTF-8 names).
    pub key: String,
    /// Its path.
    pub path: PathBuf,
    /// Its length in bytes.
    pub len: u64,
    /// Its metadata, when it has a readable one.
    pub meta: Option<EntryMeta>,
    /// Its file's modification time (wall ms): the access time of an entry without metadata.
    pub mtime_ms: u64,
}

impl Candidate {
    /// When it expires; never for an entry without metadata (a file put there by other means).
    pub fn expires_ms(&self) -> Option<u64> {
        self.meta.map(|m| m.expires_ms)
    }

    /// When it was last used.
    pub fn accessed_ms(&self) -> u64 {
        self.meta.map_or(self.mtime_ms, |m| m.accessed_ms)
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms().is_some_and(|e| e <= now_ms)
    }
}

/// The victims of a cleanup, in removal order, as indices into `candidates`: every expired entry
/// (earliest expiry first), then least recently used ones (ties by key) until the rest fits `limits`.
/// Pure: both strategies use it, so they pick the same victims.
pub fn select_victims(candidates: &[Candidate], limits: CacheLimits, now_ms: u64) -> Vec<usize> {
    let (mut expired, mut live): (Vec<usize>, Vec<usize>) =
        (0..candidates.len()).partition(|&i| candidates[i].expired(now_ms));
    expired.sort_by(|&a, &b| {
        let (a, b) = (&candidates[a], &candidates[b]);
        (a.expires_ms(), &a.key).cmp(&(b.expires_ms(), &b.key))
    });
    live.sort_by(|&a, &b| {
        let (a, b) = (&candidates[a], &candidates[b]);
        (a.accessed_ms(), &a.key).cmp(&(b.accessed_ms(), &b.key))
    });
    let mut bytes: u64 = live.iter().map(|&i| candidates[i].len).sum();
    let mut count = live.len() as u64;
    let mut victims = expired;
    for i in live {
        if bytes <= limits.max_bytes && count <= limits.max_entries {
            break;
        }
        victims.push(i);
        bytes -= candidates[i].len;
        count -= 1;
    }
    victims
}

/// What a cleanup did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Keys removed, in removal order.
    pub removed: Vec<String>,
    /// How many of them had expired (the rest were least recently used).
    pub expired: usize,
    /// Bytes they held.
    pub bytes_freed: u64,
    /// Metadata files without an entry (left by a crash mid-removal) that were removed.
    pub orphan_metas: usize,
}

/// Writing many entries and enforcing limits: the two ways the seed compares. Both leave the same
/// entries and metadata behind and keep the size index exact; a caller sharing the cache with other
/// processes holds a [`CacheLock`](super::lock::CacheLock) around them.
pub trait EntryOps: Send + Sync + fmt::Debug {
    /// Short, stable name for scenario ids and reports: `"single"` or `"batch"`.
    fn name(&self) -> &'static str;

    /// Writes every entry (later ones win over earlier ones with the same key); returns how many.
    fn write_entries(
        &self,
        cache: &CacheDir,
        clock: &dyn Clock,
        entries: &[Entry<'_>],
    ) -> Result<usize, CacheError>;

    /// Removes expired entries, then least recently used ones until `limits` hold.
    fn enforce_limits(
        &self,
        cache: &CacheDir,
        clock: &dyn Clock,
        limits: CacheLimits,
    ) -> Result<CleanupReport, CacheError>;
}

/// Gives `$ty` (with its `stop_after` field) its `NAME`, `$name`, the crash-simulating constructor
/// `stopping_after`, and its [`EntryOps`] impl, which runs the type's own `write` and `enforce` in
/// an [`Op`].
macro_rules! entry_ops {
    ($ty:ty, $name:literal) => {
        impl $ty {
            /// Simulates a crash: an operation stops with [`CacheError::Interrupted`] after `k`
            /// entries, leaving the files as a process killed there would.
            pub fn stopping_after(k: usize) -> Self {
                Self {
                    stop_after: StopAfter(Some(k)),
                }
            }

            /// One operation of this on `cache`, timed by `clock`.
            fn op<'a>(&self, cache: &'a CacheDir, clock: &'a dyn Clock) -> Op<'a> {
                Op {
                    cache,
                    clock,
                    stop_after: self.stop_after,
                }
            }
        }

        named_impl! {
            EntryOps for $ty = $name {
                fn write_entries(
                    &self,
                    cache: &CacheDir,
                    clock: &dyn Clock,
                    entries: &[Entry<'_>],
                ) -> Result<usize, CacheError> {
                    Self::write(self.op(cache, clock), entries)
                }

                fn enforce_limits(
                    &self,
                    cache: &CacheDir,
                    clock: &dyn Clock,
                    limits: CacheLimits,
                ) -> Result<CleanupReport, CacheError> {
                    Self::enforce(self.op(cache, clock), limits)
                }
            }
        }
    };
}

/// The original: each entry is its own complete operation. A write is [`CacheDir::put_entry`] (size
/// index read, deleted and rewritten per entry); a cleanup removes one victim at a time, each through
/// [`CacheDir::remove`] (index updated per removal), and re-checks the limits against the cache's
/// size after every removal. It selects its victims from one scan, as the batched one does (a rescan
/// per removal would make it quadratic, which the seed does not say it was).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerEntryOps {
    stop_after: StopAfter,
}

entry_ops!(PerEntryOps, "single");

/// The seed's "after": one operation for the whole set. A write checks every key first, deletes the
/// size index once, writes each entry and its metadata, and writes the index once; a cleanup collects
/// its victims first, then removes them all with one index update. A crash in the middle leaves every
/// entry readable (each file is written by temp file + rename) and the index missing, so the next size
/// query rebuilds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchedOps {
    stop_after: StopAfter,
}

entry_ops!(BatchedOps, "batch");

/// Where a simulated crash stops an operation: before its entry `k` (after `k` done), or never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StopAfter(Option<usize>);

/// What one operation of [`PerEntryOps`] or [`BatchedOps`] works with.
#[derive(Clone, Copy)]
struct Op<'a> {
    cache: &'a CacheDir,
    clock: &'a dyn Clock,
    stop_after: StopAfter,
}

impl Op<'_> {
    /// [`CacheError::Interrupted`] if the operation stops here, with `done` of its `total` entries
    /// done.
    fn check(self, done: usize, total: usize) -> Result<(), CacheError> {
        if self.stop_after.0 == Some(done) {
            return Err(CacheError::Interrupted {
                root: self.cache.root.clone(),
                done,
                total,
            });
        }
        Ok(())
    }
}

impl PerEntryOps {
    /// [`EntryOps::write_entries`]: each entry a [`CacheDir::put_entry`].
    fn write(op: Op<'_>, entries: &[Entry<'_>]) -> Result<usize, CacheError> {
        for (i, entry) in entries.iter().enumerate() {
            op.check(i, entries.len())?;
            op.cache.put_entry(op.clock, *entry)?;
        }
        Ok(entries.len())
    }

    /// [`EntryOps::enforce_limits`]: one victim at a time, re-checking the limits.
    fn enforce(op: Op<'_>, limits: CacheLimits) -> Result<CleanupReport, CacheError> {
        let Op { cache, clock, .. } = op;
        let now = wall_ms(clock.wall());
        let scan = cache.scan()?;
        let mut report = CleanupReport::default();
        for orphan in &scan.orphan_metas {
            report.orphan_metas += usize::from(cache.remove_meta_file(orphan)?);
        }
        let victims = select_victims(&scan.candidates, limits, now);
        let mut count = scan.candidates.len() as u64;
        for (i, &v) in victims.iter().enumerate() {
            op.check(i, victims.len())?;
            let victim = &scan.candidates[v];
            let expired = victim.expired(now);
            if !expired {
                // The original's loop: is the cache still over its limits?
                let size = cache.size()?;
                if size <= limits.max_bytes && count <= limits.max_entries {
                    break;
                }
            }
            if cache.remove_path(&victim.path)? {
                report.removed.push(victim.key.clone());
                report.expired += usize::from(expired);
                report.bytes_freed += victim.len;
                count -= 1;
            }
            cache.remove_meta_file(&meta_path(&victim.path))?;
        }
        Ok(report)
    }
}

impl BatchedOps {
    /// [`EntryOps::write_entries`]: the whole set in one operation.
    fn write(op: Op<'_>, entries: &[Entry<'_>]) -> Result<usize, CacheError> {
        let Op { cache, clock, .. } = op;
        let paths = entries
            .iter()
            .map(|e| cache.entry_path(e.key))
            .collect::<Result<Vec<_>, _>>()?;
        check_batch_layout(entries)?;
        let _guard = cache.lock();
        // Lengths being replaced, checked before anything changes (a conflicting key fails here).
        let mut old_lens: Vec<u64> = Vec::with_capacity(entries.len());
        let mut seen: HashMap<&str, u64> = HashMap::new();
        for (entry, path) in entries.iter().zip(&paths) {
            let old = match seen.get(entry.key) {
                Some(&len) => len,
                None => cache.existing_len_for_put(entry.key, path)?,
            };
            old_lens.push(old);
            seen.insert(entry.key, entry.value.len() as u64);
        }
        let now = wall_ms(clock.wall());
        let tracked = cache.strategy.before_mutation(&cache.root, &cache.stats)?;
        let mut made_dirs: HashSet<&Path> = HashSet::new();
        let mut change = SizeChange {
            old_len: 0,
            new_len: 0,
        };
        for (i, (entry, path)) in entries.iter().zip(&paths).enumerate() {
            op.check(i, entries.len())?;
            if let Some(parent) = path.parent()
                && made_dirs.insert(parent)
            {
                cache.stats.record_fs_calls(1);
                fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            }
            cache.stats.record_fs_calls(4);
            write_atomic(path, entry.value)?;
            write_atomic(&meta_path(path), meta_for(*entry, now).encode().as_bytes())?;
            change.old_len += old_lens[i];
            change.new_len += entry.value.len() as u64;
        }
        cache
            .strategy
            .after_mutation(&cache.root, &cache.stats, tracked, change)?;
        Ok(entries.len())
    }

    /// [`EntryOps::enforce_limits`]: every victim, with one index update.
    fn enforce(op: Op<'_>, limits: CacheLimits) -> Result<CleanupReport, CacheError> {
        let Op { cache, clock, .. } = op;
        let now = wall_ms(clock.wall());
        let _guard = cache.lock();
        let scan = cache.scan()?;
        let victims = select_victims(&scan.candidates, limits, now);
        let mut report = CleanupReport::default();
        if victims.is_empty() && scan.orphan_metas.is_empty() {
            return Ok(report);
        }
        let tracked = cache.strategy.before_mutation(&cache.root, &cache.stats)?;
        for orphan in &scan.orphan_metas {
            report.orphan_metas += usize::from(cache.remove_meta_file(orphan)?);
        }
        let mut change = SizeChange {
            old_len: 0,
            new_len: 0,
        };
        let mut vanished = false;
        for (i, &v) in victims.iter().enumerate() {
            op.check(i, victims.len())?;
            let victim = &scan.candidates[v];
            cache.stats.record_fs_calls(1);
            match fs::remove_file(&victim.path) {
                Ok(()) => {
                    report.removed.push(victim.key.clone());
                    report.expired += usize::from(victim.expired(now));
                    report.bytes_freed += victim.len;
                    change.old_len += victim.len;
                }
                Err(e) if absent(&e) => vanished = true,
                Err(e) => return Err(io_error(&victim.path, e)),
            }
            cache.remove_meta_file(&meta_path(&victim.path))?;
        }
        if !vanished {
            cache
                .strategy
                .after_mutation(&cache.root, &cache.stats, tracked, change)?;
        }
        // Else something else removed an entry meanwhile: the tracked size is no base for an
        // update, so the index stays missing and the next query rebuilds it.
        Ok(report)
    }
}

/// Rejects a batch in which one key would be a directory holding another (`a` and `a/b`).
fn check_batch_layout(entries: &[Entry<'_>]) -> Result<(), CacheError> {
    let keys: HashSet<&str> = entries.iter().map(|e| e.key).collect();
    for entry in entries {
        let mut end = 0;
        for segment in entry.key.split('/') {
            end += segment.len();
            if end < entry.key.len() && keys.contains(&entry.key[..end]) {
                return Err(CacheError::BadKey {
                    key: entry.key.to_owned(),
                    why: format!(
                        "the same batch writes `{}` as an entry, so it cannot also hold entries; \
                         write one or the other",
                        &entry.key[..end]
                    ),
                });
            }
            end += 1;
        }
    }
    Ok(())
}

fn meta_for(entry: Entry<'_>, now_ms: u64) -> EntryMeta {
    let ttl = u64::try_from(entry.ttl.as_millis()).unwrap_or(u64::MAX);
    EntryMeta {
        expires_ms: now_ms.saturating_add(ttl),
        accessed_ms: now_ms,
    }
}

/// Wall time as Unix milliseconds (0 before the epoch).
pub fn wall_ms(wall: SystemTime) -> u64 {
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The metadata file of the entry at `path`.
pub fn meta_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{META_PREFIX}{name}"))
}

/// Every entry with its metadata, and the metadata files whose entry is gone.
#[derive(Debug, Default)]
struct Scan {
    candidates: Vec<Candidate>,
    orphan_metas: Vec<PathBuf>,
}

impl CacheDir {
    /// Writes one entry and its metadata (expiry from `clock`'s wall time plus its TTL): the
    /// original's `write_cache_with_metadata`, a complete operation per entry.
    pub fn put_entry(&self, clock: &dyn Clock, entry: Entry<'_>) -> Result<(), CacheError> {
        let path = self.entry_path(entry.key)?;
        self.put(entry.key, entry.value)?;
        let meta = meta_for(entry, wall_ms(clock.wall()));
        self.stats.record_fs_calls(2);
        write_atomic(&meta_path(&path), meta.encode().as_bytes())
    }

    /// The entry's metadata, if it has a readable one.
    pub fn entry_meta(&self, key: &str) -> Result<Option<EntryMeta>, CacheError> {
        let path = self.entry_path(key)?;
        read_meta(&meta_path(&path))
    }

    /// The value under `key` if it is there and not expired by `clock`'s wall time; marks it used
    /// now (for least-recently-used eviction). An entry without metadata never expires.
    pub fn get_fresh(&self, clock: &dyn Clock, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.entry_path(key)?;
        let meta_file = meta_path(&path);
        let meta = read_meta(&meta_file)?;
        let now = wall_ms(clock.wall());
        if meta.is_some_and(|m| m.expires_ms <= now) {
            return Ok(None);
        }
        let value = self.get(key)?;
        if let (Some(_), Some(meta)) = (&value, meta) {
            let touched = EntryMeta {
                accessed_ms: now,
                ..meta
            };
            write_atomic(&meta_file, touched.encode().as_bytes())?;
        }
        Ok(value)
    }

    /// Walks the cache: every entry (length, metadata) and the orphaned metadata files. Counts the
    /// walk's entries and one call per entry (its metadata) and per metadata file read.
    fn scan(&self) -> Result<Scan, CacheError> {
        let mut entries: Vec<(PathBuf, fs::Metadata)> = Vec::new();
        let mut metas: BTreeSet<PathBuf> = BTreeSet::new();
        let mut visited = 0_u64;
        let walk = WalkDir::new(&self.root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0 || !(e.file_type().is_dir() && is_hidden(e.file_name()))
            });
        for item in walk {
            let entry = item.map_err(|e| walk_error(&self.root, e))?;
            visited += 1;
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().as_encoded_bytes();
            if super::is_stale_temp(entry.file_name()) {
                // A writer killed between its temp file and the rename left it: nothing reads it.
                self.stats.record_fs_calls(1);
                match fs::remove_file(entry.path()) {
                    Ok(()) => {}
                    Err(e) if absent(&e) => {}
                    Err(e) => return Err(io_error(entry.path(), e)),
                }
            } else if name.starts_with(META_PREFIX.as_bytes()) {
                metas.insert(entry.path().to_path_buf());
            } else if !is_hidden(entry.file_name()) {
                self.stats.record_fs_calls(1);
                match entry.metadata() {
                    Ok(meta) => entries.push((entry.into_path(), meta)),
                    Err(e) if e.io_error().is_some_and(absent) => {}
                    Err(e) => return Err(walk_error(&self.root, e)),
                }
            }
        }
        self.stats.record_entries_visited(visited);
        let mut scan = Scan::default();
        for (path, meta) in entries {
            let meta_file = meta_path(&path);
            let entry_meta = if metas.remove(&meta_file) {
                self.stats.record_fs_calls(1);
                read_meta(&meta_file)?
            } else {
                None
            };
            let key = path
                .strip_prefix(&self.root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            scan.candidates.push(Candidate {
                key,
                len: meta.len(),
                meta: entry_meta,
                mtime_ms: meta.modified().map_or(0, wall_ms),
                path,
            });
        }
        scan.orphan_metas = metas.into_iter().collect();
        Ok(scan)
    }

    /// Removes a metadata file; `false` if it was not there.
    fn remove_meta_file(&self, path: &Path) -> Result<bool, CacheError> {
        self.stats.record_fs_calls(1);
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if absent(&e) => Ok(false),
            Err(e) => Err(io_error(path, e)),
        }
    }
}

fn read_meta(path: &Path) -> Result<Option<EntryMeta>, CacheError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(EntryMeta::decode(&text)),
        Err(e) if absent(&e) || e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}
