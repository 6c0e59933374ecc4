//! Batch versus per-entry cache operations (seed `cache-optimizations.md`, section 3): writing 1k / 10k
//! entries and cleaning up 100 / 1k / 10k victims, timed on fresh caches under the scratch dir, with the
//! file-system calls each makes counted exactly (by the cache, and by the kernel per kind).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use components::flowcache::batch::{BatchedOps, CacheLimits, Entry, EntryOps, PerEntryOps};
use components::flowcache::{CacheDir, WalkSize};
use fixtures::clock::MockClock;
use tempfile::TempDir;

use super::{SYSCALL_METRICS, count_syscalls, fresh_cache, step_metrics};
use perfgate::measure;
use perfgate::model::{Claim, Metric, MetricName};
use perfgate::scenario::{PairVariant, Registry, RunContext, WALL_TIME};

/// Entries written per write scenario.
pub const WRITE_SCALES: [usize; 2] = [1_000, 10_000];
/// Victims removed per cleanup scenario.
pub const CLEANUP_SCALES: [usize; 3] = [100, 1_000, 10_000];
/// Scales too slow for the smoke suite (their setup writes 10,000 files per sample).
const SMOKE_MAX: usize = 1_000;
/// Entries a cleanup must keep.
pub const SURVIVORS: usize = 100;
/// Bytes per value.
pub const VALUE_LEN: usize = 256;
const SEED: &str = "cache-optimizations.md";

/// File-system calls the cache made (its own counter), in the counted pass.
pub const FS_CALLS: MetricName = MetricName::new("fs_calls");

pair_variants! {
    /// Which way of doing many operations a scenario measures.
    pub enum Mode {
        /// `PerEntryOps`: one complete operation per entry, the original.
        Single => PerEntryOps::NAME,
        /// `BatchedOps`: one operation for the whole set.
        Batch => BatchedOps::NAME,
    }
}

impl Mode {
    /// The implementation.
    pub fn ops(self) -> Box<dyn EntryOps> {
        match self {
            Mode::Single => Box::new(PerEntryOps::default()),
            Mode::Batch => Box::new(BatchedOps::default()),
        }
    }
}

/// What a scenario does many times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Write `n` new entries into an empty cache.
    Write,
    /// Remove `n` victims (half expired, half least recently used) from a cache of `n` + [`SURVIVORS`].
    Cleanup,
}

impl Job {
    /// Its scenarios' `component/situation`.
    fn family(self) -> &'static str {
        match self {
            Job::Write => "flowcache/write",
            Job::Cleanup => "flowcache/cleanup",
        }
    }
}

/// A case: the job done for `n` entries, `entries=N` written or `victims=N` removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Count {
    job: Job,
    n: usize,
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.job {
            Job::Write => write!(f, "entries={}", self.n),
            Job::Cleanup => write!(f, "victims={}", self.n),
        }
    }
}

/// Keys and values for `n` entries: `k00000`, … with deterministic bytes.
fn entries_data(n: usize) -> (Vec<String>, Vec<u8>) {
    let keys = (0..n).map(|i| format!("k{i:05}")).collect();
    let value = (0..VALUE_LEN).map(|i| (i * 31 % 251) as u8).collect();
    (keys, value)
}

/// One prepared input: the cache and the clock it runs on.
pub struct Prepared {
    dir: TempDir,
    cache: CacheDir,
    clock: MockClock,
}

/// `flowcache/{write,cleanup}/{single,batch}/…`: the job timed on a fresh cache each sample, its
/// file-system calls counted, and the end state checked (index exact, right entries left).
pub struct BatchScenario {
    id: String,
    job: Job,
    mode: Mode,
    n: usize,
}

impl BatchScenario {
    /// The scenario of a job, mode and scale (also what the criterion bench measures).
    pub fn new(job: Job, mode: Mode, n: usize) -> Self {
        Self {
            id: format!("{}/{}/{}", job.family(), mode.name(), Count { job, n }),
            job,
            mode,
            n,
        }
    }

    /// Keys and the value its entries use: for [`prepare`](Self::prepare) and [`act`](Self::act).
    pub fn data(&self) -> (Vec<String>, Vec<u8>) {
        entries_data(match self.job {
            Job::Write => self.n,
            Job::Cleanup => self.n + SURVIVORS,
        })
    }

    /// A fresh cache ready for the job: empty for a write, holding victims and survivors for a
    /// cleanup.
    pub fn prepare(&self, keys: &[String], value: &[u8]) -> Result<Prepared, String> {
        let (dir, cache) = fresh_cache("perfgate-batch-")?;
        let clock = MockClock::new();
        if self.job == Job::Cleanup {
            // Victims: the first half expire after 1 s, the second half are written first among the
            // fresh ones (least recently used); then the survivors, written last.
            let expiring = self.n / 2;
            let e = |range: std::ops::Range<usize>, ttl| -> Vec<Entry<'_>> {
                keys[range]
                    .iter()
                    .map(|k| Entry::new(k, value).with_ttl(ttl))
                    .collect()
            };
            let ops = BatchedOps::default();
            let err = |e: components::flowcache::CacheError| e.to_string();
            ops.write_entries(&cache, &clock, &e(0..expiring, Duration::from_secs(1)))
                .map_err(err)?;
            clock.advance(Duration::from_secs(1));
            ops.write_entries(
                &cache,
                &clock,
                &e(expiring..self.n, Duration::from_secs(300)),
            )
            .map_err(err)?;
            clock.advance(Duration::from_secs(1));
            ops.write_entries(
                &cache,
                &clock,
                &e(self.n..self.n + SURVIVORS, Duration::from_secs(300)),
            )
            .map_err(err)?;
            clock.advance(Duration::from_secs(10));
        }
        cache.stats().reset();
        Ok(Prepared { dir, cache, clock })
    }

    fn limits() -> CacheLimits {
        CacheLimits {
            max_bytes: u64::MAX,
            max_entries: SURVIVORS as u64,
        }
    }

    /// Does the job once on `p` with `ops`.
    pub fn act(
        &self,
        ops: &dyn EntryOps,
        p: &Prepared,
        keys: &[String],
        value: &[u8],
    ) -> Result<(), String> {
        match self.job {
            Job::Write => {
                let entries: Vec<Entry<'_>> = keys.iter().map(|k| Entry::new(k, value)).collect();
                ops.write_entries(&p.cache, &p.clock, &entries)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Job::Cleanup => {
                let report = ops
                    .enforce_limits(&p.cache, &p.clock, Self::limits())
                    .map_err(|e| e.to_string())?;
                if report.removed.len() != self.n || report.expired != self.n / 2 {
                    return Err(format!(
                        "{}: removed {} ({} expired), expected {} ({} expired)",
                        self.id,
                        report.removed.len(),
                        report.expired,
                        self.n,
                        self.n / 2
                    ));
                }
                Ok(())
            }
        }
    }

    /// The end state both modes must reach: the index agrees with a walk, and the expected entries
    /// are there.
    fn check(&self, p: &Prepared, root: &Path, keys: &[String]) -> Result<(), String> {
        let indexed = p.cache.size().map_err(|e| e.to_string())?;
        let walked = CacheDir::open(root, Box::new(WalkSize))
            .and_then(|c| c.size())
            .map_err(|e| e.to_string())?;
        if indexed != walked {
            return Err(format!(
                "{}: the size index says {indexed} bytes, a walk finds {walked}",
                self.id
            ));
        }
        let kept: &[String] = match self.job {
            Job::Write => &keys[..self.n],
            Job::Cleanup => &keys[self.n..],
        };
        for k in kept {
            if p.cache.get(k).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("{}: entry {k} is missing afterwards", self.id));
            }
        }
        Ok(())
    }

    /// Runs the scenario: its mode timed, then counted once and its end state checked.
    fn measure(&self, ctx: &RunContext<'_>) -> Result<BTreeMap<String, Metric>, String> {
        let ops = self.mode.ops();
        let (keys, value) = self.data();

        let samples = measure::sample_with_setup(
            ctx.timer,
            &ctx.plan,
            || self.prepare(&keys, &value),
            |p| self.act(ops.as_ref(), p, &keys, &value),
        )?;

        // One untimed pass, after the timed ones (tracepoints slow what runs after them, see
        // `count_syscalls`): the exact call counts (the act only, not its setup) and the end state.
        let first = self.prepare(&keys, &value)?;
        let (acted, syscalls) =
            count_syscalls(&self.id, || self.act(ops.as_ref(), &first, &keys, &value))?;
        acted?;
        let calls = first.cache.stats().fs_calls();
        self.check(&first, first.dir.path(), &keys)?;
        drop(first);
        Ok(step_metrics(
            (FS_CALLS, Metric::count(calls, "calls")),
            samples.into_metric(ctx.plan.confidence),
            syscalls.as_ref(),
        ))
    }
}

/// Registers the batch scenarios and the seed's batch and cleanup claims.
pub fn register(r: &mut Registry) {
    let [write, cleanup] = [
        (Job::Write, &WRITE_SCALES[..]),
        (Job::Cleanup, &CLEANUP_SCALES[..]),
    ]
    .map(|(job, scales)| {
        r.pair(job.family(), Mode::Single, Mode::Batch)
            .cases(scales.iter().map(|&n| Count { job, n }))
            .smoke(|_, case| case.n <= SMOKE_MAX)
            .metrics([FS_CALLS, WALL_TIME])
            .metrics(SYSCALL_METRICS)
            .measure(|mode, case, ctx| BatchScenario::new(case.job, mode, case.n).measure(ctx))
    });
    let claim = |line, text: &str, check| Claim::new(SEED, line, text, check);
    let ratio = |job, n, metric, max| {
        let pair = match job {
            Job::Write => &write,
            Job::Cleanup => &cleanup,
        };
        pair.ratio_at_most(Count { job, n }, metric, max)
    };
    r.claim(claim(
        177,
        "Cache Cleanup Operations: Improvement: 40% faster (read as: 100 victims)",
        ratio(Job::Cleanup, 100, WALL_TIME, 0.6),
    ));
    r.claim(claim(
        105,
        "40% faster cache cleanup operations (read as: 1,000 victims)",
        ratio(Job::Cleanup, 1_000, WALL_TIME, 0.6),
    ));
    r.claim(claim(
        242,
        "Batch operations should be 40% faster than individual operations (read as: writing 1,000 entries)",
        ratio(Job::Write, 1_000, WALL_TIME, 0.6),
    ));
    r.claim(claim(
        106,
        "Reduced system call overhead (read as: at least 10 % fewer file-system calls, writing 1,000 entries)",
        ratio(Job::Write, 1_000, FS_CALLS, 0.9),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfgate::measure::{RealTimer, SamplingPlan};

    fn run(job: Job, mode: Mode, n: usize) -> BTreeMap<String, Metric> {
        let timer = RealTimer::new();
        let ctx = RunContext {
            plan: SamplingPlan {
                warm_up: Duration::ZERO,
                min_samples: 1,
                max_samples: 1,
                ..SamplingPlan::SMOKE
            },
            timer: &timer,
            swap_in_before: false,
        };
        BatchScenario::new(job, mode, n)
            .measure(&ctx)
            .expect("runs")
    }

    #[test]
    fn both_modes_reach_the_checked_end_state_and_batching_makes_fewer_calls() {
        for job in [Job::Write, Job::Cleanup] {
            let (single, batch) = (run(job, Mode::Single, 20), run(job, Mode::Batch, 20));
            let calls =
                |m: &BTreeMap<String, Metric>, name: &str| m.get(name).map(|m| m.value.as_f64());
            let (s, b) = (calls(&single, "fs_calls"), calls(&batch, "fs_calls"));
            assert!(b < s, "{job:?}: {b:?} vs {s:?}");
            // The kernel's counts of the act alone, where it counts: the index is rewritten (a temp
            // file renamed) per entry or once, and nothing is synced.
            let (s, b) = (
                calls(&single, "syscalls_rename"),
                calls(&batch, "syscalls_rename"),
            );
            let (Some(s), Some(b)) = (s, b) else {
                eprintln!("syscall counts not measured here");
                continue;
            };
            assert!(b < s, "{job:?}: renames {b} vs {s}");
            for m in [&single, &batch] {
                assert_eq!(calls(m, "syscalls_sync"), Some(0.0), "{job:?}");
            }
        }
        // Writing 20 entries in a batch: each entry and its metadata a temp file renamed into place,
        // then the index once.
        let batch = run(Job::Write, Mode::Batch, 20);
        if let Some(renames) = batch.get("syscalls_rename") {
            assert_eq!(renames.value.as_f64(), 41.0);
        }
    }
}
