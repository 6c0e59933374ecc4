//! Hot-reload watcher (seed `core-improvements.md`, section 3): stat every 1 s against inotify via
//! notify, in real time: how soon one change is seen, and stat calls, CPU and timed waits of an idle
//! watcher at 1k files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use components::watch::{
    Backend, ChangeKind, FileWatcher, NotifyWatcher, POLL_INTERVAL, PollingWatcher,
};

use fixtures::probe::threads::WaitSeries;

use super::MadeOnce;
use super::cpu::{exact_rate, process_cpu, single_cpu_ns, single_ns, sleep_until, thread_cpu};
use super::pool::{TIMED_WAIT_METRICS, WAIT_HORIZON, WAIT_SAMPLES, timed_wait_metrics, wait_probe};
use perfgate::model::{Claim, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry};

const SEED: &str = "core-improvements.md";

/// Files watched by the idle scenarios.
pub const IDLE_FILES: usize = 1_000;
/// The idle window starts this long after the watcher started…
pub const IDLE_FROM: Duration = Duration::from_millis(150);
/// …and lasts one polling interval, so it holds exactly one of the polling watcher's scans whatever
/// their phase (the first is due 1 s after the start, well inside).
pub const IDLE_WINDOW: Duration = POLL_INTERVAL;
/// Between two looks at an idle watcher's threads: 7 looks span 600 ms of the window.
pub const WAIT_GAP: Duration = Duration::from_millis(100);
/// Longest a detection may take before the scenario reports the change missed.
const MISSED: Duration = Duration::from_secs(10);

/// From writing the file to receiving its change, ns.
pub const DETECT_LATENCY: MetricName = MetricName::new("detect_latency");
/// Full passes over the watched files before the change was reported.
pub const SCANS_TO_DETECT: MetricName = MetricName::new("scans_to_detect");
/// `stat` calls on watched files per idle second.
pub const STAT_CALLS_PER_S: MetricName = MetricName::new("stat_calls_per_idle_s");
/// Process CPU time per idle second, ns.
pub const CPU_PER_S: MetricName = MetricName::new("cpu_per_idle_s");

pair_variants! {
    /// Which watcher a scenario measures.
    pub enum WatchVariant {
        /// `PollingWatcher` at the original's 1 s interval.
        Polling => PollingWatcher::NAME,
        /// `NotifyWatcher` with its defaults (inotify, 25 ms debounce); native backend required.
        Notify => NotifyWatcher::NAME,
    }
}

impl WatchVariant {
    /// A started watcher of this variant over `files`. The notify variant must get inotify: its
    /// polling fallback would measure something else under the notify name.
    pub fn start(self, files: &[PathBuf]) -> Result<Box<dyn FileWatcher>, String> {
        Ok(match self {
            Self::Polling => {
                Box::new(PollingWatcher::start(files, POLL_INTERVAL).map_err(|e| e.to_string())?)
            }
            Self::Notify => {
                let w = NotifyWatcher::start(files).map_err(|e| e.to_string())?;
                if w.backend() != Backend::Native {
                    return Err(
                        "notify fell back to polling (no inotify, or its watch limit is reached: \
                         raise fs.inotify.max_user_watches / max_user_instances)"
                            .to_owned(),
                    );
                }
                Box::new(w)
            }
        })
    }
}

/// A directory of watched files under [`super::scratch_dir`], removed on drop.
pub struct WatchedFiles {
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
}

impl WatchedFiles {
    /// `count` small files `plugin-NNNN.py` in a new directory.
    pub fn create(count: usize) -> Result<Self, String> {
        let scratch = super::scratch_dir();
        let dir = tempfile::Builder::new()
            .prefix("perfgate-watch-")
            .tempdir_in(&scratch)
            .map_err(|e| {
                format!(
                    "cannot create the watched directory in {}: {e}; set PERFGATE_SCRATCH to a \
                     writable directory",
                    scratch.display()
                )
            })?;
        let files = (0..count)
            .map(|i| {
                let p = dir.path().join(format!("plugin-{i:04}.py"));
                std::fs::write(&p, format!("VERSION = {i}\n"))
                    .map(|()| p.clone())
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { dir, files })
    }

    /// The files.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Their directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// What one detection saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// From the write to the change's arrival.
    pub latency: Duration,
    /// Scans the watcher had made by then.
    pub scans: u64,
}

/// Starts a watcher over one file, rewrites the file at once (new content and length), and waits for
/// its change. With the polling watcher the write lands just after its start, so the change waits
/// for the first scan: the longest a 1 s poll makes anyone wait.
pub fn detect_once(variant: WatchVariant) -> Result<Detection, String> {
    let dir = WatchedFiles::create(1)?;
    let file = dir.files()[0].clone();
    let watcher = variant.start(dir.files())?;
    let t0 = Instant::now();
    std::fs::write(&file, "VERSION = 'reloaded'\n")
        .map_err(|e| format!("cannot rewrite {}: {e}", file.display()))?;
    let change = watcher.changes().recv_timeout(MISSED).map_err(|_| {
        format!(
            "{} watcher missed the write within {MISSED:?}",
            variant.name()
        )
    })?;
    let latency = t0.elapsed();
    if change.path != file || change.kind != ChangeKind::Written {
        return Err(format!(
            "expected {} written, the watcher reported {change:?}",
            file.display()
        ));
    }
    Ok(Detection {
        latency,
        scans: watcher.stats().scans(),
    })
}

/// What an idle window cost.
#[derive(Clone, Debug, PartialEq)]
pub struct IdleCost {
    /// `stat` calls on watched files in the window.
    pub stat_calls: u64,
    /// Process CPU time in the window, but the looks at the watcher's threads (this thread's).
    pub cpu: Duration,
    /// The watcher's threads (notify's included), looked at [`WAIT_SAMPLES`] times in the window
    /// (`None`: not measurable here).
    pub waits: Option<WaitSeries>,
}

/// Starts a watcher over `files`, and counts its `stat` calls and the process's CPU time over
/// [`IDLE_WINDOW`] from [`IDLE_FROM`] after the start, nothing changing, and looks at what its
/// threads are blocked in meanwhile.
pub fn idle_window(variant: WatchVariant, files: &[PathBuf]) -> Result<IdleCost, String> {
    let probe = wait_probe();
    let watcher = variant.start(files)?;
    let t0 = Instant::now();
    sleep_until(t0 + IDLE_FROM);
    let (stats0, cpu0, own0) = (watcher.stats().stat_calls(), process_cpu(), thread_cpu());
    let waits = probe
        .map(|p| p.observe(WAIT_SAMPLES, WAIT_GAP, WAIT_HORIZON))
        .transpose()
        .map_err(|e| e.to_string())?;
    let own = thread_cpu().saturating_sub(own0);
    sleep_until(t0 + IDLE_FROM + IDLE_WINDOW);
    let (stats1, cpu1) = (watcher.stats().stat_calls(), process_cpu());
    if let Ok(c) = watcher.changes().try_recv() {
        return Err(format!("nothing changed, yet the watcher reported {c:?}"));
    }
    Ok(IdleCost {
        stat_calls: stats1 - stats0,
        cpu: cpu1.saturating_sub(cpu0).saturating_sub(own),
        waits,
    })
}

/// `watch/{detect,idle}/{polling,notify}/files=N`.
/// Registers the watcher scenarios and claims.
pub fn register(r: &mut Registry) {
    use WatchVariant::{Notify, Polling};
    let detect = r
        .pair("watch/detect", Polling, Notify)
        .scales(["files=1"])
        .smoke(|variant, _| variant == Notify)
        .metrics([DETECT_LATENCY, SCANS_TO_DETECT])
        .measure(|variant, _, _| {
            let d = detect_once(variant)?;
            Ok(BTreeMap::from([
                (
                    DETECT_LATENCY.into(),
                    single_ns(d.latency.as_nanos() as f64),
                ),
                (SCANS_TO_DETECT.into(), Metric::count(d.scans, "scans")),
            ]))
        });
    // The idle scenarios' files, made on first use and shared by both variants.
    let files = MadeOnce::new();
    let idle_scale = format!("files={IDLE_FILES}");
    let idle = r
        .pair("watch/idle", Polling, Notify)
        .scales([idle_scale.clone()])
        .metrics([STAT_CALLS_PER_S, CPU_PER_S])
        .metrics(TIMED_WAIT_METRICS)
        .measure(move |variant, _, _| {
            let files = files.get("watched files", || WatchedFiles::create(IDLE_FILES))?;
            let cost = idle_window(variant, files.files())?;
            let secs = IDLE_WINDOW.as_secs_f64();
            let mut m = BTreeMap::from([
                (
                    STAT_CALLS_PER_S.into(),
                    exact_rate(cost.stat_calls as f64 / secs, "stats/s"),
                ),
                (
                    CPU_PER_S.into(),
                    single_cpu_ns(cost.cpu.as_nanos() as f64 / secs),
                ),
            ]);
            m.extend(timed_wait_metrics(cost.waits.as_ref()));
            Ok(m)
        });
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 45,
        text: "Immediate file change detection on Linux (no polling delay) (read as: reported \
               within 100 ms of the write, a tenth of the original's 1 s poll, 25 ms debounce \
               included)"
            .to_owned(),
        check: detect.after_at_most("files=1", DETECT_LATENCY, 100e6),
    });
    r.claim(Claim {
        seed: SEED.to_owned(),
        line: 46,
        text: "Reduced CPU usage for file monitoring (read as: at most half the CPU time per idle \
               second with 1,000 files)"
            .to_owned(),
        check: idle.ratio_at_most(&idle_scale, CPU_PER_S, 0.5),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::scenario::Suite;

    /// inotify reports a write as an event (no timing bound here: the wait is for the event).
    #[test]
    fn notify_detects_a_write_without_scanning() {
        let d = detect_once(WatchVariant::Notify).expect("detected");
        assert_eq!(d.scans, 0);
    }

    #[test]
    fn watched_files_are_made_and_removed() {
        let w = WatchedFiles::create(3).expect("created");
        let dir = w.dir().to_path_buf();
        assert_eq!(w.files().len(), 3);
        assert!(w.files().iter().all(|f| f.is_file()));
        drop(w);
        assert!(!dir.exists());
    }

    #[test]
    fn smoke_leaves_only_the_polling_detection_out_and_claims_name_registered_ids() {
        let r = Registry::of(register);
        assert_eq!(
            r.ids(Suite::Smoke),
            vec![
                "watch/detect/notify/files=1",
                "watch/idle/polling/files=1000",
                "watch/idle/notify/files=1000",
            ]
        );
    }
}
