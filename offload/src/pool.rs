//! A pool of worker threads, one per chosen CPU, each pinned to its CPU and fed by its own
//! bounded queue.
//!
//! Memory placement: every worker allocates its scratch memory (pairing contexts, point and
//! scalar buffers) itself, after pinning. Under Linux's default (local) memory policy a page is
//! placed on the node of the CPU that first touches it, so that memory lands on the worker's own
//! node. The inputs of a job are shared read-only from the submitting thread.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};

use serde::Serialize;
use thiserror::Error;

use crate::affinity;
use crate::topology::Topology;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Failures of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    /// The configuration selects no CPU, or a CPU the topology does not list.
    #[error("invalid pool configuration: {0}")]
    Config(String),
    /// A worker thread could not be spawned.
    #[error("could not spawn worker thread: {0}")]
    Spawn(String),
    /// The worker's queue is full (only from [`WorkerPool::try_submit`]).
    #[error("worker {0} queue is full")]
    QueueFull(usize),
    /// The worker index is out of range.
    #[error("no worker {0}")]
    NoSuchWorker(usize),
    /// The worker stopped, or the job panicked, before producing a result.
    #[error("worker {0} stopped before finishing the job")]
    WorkerGone(usize),
}

/// How to build a pool. Defaults: every CPU of the topology, pinned, 64 queued jobs per worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// CPUs to put workers on, in order; `None` means every CPU of the topology that the calling
    /// thread may run on, node by node.
    pub cpus: Option<Vec<usize>>,
    /// At most this many workers (a prefix of the CPU list); `None` means no limit.
    pub max_workers: Option<usize>,
    /// Jobs that may wait in one worker's queue; [`WorkerPool::submit`] blocks beyond it.
    pub queue_capacity: usize,
    /// Pin each worker to its CPU. A failed pin is logged and recorded, not fatal.
    pub pin: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            cpus: None,
            max_workers: None,
            queue_capacity: 64,
            pin: true,
        }
    }
}

/// What one worker is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// Index used with [`WorkerPool::submit`].
    pub index: usize,
    /// The CPU it was placed on.
    pub cpu: usize,
    /// The NUMA node of that CPU.
    pub node: Option<usize>,
    /// Whether `sched_setaffinity` succeeded.
    pub pinned: bool,
}

struct Worker {
    info: WorkerInfo,
    queue: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// Pinned workers with bounded queues. Dropping the pool lets queued jobs finish, then joins.
pub struct WorkerPool {
    workers: Vec<Worker>,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.workers())
            .finish()
    }
}

/// The pending result of a submitted job.
#[derive(Debug)]
pub struct JobHandle<R> {
    worker: usize,
    result: Receiver<R>,
}

impl<R> JobHandle<R> {
    /// Waits for the result.
    ///
    /// # Errors
    /// [`PoolError::WorkerGone`] if the job panicked or the worker stopped.
    pub fn join(self) -> Result<R, PoolError> {
        self.result
            .recv()
            .map_err(|_| PoolError::WorkerGone(self.worker))
    }
}

impl WorkerPool {
    /// Starts the workers on `topology`'s CPUs as `config` says and waits until each one has
    /// tried to pin itself.
    ///
    /// # Errors
    /// [`PoolError::Config`] for an empty selection, a CPU unknown to the topology or a zero queue
    /// capacity; [`PoolError::Spawn`] if a thread cannot be created.
    pub fn new(topology: &Topology, config: &PoolConfig) -> Result<Self, PoolError> {
        if config.queue_capacity == 0 {
            return Err(PoolError::Config(
                "queue capacity must be at least 1".into(),
            ));
        }
        let mut cpus = match &config.cpus {
            Some(cpus) => cpus.clone(),
            None => default_cpus(topology),
        };
        if let Some(max) = config.max_workers {
            cpus.truncate(max);
        }
        if cpus.is_empty() {
            return Err(PoolError::Config("no CPU selected".into()));
        }
        if let Some(bad) = cpus.iter().find(|c| topology.node_of(**c).is_none()) {
            return Err(PoolError::Config(format!(
                "cpu {bad} is not in the topology"
            )));
        }
        let mut workers = Vec::with_capacity(cpus.len());
        for (index, &cpu) in cpus.iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Job>(config.queue_capacity);
            let (ready_tx, ready_rx) = mpsc::channel::<bool>();
            let pin = config.pin;
            let thread = thread::Builder::new()
                .name(format!("keel-offload-{index}"))
                .spawn(move || worker_main(index, cpu, pin, &ready_tx, &rx))
                .map_err(|e| PoolError::Spawn(e.to_string()))?;
            let pinned = ready_rx.recv().map_err(|_| PoolError::WorkerGone(index))?;
            workers.push(Worker {
                info: WorkerInfo {
                    index,
                    cpu,
                    node: topology.node_of(cpu),
                    pinned,
                },
                queue: Some(tx),
                thread: Some(thread),
            });
        }
        Ok(Self { workers })
    }

    /// Number of workers (at least one).
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Always `false`: a pool has at least one worker. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Descriptions of the workers, by index.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.workers.iter().map(|w| w.info.clone()).collect()
    }

    /// Queues `job` on worker `worker`, blocking while its queue is full (backpressure).
    ///
    /// # Errors
    /// [`PoolError::NoSuchWorker`], or [`PoolError::WorkerGone`] if the worker has stopped.
    pub fn submit<R, F>(&self, worker: usize, job: F) -> Result<JobHandle<R>, PoolError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (queue, boxed, handle) = self.prepare(worker, job)?;
        queue
            .send(boxed)
            .map_err(|_| PoolError::WorkerGone(worker))?;
        Ok(handle)
    }

    /// Like [`WorkerPool::submit`] but never blocks.
    ///
    /// # Errors
    /// Also [`PoolError::QueueFull`] when the worker's queue is at capacity.
    pub fn try_submit<R, F>(&self, worker: usize, job: F) -> Result<JobHandle<R>, PoolError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (queue, boxed, handle) = self.prepare(worker, job)?;
        queue.try_send(boxed).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::QueueFull(worker),
            TrySendError::Disconnected(_) => PoolError::WorkerGone(worker),
        })?;
        Ok(handle)
    }

    fn prepare<R, F>(
        &self,
        worker: usize,
        job: F,
    ) -> Result<(&SyncSender<Job>, Job, JobHandle<R>), PoolError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let queue = self
            .workers
            .get(worker)
            .and_then(|w| w.queue.as_ref())
            .ok_or(PoolError::NoSuchWorker(worker))?;
        let (tx, rx) = mpsc::sync_channel(1);
        let boxed: Job = Box::new(move || {
            // A dropped receiver means the submitter stopped waiting; nothing to do then.
            let _ = tx.send(job());
        });
        Ok((queue, boxed, JobHandle { worker, result: rx }))
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.queue = None; // closing the queue ends the worker loop after queued jobs
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Every CPU of the topology that this process may run on (a container's cpuset can be smaller
/// than the machine); all of the topology's CPUs if the affinity mask cannot be read.
fn default_cpus(topology: &Topology) -> Vec<usize> {
    let all = topology.cpus();
    match affinity::current_thread_cpus() {
        Ok(allowed) => {
            let usable: Vec<usize> = all
                .iter()
                .copied()
                .filter(|c| allowed.contains(c))
                .collect();
            if usable.is_empty() { all } else { usable }
        }
        Err(_) => all,
    }
}

fn worker_main(
    index: usize,
    cpu: usize,
    pin: bool,
    ready: &mpsc::Sender<bool>,
    jobs: &Receiver<Job>,
) {
    let pinned = pin
        && match affinity::pin_current_thread(cpu) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(worker = index, cpu, error = %e, "could not pin worker; running unpinned");
                false
            }
        };
    let _ = ready.send(pinned);
    while let Ok(job) = jobs.recv() {
        // A panicking job drops its result sender, which its JobHandle reports as WorkerGone;
        // the worker itself keeps serving.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!(worker = index, "offload job panicked");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn each_worker_runs_pinned_to_its_own_cpu() {
        let topo = Topology::discover();
        let pool = WorkerPool::new(&topo, &PoolConfig::default()).unwrap();
        assert_eq!(pool.len(), default_cpus(&topo).len());
        for info in pool.workers() {
            let cpus = pool
                .submit(info.index, affinity::current_thread_cpus)
                .unwrap();
            let cpus = cpus.join().unwrap().unwrap();
            if info.pinned {
                assert_eq!(cpus, vec![info.cpu]);
            }
        }
    }

    #[test]
    fn a_full_queue_is_reported_by_try_submit_and_drains_afterwards() {
        let topo = Topology::discover();
        let config = PoolConfig {
            max_workers: Some(1),
            queue_capacity: 1,
            ..PoolConfig::default()
        };
        let pool = WorkerPool::new(&topo, &config).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let running = pool
            .submit(0, move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv(); // returns when released or when the sender drops
            })
            .unwrap();
        started_rx.recv().unwrap(); // the worker is busy and its queue is empty
        let queued = pool.try_submit(0, || 1).unwrap(); // takes the one slot
        let full = pool.try_submit(0, || 2).map(|_| ());
        release_tx.send(()).unwrap();
        assert_eq!(full, Err(PoolError::QueueFull(0)));
        running.join().unwrap();
        assert_eq!(queued.join().unwrap(), 1);
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_worker_survives() {
        let topo = Topology::discover();
        let config = PoolConfig {
            max_workers: Some(1),
            ..PoolConfig::default()
        };
        let pool = WorkerPool::new(&topo, &config).unwrap();
        let h = pool.submit(0, || -> u8 { panic!("boom") }).unwrap();
        assert_eq!(h.join(), Err(PoolError::WorkerGone(0)));
        assert_eq!(pool.submit(0, || 7).unwrap().join(), Ok(7));
    }

    #[test]
    fn unknown_cpus_and_empty_selections_are_configuration_errors() {
        let topo = Topology::discover();
        let bad = PoolConfig {
            cpus: Some(vec![usize::MAX]),
            ..PoolConfig::default()
        };
        assert!(matches!(
            WorkerPool::new(&topo, &bad),
            Err(PoolError::Config(_))
        ));
        let empty = PoolConfig {
            max_workers: Some(0),
            ..PoolConfig::default()
        };
        assert!(matches!(
            WorkerPool::new(&topo, &empty),
            Err(PoolError::Config(_))
        ));
        assert!(matches!(
            WorkerPool::new(
                &topo,
                &PoolConfig {
                    queue_capacity: 0,
                    ..PoolConfig::default()
                }
            ),
            Err(PoolError::Config(_))
        ));
    }
}
