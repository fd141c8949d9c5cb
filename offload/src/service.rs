//! The batching service: many callers submit verification requests in one of two lanes, and
//! every caller gets the verdicts of its own items.
//!
//! - [`Priority::Block`]: consensus work. Each request is verified as a batch of its own, never
//!   merged with another, so a block's verdicts are a function of the block's items alone (the
//!   scalars are derived from exactly that batch); its pool jobs go ahead of client jobs.
//! - [`Priority::Client`]: untrusted `BlsBatchVerify` requests. A batcher merges them by size or
//!   deadline; a bad client signature costs only client batches their bisection.
//!
//! The client deadline uses the monotonic clock, which is fine: it never touches a block's batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use keel_crypto::{SignatureVerifier, SingleVerifier, Verdict, VerifyItem};
use serde::Serialize;
use thiserror::Error;

use crate::bls::{Backend, BatchVerifier};
use crate::pool::Priority;

/// A verifier whose heavy work can be put in a pool lane. Same contract as
/// [`SignatureVerifier::verify_batch`]: one verdict per item, in order, never fails.
pub trait PriorityVerifier: Send + Sync {
    /// One verdict per item, with the work in `priority`'s lane.
    fn verify_at(&self, priority: Priority, items: &[VerifyItem]) -> Vec<Verdict>;
}

impl PriorityVerifier for SingleVerifier {
    fn verify_at(&self, _: Priority, items: &[VerifyItem]) -> Vec<Verdict> {
        self.verify_batch(items)
    }
}

impl<B: Backend> PriorityVerifier for BatchVerifier<B> {
    fn verify_at(&self, priority: Priority, items: &[VerifyItem]) -> Vec<Verdict> {
        self.verify_or_fallback(items, priority)
    }
}

/// When to close a client batch. Defaults: 1024 items, 2 ms, 4096 queued requests per lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Close a client batch once it holds at least this many items. A single request larger
    /// than this forms a batch of its own (requests are never split).
    pub max_batch_items: usize,
    /// Close a client batch this long after its first request arrived, however small it is.
    pub max_delay: Duration,
    /// Requests that may wait in each lane; [`BatchService::submit`] blocks beyond it.
    pub queue_capacity: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_batch_items: 1024,
            max_delay: Duration::from_millis(2),
            queue_capacity: 4096,
        }
    }
}

/// Failures of the service (never of a signature: those are verdicts).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServiceError {
    /// The request queue is full (only from [`BatchService::try_submit`]).
    #[error("verification queue is full")]
    Busy,
    /// The service has stopped.
    #[error("verification service stopped")]
    Stopped,
    /// [`Ticket::wait_timeout`] gave up.
    #[error("no verdict within the timeout")]
    Timeout,
    /// The policy is unusable (zero batch size or queue capacity).
    #[error("invalid batch policy: {0}")]
    Policy(&'static str),
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// Requests answered.
    pub requests: u64,
    /// Items verified.
    pub items: u64,
    /// Batches handed to the verifier.
    pub batches: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    items: AtomicU64,
    batches: AtomicU64,
}

struct Request {
    items: Vec<VerifyItem>,
    reply: SyncSender<Vec<Verdict>>,
}

/// A submitted request's pending verdicts.
#[derive(Debug)]
pub struct Ticket {
    reply: Receiver<Vec<Verdict>>,
}

impl Ticket {
    /// Waits for the verdicts (one per submitted item, in order).
    ///
    /// # Errors
    /// [`ServiceError::Stopped`] if the service went away first.
    pub fn wait(self) -> Result<Vec<Verdict>, ServiceError> {
        self.reply.recv().map_err(|_| ServiceError::Stopped)
    }

    /// Like [`Ticket::wait`] with an upper bound on the wait.
    ///
    /// # Errors
    /// Also [`ServiceError::Timeout`].
    pub fn wait_timeout(self, timeout: Duration) -> Result<Vec<Verdict>, ServiceError> {
        self.reply.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => ServiceError::Timeout,
            RecvTimeoutError::Disconnected => ServiceError::Stopped,
        })
    }
}

/// The queues of the two lanes.
#[derive(Clone)]
struct Lanes {
    block: SyncSender<Request>,
    client: SyncSender<Request>,
}

/// The batching service. Dropping it answers every queued request, then stops its threads.
pub struct BatchService {
    lanes: Mutex<Option<Lanes>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl BatchService {
    /// Starts one thread per lane in front of `verifier` (both share its worker pool).
    ///
    /// # Errors
    /// [`ServiceError::Policy`] for a zero batch size or queue capacity, [`ServiceError::Stopped`]
    /// if a thread cannot be spawned.
    pub fn start(
        verifier: Arc<dyn PriorityVerifier>,
        policy: BatchPolicy,
    ) -> Result<Self, ServiceError> {
        if policy.max_batch_items == 0 {
            return Err(ServiceError::Policy("max_batch_items must be at least 1"));
        }
        if policy.queue_capacity == 0 {
            return Err(ServiceError::Policy("queue_capacity must be at least 1"));
        }
        let (block, block_rx) = mpsc::sync_channel::<Request>(policy.queue_capacity);
        let (client, client_rx) = mpsc::sync_channel(policy.queue_capacity);
        let counters = Arc::new(Counters::default());
        let service = Self {
            lanes: Mutex::new(Some(Lanes { block, client })),
            threads: Mutex::new(Vec::new()),
            counters: Arc::clone(&counters),
        };
        let (v, c) = (Arc::clone(&verifier), Arc::clone(&counters));
        service.spawn("keel-offload-blocks", move || {
            keel_sandbox::enter(keel_sandbox::ThreadClass::Batcher);
            // One block, one batch: never merged, so its scalars depend on it alone.
            while let Ok(request) = block_rx.recv() {
                keel_sandbox::checkpoint();
                run_batch(vec![request], v.as_ref(), Priority::Block, &c);
            }
        })?;
        service.spawn("keel-offload-batcher", move || {
            keel_sandbox::enter(keel_sandbox::ThreadClass::Batcher);
            batcher(&client_rx, verifier.as_ref(), policy, &counters);
        })?;
        Ok(service)
    }

    fn spawn(&self, name: &str, body: impl FnOnce() + Send + 'static) -> Result<(), ServiceError> {
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(body)
            .map_err(|_| ServiceError::Stopped)?;
        self.threads
            .lock()
            .map_err(|_| ServiceError::Stopped)?
            .push(thread);
        Ok(())
    }

    fn sender(&self, priority: Priority) -> Result<SyncSender<Request>, ServiceError> {
        let lanes = self.lanes.lock().map_err(|_| ServiceError::Stopped)?;
        let lanes = lanes.as_ref().ok_or(ServiceError::Stopped)?;
        Ok(match priority {
            Priority::Block => lanes.block.clone(),
            Priority::Client => lanes.client.clone(),
        })
    }

    /// Queues a request in `priority`'s lane, blocking while that lane is full (backpressure).
    ///
    /// # Errors
    /// [`ServiceError::Stopped`].
    pub fn submit(
        &self,
        priority: Priority,
        items: Vec<VerifyItem>,
    ) -> Result<Ticket, ServiceError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.sender(priority)?
            .send(Request { items, reply })
            .map_err(|_| ServiceError::Stopped)?;
        Ok(Ticket { reply: rx })
    }

    /// Queues a request without blocking.
    ///
    /// # Errors
    /// [`ServiceError::Busy`] when the lane is full, [`ServiceError::Stopped`].
    pub fn try_submit(
        &self,
        priority: Priority,
        items: Vec<VerifyItem>,
    ) -> Result<Ticket, ServiceError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.sender(priority)?
            .try_send(Request { items, reply })
            .map_err(|e| match e {
                TrySendError::Full(_) => ServiceError::Busy,
                TrySendError::Disconnected(_) => ServiceError::Stopped,
            })?;
        Ok(Ticket { reply: rx })
    }

    /// Submits and waits: the verdicts of `items`, in order.
    ///
    /// # Errors
    /// [`ServiceError::Stopped`].
    pub fn verify(
        &self,
        priority: Priority,
        items: Vec<VerifyItem>,
    ) -> Result<Vec<Verdict>, ServiceError> {
        self.submit(priority, items)?.wait()
    }

    /// A [`SignatureVerifier`] that submits to `priority`'s lane: the chain gets
    /// `lane(Priority::Block)`, the `BlsBatchVerify` handler `lane(Priority::Client)`.
    pub fn lane(self: &Arc<Self>, priority: Priority) -> Lane {
        Lane {
            service: Arc::clone(self),
            priority,
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> ServiceStats {
        ServiceStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            items: self.counters.items.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting requests, answers the queued ones and joins both lanes' threads.
    pub fn shutdown(&self) {
        if let Ok(mut q) = self.lanes.lock() {
            q.take();
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for BatchService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One lane of a [`BatchService`] as a [`SignatureVerifier`] (see [`BatchService::lane`]).
#[derive(Clone)]
pub struct Lane {
    service: Arc<BatchService>,
    priority: Priority,
}

impl SignatureVerifier for Lane {
    /// Goes through the lane; if the service has stopped, verifies on the calling thread with
    /// the reference path (exact, so the fallback is deterministic too).
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        match self.service.verify(self.priority, items.to_vec()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "batch service unavailable; using the single-signature path");
                SingleVerifier.verify_batch(items)
            }
        }
    }
}

fn batcher(
    queue: &Receiver<Request>,
    verifier: &dyn PriorityVerifier,
    policy: BatchPolicy,
    counters: &Counters,
) {
    while let Ok(first) = queue.recv() {
        keel_sandbox::checkpoint();
        let deadline = Instant::now() + policy.max_delay;
        let mut size = first.items.len();
        let mut batch = vec![first];
        while size < policy.max_batch_items {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match queue.recv_timeout(left) {
                Ok(r) => {
                    size += r.items.len();
                    batch.push(r);
                }
                Err(_) => break, // deadline, or all senders gone: run what we have
            }
        }
        run_batch(batch, verifier, Priority::Client, counters);
    }
}

fn run_batch(
    batch: Vec<Request>,
    verifier: &dyn PriorityVerifier,
    priority: Priority,
    counters: &Counters,
) {
    let items: Vec<VerifyItem> = batch.iter().flat_map(|r| r.items.iter().cloned()).collect();
    let mut verdicts = verifier.verify_at(priority, &items);
    if verdicts.len() != items.len() {
        // A verifier broke its contract; the reference path keeps callers correct.
        tracing::error!(
            got = verdicts.len(),
            want = items.len(),
            "verifier returned a wrong number of verdicts"
        );
        verdicts = SingleVerifier.verify_batch(&items);
    }
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters
        .items
        .fetch_add(items.len() as u64, Ordering::Relaxed);
    let mut rest = verdicts.as_slice();
    for req in batch {
        let (mine, tail) = rest.split_at(req.items.len());
        rest = tail;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        // The caller may have stopped waiting; its verdicts are simply dropped.
        let _ = req.reply.send(mine.to_vec());
    }
}
