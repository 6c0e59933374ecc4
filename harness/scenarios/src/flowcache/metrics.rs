//! Performance-metrics overhead (seed `cache-optimizations.md`, section 4): a cache read with monitoring
//! off, with the seed's append-only CSV, and with the bounded CSV; time per operation, the bytes the
//! CSV holds after 10,000 operations, and the file-system calls those 10,000 operations made.

use std::collections::BTreeMap;
use std::sync::Arc;

use components::clock::SystemClock;
use components::flowcache::CacheDir;
use components::flowcache::perf::{PerfMonitor, PerfMonitoring};
use tempfile::TempDir;

use super::{SYSCALL_METRICS, count_syscalls, fresh_cache, step_metrics};
use perfgate::measure;
use perfgate::model::{Claim, ClaimCheck, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry, Role, RunContext, Scenario, WALL_TIME};

/// Operations recorded before the CSV's size is read (the seed's "10,000 operations").
pub const OPS: usize = 10_000;
/// The bounded CSV's limit here: small enough that 10,000 operations trim it (the default 1 MiB
/// holds ~37,000 lines, so 10,000 would never exercise trimming).
pub const BOUND: u64 = 64 * 1024;
/// Entries in the cache the operations read.
pub const ENTRIES: usize = 100;
const SEED: &str = "cache-optimizations.md";

pair_variants! {
    /// How operations are monitored.
    pub enum Monitoring {
        /// `CACHE_PERF_MONITORING=disabled`: no clock read, no I/O.
        Off => "off",
        /// The seed's shell version: open, append, close per record, never trimmed.
        Append => "append",
        /// One open handle, trimmed past [`BOUND`].
        Bounded => "bounded",
    }
}

impl Monitoring {
    fn monitor(self, dir: &std::path::Path) -> PerfMonitor {
        let path = dir.join("cache-perf.csv");
        let clock = Arc::new(SystemClock::new());
        match self {
            Monitoring::Off => PerfMonitor::new(path, clock, PerfMonitoring::Disabled),
            Monitoring::Append => PerfMonitor::append_only(path, clock, PerfMonitoring::Enabled),
            Monitoring::Bounded => {
                PerfMonitor::new(path, clock, PerfMonitoring::Enabled).with_max_bytes(BOUND)
            }
        }
    }
}

/// The situation's scenarios: `flowcache/metrics/{off,append,bounded}/ops=10000`.
const FAMILY: &str = "flowcache/metrics";

/// Bytes of the metrics CSV after the counted operations.
pub const CSV_BYTES: MetricName = MetricName::new("csv_bytes");

/// The one scale: `ops=10000`.
fn scale() -> String {
    format!("ops={OPS}")
}

/// A cache of [`ENTRIES`] small entries and their keys, in a directory removed on drop.
fn cache_with_entries() -> Result<(TempDir, CacheDir, Vec<String>), String> {
    let (dir, cache) = fresh_cache("perfgate-metrics-")?;
    let keys: Vec<String> = (0..ENTRIES).map(|i| format!("entry{i:03}")).collect();
    for k in &keys {
        cache.put(k, k.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok((dir, cache, keys))
}

/// What [`overhead`] returns: the CSV's bytes, the wall time per operation, the syscalls by kind.
const METRICS: [MetricName; 2] = [CSV_BYTES, WALL_TIME];

/// `flowcache/metrics/{off,append,bounded}/ops=10000`: a cache read monitored as `mode`, timed per
/// operation, and the CSV's bytes after [`OPS`] of them. `id` names it in errors.
fn overhead(
    id: &str,
    mode: Monitoring,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let (dir, cache, keys) = cache_with_entries()?;
    let read = |monitor: &PerfMonitor, i: usize| -> Result<(), String> {
        let key = &keys[i % keys.len()];
        match monitor.time("get", || cache.get(key)) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("{id}: entry {key} vanished")),
            Err(e) => Err(e.to_string()),
        }
    };

    let timed = mode.monitor(&dir.path().join("timed"));
    std::fs::create_dir_all(dir.path().join("timed")).map_err(|e| e.to_string())?;
    let mut i = 0;
    let samples = measure::sample(ctx.timer, &ctx.plan, || {
        i += 1;
        read(&timed, i)
    })?;
    drop(timed);

    // Exact, after the timed part (tracepoints slow what runs after them, see
    // `count_syscalls`): the CSV after OPS operations on a fresh monitor, and its calls.
    let counted = mode.monitor(dir.path());
    let (done, syscalls) = count_syscalls(id, || (0..OPS).try_for_each(|i| read(&counted, i)))?;
    done?;
    if counted.failures() > 0 {
        return Err(format!(
            "{id}: {} records failed to write",
            counted.failures()
        ));
    }
    let bytes = std::fs::metadata(counted.path()).map_or(0, |m| m.len());
    drop(counted);

    Ok(step_metrics(
        (CSV_BYTES, Metric::count(bytes, "bytes")),
        samples.into_metric(ctx.plan.confidence),
        syscalls.as_ref(),
    ))
}

/// `flowcache/metrics/off/ops=10000`: monitoring off, the floor the pair below is read against.
/// Written out rather than declared as a pair: it is a third variant with no "after" of its own
/// (`Role::Alone`), and a pair is exactly a before and an after.
struct MonitoringOff {
    id: String,
    metrics: Vec<MetricName>,
}

impl Scenario for MonitoringOff {
    fn id(&self) -> &str {
        &self.id
    }

    fn role(&self) -> Role {
        Role::Alone
    }

    fn metrics(&self) -> &[MetricName] {
        &self.metrics
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
        overhead(&self.id, Monitoring::Off, ctx)
    }
}

/// Registers the metrics scenarios and the seed's memory claims.
pub fn register(r: &mut Registry) {
    r.add(MonitoringOff {
        id: format!("{FAMILY}/{}/{}", Monitoring::Off.name(), scale()),
        metrics: METRICS.into_iter().chain(SYSCALL_METRICS).collect(),
    });
    let csv = r
        .pair(FAMILY, Monitoring::Append, Monitoring::Bounded)
        .scales([scale()])
        .metrics(METRICS)
        .metrics(SYSCALL_METRICS)
        .measure(|mode, scale, ctx| {
            overhead(&format!("{FAMILY}/{}/{scale}", mode.name()), mode, ctx)
        });
    let claim = |line, text: &str, check| Claim::new(SEED, line, text, check);
    r.claim(claim(
        181,
        "Performance metrics: ~1MB for 10,000 operations (read as: the original's CSV, at most 1 MiB)",
        ClaimCheck::AtMost {
            scenario: csv.before(scale()),
            metric: CSV_BYTES.into(),
            max: 1_048_576.0,
        },
    ));
    r.claim(claim(
        182,
        "Overall impact: Negligible (<5MB additional memory) (read as: the bounded CSV after 10,000 operations)",
        csv.after_at_most(scale(), CSV_BYTES, 5e6),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::measure::{RealTimer, SamplingPlan};

    fn run(mode: Monitoring) -> BTreeMap<String, Metric> {
        let timer = RealTimer::new();
        let ctx = RunContext {
            plan: SamplingPlan {
                warm_up: std::time::Duration::ZERO,
                min_samples: 1,
                max_samples: 1,
                ..SamplingPlan::SMOKE
            },
            timer: &timer,
            swap_in_before: false,
        };
        overhead(&format!("{FAMILY}/{}/{}", mode.name(), scale()), mode, &ctx).expect("runs")
    }

    fn value(m: &BTreeMap<String, Metric>, name: &str) -> Option<f64> {
        m.get(name).map(|m| m.value.as_f64())
    }

    #[test]
    fn off_writes_nothing_bounded_stays_bounded_append_grows() {
        let (off, append, bounded) = (
            run(Monitoring::Off),
            run(Monitoring::Append),
            run(Monitoring::Bounded),
        );
        let bytes = |m| value(m, "csv_bytes").expect("csv_bytes");
        assert_eq!(bytes(&off), 0.0);
        assert!(bytes(&bounded) <= BOUND as f64);
        // 10,000 lines of `1767225600,get,0.001` plus the header.
        assert!(bytes(&append) > 200_000.0);

        // The kernel's counts, where it counts: of the 10,000 operations only (the 100 entries
        // put beforehand, each a temp file renamed, are not in them).
        let Some(open) = value(&off, "syscalls_open") else {
            eprintln!("syscall counts not measured here");
            return;
        };
        let ops = OPS as f64;
        assert_eq!(open, ops, "one open per read");
        assert_eq!(value(&off, "syscalls_write"), Some(0.0));
        assert_eq!(value(&off, "syscalls_rename"), Some(0.0));
        // The seed's `>>`: an open and a write per record besides the read's open.
        assert_eq!(value(&append, "syscalls_open"), Some(2.0 * ops));
        assert_eq!(
            value(&append, "syscalls_write"),
            Some(ops + 1.0),
            "and the header"
        );
        assert_eq!(value(&append, "syscalls_rename"), Some(0.0));
        // One handle: a few reopens after trims, each trim a temp file renamed over the CSV.
        let renames = value(&bounded, "syscalls_rename").expect("counted");
        assert!(renames >= 1.0, "{renames}");
        let opens = value(&bounded, "syscalls_open").expect("counted");
        assert!(opens > ops && opens < ops + 100.0, "{opens}");
        for m in [&off, &append, &bounded] {
            assert_eq!(value(m, "syscalls_sync"), Some(0.0), "nothing is synced");
        }
    }
}
