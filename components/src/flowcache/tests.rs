//! Tests of the cache directory and its two size strategies: same answers, index crash safety.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temp dir for the cache")
}

fn open_indexed(root: &Path) -> CacheDir {
    CacheDir::open(root, Box::new(IndexedSize)).expect("open an indexed cache")
}

fn open_walk(root: &Path) -> CacheDir {
    CacheDir::open(root, Box::new(WalkSize)).expect("open a walking cache")
}

fn index_text(root: &Path) -> Option<String> {
    fs::read_to_string(root.join(SIZE_INDEX_FILE)).ok()
}

fn write(path: &Path, len: usize) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent dirs");
    }
    fs::write(path, vec![b'x'; len]).expect("write a test file");
}

fn assert_bad_key(result: Result<impl std::fmt::Debug, CacheError>, key: &str) {
    match result {
        Err(CacheError::BadKey { key: k, why }) => {
            assert_eq!(k, key);
            assert!(!why.is_empty());
        }
        other => panic!("key {key:?}: expected BadKey, got {other:?}"),
    }
}

#[test]
fn get_returns_what_put_wrote() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    cache.put("a", b"hello").expect("put a");
    cache
        .put("n/deep/b.bin", b"")
        .expect("put nested empty value");
    cache.put("a", b"hello, again").expect("overwrite a");
    assert_eq!(
        cache.get("a").expect("get a"),
        Some(b"hello, again".to_vec())
    );
    assert_eq!(
        cache.get("n/deep/b.bin").expect("get nested"),
        Some(Vec::new())
    );
    assert_eq!(cache.get("missing").expect("get missing"), None);
    assert_eq!(cache.get("a/under-a-file").expect("get below a file"), None);
    assert_eq!(cache.get("n").expect("get a directory"), None);
    assert_eq!(cache.size().expect("size"), 12);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("list root")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}

#[test]
fn remove_of_missing_key_returns_false_and_keeps_size() {
    for strategy in [SizeTracking::Enabled, SizeTracking::Disabled] {
        let dir = tempdir();
        let cache = CacheDir::open(dir.path(), strategy.strategy()).expect("open");
        cache.put("k", &[1; 10]).expect("put");
        let before = cache.size().expect("size before");
        let index_before = index_text(dir.path());
        assert!(!cache.remove("nope").expect("remove missing"));
        assert!(!cache.remove("k/below").expect("remove below a file"));
        assert_eq!(cache.size().expect("size after"), before);
        assert_eq!(index_text(dir.path()), index_before, "index untouched");
        assert!(cache.remove("k").expect("remove k"));
        assert_eq!(cache.size().expect("size after remove"), 0);
        assert!(!cache.remove("k").expect("remove k twice"));
    }
}

#[test]
fn bad_keys_are_rejected() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    let long = "x".repeat(256);
    for key in [
        "../x", "", "a//b", ".hidden", "a/.b", "sp ace", "/abs", "a/", "..", ".", "a/../b", "é",
        "a\\b", &long,
    ] {
        assert_bad_key(cache.put(key, b"v"), key);
        assert_bad_key(cache.get(key), key);
        assert_bad_key(cache.remove(key), key);
    }
    let err = cache.put("sp ace", b"v").expect_err("space is not allowed");
    assert!(
        err.to_string().contains("sp ace"),
        "message names the key: {err}"
    );
    let entries: Vec<_> = fs::read_dir(dir.path()).expect("list root").collect();
    assert!(entries.is_empty(), "nothing written: {entries:?}");
}

#[test]
fn keys_conflicting_with_existing_entries_are_rejected() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    cache.put("n/x", b"12345").expect("put n/x");
    assert_bad_key(cache.put("n", b"v"), "n");
    assert_bad_key(cache.put("n/x/y", b"v"), "n/x/y");
    assert_eq!(cache.size().expect("size"), 5);
    assert_eq!(
        cache.stats().index_rebuilds(),
        1,
        "only the first put rebuilt"
    );
}

#[test]
fn corrupted_index_is_rebuilt_and_counted() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    cache.put("a", &[0; 100]).expect("put a");
    cache.put("b/c", &[0; 23]).expect("put b/c");
    let garbage = [
        "abc",
        "",
        "-5",
        "+5",
        "  ",
        "1e3",
        "12 34",
        "99999999999999999999999",
        "\u{fffd}",
    ];
    for (i, text) in garbage.iter().enumerate() {
        fs::write(dir.path().join(SIZE_INDEX_FILE), text).expect("corrupt the index");
        let rebuilds = cache.stats().index_rebuilds();
        assert_eq!(cache.size().expect("size"), 123, "after index {text:?}");
        assert_eq!(
            cache.stats().index_rebuilds(),
            rebuilds + 1,
            "rebuild #{i} counted"
        );
        assert_eq!(
            index_text(dir.path()).as_deref(),
            Some("123\n"),
            "written back"
        );
    }
    fs::write(dir.path().join(SIZE_INDEX_FILE), [0xff, 0xfe]).expect("write non-UTF-8");
    assert_eq!(cache.size().expect("size"), 123);
    fs::write(dir.path().join(SIZE_INDEX_FILE), " 123\n\t").expect("write padded index");
    let rebuilds = cache.stats().index_rebuilds();
    assert_eq!(cache.size().expect("size"), 123);
    assert_eq!(
        cache.stats().index_rebuilds(),
        rebuilds,
        "whitespace is fine"
    );
}

#[test]
fn deleted_index_is_rebuilt() {
    let dir = tempdir();
    write(&dir.path().join("pre/existing"), 40);
    let cache = open_indexed(dir.path());
    assert_eq!(cache.size().expect("first size"), 40);
    assert_eq!(cache.stats().index_rebuilds(), 1);
    cache.put("k", &[0; 2]).expect("put");
    fs::remove_file(dir.path().join(SIZE_INDEX_FILE)).expect("delete the index");
    assert_eq!(cache.size().expect("size"), 42);
    assert_eq!(cache.stats().index_rebuilds(), 2);
    assert_eq!(index_text(dir.path()).as_deref(), Some("42\n"));
    assert_eq!(cache.size().expect("size from index"), 42);
    assert_eq!(cache.stats().index_rebuilds(), 2);
}

#[test]
fn hidden_files_and_dirs_are_not_counted() {
    let dir = tempdir();
    let root = dir.path().join(".cache"); // a hidden root is still walked
    write(&root.join("a"), 10);
    write(&root.join("sub/b"), 5);
    write(&root.join(".tmp-123-0"), 1000);
    write(&root.join(".lock"), 1000);
    write(&root.join(".hidden-dir/c"), 1000);
    write(&root.join("sub/.d"), 1000);
    write(&root.join("sub/.e/f"), 1000);
    fs::create_dir_all(root.join("empty")).expect("empty dir");
    for cache in [open_walk(&root), open_indexed(&root)] {
        assert_eq!(cache.size().expect("size"), 15, "{}", cache.strategy_name());
    }
}

#[test]
fn entries_visited_counts_walks_only() {
    let dir = tempdir();
    write(&dir.path().join("a"), 1);
    write(&dir.path().join("x/b"), 2);
    write(&dir.path().join("x/y/c"), 3);
    write(&dir.path().join(".hidden/z"), 4);
    let walked = walkdir::WalkDir::new(dir.path())
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .count() as u64;
    assert_eq!(walked, 6, "root, a, x, x/b, x/y, x/y/c");

    let walk = open_walk(dir.path());
    assert_eq!(walk.size().expect("walk size"), 6);
    assert_eq!(walk.stats().entries_visited(), walked);
    assert_eq!(walk.size().expect("walk size again"), 6);
    assert_eq!(walk.stats().entries_visited(), 2 * walked);
    assert_eq!(walk.stats().index_reads(), 0);

    let indexed = open_indexed(dir.path());
    assert_eq!(indexed.size().expect("rebuild"), 6);
    assert_eq!(
        indexed.stats().entries_visited(),
        walked,
        "the rebuild walked"
    );
    indexed.stats().reset();
    for _ in 0..5 {
        assert_eq!(indexed.size().expect("indexed size"), 6);
    }
    indexed.put("x/d", b"1234").expect("put");
    indexed.remove("a").expect("remove");
    assert_eq!(indexed.size().expect("indexed size"), 9);
    let stats = indexed.stats();
    assert_eq!(stats.entries_visited(), 0, "valid index: no walk");
    assert_eq!(stats.index_rebuilds(), 0);
    assert_eq!(stats.index_reads(), 8);
    assert_eq!(stats.index_writes(), 2);
    stats.reset();
    assert_eq!(
        (
            stats.entries_visited(),
            stats.index_reads(),
            stats.index_writes()
        ),
        (0, 0, 0)
    );
}

#[test]
fn a_crash_mid_mutation_leaves_no_index_rather_than_a_wrong_one() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    cache.put("a", &[0; 50]).expect("put");
    assert_eq!(index_text(dir.path()).as_deref(), Some("50\n"));
    // The first half of a put, then "crash" before the second half.
    let tracked = IndexedSize
        .before_mutation(dir.path(), cache.stats())
        .expect("before_mutation");
    assert_eq!(tracked, Some(50));
    assert_eq!(
        index_text(dir.path()),
        None,
        "index deleted before the entry changes"
    );
    write(&dir.path().join("a"), 70);
    let reopened = open_indexed(dir.path());
    assert_eq!(reopened.size().expect("size after crash"), 70);
    assert_eq!(reopened.stats().index_rebuilds(), 1);
}

#[test]
fn index_disagreeing_with_disk_is_dropped_not_underflowed() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    cache.put("a", &[0; 50]).expect("put");
    fs::write(dir.path().join(SIZE_INDEX_FILE), "10").expect("stale index");
    assert!(cache.remove("a").expect("remove"));
    assert_eq!(
        index_text(dir.path()),
        None,
        "10 - 50 has no answer: rebuild later"
    );
    assert_eq!(cache.size().expect("size"), 0);
}

#[test]
fn concurrent_puts_keep_the_index_exact() {
    let dir = tempdir();
    let cache = open_indexed(dir.path());
    std::thread::scope(|s| {
        for t in 0..2 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..40 {
                    let key = format!("t{t}/k{}", i % 10);
                    cache.put(&key, &vec![0; i]).expect("put from a thread");
                    cache.size().expect("size from a thread");
                }
            });
        }
    });
    let walked = open_walk(dir.path()).size().expect("walk size");
    assert_eq!(cache.size().expect("indexed size"), walked);
    assert_eq!(cache.stats().index_rebuilds(), 1);
}

/// A one-word setting takes exactly its words (unset or empty: the first), and the error for any
/// other value names the variable, the value as found and the words.
fn check_setting<T: Copy + std::fmt::Debug + PartialEq>(
    parse: fn(Option<&str>) -> Result<T, CacheError>,
    var: &str,
    words: [(&str, T); 2],
) {
    let [(first, default), (second, other)] = words;
    for (value, want) in [
        (None, default),
        (Some(""), default),
        (Some(first), default),
        (Some(second), other),
    ] {
        assert_eq!(parse(value).expect("valid"), want, "{var}={value:?}");
    }
    let expected = format!("`{first}` or `{second}`");
    for word in [first, second] {
        let capitalised = word[..1].to_uppercase() + &word[1..];
        let near_misses = [
            capitalised,
            format!(" {word}"),
            format!("{word} "),
            word[..3].into(),
        ];
        for bogus in near_misses.iter().map(String::as_str).chain(["bogus", "1"]) {
            let err = parse(Some(bogus)).expect_err(bogus);
            assert!(matches!(err, CacheError::BadSetting { .. }), "{err:?}");
            let msg = err.to_string();
            for needle in [var, &expected, &format!("{bogus:?}")] {
                assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
            }
        }
    }
}

#[test]
fn settings_take_exactly_their_words() {
    use lock::{BACKOFF_STRATEGY_VAR, BackoffStrategy};
    use perf::{PERF_MONITORING_VAR, PerfMonitoring};
    check_setting(
        SizeTracking::parse,
        SIZE_TRACKING_VAR,
        [
            ("enabled", SizeTracking::Enabled),
            ("disabled", SizeTracking::Disabled),
        ],
    );
    check_setting(
        BackoffStrategy::parse,
        BACKOFF_STRATEGY_VAR,
        [
            ("exponential", BackoffStrategy::Exponential),
            ("linear", BackoffStrategy::Linear),
        ],
    );
    check_setting(
        PerfMonitoring::parse,
        PERF_MONITORING_VAR,
        [
            ("enabled", PerfMonitoring::Enabled),
            ("disabled", PerfMonitoring::Disabled),
        ],
    );
}

#[test]
fn size_tracking_selects_the_strategy() {
    assert_eq!(SizeTracking::Enabled.strategy().name(), "indexed");
    assert_eq!(SizeTracking::Disabled.strategy().name(), "walk");
}

#[test]
fn io_errors_name_the_path() {
    let dir = tempdir();
    let file = dir.path().join("not-a-dir");
    write(&file, 1);
    let err = CacheDir::open(&file, Box::new(WalkSize)).expect_err("a file is not a cache dir");
    let msg = err.to_string();
    assert!(msg.contains("not-a-dir"), "{msg}");
    assert!(matches!(err, CacheError::Io { .. }));

    let gone = dir.path().join("gone");
    let cache = open_walk(&gone);
    fs::remove_dir(&gone).expect("remove the cache root");
    let msg = cache.size().expect_err("root is gone").to_string();
    assert!(
        msg.contains("gone") && msg.contains("still exists"),
        "{msg}"
    );
}

#[test]
fn generated_tree_is_a_valid_cache() {
    use fixtures::datagen::tree::{SizeDist, TreeSpec, generate};
    let spec = TreeSpec {
        files: 300,
        depth: 2,
        fan_out: 3,
        sizes: SizeDist::Uniform { min: 0, max: 2000 },
        ..TreeSpec::flat(300)
    };
    let tree = generate(&spec, 7).expect("generate a tree");
    let manifest = tree.manifest();
    let walk = open_walk(tree.path());
    let indexed = open_indexed(tree.path());
    assert_eq!(walk.size().expect("walk size"), manifest.total_bytes);
    assert_eq!(indexed.size().expect("indexed size"), manifest.total_bytes);
    let expected_visits = 1 + manifest.dirs as u64 + manifest.files.len() as u64;
    assert_eq!(walk.stats().entries_visited(), expected_visits);
}

#[derive(Clone, Debug)]
enum Op {
    Put(usize, usize),
    Remove(usize),
    CorruptIndex(usize),
    DeleteIndex,
    Reopen,
}

const KEYS: &[&str] = &[
    "a",
    "b.txt",
    "n/x",
    "n/y",
    "n/deep/z",
    "m-1/k_2",
    "m-1/deep/er/w",
];
const GARBAGE: &[&str] = &["abc", "", "-5", " ", "1.5", "18446744073709551616"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS.len(), 0..4096_usize).prop_map(|(k, len)| Op::Put(k, len)),
        2 => (0..KEYS.len()).prop_map(Op::Remove),
        1 => (0..GARBAGE.len()).prop_map(Op::CorruptIndex),
        1 => Just(Op::DeleteIndex),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn both_strategies_agree_with_a_model(ops in proptest::collection::vec(op(), 1..24)) {
        let dir = tempdir();
        let root = dir.path().join("cache");
        let mut indexed = open_indexed(&root);
        let walk = open_walk(&root);
        let mut model: HashMap<&str, u64> = HashMap::new();
        let buf = vec![0xA5_u8; 4096];
        for op in ops {
            match op {
                Op::Put(k, len) => {
                    indexed.put(KEYS[k], &buf[..len]).expect("put");
                    model.insert(KEYS[k], len as u64);
                }
                Op::Remove(k) => {
                    let existed = indexed.remove(KEYS[k]).expect("remove");
                    prop_assert_eq!(existed, model.remove(KEYS[k]).is_some());
                }
                Op::CorruptIndex(g) => {
                    fs::write(root.join(SIZE_INDEX_FILE), GARBAGE[g]).expect("corrupt index");
                }
                Op::DeleteIndex => {
                    let _ = fs::remove_file(root.join(SIZE_INDEX_FILE));
                }
                Op::Reopen => indexed = open_indexed(&root),
            }
            let expected: u64 = model.values().sum();
            prop_assert_eq!(indexed.size().expect("indexed size"), expected);
            prop_assert_eq!(walk.size().expect("walk size"), expected);
            prop_assert_eq!(index_text(&root), Some(format!("{expected}\n")));
        }
        for (key, len) in &model {
            let value = indexed.get(key).expect("get").expect("present");
            prop_assert_eq!(value.len() as u64, *len);
        }
    }
}
