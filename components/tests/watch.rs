//! The two watchers (and notify's polling fallback) on a temporary directory: written, replaced by
//! rename, deleted and recreated files are reported, one save gives one change, and after a burst
//! every file's final state is reported. No sleeps: each wait is a `recv_timeout` for the next change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use components::watch::{
    Backend, Change, ChangeKind, FileWatcher, NotifyConfig, NotifyWatcher, PollingWatcher,
};

const LONG: Duration = Duration::from_secs(10);

/// The polling watcher, the native notify watcher and notify's fallback, started one at a time (a
/// watcher started early would queue the changes made while testing the one before).
fn watchers(files: &[PathBuf]) -> impl Iterator<Item = Box<dyn FileWatcher>> + '_ {
    let fast = NotifyConfig {
        debounce: Duration::from_millis(10),
        fallback_interval: Duration::from_millis(5),
        ..NotifyConfig::default()
    };
    (0..3).map(move |i| -> Box<dyn FileWatcher> {
        match i {
            0 => Box::new(PollingWatcher::start(files, Duration::from_millis(5)).expect("polling")),
            1 => Box::new(NotifyWatcher::with_config(files, fast).expect("notify")),
            _ => Box::new(
                NotifyWatcher::with_config(
                    files,
                    NotifyConfig {
                        force_fallback: true,
                        ..fast
                    },
                )
                .expect("fallback"),
            ),
        }
    })
}

/// Writes like an editor's save: a temporary file renamed over the target (atomic).
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, text).expect("write temp");
    fs::rename(&tmp, path).expect("rename over");
}

/// The next change, waiting at most [`LONG`] for it.
fn next(w: &dyn FileWatcher) -> Change {
    w.changes()
        .recv_timeout(LONG)
        .unwrap_or_else(|e| panic!("{}: no change within {LONG:?}: {e}", w.name()))
}

/// Changes up to and including the first one for `sentinel`.
fn until(w: &dyn FileWatcher, sentinel: &Path) -> Vec<Change> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let c = next(w);
        let done = c.path == sentinel;
        seen.push(c);
        if done {
            return seen;
        }
    }
    panic!("{}: sentinel never reported: {seen:?}", w.name());
}

fn written(p: &Path) -> Change {
    Change {
        path: p.to_path_buf(),
        kind: ChangeKind::Written,
    }
}

fn removed(p: &Path) -> Change {
    Change {
        path: p.to_path_buf(),
        kind: ChangeKind::Removed,
    }
}

#[test]
fn written_renamed_deleted_and_recreated_files_are_reported_once_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.toml");
    let s = dir.path().join("sentinel");
    fs::write(&a, "v1").expect("write");
    for w in watchers(&[a.clone(), s.clone()]) {
        let w = w.as_ref();
        eprintln!("testing {}", w.name());
        fs::write(&a, format!("written by {}", w.name())).expect("write");
        assert_eq!(next(w), written(&a), "{}: plain write", w.name());

        save(&a, "replaced");
        fs::write(&s, w.name()).expect("sentinel");
        assert_eq!(
            until(w, &s),
            vec![written(&a), written(&s)],
            "{}: one save, one change",
            w.name()
        );

        fs::remove_file(&a).expect("delete");
        assert_eq!(next(w), removed(&a), "{}: delete", w.name());

        save(&a, "recreated");
        assert_eq!(next(w), written(&a), "{}: recreate", w.name());
        fs::remove_file(&s).expect("reset sentinel");
        assert_eq!(next(w), removed(&s), "{}", w.name());
    }
}

#[test]
fn after_a_burst_every_files_final_state_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = (0..40)
        .map(|i| dir.path().join(format!("plugin{i:02}.py")))
        .collect();
    for f in files.iter().step_by(2) {
        fs::write(f, "initial").expect("write");
    }
    for (round, w) in watchers(&files).enumerate() {
        // A deterministic burst: each file written, saved by rename, deleted or recreated, some twice.
        let mut expected: BTreeMap<PathBuf, ChangeKind> = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            let exists = f.exists();
            let kind = match (i + round) % 4 {
                0 => {
                    fs::write(f, format!("w{round}")).expect("write");
                    ChangeKind::Written
                }
                1 => {
                    save(f, &format!("s{round}"));
                    save(f, &format!("s{round} again"));
                    ChangeKind::Written
                }
                2 if exists => {
                    fs::remove_file(f).expect("delete");
                    ChangeKind::Removed
                }
                _ => {
                    if exists {
                        fs::remove_file(f).expect("delete");
                    }
                    save(f, &format!("r{round}"));
                    ChangeKind::Written
                }
            };
            expected.insert(f.clone(), kind);
        }
        let mut reported: BTreeMap<PathBuf, ChangeKind> = BTreeMap::new();
        let t0 = Instant::now();
        while reported != expected {
            assert!(
                t0.elapsed() < LONG,
                "{}: after {LONG:?} the reported states differ: {reported:?}",
                w.name()
            );
            let c = next(w.as_ref());
            reported.insert(c.path, c.kind);
        }
    }
}

#[test]
fn native_watching_is_used_on_linux_and_the_fallback_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = [dir.path().join("x")];
    let native = NotifyWatcher::start(&f).expect("native");
    if cfg!(target_os = "linux") {
        assert_eq!(native.backend(), Backend::Native);
    }
    let forced = NotifyWatcher::with_config(
        &f,
        NotifyConfig {
            force_fallback: true,
            ..NotifyConfig::default()
        },
    )
    .expect("fallback");
    assert_eq!(forced.backend(), Backend::Poll);
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = [dir.path().join("nope").join("x.toml")];
    let e = NotifyWatcher::start(&f).err().expect("error");
    assert!(e.to_string().contains("nope"), "{e}");
    assert!(e.to_string().contains("create the directory"), "{e}");
    let e = PollingWatcher::start(&f, Duration::from_millis(5))
        .err()
        .expect("error");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn an_idle_native_watcher_stats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = (0..100).map(|i| dir.path().join(format!("f{i}"))).collect();
    for f in &files {
        fs::write(f, "x").expect("write");
    }
    let polling = PollingWatcher::start(&files, Duration::from_millis(1)).expect("polling");
    let native = NotifyWatcher::start(&files).expect("native");
    let (p0, n0) = (polling.stats().stat_calls(), native.stats().stat_calls());
    let s0 = polling.stats().scans();
    // Wait for an event (four more scans have begun, so at least three whole ones since `p0`), not for
    // a time.
    let t0 = Instant::now();
    while polling.stats().scans() < s0 + 4 {
        assert!(t0.elapsed() < LONG, "poller never scanned");
        std::thread::yield_now();
    }
    assert!(polling.stats().stat_calls() >= p0 + 300);
    assert_eq!(native.stats().stat_calls(), n0);
    assert_eq!(native.stats().changes(), 0);
}
