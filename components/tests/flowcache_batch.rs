//! TTL entries and the two ways of writing and cleaning them up: the same entries, metadata and exact
//! size index either way (a property test), fewer filesystem calls batched, and a crash in the middle
//! (stop after k of n) that leaves the cache readable and its index rebuildable. Virtual time only.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use components::flowcache::batch::{
    BatchedOps, CacheLimits, Candidate, DEFAULT_TTL, Entry, EntryMeta, EntryOps, PerEntryOps,
    meta_path, select_victims,
};
use components::flowcache::{CacheDir, CacheError, IndexedSize, SIZE_INDEX_FILE, WalkSize};
use fixtures::clock::MockClock;
use proptest::prelude::*;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn open(root: &Path) -> CacheDir {
    CacheDir::open(root, Box::new(IndexedSize)).expect("open")
}

fn walk_size(root: &Path) -> u64 {
    CacheDir::open(root, Box::new(WalkSize))
        .expect("open")
        .size()
        .expect("walk")
}

fn index(root: &Path) -> Option<u64> {
    fs::read_to_string(root.join(SIZE_INDEX_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

/// Every file under `root`, hidden ones included (metadata), except the index: path → contents.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() != SIZE_INDEX_FILE)
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            (rel, fs::read(e.path()).expect("read"))
        })
        .collect()
}

fn both() -> [Box<dyn EntryOps>; 2] {
    [
        Box::new(PerEntryOps::default()),
        Box::new(BatchedOps::default()),
    ]
}

#[test]
fn writes_store_value_and_expiry_and_count_their_calls() {
    let clock = MockClock::new();
    let values: Vec<String> = (0..10).map(|i| format!("value-{i}")).collect();
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let entries: Vec<Entry<'_>> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| Entry::new(k, v.as_bytes()))
        .collect();
    let mut calls = Vec::new();
    let mut trees = Vec::new();
    for ops in both() {
        let dir = tempdir();
        let cache = open(dir.path());
        cache.stats().reset();
        assert_eq!(
            ops.write_entries(&cache, &clock, &entries).expect("write"),
            10
        );
        calls.push(cache.stats().fs_calls());
        assert_eq!(index(dir.path()), Some(walk_size(dir.path())));
        assert_eq!(cache.get("k3").expect("get"), Some(b"value-3".to_vec()));
        let now = components::flowcache::batch::wall_ms(components::clock::Clock::wall(&clock));
        assert_eq!(
            cache.entry_meta("k3").expect("meta"),
            Some(EntryMeta {
                expires_ms: now + DEFAULT_TTL.as_millis() as u64,
                accessed_ms: now
            })
        );
        trees.push(files(dir.path()));
    }
    assert_eq!(trees[0], trees[1], "same files either way");
    // Per entry: stat, index read + delete, mkdir, value (2), index (2), metadata (2) = 10.
    // Batched: 10 stats, index read + delete, one mkdir, 10 × (value + metadata), index (2).
    assert_eq!(calls, vec![100, 10 + 2 + 1 + 40 + 2]);
}

#[test]
fn expired_entries_go_first_then_the_least_recently_used() {
    for ops in both() {
        let dir = tempdir();
        let cache = open(dir.path());
        let clock = MockClock::new();
        let batch = BatchedOps::default();
        // Written one second apart: a (oldest) .. f (newest); b and d expire after 10 s.
        for (key, ttl) in [
            ("a", 300),
            ("b", 10),
            ("c", 300),
            ("sub/d", 10),
            ("e", 300),
            ("f", 300),
        ] {
            batch
                .write_entries(
                    &cache,
                    &clock,
                    &[Entry::new(key, &[7; 100]).with_ttl(Duration::from_secs(ttl))],
                )
                .expect("write");
            clock.advance(Duration::from_secs(1));
        }
        clock.advance(Duration::from_secs(20));
        // Reading c makes it the most recently used.
        assert!(cache.get_fresh(&clock, "c").expect("get").is_some());
        assert_eq!(cache.get_fresh(&clock, "b").expect("get expired"), None);
        let report = ops
            .enforce_limits(
                &cache,
                &clock,
                CacheLimits {
                    max_bytes: 250,
                    max_entries: 10,
                },
            )
            .expect("cleanup");
        assert_eq!(
            report.removed,
            vec!["b", "sub/d", "a", "e"],
            "{}",
            ops.name()
        );
        assert_eq!(report.expired, 2);
        assert_eq!(report.bytes_freed, 400);
        assert_eq!(cache.size().expect("size"), 200);
        assert_eq!(index(dir.path()), Some(200));
        assert!(
            !meta_path(&dir.path().join("a")).exists(),
            "metadata removed too"
        );
        let left: Vec<String> = files(dir.path()).into_keys().collect();
        assert_eq!(left, vec![".meta.c", ".meta.f", "c", "f"], "{}", ops.name());
    }
}

#[test]
fn cleanup_removes_orphaned_metadata_and_handles_plain_files() {
    for ops in both() {
        let dir = tempdir();
        fs::write(dir.path().join(".meta.gone"), "1 1\n").expect("orphan");
        fs::write(dir.path().join("plain"), [1; 50]).expect("plain file");
        let cache = open(dir.path());
        let clock = MockClock::new();
        let report = ops
            .enforce_limits(
                &cache,
                &clock,
                CacheLimits {
                    max_bytes: 0,
                    max_entries: 0,
                },
            )
            .expect("cleanup");
        assert_eq!(report.orphan_metas, 1);
        assert_eq!(report.removed, vec!["plain"]);
        assert_eq!(report.expired, 0, "a file without metadata never expires");
        assert!(files(dir.path()).is_empty(), "{}", ops.name());
        assert_eq!(cache.size().expect("size"), 0);
    }
}

#[test]
fn a_batch_with_a_key_inside_another_is_rejected_before_writing() {
    let dir = tempdir();
    let cache = open(dir.path());
    let clock = MockClock::new();
    let err = BatchedOps::default()
        .write_entries(
            &cache,
            &clock,
            &[
                Entry::new("x", b"1"),
                Entry::new("y", b"2"),
                Entry::new("x/z", b"3"),
            ],
        )
        .expect_err("x cannot be both");
    assert!(
        matches!(&err, CacheError::BadKey { key, .. } if key == "x/z"),
        "{err}"
    );
    assert!(files(dir.path()).is_empty(), "nothing written");
    cache.put("p", b"1").expect("put");
    let err = BatchedOps::default()
        .write_entries(&cache, &clock, &[Entry::new("p/q", b"1")])
        .expect_err("p is an entry");
    assert!(err.to_string().contains("p/q"), "{err}");
    assert_eq!(
        index(dir.path()),
        Some(1),
        "index untouched by a rejected batch"
    );
}

#[test]
fn a_crash_mid_write_leaves_a_readable_cache_and_a_rebuildable_index() {
    let keys: Vec<String> = (0..8).map(|i| format!("d{}/k{i}", i % 3)).collect();
    for k in [0, 3, 7] {
        for crashing in [
            Box::new(PerEntryOps::stopping_after(k)) as Box<dyn EntryOps>,
            Box::new(BatchedOps::stopping_after(k)),
        ] {
            let dir = tempdir();
            let clock = MockClock::new();
            let cache = open(dir.path());
            let old: Vec<Entry<'_>> = keys.iter().map(|key| Entry::new(key, b"old")).collect();
            BatchedOps::default()
                .write_entries(&cache, &clock, &old[..4])
                .expect("old entries");
            let new: Vec<Entry<'_>> = keys.iter().map(|key| Entry::new(key, b"newer")).collect();
            let err = crashing
                .write_entries(&cache, &clock, &new)
                .expect_err("stops");
            assert!(
                matches!(err, CacheError::Interrupted { done, total: 8, .. } if done == k),
                "{err}"
            );
            drop(cache);
            let reopened = open(dir.path());
            for (i, key) in keys.iter().enumerate() {
                let want: Option<&[u8]> = match (i < k, i < 4) {
                    (true, _) => Some(b"newer"),
                    (false, true) => Some(b"old"),
                    (false, false) => None,
                };
                assert_eq!(
                    reopened.get(key).expect("readable").as_deref(),
                    want,
                    "{} k={k} {key}",
                    crashing.name()
                );
            }
            let expected = walk_size(dir.path());
            assert_eq!(reopened.size().expect("size"), expected);
            assert_eq!(index(dir.path()), Some(expected), "rebuilt and stored");
        }
    }
}

#[test]
fn a_crash_mid_cleanup_leaves_a_readable_cache_and_a_rerun_finishes_the_job() {
    let keys: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
    let limits = CacheLimits {
        max_bytes: u64::MAX,
        max_entries: 4,
    };
    for crashing in [
        Box::new(PerEntryOps::stopping_after(5)) as Box<dyn EntryOps>,
        Box::new(BatchedOps::stopping_after(5)),
    ] {
        let dir = tempdir();
        let clock = MockClock::new();
        let cache = open(dir.path());
        for key in &keys {
            cache
                .put_entry(&clock, Entry::new(key, key.as_bytes()))
                .expect("write");
            clock.advance(Duration::from_secs(1));
        }
        let err = crashing
            .enforce_limits(&cache, &clock, limits)
            .expect_err("stops");
        assert!(
            matches!(
                err,
                CacheError::Interrupted {
                    done: 5,
                    total: 8,
                    ..
                }
            ),
            "{err}"
        );
        drop(cache);
        let reopened = open(dir.path());
        for (i, key) in keys.iter().enumerate() {
            let got = reopened.get(key).expect("readable");
            assert_eq!(got.is_some(), i >= 5, "{} {key}", crashing.name());
        }
        assert_eq!(reopened.size().expect("size"), walk_size(dir.path()));
        let report = BatchedOps::default()
            .enforce_limits(&reopened, &clock, limits)
            .expect("rerun");
        assert_eq!(report.removed, keys[5..8].to_vec());
        assert_eq!(index(dir.path()), Some(walk_size(dir.path())));
        let left: Vec<String> = files(dir.path()).into_keys().collect();
        assert_eq!(left.len(), 8, "4 entries and their metadata: {left:?}");
    }
}

#[test]
fn per_entry_cleanup_costs_more_calls_than_batched() {
    let mut calls = Vec::new();
    for ops in both() {
        let dir = tempdir();
        let clock = MockClock::new();
        let cache = open(dir.path());
        let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        let entries: Vec<Entry<'_>> = keys.iter().map(|k| Entry::new(k, b"v")).collect();
        BatchedOps::default()
            .write_entries(&cache, &clock, &entries)
            .expect("write");
        cache.stats().reset();
        let report = ops
            .enforce_limits(
                &cache,
                &clock,
                CacheLimits {
                    max_bytes: u64::MAX,
                    max_entries: 10,
                },
            )
            .expect("cleanup");
        assert_eq!(report.removed.len(), 10);
        calls.push(cache.stats().fs_calls());
    }
    // Scan: 20 entries' metadata + 20 metadata reads. Per entry, for each of 10 victims: size
    // check (index read), remove (stat, index read + delete, unlink, index write 2), metadata unlink.
    // Batched: index read + delete, 10 × 2 unlinks, index write (2).
    assert_eq!(calls, vec![40 + 10 * 8, 40 + 2 + 20 + 2]);
}

#[test]
fn victims_are_chosen_purely_from_candidates() {
    let c = |key: &str, len: u64, expires: Option<u64>, accessed: u64| Candidate {
        key: key.to_owned(),
        path: key.into(),
        len,
        meta: expires.map(|e| EntryMeta {
            expires_ms: e,
            accessed_ms: accessed,
        }),
        mtime_ms: accessed,
    };
    let cands = vec![
        c("new", 10, Some(5_000), 900),
        c("old", 10, Some(5_000), 100),
        c("expired-late", 10, Some(900), 500),
        c("expired-early", 10, Some(800), 600),
        c("plain", 10, None, 300),
    ];
    let limits = CacheLimits {
        max_bytes: 20,
        max_entries: 10,
    };
    let order: Vec<&str> = select_victims(&cands, limits, 1_000)
        .into_iter()
        .map(|i| cands[i].key.as_str())
        .collect();
    assert_eq!(order, vec!["expired-early", "expired-late", "old"]);
    let roomy = CacheLimits {
        max_bytes: 1_000,
        max_entries: 1_000,
    };
    assert_eq!(select_victims(&cands, roomy, 0), Vec::<usize>::new());
}

#[derive(Clone, Debug)]
enum Op {
    Write(Vec<(usize, usize, u64)>),
    Advance(u64),
    Read(usize),
    Cleanup(u64, u64),
}

const KEYS: &[&str] = &["a", "b", "c/d", "c/e", "f/g/h", "i", "j"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec((0..KEYS.len(), 0..300_usize, 1..120_u64), 1..6)
            .prop_map(Op::Write),
        2 => (1..90_u64).prop_map(Op::Advance),
        1 => (0..KEYS.len()).prop_map(Op::Read),
        2 => (0..1200_u64, 0..8_u64).prop_map(|(b, n)| Op::Cleanup(b, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn per_entry_and_batched_leave_the_same_cache(ops in proptest::collection::vec(op(), 1..16)) {
        let dirs = [tempdir(), tempdir()];
        let caches = [open(dirs[0].path()), open(dirs[1].path())];
        let variants: [Box<dyn EntryOps>; 2] = both();
        let clock = MockClock::new();
        let buf = vec![0x5A_u8; 300];
        for op in ops {
            match op {
                Op::Write(batch) => {
                    let entries: Vec<Entry<'_>> = batch
                        .iter()
                        .map(|&(k, len, ttl)| {
                            Entry::new(KEYS[k], &buf[..len]).with_ttl(Duration::from_secs(ttl))
                        })
                        .collect();
                    for (cache, ops) in caches.iter().zip(&variants) {
                        ops.write_entries(cache, &clock, &entries).expect("write");
                    }
                }
                Op::Advance(s) => clock.advance(Duration::from_secs(s)),
                Op::Read(k) => {
                    let got: Vec<_> = caches
                        .iter()
                        .map(|c| c.get_fresh(&clock, KEYS[k]).expect("read"))
                        .collect();
                    prop_assert_eq!(&got[0], &got[1]);
                }
                Op::Cleanup(max_bytes, max_entries) => {
                    let limits = CacheLimits { max_bytes, max_entries };
                    let reports: Vec<_> = caches
                        .iter()
                        .zip(&variants)
                        .map(|(c, ops)| ops.enforce_limits(c, &clock, limits).expect("cleanup"))
                        .collect();
                    prop_assert_eq!(&reports[0], &reports[1]);
                    let size = caches[0].size().expect("size");
                    let count = files(dirs[0].path()).keys().filter(|k| !k.contains(".meta.")).count();
                    prop_assert!(size <= max_bytes && count as u64 <= max_entries);
                }
            }
            prop_assert_eq!(files(dirs[0].path()), files(dirs[1].path()));
            for dir in &dirs {
                // Exact whenever it exists (it exists once anything was written).
                let walked = walk_size(dir.path());
                prop_assert!(index(dir.path()).is_none_or(|i| i == walked));
            }
        }
    }
}
