//! What the integration tests share: a hand-made run record, file writers, and the binary.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use perfgate::model::{
    GitInfo, MachineInfo, Metric, RunRecord, SCHEMA_NAME, SCHEMA_VERSION, ScenarioRecord, Toolchain,
};

pub fn record(entries: u64) -> RunRecord {
    RunRecord {
        schema: SCHEMA_NAME.to_owned(),
        schema_version: SCHEMA_VERSION,
        suite: "smoke".to_owned(),
        started: "2026-11-22T00:00:00Z".to_owned(),
        duration_s: 1.0,
        machine: MachineInfo {
            fingerprint: "test-machine".to_owned(),
            hostname: "h".to_owned(),
            os: "linux".to_owned(),
            arch: "x86_64".to_owned(),
            cpu: "c".to_owned(),
            cpus: 2,
            memory_bytes: 0,
            label: Some("test-machine".to_owned()),
        },
        toolchain: Toolchain {
            rustc: "rustc".to_owned(),
            profile: "release".to_owned(),
        },
        git: GitInfo {
            commit: "abc".to_owned(),
            dirty: false,
        },
        scenarios: vec![ScenarioRecord {
            id: "flowcache/size/indexed/files=1000".to_owned(),
            before: None,
            metrics: BTreeMap::from([(
                "entries_visited".to_owned(),
                Metric::count(entries, "entries"),
            )]),
            duration_s: 0.1,
        }],
        growth: Vec::new(),
        claims: Vec::new(),
        injected: Vec::new(),
        ab: None,
    }
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
