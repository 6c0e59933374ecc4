//! Where and what ran: the machine (and the fingerprint that decides whether absolute wall times may
//! gate), the toolchain and the git commit. Read from `/proc` and `git`; "unknown" when unavailable.

use std::process::Command;

use crate::model::{GitInfo, MachineInfo, Toolchain};

/// Environment variable that names the machine explicitly (e.g. a dedicated CI runner's label).
pub const MACHINE_ENV: &str = "PERFGATE_MACHINE";

/// Describes this machine. The fingerprint is the label, else the CPU model, CPU count and memory
/// (to the GiB), for people. Only a label makes absolute wall times gate: a matching fingerprint
/// does not make a stable machine (on the 2-core VM, file-system-bound wall times moved 1.3-2.05x
/// between a bless and a check 20 minutes later, same VM, nothing else running).
pub fn detect() -> MachineInfo {
    let cpu = read_cpu_model().unwrap_or_else(|| "unknown cpu".to_owned());
    // The machine's CPUs, not this process's share: an A/B worker pinned to one CPU (duet) runs on
    // the same machine as an unpinned `check`.
    let cpus = read_online_cpus()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let memory_bytes = read_mem_total().unwrap_or(0);
    let label = std::env::var(MACHINE_ENV)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let fingerprint = label.clone().unwrap_or_else(|| {
        format!(
            "{}-{} | {cpu} | {cpus} cpus | {} GiB",
            std::env::consts::OS,
            std::env::consts::ARCH,
            (memory_bytes as f64 / (1u64 << 30) as f64).round()
        )
    });
    MachineInfo {
        fingerprint,
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned()),
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu,
        cpus,
        memory_bytes,
        label,
    }
}

/// Online CPUs from `/sys/devices/system/cpu/online` (`0-1`, `0,2-3`), whatever the affinity.
fn read_online_cpus() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    text.trim()
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((a, b)) => (b.parse::<usize>().ok()? + 1).checked_sub(a.parse::<usize>().ok()?),
            None => range.parse::<usize>().ok().map(|_| 1),
        })
        .sum::<Option<usize>>()
        .filter(|&n| n > 0)
}

fn read_cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn read_mem_total() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The compiler that built this binary and its profile.
pub fn toolchain() -> Toolchain {
    Toolchain {
        rustc: env!("PERFGATE_RUSTC_VERSION").to_owned(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_owned(),
    }
}

/// The current commit and whether the tree is dirty.
pub fn git() -> GitInfo {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    GitInfo {
        commit: run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned()),
        dirty: run(&["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty()),
    }
}
