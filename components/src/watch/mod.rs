//! Hot-reload watcher (seed `core-improvements.md`, section 3): [`PollingWatcher`] compares mtimes every
//! interval as the original did; [`NotifyWatcher`] takes inotify events on the parent directories.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use notify::event::{EventKind, ModifyKind};
use notify::{Event, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};

use crate::counters::counters;
use crate::named::named_impl;

/// The original's interval: mtimes compared every 1.0 s.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Quiet time after an event before [`NotifyWatcher`] reports: one save (write, or write a temporary
/// file and rename it over) gives one change.
pub const DEBOUNCE: Duration = Duration::from_millis(25);
/// Longest [`NotifyWatcher`] holds back a change while events keep coming.
pub const MAX_DEBOUNCE: Duration = Duration::from_millis(250);

/// What can go wrong when starting a watcher.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A watched file has no usable parent directory.
    #[error(
        "cannot watch `{}`: its directory `{}` is not there ({reason}); create the directory first",
        .path.display(), .dir.display()
    )]
    NoDirectory {
        /// The file asked for.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// Neither inotify nor the polling fallback could watch a directory.
    #[error("cannot watch directory `{}`: {source}; check its permissions", .dir.display())]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// What notify said.
        source: notify::Error,
    },
    /// The background thread could not be started.
    #[error("cannot start the watcher thread: {0}; raise the thread limit")]
    Thread(std::io::Error),
}

/// What happened to a watched file, as its state when reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// It exists with new content or metadata (written, replaced by rename, or recreated).
    Written,
    /// It is gone.
    Removed,
}

/// One change to one watched file: reload it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Change {
    /// The file, as given to the watcher.
    pub path: PathBuf,
    /// Its state.
    pub kind: ChangeKind,
}

counters! {
    /// Counters every watcher keeps.
    pub struct WatchStats {
        /// `stat` calls on watched files (the filesystem activity the seed wants gone).
        stat_calls,
        /// Full passes over the watched files.
        scans,
        /// Events received from the operating system (or notify's poller).
        raw_events,
        /// Changes reported.
        changes,
    }
}

/// A set of files watched for reloads; changes arrive on [`FileWatcher::changes`].
pub trait FileWatcher: Send {
    /// Short, stable name for scenario ids: `"polling"` or `"notify"`.
    fn name(&self) -> &'static str;
    /// Where changes arrive, one per file per save.
    fn changes(&self) -> &Receiver<Change>;
    /// The counters.
    fn stats(&self) -> &WatchStats;
}

/// Makes `$ty` (with its `changes` and `stats` fields) a [`FileWatcher`] named `$name` (also its
/// `NAME`).
macro_rules! file_watcher {
    ($ty:ty, $name:literal) => {
        named_impl! {
            FileWatcher for $ty = $name {
                fn changes(&self) -> &Receiver<Change> {
                    &self.changes
                }
                fn stats(&self) -> &WatchStats {
                    &self.stats
                }
            }
        }
    };
}

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileState {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn state_of(path: &Path, stats: &WatchStats) -> Option<FileState> {
    stats.stat_calls.fetch_add(1, Ordering::Relaxed);
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileState {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

fn change(path: &Path, state: Option<FileState>) -> Change {
    Change {
        path: path.to_path_buf(),
        kind: if state.is_some() {
            ChangeKind::Written
        } else {
            ChangeKind::Removed
        },
    }
}

/// The watched files by directory, checked to exist.
fn by_directory(files: &[PathBuf]) -> Result<BTreeMap<PathBuf, Vec<PathBuf>>, WatchError> {
    let mut dirs: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let dir = match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(WatchError::NoDirectory {
                    path: f.clone(),
                    dir,
                    reason: "not a directory".to_owned(),
                });
            }
            Err(e) => {
                return Err(WatchError::NoDirectory {
                    path: f.clone(),
                    dir,
                    reason: e.to_string(),
                });
            }
        }
        let name = f.file_name().map(PathBuf::from).unwrap_or_default();
        dirs.entry(dir.clone()).or_default().push(dir.join(name));
    }
    Ok(dirs)
}

/// A background thread that stops when its stop channel closes (on drop).
struct Worker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(
        name: &str,
        body: impl FnOnce(Receiver<()>) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let (stop, stopped) = bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(stopped))
            .map_err(WatchError::Thread)?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            // A panic in the thread was already reported by the panic hook; nothing is left to do.
            let _ = t.join();
        }
    }
}

/// The original: stat every watched file every `interval` and report the ones whose mtime, size or
/// inode changed. The thread runs until the watcher is dropped.
pub struct PollingWatcher {
    changes: Receiver<Change>,
    stats: Arc<WatchStats>,
    _worker: Worker,
}

impl PollingWatcher {
    /// Watches `files` (they may not exist yet), comparing every `interval` (at least 1 ms).
    pub fn start(files: &[PathBuf], interval: Duration) -> Result<Self, WatchError> {
        let dirs = by_directory(files)?;
        let files: Vec<PathBuf> = dirs.into_values().flatten().collect();
        let interval = interval.max(Duration::from_millis(1));
        let stats = Arc::new(WatchStats::default());
        let (tx, changes) = unbounded();
        let mut known: Vec<Option<FileState>> = files.iter().map(|f| state_of(f, &stats)).collect();
        let st = Arc::clone(&stats);
        let worker = Worker::spawn("polling-watcher", move |stop| {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
                st.scans.fetch_add(1, Ordering::Relaxed);
                for (path, last) in files.iter().zip(known.iter_mut()) {
                    let now = state_of(path, &st);
                    if now != *last {
                        *last = now;
                        st.changes.fetch_add(1, Ordering::Relaxed);
                        if tx.send(change(path, now)).is_err() {
                            return;
                        }
                    }
                }
            }
        })?;
        Ok(Self {
            changes,
            stats,
            _worker: worker,
        })
    }
}

file_watcher!(PollingWatcher, "polling");

/// Which mechanism a [`NotifyWatcher`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The platform's notifications (inotify on Linux).
    Native,
    /// notify's `PollWatcher`: where native watching is not available or its limit is reached.
    Poll,
}

/// How a [`NotifyWatcher`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Quiet time after the last event before a change is reported.
    pub debounce: Duration,
    /// Longest a change is held back while events keep coming.
    pub max_debounce: Duration,
    /// The fallback poller's interval.
    pub fallback_interval: Duration,
    /// Use the fallback even where native watching works (for tests and comparison).
    pub force_fallback: bool,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            debounce: DEBOUNCE,
            max_debounce: MAX_DEBOUNCE,
            fallback_interval: POLL_INTERVAL,
            force_fallback: false,
        }
    }
}

/// Watches the parent directory of each file (modify, create, delete, rename: anything but access)
/// through the `notify` crate, falling back to its `PollWatcher` when native watching cannot start or
/// its watch limit is reached. Events are debounced per file; a change reports the file's state at
/// that moment, so the last change of a burst is always its final state.
pub struct NotifyWatcher {
    changes: Receiver<Change>,
    stats: Arc<WatchStats>,
    backend: Backend,
    // Dropped first: closing notify's handler ends the debounce thread's input.
    _inner: Box<dyn Watcher + Send>,
    _worker: Worker,
}

/// Whether a notify error means "native watching is not possible here": fall back to polling.
fn wants_fallback(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        // ENOSPC (watch limit), EMFILE (instance limit), ENOSYS (no inotify).
        notify::ErrorKind::Io(io) => matches!(io.raw_os_error(), Some(28 | 24 | 38)),
        _ => false,
    }
}

impl NotifyWatcher {
    /// Watches `files` (they may not exist yet, their directories must) with [`NotifyConfig::default`].
    pub fn start(files: &[PathBuf]) -> Result<Self, WatchError> {
        Self::with_config(files, NotifyConfig::default())
    }

    /// Watches `files` with `config`.
    pub fn with_config(files: &[PathBuf], config: NotifyConfig) -> Result<Self, WatchError> {
        let dirs = by_directory(files)?;
        let stats = Arc::new(WatchStats::default());
        let (raw_tx, raw_rx) = unbounded::<notify::Result<Event>>();
        let native_tx = raw_tx.clone();
        let native = if config.force_fallback {
            None
        } else {
            Self::native(&dirs, move |e| drop(native_tx.send(e)))?
        };
        let (inner, backend) = match native {
            Some(w) => (Box::new(w) as Box<dyn Watcher + Send>, Backend::Native),
            None => {
                // Contents, not only mtimes: Linux stamps mtimes from a coarse clock (one tick is
                // 1-10 ms), so two saves within a tick look the same to an mtime comparison and the
                // second would be missed (the burst test caught it).
                let poll_config = notify::Config::default()
                    .with_poll_interval(config.fallback_interval)
                    .with_compare_contents(true);
                let mut w = PollWatcher::new(move |e| drop(raw_tx.send(e)), poll_config).map_err(
                    |source| WatchError::Watch {
                        dir: PathBuf::from("."),
                        source,
                    },
                )?;
                for dir in dirs.keys() {
                    w.watch(dir, RecursiveMode::NonRecursive)
                        .map_err(|source| WatchError::Watch {
                            dir: dir.clone(),
                            source,
                        })?;
                }
                (Box::new(w) as Box<dyn Watcher + Send>, Backend::Poll)
            }
        };
        let (tx, changes) = unbounded();
        let known: BTreeMap<PathBuf, Option<FileState>> = dirs
            .values()
            .flatten()
            .map(|f| (f.clone(), state_of(f, &stats)))
            .collect();
        let st = Arc::clone(&stats);
        let worker = Worker::spawn("notify-watcher", move |stop| {
            debounce(raw_rx, stop, tx, known, dirs, config, &st);
        })?;
        Ok(Self {
            changes,
            stats,
            backend,
            _inner: inner,
            _worker: worker,
        })
    }

    /// The native watcher on every directory; `None` when it cannot start or its watch limit is
    /// reached (use the fallback); an error for anything else (a directory that cannot be read).
    fn native(
        dirs: &BTreeMap<PathBuf, Vec<PathBuf>>,
        handler: impl notify::EventHandler,
    ) -> Result<Option<RecommendedWatcher>, WatchError> {
        let Ok(mut w) = RecommendedWatcher::new(handler, notify::Config::default()) else {
            return Ok(None);
        };
        for dir in dirs.keys() {
            match w.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {}
                Err(e) if wants_fallback(&e) => return Ok(None),
                Err(source) => {
                    return Err(WatchError::Watch {
                        dir: dir.clone(),
                        source,
                    });
                }
            }
        }
        Ok(Some(w))
    }

    /// The mechanism in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

file_watcher!(NotifyWatcher, "notify");

/// Whether an event says anything about content or presence (access events do not).
fn relevant(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Other)
    )
}

/// The debounce loop: gathers the watched files that events name until `config.debounce` passes
/// without an event (or `config.max_debounce` since the first), then reports each whose state
/// differs from the last one reported. Ends when the watcher is dropped.
fn debounce(
    raw: Receiver<notify::Result<Event>>,
    stop: Receiver<()>,
    tx: Sender<Change>,
    mut known: BTreeMap<PathBuf, Option<FileState>>,
    dirs: BTreeMap<PathBuf, Vec<PathBuf>>,
    config: NotifyConfig,
    stats: &WatchStats,
) {
    let mut pending: BTreeSet<PathBuf> = BTreeSet::new();
    let mut first: Option<std::time::Instant> = None;
    loop {
        let wait = first.map(|t0| {
            config
                .debounce
                .min(config.max_debounce.saturating_sub(t0.elapsed()))
        });
        // Idle (nothing pending), wait without a deadline: a promise of no work when idle means no
        // timer armed either (an hourly default timeout here was one wakeup an hour for nothing).
        let got = match wait {
            Some(wait) => crossbeam_channel::select! {
                recv(stop) -> _ => return,
                recv(raw) -> e => match e {
                    Ok(e) => Some(e),
                    Err(_) => return,
                },
                default(wait) => None,
            },
            None => crossbeam_channel::select! {
                recv(stop) -> _ => return,
                recv(raw) -> e => match e {
                    Ok(e) => Some(e),
                    Err(_) => return,
                },
            },
        };
        match got {
            Some(Ok(event)) => {
                stats.raw_events.fetch_add(1, Ordering::Relaxed);
                let before = pending.len();
                if event.need_rescan() {
                    pending.extend(known.keys().cloned());
                } else if relevant(&event.kind) {
                    for p in &event.paths {
                        if known.contains_key(p) {
                            pending.insert(p.clone());
                        } else if let Some(files) = dirs.get(p) {
                            // The directory itself was removed or moved: all its files are gone.
                            pending.extend(files.iter().cloned());
                        }
                    }
                }
                if pending.len() > before && first.is_none() {
                    first = Some(std::time::Instant::now());
                }
            }
            // An error from the event stream (e.g. the queue overflowed): look at every file.
            Some(Err(_)) => {
                pending.extend(known.keys().cloned());
                first.get_or_insert_with(std::time::Instant::now);
            }
            None if first.is_some() => {
                for path in std::mem::take(&mut pending) {
                    let now = state_of(&path, stats);
                    let last = known.insert(path.clone(), now).flatten();
                    if now != last {
                        stats.changes.fetch_add(1, Ordering::Relaxed);
                        if tx.send(change(&path, now)).is_err() {
                            return;
                        }
                    }
                }
                first = None;
            }
            None => {}
        }
    }
}
