//! One connection's protocol state machine, shared by the io_uring and the epoll backends:
//! bytes in, frames out, jobs to the pool. Backends only move bytes and timers.

use std::sync::Arc;
use std::time::Instant;

use keel_protocol::{
    BodyError, ErrorCode, FrameDecoder, FrameHeader, HEADER_LEN, Request, RequestKind, Response,
    ResponseKind,
};

use crate::admission::{MemoryCharge, Ticket};
use crate::pool::{Completion, CompletionSink, Job, Lane, Work};
use crate::service::{Peer, RequestContext};
use crate::shared::Shared;

/// What the backend should do with the connection after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    Continue,
    /// Stop reading, flush what is queued, then close.
    Close,
}

enum Auth {
    None,
    Challenged {
        key: [u8; 48],
        nonce: [u8; 32],
        read_only: bool,
    },
    Verifying {
        key: [u8; 48],
        read_only: bool,
    },
    Done {
        key: [u8; 48],
        read_only: bool,
    },
}

pub(crate) struct Session {
    conn: u64,
    peer: Peer,
    decoder: FrameDecoder,
    auth: Auth,
    in_flight: u32,
    /// The connection's provisional slot (promoted once a writer key is proven).
    ticket: Ticket,
    /// What the receive buffer costs, charged to the global memory budget.
    memory: MemoryCharge,
    opened: Instant,
    last_activity: Instant,
    partial_since: Option<Instant>,
    closed: bool,
}

/// Appends a connection-level error frame (request id 0) or a per-request one.
pub(crate) fn write_error(shared: &Shared, out: &mut Vec<u8>, id: u64, code: ErrorCode, msg: &str) {
    shared.metrics.error(code);
    // An error body is tiny; encoding cannot exceed the frame limit.
    let _ = Response::error(code, msg).encode(id, out);
}

/// Whether `body` is exactly one borsh `Vec<u8>` (u32 LE length, then that many bytes).
fn is_borsh_bytes(body: &[u8]) -> bool {
    match body {
        [a, b, c, d, rest @ ..] => u32::from_le_bytes([*a, *b, *c, *d]) as usize == rest.len(),
        _ => false,
    }
}

impl Session {
    pub(crate) fn new(
        conn: u64,
        peer: Peer,
        ticket: Ticket,
        shared: &Shared,
        now: Instant,
    ) -> Session {
        Session {
            conn,
            peer,
            decoder: FrameDecoder::new(shared.config.unauthenticated_frame_bytes()),
            auth: Auth::None,
            in_flight: 0,
            memory: ticket.charge(),
            ticket,
            opened: now,
            last_activity: now,
            partial_since: None,
            closed: false,
        }
    }

    /// Requests of this connection currently in the worker pool.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Feeds received bytes; appends any immediate answers to `out`.
    pub(crate) fn on_bytes(
        &mut self,
        data: &[u8],
        now: Instant,
        shared: &Shared,
        sink: &Arc<dyn CompletionSink>,
        out: &mut Vec<u8>,
    ) -> Flow {
        if self.closed {
            return Flow::Close;
        }
        shared.metrics.bytes_in(data.len());
        self.decoder.push(data);
        if !self.charge_memory() {
            write_error(
                shared,
                out,
                0,
                ErrorCode::Overloaded,
                "server memory budget exhausted",
            );
            return self.close();
        }
        let flow = self.drain(now, shared, sink, out);
        // Consumed frames may have given their buffer back.
        self.charge_memory();
        flow
    }

    /// Charges the receive buffer to the global budget; `false` if it is over and this is not
    /// an authenticated writer.
    fn charge_memory(&mut self) -> bool {
        let writer = self.ticket.is_writer();
        self.memory.set(self.decoder.capacity(), writer)
    }

    fn is_authenticated(&self) -> bool {
        matches!(self.auth, Auth::Done { .. })
    }

    /// Takes a worker's completion for this connection; appends its frame to `out`.
    pub(crate) fn on_completion(
        &mut self,
        completion: Completion,
        now: Instant,
        shared: &Shared,
        sink: &Arc<dyn CompletionSink>,
        out: &mut Vec<u8>,
    ) -> Flow {
        self.in_flight = self.in_flight.saturating_sub(1);
        out.extend_from_slice(&completion.frame);
        self.last_activity = now;
        if let Some(ok) = completion.auth {
            let Auth::Verifying { key, read_only } = self.auth else {
                return self.close();
            };
            if !ok {
                return self.close();
            }
            self.auth = Auth::Done { key, read_only };
            self.decoder.set_max_body(shared.config.max_frame_bytes);
            if !read_only {
                self.ticket.promote();
            }
            // Frames that arrived during verification were held back; run them now.
            return self.drain(now, shared, sink, out);
        }
        if self.closed {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    /// Checks timeouts and shutdown; may append a final error frame.
    pub(crate) fn on_tick(&mut self, now: Instant, shared: &Shared, out: &mut Vec<u8>) -> Flow {
        if self.closed {
            return Flow::Close;
        }
        if let Some(since) = self.partial_since
            && now.duration_since(since) > shared.config.frame_timeout()
        {
            write_error(
                shared,
                out,
                0,
                ErrorCode::Timeout,
                "frame not completed in time",
            );
            return self.close();
        }
        let waiting = self.in_flight > 0 || matches!(self.auth, Auth::Verifying { .. });
        if self.ticket.on_probation()
            && matches!(self.auth, Auth::None | Auth::Challenged { .. })
            && now.duration_since(self.opened) > crate::admission::PROBATION
        {
            write_error(
                shared,
                out,
                0,
                ErrorCode::Timeout,
                "reserved slot: no allowlisted handshake in time",
            );
            return self.close();
        }
        if !self.is_authenticated() && !waiting {
            // Without open reads an unauthenticated peer can only shake hands, which takes
            // one round trip; with them it must keep asking for something other than pings.
            let since = if shared.config.open_reads {
                self.last_activity
            } else {
                self.opened
            };
            if now.duration_since(since) > shared.config.handshake_timeout() {
                write_error(
                    shared,
                    out,
                    0,
                    ErrorCode::Timeout,
                    "not authenticated in time",
                );
                return self.close();
            }
        }
        if !waiting && now.duration_since(self.last_activity) > shared.config.idle_timeout() {
            write_error(shared, out, 0, ErrorCode::Timeout, "idle connection");
            return self.close();
        }
        if shared.is_shutting_down() && !waiting {
            return self.close();
        }
        Flow::Continue
    }

    fn close(&mut self) -> Flow {
        self.closed = true;
        Flow::Close
    }

    fn drain(
        &mut self,
        now: Instant,
        shared: &Shared,
        sink: &Arc<dyn CompletionSink>,
        out: &mut Vec<u8>,
    ) -> Flow {
        while !matches!(self.auth, Auth::Verifying { .. }) {
            let (id, request) = match self.decoder.next_frame_ref() {
                Ok(None) => break,
                Ok(Some(frame)) => {
                    let ping = frame.kind == RequestKind::Ping as u8;
                    // A ping keeps only an authenticated connection alive.
                    if !ping || matches!(self.auth, Auth::Done { .. }) {
                        self.last_activity = now;
                    }
                    if ping && is_borsh_bytes(frame.body) {
                        // Pong's body is Ping's body: echo it without decoding or allocating.
                        shared.metrics.request(RequestKind::Ping);
                        let header = FrameHeader {
                            kind: ResponseKind::Pong as u8,
                            request_id: frame.request_id,
                            body_len: frame.body.len() as u32,
                        };
                        out.extend_from_slice(&header.to_bytes());
                        out.extend_from_slice(frame.body);
                        continue;
                    }
                    (frame.request_id, Request::decode(frame.kind, frame.body))
                }
                Err(e) => {
                    write_error(shared, out, 0, e.code(), &e.to_string());
                    return self.close();
                }
            };
            if self.on_frame(id, request, now, shared, sink, out) == Flow::Close {
                return self.close();
            }
        }
        // Held-back frames during verification are bounded: one frame's worth beyond the limit.
        let limit = 2 * (shared.config.max_frame_bytes as usize + HEADER_LEN);
        if self.decoder.buffered() > limit {
            write_error(
                shared,
                out,
                0,
                ErrorCode::HandshakeFailed,
                "data sent before authentication completed",
            );
            return self.close();
        }
        self.partial_since = if self.decoder.has_partial_frame() {
            Some(self.partial_since.unwrap_or(now))
        } else {
            None
        };
        Flow::Continue
    }

    fn on_frame(
        &mut self,
        id: u64,
        request: Result<Request, BodyError>,
        now: Instant,
        shared: &Shared,
        sink: &Arc<dyn CompletionSink>,
        out: &mut Vec<u8>,
    ) -> Flow {
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                write_error(shared, out, id, e.code(), &e.to_string());
                return Flow::Continue;
            }
        };
        let req_kind = request.kind();
        shared.metrics.request(req_kind);
        match request {
            Request::Ping { payload } => {
                let _ = Response::Pong { payload }.encode(id, out);
                Flow::Continue
            }
            Request::Hello { public_key } => self.on_hello(id, public_key, shared, out),
            Request::AuthProof { signature } => {
                self.on_proof(id, signature, now, shared, sink, out)
            }
            request => {
                if shared.is_shutting_down() {
                    write_error(
                        shared,
                        out,
                        id,
                        ErrorCode::ShuttingDown,
                        "server is shutting down",
                    );
                    return Flow::Continue;
                }
                let (key, read_only) = match self.auth {
                    Auth::Done { key, read_only } => (Some(key), Some(read_only)),
                    _ => (None, None),
                };
                if key.is_none() && self.ticket.on_probation() {
                    write_error(
                        shared,
                        out,
                        id,
                        ErrorCode::TooManyConnections,
                        "connection limit reached: the reserved slots are for allowlisted keys",
                    );
                    return Flow::Close;
                }
                if let Err(code) = shared.policy.permit(req_kind, read_only) {
                    write_error(
                        shared,
                        out,
                        id,
                        code,
                        "request not permitted on this connection",
                    );
                    return Flow::Continue;
                }
                let ctx = RequestContext {
                    peer: self.peer.clone(),
                    public_key: key,
                    read_only: read_only.unwrap_or(true),
                    request_id: id,
                };
                self.dispatch(req_kind, ctx, Work::Handle(request), now, shared, sink, out);
                Flow::Continue
            }
        }
    }

    fn on_hello(&mut self, id: u64, key: [u8; 48], shared: &Shared, out: &mut Vec<u8>) -> Flow {
        if !matches!(self.auth, Auth::None) {
            write_error(
                shared,
                out,
                id,
                ErrorCode::HandshakeFailed,
                "handshake already started",
            );
            return Flow::Close;
        }
        let access = shared.policy.access(&key);
        if self.ticket.on_probation() && access != Some(false) {
            write_error(
                shared,
                out,
                id,
                ErrorCode::TooManyConnections,
                "connection limit reached: the reserved slots are for allowlisted keys",
            );
            return Flow::Close;
        }
        let Some(read_only) = access else {
            write_error(
                shared,
                out,
                id,
                ErrorCode::HandshakeFailed,
                "key is not allowed",
            );
            return Flow::Close;
        };
        let nonce: [u8; 32] = rand::random();
        self.auth = Auth::Challenged {
            key,
            nonce,
            read_only,
        };
        let _ = Response::Challenge {
            nonce,
            server_id: shared.policy.server_id,
        }
        .encode(id, out);
        Flow::Continue
    }

    fn on_proof(
        &mut self,
        id: u64,
        signature: [u8; 96],
        now: Instant,
        shared: &Shared,
        sink: &Arc<dyn CompletionSink>,
        out: &mut Vec<u8>,
    ) -> Flow {
        let Auth::Challenged {
            key,
            nonce,
            read_only,
        } = self.auth
        else {
            write_error(
                shared,
                out,
                id,
                ErrorCode::HandshakeFailed,
                "no challenge outstanding",
            );
            return Flow::Close;
        };
        let ctx = RequestContext {
            peer: self.peer.clone(),
            public_key: Some(key),
            read_only,
            request_id: id,
        };
        self.auth = Auth::Verifying { key, read_only };
        let work = Work::VerifyProof {
            key,
            nonce,
            signature,
        };
        if !self.dispatch(RequestKind::AuthProof, ctx, work, now, shared, sink, out) {
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Sends work to the pool, or answers with the reason it cannot go. `true` if queued.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        kind: RequestKind,
        ctx: RequestContext,
        work: Work,
        now: Instant,
        shared: &Shared,
        sink: &Arc<dyn CompletionSink>,
        out: &mut Vec<u8>,
    ) -> bool {
        let id = ctx.request_id;
        // Writers (proven, or proving an allowlisted key) are served first.
        let lane = if ctx.read_only {
            Lane::General
        } else {
            Lane::Priority
        };
        if self.in_flight >= shared.config.max_in_flight && !kind.is_handshake() {
            write_error(
                shared,
                out,
                id,
                ErrorCode::TooManyInFlight,
                "too many requests in flight",
            );
            return false;
        }
        let job = Job {
            conn: self.conn,
            sink: sink.clone(),
            ctx,
            work,
            started: now,
        };
        shared.metrics.in_flight(1);
        if shared.pool.try_submit(lane, job) {
            self.in_flight += 1;
            true
        } else {
            shared.metrics.in_flight(-1);
            write_error(shared, out, id, ErrorCode::Overloaded, "worker queue full");
            false
        }
    }
}
