//! The bounded worker pool that runs `Service::handle` (and handshake proof checks) off the
//! network threads. Responses are encoded here and handed back through a `CompletionSink`.
//!
//! Two lanes: requests of allowlisted writers (and their handshakes) go to the priority lane,
//! everything else to the general lane. Every worker takes priority work first, and
//! `priority_workers` of them take nothing else, so a flood of slow reads or simulations from
//! other peers can fill the general lane and its workers but never delay a validator's request
//! by more than the priority work queued ahead of it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use keel_protocol::{ErrorCode, Request, Response};

use crate::auth::verify_proof;
use crate::error::ServerError;
use crate::service::RequestContext;
use crate::shared::Shared;

/// Stack of a worker thread: handlers execute contracts, and the VM's JIT tier runs a call on
/// the thread's own stack only with 5 MiB free (else it maps a fresh segment per call). The
/// main thread's default; only the pages used are ever backed.
const WORKER_STACK: usize = 8 << 20;

/// A finished job, routed back to the network thread that owns the connection.
pub(crate) struct Completion {
    /// The connection's token (backend-defined).
    pub(crate) conn: u64,
    /// The encoded response frame.
    pub(crate) frame: Vec<u8>,
    /// For a handshake proof: whether it verified. `None` for ordinary requests.
    pub(crate) auth: Option<bool>,
}

/// Where completions go: the io_uring inbox of a ring, or a tokio connection's channel.
pub(crate) trait CompletionSink: Send + Sync {
    fn complete(&self, completion: Completion);
}

pub(crate) enum Work {
    Handle(Request),
    VerifyProof {
        key: [u8; 48],
        nonce: [u8; 32],
        signature: [u8; 96],
    },
}

pub(crate) struct Job {
    pub(crate) conn: u64,
    pub(crate) sink: Arc<dyn CompletionSink>,
    pub(crate) ctx: RequestContext,
    pub(crate) work: Work,
    pub(crate) started: Instant,
}

pub(crate) enum Message {
    Job(Box<Job>),
    Stop,
}

/// Which queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Allowlisted writers: taken first by every worker.
    Priority,
    /// Everyone else.
    General,
}

/// The receiving ends of both lanes.
#[derive(Clone)]
pub(crate) struct Lanes {
    priority: Receiver<Message>,
    general: Receiver<Message>,
}

/// The pool's submitting side.
pub(crate) struct WorkerPool {
    priority: Sender<Message>,
    general: Sender<Message>,
    /// Joined at stop, with whether the worker serves the priority lane only.
    threads: std::sync::Mutex<Vec<(JoinHandle<()>, bool)>>,
}

impl WorkerPool {
    /// A pool whose lanes hold `capacity` jobs each; threads start with [`WorkerPool::spawn`].
    pub(crate) fn new(capacity: usize) -> (WorkerPool, Lanes) {
        let (priority, prx) = crossbeam_channel::bounded(capacity);
        let (general, grx) = crossbeam_channel::bounded(capacity);
        (
            WorkerPool {
                priority,
                general,
                threads: std::sync::Mutex::new(Vec::new()),
            },
            Lanes {
                priority: prx,
                general: grx,
            },
        )
    }

    /// Starts `count` workers, `reserved` of which serve only the priority lane (always
    /// leaving at least one worker for the general lane).
    pub(crate) fn spawn(
        &self,
        shared: &Arc<Shared>,
        lanes: Lanes,
        count: usize,
        reserved: usize,
    ) -> Result<(), ServerError> {
        let mut threads = self
            .threads
            .lock()
            .map_err(|_| ServerError::EventLoop("pool lock poisoned".into()))?;
        let count = count.max(1);
        let reserved = reserved.min(count - 1);
        for i in 0..count {
            let only_priority = i < reserved;
            let lanes = lanes.clone();
            let shared = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("keel-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || worker(&shared, &lanes, only_priority))
                .map_err(|source| ServerError::Spawn {
                    what: "worker thread",
                    source,
                })?;
            threads.push((t, only_priority));
        }
        Ok(())
    }

    /// Queues a job in `lane`; `false` (and the job is dropped) if that lane is full.
    pub(crate) fn try_submit(&self, lane: Lane, job: Job) -> bool {
        let tx = match lane {
            Lane::Priority => &self.priority,
            Lane::General => &self.general,
        };
        tx.try_send(Message::Job(Box::new(job))).is_ok()
    }

    /// Lets queued jobs finish, then stops and joins every worker.
    pub(crate) fn stop_and_join(&self) {
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        // General workers first: they also take priority messages, so a priority-only worker's
        // stop must not be in a lane while they still read it. Each stop queues behind the
        // jobs of the lane its worker drains last.
        let (only_priority, general): (Vec<_>, Vec<_>) = threads.into_iter().partition(|(_, p)| *p);
        for (lane, group) in [(&self.general, general), (&self.priority, only_priority)] {
            for _ in &group {
                let _ = lane.send(Message::Stop);
            }
            for (t, _) in group {
                let _ = t.join();
            }
        }
    }
}

/// The next message for a worker: priority work first, general work only when there is none
/// (and never for a priority-only worker).
fn next(lanes: &Lanes, only_priority: bool) -> Option<Message> {
    if only_priority {
        return lanes.priority.recv().ok();
    }
    if let Ok(m) = lanes.priority.try_recv() {
        return Some(m);
    }
    crossbeam_channel::select_biased! {
        recv(lanes.priority) -> m => m.ok(),
        recv(lanes.general) -> m => m.ok(),
    }
}

fn worker(shared: &Shared, lanes: &Lanes, only_priority: bool) {
    keel_sandbox::enter(keel_sandbox::ThreadClass::Execution);
    while let Some(Message::Job(job)) = next(lanes, only_priority) {
        keel_sandbox::checkpoint();
        let Job {
            conn,
            sink,
            ctx,
            work,
            started,
        } = *job;
        let (response, auth) = match work {
            Work::Handle(request) => {
                let kind = request.kind();
                let response = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    shared.service.handle(&ctx, request)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!(kind = kind.name(), "service handler panicked");
                    Response::error(ErrorCode::Internal, "handler panicked")
                });
                shared.metrics.latency(kind, started.elapsed());
                (response, None)
            }
            Work::VerifyProof {
                key,
                nonce,
                signature,
            } => {
                let ok = verify_proof(&key, &nonce, &shared.policy.server_id, &signature);
                let response = if ok {
                    Response::Authenticated {
                        read_only: ctx.read_only,
                    }
                } else {
                    Response::error(ErrorCode::HandshakeFailed, "signature does not verify")
                };
                (response, Some(ok))
            }
        };
        if let Response::Error { code, .. } = &response {
            shared.metrics.error(*code);
        }
        let mut frame = Vec::new();
        if response.encode(ctx.request_id, &mut frame).is_err() {
            frame.clear();
            shared.metrics.error(ErrorCode::Internal);
            // A response over 64 MiB is a service bug; the client still gets an answer.
            let _ = Response::error(ErrorCode::Internal, "response too large")
                .encode(ctx.request_id, &mut frame);
        }
        shared.metrics.in_flight(-1);
        sink.complete(Completion { conn, frame, auth });
    }
}
