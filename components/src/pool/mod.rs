//! Worker pool (seed `core-improvements.md`, section 2): [`PollingPool`] workers poll the queue with a
//! 100 ms timeout as the original did; [`BlockingPool`] workers block until a task or the shutdown.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use crate::clock::{Clock, SystemClock};
use crate::counters::counters;
use crate::named::named_impl;

/// The original's defaults: 4 workers, a queue of 100.
pub const DEFAULT_WORKERS: usize = 4;
/// See [`DEFAULT_WORKERS`].
pub const DEFAULT_QUEUE: usize = 100;
/// The original's poll: `queue.get(timeout=0.1)` in the workers, `sleep(0.1)` in shutdown.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long [`PollingPool`]'s shutdown polls for an empty queue before it gives up.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(600);

/// A unit of work.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// What can go wrong with a pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A configuration value is out of range.
    #[error("worker pool `{field}` = {value} is invalid: {fix}")]
    InvalidConfig {
        /// The field: `workers`, `queue` or `poll`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What to give instead.
        fix: &'static str,
    },
    /// The pool is shutting down or shut down: the task was not queued (and will not run).
    #[error("the worker pool is shut down: the task was not queued; submit before `shutdown`")]
    ShutDown,
    /// The bounded queue is full (from `try_submit` only).
    #[error("the worker pool's queue is full: wait (`submit`) or make the queue larger")]
    Full,
    /// A worker thread could not be started.
    #[error(
        "could not start worker thread {index}: {source}; lower `workers` or raise the thread limit"
    )]
    Spawn {
        /// Which worker.
        index: usize,
        /// Why.
        source: std::io::Error,
    },
    /// Shutdown polled for an empty queue for its whole timeout.
    #[error(
        "shutdown waited {waited:?} for the queue to empty and it still holds tasks: a task blocks \
         its worker; fix the task or use `BlockingPool`"
    )]
    ShutdownTimedOut {
        /// How long it polled.
        waited: Duration,
    },
    /// A worker thread died outside a task (a bug in the pool, reported rather than hidden).
    #[error("worker thread {index} died outside a task; its queued tasks ran on the other workers")]
    WorkerDied {
        /// Which worker.
        index: usize,
    },
}

/// Why a task gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The task panicked; its worker lives on.
    #[error("the task panicked: {0}")]
    Panicked(String),
    /// The result did not arrive in time (from [`TaskHandle::wait_timeout`]).
    #[error("the task's result did not arrive within {0:?}; wait longer or check the task")]
    TimedOut(Duration),
    /// The pool dropped the task without running it (never expected: every queued task runs).
    #[error("the pool dropped the task without running it")]
    Lost,
}

/// Where a submitted task's result arrives.
#[derive(Debug)]
pub struct TaskHandle<T> {
    result: Receiver<Result<T, TaskError>>,
}

impl<T> TaskHandle<T> {
    /// Blocks until the task ran: its value, or why there is none.
    pub fn wait(self) -> Result<T, TaskError> {
        self.result.recv().unwrap_or(Err(TaskError::Lost))
    }

    /// As [`TaskHandle::wait`], for at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, TaskError> {
        match self.result.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(TaskError::TimedOut(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(TaskError::Lost),
        }
    }
}

counters! {
    /// Counters every pool keeps.
    pub struct PoolStats {
        /// Times a worker woke up with no task (a poll that timed out on an empty queue).
        idle_wakeups,
        /// Tasks run to the end, panicked ones included.
        completed,
        /// Tasks that panicked.
        panicked,
        /// Times shutdown slept before looking at the queue again.
        shutdown_polls,
    }
}

impl PoolStats {
    /// Sets the idle-wakeup counter to zero (to count over a window).
    pub fn reset_idle_wakeups(&self) {
        self.idle_wakeups.store(0, Ordering::Relaxed);
    }
}

/// A pool's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Worker threads.
    pub workers: usize,
    /// Capacity of the bounded queue.
    pub queue: usize,
    /// [`PollingPool`] only: the workers' receive timeout and shutdown's sleep between looks.
    pub poll: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS,
            queue: DEFAULT_QUEUE,
            poll: POLL_INTERVAL,
        }
    }
}

impl PoolConfig {
    fn validate(&self) -> Result<(), PoolError> {
        let bad = |field, value: String, fix| Err(PoolError::InvalidConfig { field, value, fix });
        if self.workers == 0 {
            return bad("workers", "0".into(), "give at least 1 worker");
        }
        if self.queue == 0 {
            return bad("queue", "0".into(), "give a queue of at least 1");
        }
        if self.poll.is_zero() {
            return bad(
                "poll",
                format!("{:?}", self.poll),
                "give a poll interval above zero",
            );
        }
        Ok(())
    }
}

/// A fixed set of worker threads taking tasks from a bounded queue.
pub trait WorkerPool: Send + Sync {
    /// Short, stable name for scenario ids: `"polling"` or `"blocking"`.
    fn name(&self) -> &'static str;
    /// Queues `job`, waiting while the queue is full. Fails only once shutdown began.
    fn execute(&self, job: Job) -> Result<(), PoolError>;
    /// Queues `job` if there is room now.
    fn try_execute(&self, job: Job) -> Result<(), PoolError>;
    /// Refuses new tasks, runs every queued one, stops the workers and joins them. Idempotent.
    fn shutdown(&self) -> Result<(), PoolError>;
    /// The counters.
    fn stats(&self) -> &PoolStats;
}

impl dyn WorkerPool + '_ {
    /// Queues `task`; its value (or its panic) arrives at the returned handle.
    pub fn submit<T, F>(&self, task: F) -> Result<TaskHandle<T>, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = bounded(1);
        self.execute(Box::new(move || {
            // The caller may have dropped its handle: then nobody wants the result.
            match catch_unwind(AssertUnwindSafe(task)) {
                Ok(v) => drop(tx.send(Ok(v))),
                Err(p) => {
                    drop(tx.send(Err(TaskError::Panicked(panic_text(&p)))));
                    // On to the worker, which counts it (the panic hook does not run again).
                    std::panic::resume_unwind(p);
                }
            }
        }))?;
        Ok(TaskHandle { result: rx })
    }
}

fn panic_text(p: &Box<dyn Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

/// Runs one job, keeping its worker alive through a panic.
fn run_job(job: Job, stats: &PoolStats) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        stats.panicked.fetch_add(1, Ordering::Relaxed);
    }
    stats.completed.fetch_add(1, Ordering::Relaxed);
}

enum Message {
    Run(Job),
    Stop,
}

impl From<Job> for Message {
    fn from(job: Job) -> Self {
        Self::Run(job)
    }
}

/// Makes `$ty` (with its `gate` and `stats` fields) a [`WorkerPool`] named `$name` (also its
/// `NAME`) whose shutdown is its own `stop`, also run when it is dropped.
macro_rules! worker_pool {
    ($ty:ty, $name:literal) => {
        named_impl! {
            WorkerPool for $ty = $name {
                fn execute(&self, job: Job) -> Result<(), PoolError> {
                    self.gate.send(job.into(), true)
                }

                fn try_execute(&self, job: Job) -> Result<(), PoolError> {
                    self.gate.send(job.into(), false)
                }

                fn shutdown(&self) -> Result<(), PoolError> {
                    self.stop()
                }

                fn stats(&self) -> &PoolStats {
                    &self.stats
                }
            }
        }

        impl Drop for $ty {
            fn drop(&mut self) {
                // Errors were the caller's to see through `shutdown`; here we only make sure
                // threads end.
                let _ = self.stop();
            }
        }
    };
}

/// The submit side shared by both pools: `None` once shutdown began. Submitters hold the read lock
/// while they send, so shutdown (the write lock) knows no task is half-submitted when it closes.
struct Gate<M> {
    sender: RwLock<Option<Sender<M>>>,
}

impl<M> Gate<M> {
    fn send(&self, m: M, wait: bool) -> Result<(), PoolError> {
        let guard = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else {
            return Err(PoolError::ShutDown);
        };
        if wait {
            tx.send(m).map_err(|_| PoolError::ShutDown)
        } else {
            tx.try_send(m).map_err(|e| match e {
                TrySendError::Full(_) => PoolError::Full,
                TrySendError::Disconnected(_) => PoolError::ShutDown,
            })
        }
    }

    /// Closes the gate; the sender, if it was still open.
    fn close(&self) -> Option<Sender<M>> {
        self.sender
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

fn spawn_workers(
    n: usize,
    name: &str,
    mut body: impl FnMut() -> Box<dyn FnOnce() + Send>,
) -> Result<Vec<JoinHandle<()>>, PoolError> {
    (0..n)
        .map(|index| {
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(body())
                .map_err(|source| PoolError::Spawn { index, source })
        })
        .collect()
}

fn join_all(workers: &Mutex<Vec<JoinHandle<()>>>) -> Result<(), PoolError> {
    let handles = std::mem::take(&mut *workers.lock().unwrap_or_else(PoisonError::into_inner));
    let mut result = Ok(());
    for (index, h) in handles.into_iter().enumerate() {
        if h.join().is_err() {
            result = Err(PoolError::WorkerDied { index });
        }
    }
    result
}

/// The original: each worker polls `get(timeout = poll)` and counts a wakeup each time it comes back
/// empty-handed; shutdown looks at the queue every `poll` until it is empty, then posts one stop
/// marker per worker (behind any task still queued, so none is lost).
pub struct PollingPool {
    gate: Gate<Message>,
    queue: Receiver<Message>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    stats: Arc<PoolStats>,
    config: PoolConfig,
    clock: Arc<dyn Clock>,
}

impl PollingPool {
    /// Starts the workers; shutdown sleeps on the system clock.
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        Self::with_clock(config, Arc::new(SystemClock::new()))
    }

    /// Starts the workers; shutdown's sleeps between looks at the queue go through `clock`.
    pub fn with_clock(config: PoolConfig, clock: Arc<dyn Clock>) -> Result<Self, PoolError> {
        config.validate()?;
        let (tx, rx) = bounded::<Message>(config.queue);
        let stats = Arc::new(PoolStats::default());
        let workers = spawn_workers(config.workers, "polling-pool", || {
            let (rx, stats, poll) = (rx.clone(), Arc::clone(&stats), config.poll);
            Box::new(move || {
                loop {
                    match rx.recv_timeout(poll) {
                        Ok(Message::Run(job)) => run_job(job, &stats),
                        Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => {
                            stats.idle_wakeups.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })?;
        Ok(Self {
            gate: Gate {
                sender: RwLock::new(Some(tx)),
            },
            queue: rx,
            workers: Mutex::new(workers),
            stats,
            config,
            clock,
        })
    }

    /// [`WorkerPool::shutdown`]: waits for the queue to empty, then stops each worker.
    fn stop(&self) -> Result<(), PoolError> {
        let Some(tx) = self.gate.close() else {
            return join_all(&self.workers);
        };
        let max_polls = SHUTDOWN_TIMEOUT.as_nanos() / self.config.poll.as_nanos() + 1;
        let mut polls = 0u128;
        while !self.queue.is_empty() {
            if polls >= max_polls {
                return Err(PoolError::ShutdownTimedOut {
                    waited: SHUTDOWN_TIMEOUT,
                });
            }
            self.clock.sleep(self.config.poll);
            self.stats.shutdown_polls.fetch_add(1, Ordering::Relaxed);
            polls += 1;
        }
        for _ in 0..self.config.workers {
            // Blocks while the queue is full: the workers are taking from it. Cannot fail while
            // `self.queue` is alive.
            tx.send(Message::Stop).map_err(|_| PoolError::ShutDown)?;
        }
        join_all(&self.workers)
    }
}

worker_pool!(PollingPool, "polling");

/// Blocking receive: a worker sleeps until a task comes or the queue is closed, so an idle pool
/// never wakes. Shutdown closes the queue; the workers run everything still queued, then exit.
pub struct BlockingPool {
    gate: Gate<Job>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    stats: Arc<PoolStats>,
}

impl BlockingPool {
    /// Starts the workers (`config.poll` is not used).
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        config.validate()?;
        let (tx, rx) = bounded::<Job>(config.queue);
        let stats = Arc::new(PoolStats::default());
        let workers = spawn_workers(config.workers, "blocking-pool", || {
            let (rx, stats) = (rx.clone(), Arc::clone(&stats));
            // `recv` fails only when the queue is closed and empty: every queued task ran.
            Box::new(move || {
                while let Ok(job) = rx.recv() {
                    run_job(job, &stats);
                }
            })
        })?;
        Ok(Self {
            gate: Gate {
                sender: RwLock::new(Some(tx)),
            },
            workers: Mutex::new(workers),
            stats,
        })
    }

    /// [`WorkerPool::shutdown`]: closes the queue; the workers end once it is empty.
    fn stop(&self) -> Result<(), PoolError> {
        drop(self.gate.close());
        join_all(&self.workers)
    }
}

worker_pool!(BlockingPool, "blocking");
