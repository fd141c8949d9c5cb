//! The bounded worker pool that runs `Service::handle` (and handshake proof checks) off the
//! network threads. Responses are encoded here and handed back through a `CompletionSink`.

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

/// The pool's submitting side.
pub(crate) struct WorkerPool {
    tx: Sender<Message>,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl WorkerPool {
    /// A pool whose queue holds `capacity` jobs; threads start with [`WorkerPool::spawn`].
    pub(crate) fn new(capacity: usize) -> (WorkerPool, Receiver<Message>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (
            WorkerPool {
                tx,
                threads: std::sync::Mutex::new(Vec::new()),
            },
            rx,
        )
    }

    pub(crate) fn spawn(
        &self,
        shared: &Arc<Shared>,
        rx: Receiver<Message>,
        count: usize,
    ) -> Result<(), ServerError> {
        let mut threads = self
            .threads
            .lock()
            .map_err(|_| ServerError::EventLoop("pool lock poisoned".into()))?;
        for i in 0..count.max(1) {
            let rx = rx.clone();
            let shared = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("keel-worker-{i}"))
                .spawn(move || worker(&shared, &rx))
                .map_err(|source| ServerError::Spawn {
                    what: "worker thread",
                    source,
                })?;
            threads.push(t);
        }
        Ok(())
    }

    /// Queues a job; `false` (and the job is dropped) if the queue is full.
    pub(crate) fn try_submit(&self, job: Job) -> bool {
        self.tx.try_send(Message::Job(Box::new(job))).is_ok()
    }

    /// Lets queued jobs finish, then stops and joins every worker.
    pub(crate) fn stop_and_join(&self) {
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        for _ in &threads {
            let _ = self.tx.send(Message::Stop);
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

fn worker(shared: &Shared, rx: &Receiver<Message>) {
    while let Ok(Message::Job(job)) = rx.recv() {
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
