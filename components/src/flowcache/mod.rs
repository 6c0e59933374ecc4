//! FlowForge's cache directory (cache-optimizations.md): a key → file store whose total size is known
//! either by walking the tree like `du -sb` ([`WalkSize`]) or from a `.size-index` file ([`IndexedSize`]),
//! with a cross-process [`lock`], TTL entries and [`batch`] operations, and [`perf`] metrics.

pub mod batch;
pub mod lock;
pub mod perf;
mod setting;
mod size;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::counters::counters;

pub use size::{
    IndexedSize, MAX_INDEX_BYTES, SIZE_TRACKING_VAR, SizeChange, SizeStrategy, SizeTracking,
    WalkSize,
};

/// Name of the size index at the cache root (hidden, so never an entry itself).
pub const SIZE_INDEX_FILE: &str = ".size-index";

/// Prefix of the temporary files written before a rename (hidden, so never an entry).
const TEMP_PREFIX: &str = ".tmp-";

/// Longest key segment accepted: each segment is a file or directory name (NAME_MAX on Linux).
const MAX_SEGMENT_LEN: usize = 255;

/// What went wrong in a cache operation. Every message names the path, key or variable and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A filesystem operation failed.
    #[error("cache I/O error on `{}`: {source}; {}", .path.display(), io_hint(.source))]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A key that does not name a valid entry.
    #[error(
        "invalid cache key {key:?}: {why}; use `/`-separated segments of letters, digits, `.`, `_` \
         and `-`, none empty, none `..` and none starting with `.`"
    )]
    BadKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// An environment setting with a value this module does not accept.
    #[error(
        "{var}={value:?} is not a valid setting; set it to {expected}, or unset it for the default"
    )]
    BadSetting {
        /// The variable's name.
        var: &'static str,
        /// The value found.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// The cache lock stayed held by another process for the whole timeout.
    #[error(
        "gave up waiting for the cache lock `{}` after {waited:?} ({attempts} attempts); it is held \
         by {}; {}",
        .path.display(),
        lock::describe_holder(.holder, .holder_alive),
        lock::timeout_hint(.holder, .holder_alive, .path)
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited: std::time::Duration,
        /// How many times it tried.
        attempts: u32,
        /// The pid recorded by the holder, if any.
        holder: Option<u32>,
        /// Whether that pid is running (`None`: unknown on this platform, or no pid recorded).
        holder_alive: Option<bool>,
    },
    /// An operation stopped on purpose after `done` of `total` steps (a simulated crash, see
    /// [`batch::PerEntryOps::stopping_after`]); the cache is left as a crash would leave it.
    #[error(
        "cache operation in `{}` stopped after {done} of {total} entries (simulated crash); reopen \
         the cache: every entry is readable and a missing size index is rebuilt on the next query",
        .root.display()
    )]
    Interrupted {
        /// The cache directory.
        root: PathBuf,
        /// Entries fully processed.
        done: usize,
        /// Entries the operation was given or had selected.
        total: usize,
    },
    /// An operation name that cannot be a CSV field.
    #[error(
        "performance metric operation name {name:?} is not allowed; use letters, digits, `_`, `-` and \
         `.` only (no commas, quotes or line breaks), at most 64 characters"
    )]
    BadOperationName {
        /// The name as given.
        name: String,
    },
}

fn io_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => {
            "check that the cache directory still exists (reopen it to recreate it)"
        }
        io::ErrorKind::PermissionDenied => {
            "make the cache directory readable and writable by this user"
        }
        io::ErrorKind::StorageFull => "free some disk space or shrink the cache",
        io::ErrorKind::Unsupported => {
            "this filesystem does not support file locks; put the cache on a local filesystem"
        }
        io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::AlreadyExists => {
            "something that is not part of the cache is in the way; move it out of the cache directory"
        }
        _ => "check the path, its permissions and free disk space",
    }
}

pub(crate) fn io_error(path: impl Into<PathBuf>, source: io::Error) -> CacheError {
    CacheError::Io {
        path: path.into(),
        source,
    }
}

counters! {
    /// Counters of the work size queries did, to gate on exact numbers rather than wall time.
    /// Strategies record into them; all use relaxed atomics.
    pub struct CacheStats {
        /// Directory entries (files and directories, the root included, hidden ones skipped)
        /// yielded by the walks of size queries and index rebuilds.
        entries_visited,
        /// Attempts to read the size index (found or not).
        index_reads,
        /// Successful writes of the size index (after a mutation or a rebuild).
        index_writes,
        /// Times the size index was rebuilt by a walk because it was missing or unparsable.
        index_rebuilds,
        /// Filesystem calls made by cache operations, counted as std sees them: one per `fs::read`,
        /// `fs::write` (a whole small file), `fs::rename`, `fs::remove_file`, metadata query and
        /// `create_dir_all`; an atomic write is therefore 2. Walks count their entries in
        /// [`entries_visited`](Self::entries_visited) instead, and the reads of `get` are not
        /// counted.
        fs_calls,
    }
}

impl CacheStats {
    /// Sets every counter back to 0.
    pub fn reset(&self) {
        for counter in [
            &self.entries_visited,
            &self.index_reads,
            &self.index_writes,
            &self.index_rebuilds,
            &self.fs_calls,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Adds `n` walked entries (for [`SizeStrategy`] implementations).
    pub fn record_entries_visited(&self, n: u64) {
        self.entries_visited.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one read of the index (for [`SizeStrategy`] implementations).
    pub fn record_index_read(&self) {
        self.index_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one write of the index (for [`SizeStrategy`] implementations).
    pub fn record_index_write(&self) {
        self.index_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one rebuild of the index (for [`SizeStrategy`] implementations).
    pub fn record_index_rebuild(&self) {
        self.index_rebuilds.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` filesystem calls (see [`fs_calls`](Self::fs_calls)).
    pub fn record_fs_calls(&self, n: u64) {
        self.fs_calls.fetch_add(n, Ordering::Relaxed);
    }
}

/// A cache directory: each entry is a regular file at `root/key`, written by temp file + rename;
/// anything whose name starts with `.` (the index, temp files, entry metadata, the `.lock`) is not an
/// entry. Any tree of ordinary files is therefore a valid cache.
///
/// Within one process, mutations and size queries are serialised by a mutex so the size index stays
/// exact; reads (`get`) take no lock. Several processes sharing one directory coordinate by holding a
/// [`lock::CacheLock`] around their mutations (the cache does not take it itself: a caller doing many
/// operations takes it once); a writer that skips it can at worst make the index drift until it is
/// deleted or found inconsistent and rebuilt.
#[derive(Debug)]
pub struct CacheDir {
    root: PathBuf,
    strategy: Box<dyn SizeStrategy>,
    stats: CacheStats,
    mutation: Mutex<()>,
}

impl CacheDir {
    /// Opens the cache at `root` (creating the directory if missing) with a size strategy.
    pub fn open(
        root: impl Into<PathBuf>,
        strategy: Box<dyn SizeStrategy>,
    ) -> Result<Self, CacheError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io_error(&root, e))?;
        Ok(Self {
            root,
            strategy,
            stats: CacheStats::default(),
            mutation: Mutex::new(()),
        })
    }

    /// Stores `value` under `key`, replacing any previous value (temp file + rename, so a reader
    /// sees the old or the new value, never a mix); creates nested directories as needed.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), CacheError> {
        let path = self.entry_path(key)?;
        let _guard = self.lock();
        let old_len = self.existing_len_for_put(key, &path)?;
        let tracked = self.strategy.before_mutation(&self.root, &self.stats)?;
        if let Some(parent) = path.parent() {
            self.stats.record_fs_calls(1);
            fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        self.stats.record_fs_calls(2);
        write_atomic(&path, value)?;
        let change = SizeChange {
            old_len,
            new_len: value.len() as u64,
        };
        self.strategy
            .after_mutation(&self.root, &self.stats, tracked, change)
    }

    /// The value stored under `key`, or `None` if there is no such entry.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.entry_path(key)?;
        let mut file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(io_error(path, e)),
        };
        let meta = file.metadata().map_err(|e| io_error(&path, e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        let mut value = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut value)
            .map_err(|e| io_error(&path, e))?;
        Ok(Some(value))
    }

    /// Removes the entry under `key`; `true` if it existed. Directories left empty are kept.
    pub fn remove(&self, key: &str) -> Result<bool, CacheError> {
        let path = self.entry_path(key)?;
        self.remove_path(&path)
    }

    /// [`remove`](Self::remove) of an entry known by its path (one found by a walk).
    fn remove_path(&self, path: &Path) -> Result<bool, CacheError> {
        let _guard = self.lock();
        self.stats.record_fs_calls(1);
        let old_len = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => return Ok(false),
            Err(e) if absent(&e) => return Ok(false),
            Err(e) => return Err(io_error(path, e)),
        };
        let tracked = self.strategy.before_mutation(&self.root, &self.stats)?;
        self.stats.record_fs_calls(1);
        match fs::remove_file(path) {
            Ok(()) => {}
            // Gone behind our back: leave the index as the strategy left it (missing => rebuilt).
            Err(e) if absent(&e) => return Ok(false),
            Err(e) => return Err(io_error(path, e)),
        }
        let change = SizeChange {
            old_len,
            new_len: 0,
        };
        self.strategy
            .after_mutation(&self.root, &self.stats, tracked, change)?;
        Ok(true)
    }

    /// Total bytes of all entries, as the strategy computes it.
    pub fn size(&self) -> Result<u64, CacheError> {
        // Locked too: an index rebuild racing a mutation could otherwise write a stale value.
        let _guard = self.lock();
        self.strategy.size(&self.root, &self.stats)
    }

    /// Counters of the work done by size queries so far.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The size strategy's name: `"walk"` or `"indexed"`.
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The mutex guards no data, and the on-disk protocol survives a panic midway: ignore poison.
        self.mutation.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry_path(&self, key: &str) -> Result<PathBuf, CacheError> {
        validate_key(key)?;
        let mut path = self.root.clone();
        path.extend(key.split('/'));
        Ok(path)
    }

    /// Length of the entry `put` will replace (0 if none); a key whose path is, or runs through,
    /// something other than an entry/directory is a `BadKey`.
    fn existing_len_for_put(&self, key: &str, path: &Path) -> Result<u64, CacheError> {
        let conflict = |why: String| CacheError::BadKey {
            key: key.to_owned(),
            why,
        };
        let mut prefix = self.root.clone();
        let segments: Vec<&str> = key.split('/').collect();
        let (_, parents) = segments.split_last().unwrap_or((&"", &[]));
        for (i, segment) in parents.iter().enumerate() {
            prefix.push(segment);
            self.stats.record_fs_calls(1);
            match fs::symlink_metadata(&prefix) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(conflict(format!(
                        "`{}` is an entry (or not a directory), so it cannot hold other entries; \
                         remove it first",
                        segments[..=i].join("/")
                    )));
                }
                // Missing from here down: nothing to replace, create_dir_all makes the rest.
                Err(e) if absent(&e) => return Ok(0),
                Err(e) => return Err(io_error(prefix, e)),
            }
        }
        self.stats.record_fs_calls(1);
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(conflict(
                "a directory (or other non-entry) is at that path; remove the entries under it first"
                    .to_owned(),
            )),
            Err(e) if absent(&e) => Ok(0),
            Err(e) => Err(io_error(path, e)),
        }
    }
}

fn absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Checks the layout rules: `/`-separated segments of `[A-Za-z0-9._-]`, none empty, none starting
/// with `.` (which also rules out `.` and `..`), none longer than a file name may be.
fn validate_key(key: &str) -> Result<(), CacheError> {
    let bad = |why: String| {
        Err(CacheError::BadKey {
            key: key.to_owned(),
            why,
        })
    };
    if key.is_empty() {
        return bad("it is empty".to_owned());
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("it has an empty segment (a leading, trailing or doubled `/`)".to_owned());
        }
        if segment == ".." {
            return bad("a `..` segment would leave the cache directory".to_owned());
        }
        if segment.starts_with('.') {
            return bad(format!(
                "segment `{segment}` starts with `.`, which is reserved for the cache's own files"
            ));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return bad(format!("character {c:?} is not allowed"));
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return bad(format!(
                "a segment is {} bytes long, more than the {MAX_SEGMENT_LEN} a file name may have",
                segment.len()
            ));
        }
    }
    Ok(())
}

/// Whether `name` is a temp file of [`write_atomic`] whose writer (the pid in the name) no longer
/// runs: a process killed between writing it and the rename. Only known on Linux (`/proc`).
pub(crate) fn is_stale_temp(name: &std::ffi::OsStr) -> bool {
    let Some(pid) = name
        .to_str()
        .and_then(|n| n.strip_prefix(TEMP_PREFIX))
        .and_then(|n| n.split_once('-'))
        .and_then(|(pid, _)| pid.parse::<u32>().ok())
    else {
        return false;
    };
    cfg!(target_os = "linux")
        && pid != std::process::id()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Writes `bytes` to a hidden temp file next to `target`, then renames it over `target`. On failure
/// the temp file is removed and `target` is untouched.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
    if let Err(e) = fs::write(&temp, bytes) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(temp, e));
    }
    if let Err(e) = fs::rename(&temp, target) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(target, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
