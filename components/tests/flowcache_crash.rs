//! The cache's promise of "no corruption" under SIGKILL: a child process (this test binary re-run as a
//! writer) writes batches, single entries and removals into one cache directory and is killed at a
//! random observed point; afterwards every entry is one whole value ever written, every metadata file
//! is whole, the `.size-index` is the true size or missing (never a wrong number), and the next run
//! works. `cargo test` kills 20 times; 200 with
//! `cargo test -p components --test flowcache_crash -- --ignored --nocapture`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use components::flowcache::batch::{BatchedOps, CacheLimits, Entry, EntryOps, PerEntryOps};
use components::flowcache::{CacheDir, IndexedSize, SIZE_INDEX_FILE, WalkSize};
use fixtures::clock::MockClock;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Set in the child: the cache directory to write into, forever, until killed.
const WRITER_VAR: &str = "PERFGATE_FLOWCACHE_CRASH_WRITER";
const KEYS: usize = 24;

/// The value of `key` written in generation `g`: self-describing, so a reader can tell a whole one.
fn value(g: u64, key: &str) -> Vec<u8> {
    let head = format!("g={g};k={key};");
    let len = 64 + ((g % 1000) as usize * 37 + key.len() * 101) % 4000;
    let mut v = head.into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v.extend_from_slice(b";end");
    v
}

fn whole(bytes: &[u8], key: &str) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some(g) = text
        .strip_prefix("g=")
        .and_then(|r| r.split_once(';'))
        .and_then(|(g, _)| g.parse::<u64>().ok())
    else {
        return false;
    };
    bytes == value(g, key).as_slice()
}

fn key(i: usize) -> String {
    format!("d{}/k{i}", i % 3)
}

/// The child: batches, single puts and removals, without end.
#[test]
fn writer_child() {
    let Some(root) = std::env::var_os(WRITER_VAR) else {
        return;
    };
    let cache = CacheDir::open(&root, Box::new(IndexedSize)).expect("open");
    let clock = MockClock::new();
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    for g in 0_u64.. {
        let values: Vec<Vec<u8>> = keys.iter().map(|k| value(g, k)).collect();
        let entries: Vec<Entry<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| Entry::new(k, v))
            .collect();
        let half = (g as usize % 2) * (KEYS / 2);
        BatchedOps::default()
            .write_entries(&cache, &clock, &entries[half..half + KEYS / 2])
            .expect("batch");
        PerEntryOps::default()
            .write_entries(&cache, &clock, &entries[..3])
            .expect("single");
        cache.remove(&keys[g as usize % KEYS]).expect("remove");
        clock.advance(Duration::from_secs(1));
        if g % 7 == 0 {
            let limits = CacheLimits {
                max_bytes: 40_000,
                max_entries: 20,
            };
            BatchedOps::default()
                .enforce_limits(&cache, &clock, limits)
                .expect("cleanup");
        }
    }
}

/// The cache tree as (path, length, inode): any change is an event.
fn snapshot(root: &Path) -> Vec<(String, u64, u64)> {
    let mut all: Vec<(String, u64, u64)> = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path().to_string_lossy().into_owned(), m.len(), m.ino()))
        })
        .collect();
    all.sort();
    all
}

#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    index_correct: usize,
    index_missing: usize,
    temp_files_left: usize,
    entries_checked: usize,
}

fn check_after_kill(root: &Path, tally: &mut Tally) {
    let truth = CacheDir::open(root, Box::new(WalkSize))
        .expect("open")
        .size()
        .expect("walk");
    match std::fs::read_to_string(root.join(SIZE_INDEX_FILE)) {
        Ok(text) => {
            assert_eq!(
                text.trim().parse::<u64>().ok(),
                Some(truth),
                "the index is the true size or missing, never a wrong number"
            );
            tally.index_correct += 1;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => tally.index_missing += 1,
        Err(e) => panic!("index unreadable: {e}"),
    }
    for e in walkdir::WalkDir::new(root).into_iter().flatten() {
        if !e.file_type().is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = e.path().strip_prefix(root).expect("under root");
        if name.starts_with(".tmp-") {
            tally.temp_files_left += 1;
        } else if let Some(entry) = name.strip_prefix(".meta.") {
            let text = std::fs::read_to_string(e.path()).expect("meta");
            let fields: Vec<&str> = text.split_whitespace().collect();
            assert!(
                fields.len() == 2 && fields.iter().all(|f| f.parse::<u64>().is_ok()),
                "{}: metadata {text:?} of {entry} is not whole",
                rel.display()
            );
        } else if !name.starts_with('.') {
            let k = rel.to_string_lossy().replace('\\', "/");
            let bytes = std::fs::read(e.path()).expect("entry");
            assert!(
                whole(&bytes, &k),
                "{k}: not a whole value ({} bytes)",
                bytes.len()
            );
            tally.entries_checked += 1;
        }
    }
    // The next run works: the index answers (rebuilt when missing) and a batch goes in.
    let cache = CacheDir::open(root, Box::new(IndexedSize)).expect("reopen");
    assert_eq!(cache.size().expect("size"), truth);
    let clock = MockClock::new();
    let v = value(u64::MAX / 2, "d0/k0");
    BatchedOps::default()
        .write_entries(&cache, &clock, &[Entry::new("d0/k0", &v)])
        .expect("the next batch");
    let truth = CacheDir::open(root, Box::new(WalkSize))
        .expect("open")
        .size()
        .expect("walk");
    assert_eq!(cache.size().expect("size"), truth);
    // A cleanup removes what killed writers left (their temp files), and nothing else.
    let limits = CacheLimits {
        max_bytes: u64::MAX,
        max_entries: u64::MAX,
    };
    BatchedOps::default()
        .enforce_limits(&cache, &clock, limits)
        .expect("cleanup");
    let left = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    assert_eq!(left, 0, "temp files of killed writers survive a cleanup");
}

fn kills(n: usize, seed: u64) -> Tally {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tally = Tally::default();
    for _ in 0..n {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "writer_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(WRITER_VAR, &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the writer");
        let k = rng.random_range(0..400);
        let mut last = snapshot(&root);
        let mut events = 0;
        // Bounded: the writer never ends by itself, but it changes the tree all the time.
        for _ in 0..10_000_000_u64 {
            if events >= k {
                break;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("the writer stopped by itself: {status}");
            }
            let now = snapshot(&root);
            if now != last {
                events += 1;
                last = now;
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        tally.kills += 1;
        check_after_kill(&root, &mut tally);
    }
    tally
}

#[test]
fn killed_20_times_the_cache_stays_whole() {
    let t = kills(20, 18);
    println!("flowcache, 20 kills: {t:?}");
}

#[test]
#[ignore = "the long run: cargo test -p components --test flowcache_crash -- --ignored --nocapture"]
fn killed_200_times_the_cache_stays_whole() {
    let t = kills(200, 1800);
    println!("flowcache, 200 kills: {t:?}");
}
