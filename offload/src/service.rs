//! The batching service: many callers submit verification requests; one batcher thread forms
//! batches by size or deadline and hands each batch to a verifier; every caller gets the
//! verdicts of its own items.
//!
//! Batching changes only latency and throughput, never verdicts (see [`SignatureVerifier`]).
//! The deadline uses the monotonic clock, which is fine here: it is not consensus data.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use keel_crypto::{SignatureVerifier, SingleVerifier, Verdict, VerifyItem};
use serde::Serialize;
use thiserror::Error;

/// When to close a batch. Defaults: 1024 items, 2 ms, 4096 queued requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Close the batch once it holds at least this many items. A single request larger than
    /// this forms a batch of its own (requests are never split).
    pub max_batch_items: usize,
    /// Close the batch this long after its first request arrived, however small it is.
    pub max_delay: Duration,
    /// Requests that may wait for the batcher; [`BatchService::submit`] blocks beyond it.
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

/// The batching service. Dropping it answers every queued request, then stops the batcher.
pub struct BatchService {
    queue: Mutex<Option<SyncSender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl BatchService {
    /// Starts the batcher thread in front of `verifier`.
    ///
    /// # Errors
    /// [`ServiceError::Policy`] for a zero batch size or queue capacity, [`ServiceError::Stopped`]
    /// if the thread cannot be spawned.
    pub fn start(
        verifier: Arc<dyn SignatureVerifier>,
        policy: BatchPolicy,
    ) -> Result<Self, ServiceError> {
        if policy.max_batch_items == 0 {
            return Err(ServiceError::Policy("max_batch_items must be at least 1"));
        }
        if policy.queue_capacity == 0 {
            return Err(ServiceError::Policy("queue_capacity must be at least 1"));
        }
        let (tx, rx) = mpsc::sync_channel(policy.queue_capacity);
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let thread = thread::Builder::new()
            .name("keel-offload-batcher".into())
            .spawn(move || batcher(&rx, verifier.as_ref(), policy, &c))
            .map_err(|_| ServiceError::Stopped)?;
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    fn sender(&self) -> Result<SyncSender<Request>, ServiceError> {
        self.queue
            .lock()
            .map_err(|_| ServiceError::Stopped)?
            .clone()
            .ok_or(ServiceError::Stopped)
    }

    /// Queues a request, blocking while the queue is full (backpressure).
    ///
    /// # Errors
    /// [`ServiceError::Stopped`].
    pub fn submit(&self, items: Vec<VerifyItem>) -> Result<Ticket, ServiceError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.sender()?
            .send(Request { items, reply })
            .map_err(|_| ServiceError::Stopped)?;
        Ok(Ticket { reply: rx })
    }

    /// Queues a request without blocking.
    ///
    /// # Errors
    /// [`ServiceError::Busy`] when the queue is full, [`ServiceError::Stopped`].
    pub fn try_submit(&self, items: Vec<VerifyItem>) -> Result<Ticket, ServiceError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.sender()?
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
    pub fn verify(&self, items: Vec<VerifyItem>) -> Result<Vec<Verdict>, ServiceError> {
        self.submit(items)?.wait()
    }

    /// Counters since start.
    pub fn stats(&self) -> ServiceStats {
        ServiceStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            items: self.counters.items.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting requests, answers the queued ones and joins the batcher.
    pub fn shutdown(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for BatchService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl SignatureVerifier for BatchService {
    /// Goes through the batcher; if the service has stopped, verifies on the calling thread
    /// with the reference path.
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        match self.verify(items.to_vec()) {
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
    verifier: &dyn SignatureVerifier,
    policy: BatchPolicy,
    counters: &Counters,
) {
    while let Ok(first) = queue.recv() {
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
        run_batch(batch, verifier, counters);
    }
}

fn run_batch(batch: Vec<Request>, verifier: &dyn SignatureVerifier, counters: &Counters) {
    let items: Vec<VerifyItem> = batch.iter().flat_map(|r| r.items.iter().cloned()).collect();
    let mut verdicts = verifier.verify_batch(&items);
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
