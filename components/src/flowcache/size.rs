//! How a [`CacheDir`](super::CacheDir) answers "how many bytes does the cache hold?": by walking the
//! tree like `du -sb` ([`WalkSize`], the seed's "before") or from a `.size-index` file ([`IndexedSize`]).

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use walkdir::WalkDir;

use super::setting::env_setting;
use super::{CacheError, CacheStats, SIZE_INDEX_FILE, io_error, write_atomic};

/// Longest `.size-index` read: a `u64` has at most 20 digits; anything longer is corrupt.
pub const MAX_INDEX_BYTES: u64 = 64;

/// The environment variable that picks the size strategy, as in FlowForge.
pub const SIZE_TRACKING_VAR: &str = "CACHE_SIZE_TRACKING";

/// How one entry changed in a mutation: its length before and after, 0 meaning "absent".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeChange {
    /// Bytes the entry held before (0 if it did not exist).
    pub old_len: u64,
    /// Bytes the entry holds after (0 if it was removed).
    pub new_len: u64,
}

/// A way to know the total size of a cache directory: the sum of the lengths of every regular file
/// under the root whose path has no component starting with `.` (see [`CacheDir`](super::CacheDir)).
///
/// [`CacheDir`](super::CacheDir) calls the hooks with its mutation lock held, in this order:
/// [`before_mutation`](Self::before_mutation), the change on disk, then
/// [`after_mutation`](Self::after_mutation) with what `before_mutation` returned. If the change fails,
/// `after_mutation` is not called, so a strategy must leave the disk in a state that is correct
/// without it (for [`IndexedSize`]: no index, so the next query rebuilds it).
pub trait SizeStrategy: Send + Sync + fmt::Debug {
    /// Short, stable name for scenario ids and reports: `"walk"` or `"indexed"`.
    fn name(&self) -> &'static str;

    /// Total bytes of the entries under `root`.
    fn size(&self, root: &Path, stats: &CacheStats) -> Result<u64, CacheError>;

    /// Prepares for a mutation; returns the tracked size before it, if the strategy tracks one.
    fn before_mutation(&self, root: &Path, stats: &CacheStats) -> Result<Option<u64>, CacheError> {
        let _ = (root, stats);
        Ok(None)
    }

    /// Records a completed mutation; `tracked` is what [`before_mutation`](Self::before_mutation)
    /// returned. The size after it, the tracked one less the entry's old length plus its new one, is
    /// [stored](Self::store_size); with no tracked size, or one smaller than the old length (the tree
    /// was changed behind the strategy's back), nothing is, so a stored size stays missing and the
    /// next query rebuilds it.
    fn after_mutation(
        &self,
        root: &Path,
        stats: &CacheStats,
        tracked: Option<u64>,
        change: SizeChange,
    ) -> Result<(), CacheError> {
        let new_value = tracked
            .and_then(|before| before.checked_sub(change.old_len))
            .and_then(|rest| rest.checked_add(change.new_len));
        match new_value {
            Some(value) => self.store_size(root, stats, value),
            None => Ok(()),
        }
    }

    /// Stores the size a mutation left; only called after a `before_mutation` that tracked one.
    fn store_size(&self, root: &Path, stats: &CacheStats, size: u64) -> Result<(), CacheError> {
        let _ = (root, stats, size);
        Ok(())
    }
}

/// The "before": every query walks the whole tree and sums the entries' lengths, like `du -sb`
/// (O(entries) per query, nothing stored). Unlike `du`, directories themselves count 0 bytes and
/// hidden files are skipped, so both strategies agree exactly.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkSize;

impl WalkSize {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "walk";
}

impl SizeStrategy for WalkSize {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn size(&self, root: &Path, stats: &CacheStats) -> Result<u64, CacheError> {
        walk_size(root, stats)
    }
}

/// The "after": the size lives in [`SIZE_INDEX_FILE`] at the cache root, one decimal integer (bytes;
/// surrounding whitespace ignored, at most [`MAX_INDEX_BYTES`]). A query reads it, O(1); a missing or
/// unparsable index is rebuilt by a walk and written back (temp file + rename).
///
/// Crash safety: a mutation reads the current value (rebuilding it if needed), **deletes the index**,
/// changes the entry, then writes the new value (temp file + rename). A process that dies at any point
/// therefore leaves the index either correct or missing, never a wrong number, and a missing index is
/// rebuilt on the next query. This holds for process crashes (kill, panic); nothing is fsynced, so
/// after a power loss the filesystem's own ordering decides. If the stored value is smaller than the
/// entry being replaced (the tree was changed behind the index's back), the index is left missing so
/// the next query rebuilds it.
///
/// The hooks assume the caller serialises mutations, as [`CacheDir`](super::CacheDir) does within one
/// process; several processes sharing a cache need a cross-process lock (a later issue).
#[derive(Clone, Copy, Debug, Default)]
pub struct IndexedSize;

impl IndexedSize {
    /// Its name in reports and scenario ids.
    pub const NAME: &'static str = "indexed";

    /// The stored value, or `None` when the index is missing or does not hold a valid `u64`.
    fn read_index(root: &Path, stats: &CacheStats) -> Result<Option<u64>, CacheError> {
        let path = root.join(SIZE_INDEX_FILE);
        stats.record_index_read();
        stats.record_fs_calls(1);
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(path, e)),
        };
        // Read no more than a number can take, into a buffer on the stack (no allocation on the
        // query path): a huge corrupt index is rebuilt, not loaded. Bounded: each read fills at
        // least one byte of the buffer or ends the loop.
        let mut buf = [0_u8; MAX_INDEX_BYTES as usize + 1];
        let mut len = 0;
        let mut file = file;
        while len < buf.len() {
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        if len as u64 > MAX_INDEX_BYTES {
            return Ok(None);
        }
        Ok(std::str::from_utf8(&buf[..len]).ok().and_then(parse_index))
    }

    fn write_index(root: &Path, stats: &CacheStats, value: u64) -> Result<(), CacheError> {
        stats.record_fs_calls(2);
        write_atomic(&root.join(SIZE_INDEX_FILE), format!("{value}\n").as_bytes())?;
        stats.record_index_write();
        Ok(())
    }

    /// The current size: the index if valid, else a rebuild (written back when `write_back`).
    fn current(root: &Path, stats: &CacheStats, write_back: bool) -> Result<u64, CacheError> {
        if let Some(value) = Self::read_index(root, stats)? {
            return Ok(value);
        }
        stats.record_index_rebuild();
        let value = walk_size(root, stats)?;
        if write_back {
            Self::write_index(root, stats, value)?;
        }
        Ok(value)
    }
}

impl SizeStrategy for IndexedSize {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn size(&self, root: &Path, stats: &CacheStats) -> Result<u64, CacheError> {
        Self::current(root, stats, true)
    }

    fn before_mutation(&self, root: &Path, stats: &CacheStats) -> Result<Option<u64>, CacheError> {
        let value = Self::current(root, stats, false)?;
        let path = root.join(SIZE_INDEX_FILE);
        stats.record_fs_calls(1);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(path, e)),
        }
        Ok(Some(value))
    }

    fn store_size(&self, root: &Path, stats: &CacheStats, size: u64) -> Result<(), CacheError> {
        Self::write_index(root, stats, size)
    }
}

/// Parses an index: one decimal integer, surrounding whitespace allowed, nothing else (no sign).
fn parse_index(text: &str) -> Option<u64> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a file name marks something that is not an entry (index, temp files, locks).
pub(super) fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Sums the lengths of the regular, non-hidden files under `root`, skipping hidden directories, and
/// counts every entry the walk yields (the root included) into `entries_visited`.
///
/// Entries that vanish mid-walk (another process removing them) are skipped, as `du` does.
pub(super) fn walk_size(root: &Path, stats: &CacheStats) -> Result<u64, CacheError> {
    let mut visited = 0_u64;
    let mut total = 0_u64;
    let walk = WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    let mut outcome = Ok(());
    for item in walk {
        match item {
            Ok(entry) => {
                visited += 1;
                if entry.file_type().is_file() {
                    match entry.metadata() {
                        Ok(meta) => total += meta.len(),
                        Err(e) if vanished(&e) => {}
                        Err(e) => {
                            outcome = Err(walk_error(root, e));
                            break;
                        }
                    }
                }
            }
            Err(e) if e.depth() > 0 && vanished(&e) => {}
            Err(e) => {
                outcome = Err(walk_error(root, e));
                break;
            }
        }
    }
    stats.record_entries_visited(visited);
    outcome.map(|()| total)
}

fn vanished(e: &walkdir::Error) -> bool {
    e.io_error()
        .is_some_and(|io| io.kind() == io::ErrorKind::NotFound)
}

/// A failed walk under `root` as a [`CacheError`] (a filesystem loop as an I/O error).
pub(super) fn walk_error(root: &Path, e: walkdir::Error) -> CacheError {
    let path = e.path().unwrap_or(root).to_path_buf();
    let source = e
        .into_io_error()
        .unwrap_or_else(|| io::Error::other("filesystem loop while walking the cache"));
    io_error(path, source)
}

env_setting! {
    /// Which size strategy to use, from `CACHE_SIZE_TRACKING=enabled|disabled` (default `enabled`:
    /// unset or empty means it, like bash's `${VAR:-enabled}`).
    pub enum SizeTracking from SIZE_TRACKING_VAR {
        /// Keep a `.size-index` ([`IndexedSize`]).
        Enabled = "enabled",
        /// Walk the tree on every query ([`WalkSize`]).
        Disabled = "disabled",
    }
}

impl SizeTracking {
    /// The strategy this setting selects: `Enabled` → [`IndexedSize`], `Disabled` → [`WalkSize`].
    pub fn strategy(self) -> Box<dyn SizeStrategy> {
        match self {
            Self::Enabled => Box::new(IndexedSize),
            Self::Disabled => Box::new(WalkSize),
        }
    }
}
