//! A pool of worker threads, one per chosen CPU, each pinned to its CPU and fed by its own
//! bounded queue with two lanes: a worker always takes a [`Priority::Block`] job before a
//! [`Priority::Client`] one, so a flood of client work delays a block by at most the one client
//! job each worker is running.
//!
//! Memory placement: every worker allocates its scratch memory (pairing contexts, point and
//! scalar buffers) itself, after pinning. Under Linux's default (local) memory policy a page is
//! placed on the node of the CPU that first touches it, so that memory lands on the worker's own
//! node. The inputs of a job are shared read-only from the submitting thread.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use serde::Serialize;
use thiserror::Error;

use crate::affinity;
use crate::topology::Topology;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The lane a job waits in. Workers drain the `Block` lane first; each lane has its own
/// capacity, so client jobs can never fill the space a block needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Priority {
    /// Consensus work: a block's signatures.
    Block,
    /// Untrusted requests (`BlsBatchVerify`), benchmarks and tools.
    Client,
}

/// One worker's two lanes. Jobs run outside the lock.
struct Lanes {
    state: Mutex<LaneState>,
    /// Signalled when a job is queued or the queue closes.
    work: Condvar,
    /// Signalled when a job leaves a lane or the queue closes.
    space: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct LaneState {
    block: VecDeque<Job>,
    client: VecDeque<Job>,
    closed: bool,
}

impl LaneState {
    fn lane(&mut self, priority: Priority) -> &mut VecDeque<Job> {
        match priority {
            Priority::Block => &mut self.block,
            Priority::Client => &mut self.client,
        }
    }
}

impl Lanes {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(LaneState::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            capacity,
        }
    }

    /// No job panics while holding the lock (jobs run outside it), so poison carries no
    /// broken invariant.
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`; with `block_when_full` waits for space, otherwise hands the job back.
    fn push(&self, priority: Priority, job: Job, block_when_full: bool) -> Result<(), Refused> {
        let mut state = self.lock();
        while !state.closed && state.lane(priority).len() >= self.capacity {
            if !block_when_full {
                return Err(Refused::Full);
            }
            state = self
                .space
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            return Err(Refused::Closed);
        }
        state.lane(priority).push_back(job);
        self.work.notify_one();
        Ok(())
    }

    /// The next job, block lane first; `None` once closed and drained.
    fn pop(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.block.pop_front().or_else(|| state.client.pop_front()) {
                self.space.notify_all();
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
        self.space.notify_all();
    }
}

enum Refused {
    Full,
    Closed,
}

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

/// How to build a pool. Defaults: every CPU of the topology, pinned, 64 queued jobs per lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// CPUs to put workers on, in order; `None` means every CPU of the topology that the calling
    /// thread may run on, node by node.
    pub cpus: Option<Vec<usize>>,
    /// At most this many workers (a prefix of the CPU list); `None` means no limit.
    pub max_workers: Option<usize>,
    /// Jobs that may wait in each lane of one worker's queue; [`WorkerPool::submit`] blocks
    /// beyond it.
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
    lanes: Arc<Lanes>,
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
            let lanes = Arc::new(Lanes::new(config.queue_capacity));
            let (ready_tx, ready_rx) = mpsc::channel::<bool>();
            let pin = config.pin;
            let jobs = Arc::clone(&lanes);
            let thread = thread::Builder::new()
                .name(format!("keel-offload-{index}"))
                .spawn(move || worker_main(index, cpu, pin, &ready_tx, &jobs))
                .map_err(|e| PoolError::Spawn(e.to_string()))?;
            let pinned = ready_rx.recv().map_err(|_| PoolError::WorkerGone(index))?;
            workers.push(Worker {
                info: WorkerInfo {
                    index,
                    cpu,
                    node: topology.node_of(cpu),
                    pinned,
                },
                lanes,
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

    /// Queues `job` in `priority`'s lane of worker `worker`, blocking while that lane is full
    /// (backpressure).
    ///
    /// # Errors
    /// [`PoolError::NoSuchWorker`], or [`PoolError::WorkerGone`] if the worker has stopped.
    pub fn submit<R, F>(
        &self,
        worker: usize,
        priority: Priority,
        job: F,
    ) -> Result<JobHandle<R>, PoolError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.enqueue(worker, priority, job, true)
    }

    /// Like [`WorkerPool::submit`] but never blocks.
    ///
    /// # Errors
    /// Also [`PoolError::QueueFull`] when the lane is at capacity.
    pub fn try_submit<R, F>(
        &self,
        worker: usize,
        priority: Priority,
        job: F,
    ) -> Result<JobHandle<R>, PoolError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.enqueue(worker, priority, job, false)
    }

    fn enqueue<R, F>(
        &self,
        worker: usize,
        priority: Priority,
        job: F,
        block_when_full: bool,
    ) -> Result<JobHandle<R>, PoolError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let lanes = &self
            .workers
            .get(worker)
            .ok_or(PoolError::NoSuchWorker(worker))?
            .lanes;
        let (tx, rx) = mpsc::sync_channel(1);
        let boxed: Job = Box::new(move || {
            // A dropped receiver means the submitter stopped waiting; nothing to do then.
            let _ = tx.send(job());
        });
        lanes
            .push(priority, boxed, block_when_full)
            .map_err(|refused| match refused {
                Refused::Full => PoolError::QueueFull(worker),
                Refused::Closed => PoolError::WorkerGone(worker),
            })?;
        Ok(JobHandle { worker, result: rx })
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for w in &self.workers {
            w.lanes.close(); // ends the worker loop once both lanes are drained
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

fn worker_main(index: usize, cpu: usize, pin: bool, ready: &mpsc::Sender<bool>, jobs: &Lanes) {
    let pinned = pin
        && match affinity::pin_current_thread(cpu) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(worker = index, cpu, error = %e, "could not pin worker; running unpinned");
                false
            }
        };
    // Pinned (sched_setaffinity is not in its allowlist): confine this worker for good.
    keel_sandbox::enter(keel_sandbox::ThreadClass::Bls);
    let _ = ready.send(pinned);
    while let Some(job) = jobs.pop() {
        keel_sandbox::checkpoint();
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
                .submit(info.index, Priority::Block, affinity::current_thread_cpus)
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
            .submit(0, Priority::Client, move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv(); // returns when released or when the sender drops
            })
            .unwrap();
        started_rx.recv().unwrap(); // the worker is busy and its queue is empty
        let queued = pool.try_submit(0, Priority::Client, || 1).unwrap(); // the one slot
        let full = pool.try_submit(0, Priority::Client, || 2).map(|_| ());
        // The block lane has its own slot: client work cannot take a block's space.
        let block = pool.try_submit(0, Priority::Block, || 3).unwrap();
        release_tx.send(()).unwrap();
        assert_eq!(full, Err(PoolError::QueueFull(0)));
        running.join().unwrap();
        assert_eq!(queued.join().unwrap(), 1);
        assert_eq!(block.join().unwrap(), 3);
    }

    #[test]
    fn a_queued_block_job_runs_before_every_queued_client_job() {
        let topo = Topology::discover();
        let config = PoolConfig {
            max_workers: Some(1),
            queue_capacity: 8,
            ..PoolConfig::default()
        };
        let pool = WorkerPool::new(&topo, &config).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let running = pool
            .submit(0, Priority::Client, move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
            })
            .unwrap();
        started_rx.recv().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let log = |name: &'static str| {
            let order = Arc::clone(&order);
            move || order.lock().unwrap().push(name)
        };
        let jobs = [
            pool.submit(0, Priority::Client, log("client 1")).unwrap(),
            pool.submit(0, Priority::Client, log("client 2")).unwrap(),
            pool.submit(0, Priority::Block, log("block")).unwrap(),
        ];
        release_tx.send(()).unwrap();
        running.join().unwrap();
        for j in jobs {
            j.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["block", "client 1", "client 2"]);
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_worker_survives() {
        let topo = Topology::discover();
        let config = PoolConfig {
            max_workers: Some(1),
            ..PoolConfig::default()
        };
        let pool = WorkerPool::new(&topo, &config).unwrap();
        let h = pool
            .submit(0, Priority::Block, || -> u8 { panic!("boom") })
            .unwrap();
        assert_eq!(h.join(), Err(PoolError::WorkerGone(0)));
        assert_eq!(pool.submit(0, Priority::Block, || 7).unwrap().join(), Ok(7));
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
