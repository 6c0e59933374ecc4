//! The file-timestamp fallback on generated trees: both scans give the newest plausible mtime when the
//! targeted one can reach it; the targeted one keeps to its budget and depth; implausible mtimes and
//! trusted files are handled as the seed says.

use std::fs::File;
use std::time::{Duration, UNIX_EPOCH};

use components::timesync::scan::{GlobScan, TargetedScan, TimestampScan};
use fixtures::datagen::tree::{MtimeSpec, SizeDist, TreeSpec, generate};

/// `files` files `depth` directory levels down (a file in `d01/` is at walk depth 2).
fn spec(files: usize, depth: u32) -> TreeSpec {
    TreeSpec {
        files,
        depth,
        fan_out: 3,
        sizes: SizeDist::Fixed(1),
        mtimes: MtimeSpec {
            newest_unix_s: 1_767_225_600,
            spread_s: 86_400,
        },
    }
}

#[test]
fn both_scans_find_the_newest_mtime_of_a_small_tree() {
    let tree = generate(&spec(60, 1), 7).expect("tree");
    let newest = tree
        .manifest()
        .files
        .iter()
        .map(|f| f.mtime_unix_s)
        .max()
        .expect("files");
    let glob = GlobScan::new(vec![tree.path().to_path_buf()], &["*.dat", "*.log"])
        .expect("patterns")
        .scan();
    let targeted = TargetedScan::new(Vec::new(), vec![tree.path().to_path_buf()]).scan();
    assert_eq!(glob.newest_unix_s, Some(newest));
    assert_eq!(targeted.newest_unix_s, Some(newest));
    // The glob walks the whole tree once per pattern: root + 3 directories + 60 files, twice.
    assert_eq!(glob.entries_visited, 2 * (1 + 3 + 60));
    assert_eq!(glob.files_examined, 60);
}

#[test]
fn the_targeted_scan_keeps_to_its_budget_and_depth() {
    let tree = generate(&spec(500, 1), 7).expect("tree");
    let glob = GlobScan::new(vec![tree.path().to_path_buf()], &["*.dat"])
        .expect("pattern")
        .scan();
    let targeted = TargetedScan::new(Vec::new(), vec![tree.path().to_path_buf()]).scan();
    assert_eq!(glob.files_examined, 500);
    assert_eq!(targeted.files_examined, 100, "the budget");
    assert!(targeted.entries_visited < glob.entries_visited / 3);
    let shallow = TargetedScan {
        max_depth: 1,
        ..TargetedScan::new(Vec::new(), vec![tree.path().to_path_buf()])
    }
    .scan();
    assert_eq!(
        shallow.files_examined, 0,
        "every file sits one directory down"
    );
    let deep = generate(&spec(20, 2), 7).expect("deeper tree");
    let out = TargetedScan::new(Vec::new(), vec![deep.path().to_path_buf()]).scan();
    assert_eq!(
        out.files_examined, 0,
        "files two directories down are past depth 2"
    );
    assert!(targeted.newest_unix_s <= glob.newest_unix_s);
}

#[test]
fn trusted_files_count_and_implausible_mtimes_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = |name: &str, secs: u64| {
        let path = dir.path().join(name);
        let f = File::create(&path).expect("create");
        f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
            .expect("set mtime");
        path
    };
    let adjtime = set("adjtime", 1_767_000_000);
    let _old = set("old.log", 1_000_000_000); // exactly 1e9: not plausible
    let _unset = set("zero.log", 0);
    let scan = TargetedScan::new(
        vec![adjtime.clone(), dir.path().join("missing")],
        Vec::new(),
    );
    let out = scan.scan();
    assert_eq!(out.newest_unix_s, Some(1_767_000_000));
    assert_eq!(out.newest_path.as_deref(), Some(adjtime.as_path()));
    let glob = GlobScan::new(vec![dir.path().to_path_buf()], &["*.log"])
        .expect("pattern")
        .scan();
    assert_eq!(glob.newest_unix_s, None, "only implausible mtimes");
    assert_eq!(glob.files_examined, 2);
    assert!(GlobScan::new(Vec::new(), &["[unclosed"]).is_err());
}
