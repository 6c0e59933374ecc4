//! What the integration tests share: a hand-made run record, file writers, and the binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use perfgate::model::{Metric, RunRecord};

/// A smoke record of one scenario, `flowcache/size/indexed/files=1000`, visiting `entries`.
pub fn record(entries: u64) -> RunRecord {
    perfgate::testutil::record(
        "test-machine",
        vec![(
            "flowcache/size/indexed/files=1000",
            "entries_visited",
            Metric::count(entries, "entries"),
        )],
    )
}

pub fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    std::fs::write(path, text).expect("write file");
}

pub fn write_record(path: &Path, r: &RunRecord) {
    write(path, &serde_json::to_string_pretty(r).expect("serialize"));
}

pub fn perfgate(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perfgate"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run perfgate")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
