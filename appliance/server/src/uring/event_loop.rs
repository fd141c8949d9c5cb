//! One ring's event loop.
//!
//! SQE lifetime invariant (the reason the `unsafe` pushes are sound): every pointer an SQE
//! carries points into memory owned by `State` that is neither moved nor freed until the
//! operation's final completion has been reaped — connection send buffers (a `Conn` is only
//! dropped once `send_active` and `recv_active` are both false), the eventfd read buffer and
//! the tick timespec (boxed, freed after the ring), and the provided-buffer ring (dropped
//! after the `IoUring`, see field order).

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::Instant;

use io_uring::types::{CancelBuilder, Fd, Fixed, Timespec};
use io_uring::{IoUring, cqueue, opcode};
use keel_protocol::ErrorCode;

use super::Inbox;
use super::bufring::{BGID, BufRing};
use super::slots::{
    Conn, Sq, TAG_ACCEPT, TAG_CANCEL, TAG_CLOSE, TAG_RECV, TAG_SEND, TAG_TICK, TAG_WAKE, lookup,
    mark, split_user_data, user_data,
};
use crate::pool::{Completion, CompletionSink};
use crate::service::Peer;
use crate::session::{Flow, Session, write_error};
use crate::shared::Shared;

/// A listener this ring accepts on (index 0: TCP, 1: Unix).
struct Listener {
    fd: RawFd,
    tcp: bool,
    active: bool,
}

struct State {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    sink: Arc<dyn CompletionSink>,
    conns: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    listeners: Vec<Listener>,
    dirty: Vec<u32>,
    wake_buf: Box<[u8; 8]>,
    tick: Box<Timespec>,
    completions: Vec<Completion>,
    stopping: Option<Instant>,
    open: usize,
}

/// Runs one ring until shutdown has drained its connections. Blocks the calling thread, which
/// must be the only one to touch the ring (it is created here, single-issuer).
pub(crate) fn run_ring(
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    tcp: Option<TcpListener>,
    unix: Option<Arc<UnixListener>>,
    pin_to: Option<usize>,
) -> io::Result<()> {
    let config = &shared.config;
    if let Some(cpu) = pin_to {
        pin_current_thread(cpu);
    }
    let entries = config.ring_entries.max(64);
    let min_wait = config.ring_min_wait_us;
    // Declared before `bufs` so the ring (which references the buffers) is dropped first.
    // DEFER_TASKRUN (6.1+): completions are produced only when this thread enters the ring,
    // in one batch, instead of interrupting it; it requires SINGLE_ISSUER (we are the only
    // thread touching the ring). Older kernels get a plain ring.
    let mut uring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries * 4)
        .build(entries)
        .or_else(|_| IoUring::builder().setup_cqsize(entries * 4).build(entries))?;
    let bufs = BufRing::new(config.recv_buffers, config.recv_buffer_bytes)?;
    let table = u32::try_from(config.max_connections)
        .unwrap_or(u32::MAX)
        .min(0x00FF_FFFF);
    uring.submitter().register_files_sparse(table)?;
    bufs.register(&uring.submitter())?;

    let mut listeners = Vec::new();
    if let Some(l) = &tcp {
        listeners.push(Listener {
            fd: l.as_raw_fd(),
            tcp: true,
            active: false,
        });
    }
    if let Some(l) = &unix {
        listeners.push(Listener {
            fd: l.as_raw_fd(),
            tcp: false,
            active: false,
        });
    }
    let sink: Arc<dyn CompletionSink> = inbox.clone();
    let mut st = State {
        conns: (0..table).map(|_| None).collect(),
        generations: vec![0; table as usize],
        free: (0..table).rev().collect(),
        listeners,
        dirty: Vec::new(),
        wake_buf: Box::new([0; 8]),
        tick: Box::new(Timespec::from(shared.config.tick())),
        completions: Vec::with_capacity(1024),
        stopping: None,
        open: 0,
        shared,
        inbox,
        sink,
    };
    let mut bufs = bufs;
    {
        let mut sq = Sq(&mut uring);
        for i in 0..st.listeners.len() {
            st.arm_accept(&mut sq, i);
        }
        st.arm_wake(&mut sq);
        st.arm_tick(&mut sq);
    }
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(entries as usize * 4);
    let use_min_wait = min_wait > 0 && uring.params().is_feature_min_timeout();
    loop {
        // One syscall per iteration: submits everything queued and waits for completions.
        let r = if use_min_wait {
            let args = io_uring::types::SubmitArgs::new().min_wait_usec(min_wait);
            uring.submitter().submit_with_args(64, &args)
        } else {
            uring.submit_and_wait(1)
        };
        match r {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
                ) => {}
            Err(e) => return Err(e),
        }
        cqes.clear();
        cqes.extend(
            uring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let now = Instant::now();
        let mut sq = Sq(&mut uring);
        for &(ud, res, flags) in &cqes {
            st.on_cqe(&mut sq, &mut bufs, now, ud, res, flags);
        }
        st.drain_inbox(now);
        st.flush_dirty(&mut sq);
        bufs.publish();
        if st.stopping.is_some() && st.open == 0 && st.listeners.iter().all(|l| !l.active) {
            break;
        }
    }
    // Closing the registered table closes any descriptor a pending Close did not reach yet.
    drop(uring);
    drop(bufs);
    drop((tcp, unix));
    Ok(())
}

impl State {
    fn arm_accept(&mut self, sq: &mut Sq<'_>, index: usize) {
        let Some(l) = self.listeners.get_mut(index) else {
            return;
        };
        let sqe = opcode::AcceptMulti::new(Fd(l.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(TAG_ACCEPT, index as u32, 0));
        l.active = true;
        // SAFETY: no pointers.
        unsafe { sq.push(&sqe) };
    }

    fn arm_wake(&mut self, sq: &mut Sq<'_>) {
        let sqe = opcode::Read::new(Fd(self.inbox.eventfd()), self.wake_buf.as_mut_ptr(), 8)
            .build()
            .user_data(user_data(TAG_WAKE, 0, 0));
        // SAFETY: `wake_buf` is boxed in `State`, which outlives the ring.
        unsafe { sq.push(&sqe) };
    }

    fn arm_tick(&mut self, sq: &mut Sq<'_>) {
        let sqe = opcode::Timeout::new(&*self.tick)
            .build()
            .user_data(user_data(TAG_TICK, 0, 0));
        // SAFETY: `tick` is boxed in `State`, which outlives the ring.
        unsafe { sq.push(&sqe) };
    }

    fn arm_recv(&mut self, sq: &mut Sq<'_>, slot: u32) {
        let Some(Some(conn)) = self.conns.get_mut(slot as usize) else {
            return;
        };
        let sqe = opcode::RecvMulti::new(Fixed(slot), BGID)
            .build()
            .user_data(user_data(TAG_RECV, slot, conn.generation));
        conn.recv_active = true;
        // SAFETY: the buffers come from the provided-buffer ring, which outlives the ring.
        unsafe { sq.push(&sqe) };
    }

    fn on_cqe(
        &mut self,
        sq: &mut Sq<'_>,
        bufs: &mut BufRing,
        now: Instant,
        ud: u64,
        res: i32,
        flags: u32,
    ) {
        let (tag, slot, generation) = split_user_data(ud);
        match tag {
            TAG_ACCEPT => self.on_accept(sq, slot as usize, res, flags, now),
            TAG_RECV => {
                // A selected buffer goes back to the kernel whatever happened to its connection.
                let bid = cqueue::buffer_select(flags);
                self.on_recv(
                    slot,
                    generation,
                    res,
                    flags,
                    bid.map(|b| (b, bufs.data(b, res.max(0) as usize))),
                    now,
                );
                if let Some(bid) = bid {
                    bufs.recycle(bid);
                }
                let rearm = matches!(self.conn(slot, generation), Some(c) if !c.recv_active && !c.closing && !c.eof && !c.force);
                if rearm {
                    self.arm_recv(sq, slot);
                }
            }
            TAG_SEND => self.on_send(slot, generation, res),
            TAG_CLOSE => {
                // The slot is only reusable once the kernel has really closed it.
                self.free.push(slot);
            }
            TAG_WAKE => {
                self.arm_wake(sq);
                if self.shared.is_shutting_down() && self.stopping.is_none() {
                    self.begin_stop(sq, now);
                }
            }
            TAG_TICK => {
                self.arm_tick(sq);
                self.on_tick(sq, now);
            }
            _ => {} // TAG_CANCEL: the cancelled operations report on their own.
        }
    }

    fn conn(&mut self, slot: u32, generation: u32) -> Option<&mut Conn> {
        lookup(&mut self.conns, slot, generation)
    }

    fn on_accept(&mut self, sq: &mut Sq<'_>, index: usize, res: i32, flags: u32, now: Instant) {
        if !cqueue::more(flags) {
            if let Some(l) = self.listeners.get_mut(index) {
                l.active = false;
            }
            if self.stopping.is_none() {
                self.arm_accept(sq, index);
            }
        }
        if res < 0 {
            if res != -libc::ECANCELED {
                tracing::debug!(error = %io::Error::from_raw_os_error(-res), "accept failed");
            }
            return;
        }
        let Some(tcp) = self.listeners.get(index).map(|l| l.tcp) else {
            return;
        };
        // SAFETY: the kernel just gave us this descriptor; we own it (closed on drop).
        let file = unsafe { std::fs::File::from_raw_fd(res) };
        if self.stopping.is_some() {
            return;
        }
        if !self.shared.admit_connection() {
            let mut frame = Vec::new();
            write_error(
                &self.shared,
                &mut frame,
                0,
                ErrorCode::TooManyConnections,
                "connection limit reached",
            );
            // Best effort, non-blocking: the socket buffer of a fresh connection has room.
            // SAFETY: sends from a live buffer on a descriptor we own.
            let _ = unsafe {
                libc::send(
                    res,
                    frame.as_ptr().cast(),
                    frame.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            return;
        }
        let peer = if tcp {
            // SAFETY: borrows the descriptor for `getpeername`; `forget` keeps `file` the owner.
            let stream =
                std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(res) });
            let _ = stream.set_nodelay(true);
            match stream.peer_addr() {
                Ok(a) => Peer::Tcp(a),
                Err(_) => Peer::Tcp(std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
            }
        } else {
            Peer::Unix
        };
        let Some(slot) = self.free.pop() else {
            self.shared.release_connection();
            return;
        };
        // The registered table takes its own reference; `file` closes ours when dropped.
        if let Err(e) = sq.0.submitter().register_files_update(slot, &[res]) {
            tracing::warn!(error = %e, "cannot register an accepted connection");
            self.free.push(slot);
            self.shared.release_connection();
            return;
        }
        drop(file);
        let generation = self.generations[slot as usize].wrapping_add(1);
        self.generations[slot as usize] = generation;
        let token = (u64::from(slot) << 32) | u64::from(generation);
        self.conns[slot as usize] = Some(Conn {
            generation,
            session: Session::new(token, peer, &self.shared, now),
            out: Vec::new(),
            sending: Vec::new(),
            sent: 0,
            send_active: false,
            recv_active: false,
            closing: false,
            eof: false,
            force: false,
            cancel_sent: false,
            dirty: false,
        });
        self.open += 1;
        self.arm_recv(sq, slot);
    }

    fn on_recv(
        &mut self,
        slot: u32,
        generation: u32,
        res: i32,
        flags: u32,
        data: Option<(u16, &[u8])>,
        now: Instant,
    ) {
        // Disjoint field borrows: no Arc clone (a shared refcount bouncing between rings) per CQE.
        let State {
            conns,
            shared,
            sink,
            dirty,
            ..
        } = self;
        let Some(conn) = lookup(conns, slot, generation) else {
            return;
        };
        if !cqueue::more(flags) {
            conn.recv_active = false;
        }
        match (res, data) {
            (n, Some((_, bytes))) if n > 0 => {
                if !conn.closing
                    && !conn.force
                    && conn
                        .session
                        .on_bytes(bytes, now, shared, sink, &mut conn.out)
                        == Flow::Close
                {
                    conn.closing = true;
                }
            }
            (0, _) => conn.eof = true,
            (e, _) if e == -libc::ENOBUFS => {} // re-armed by the caller once buffers return
            _ => conn.force = true,
        }
        mark(conn, dirty, slot);
    }

    fn on_send(&mut self, slot: u32, generation: u32, res: i32) {
        let State {
            conns,
            shared,
            dirty,
            ..
        } = self;
        let Some(conn) = lookup(conns, slot, generation) else {
            return;
        };
        conn.send_active = false;
        if res < 0 {
            conn.force = true;
        } else {
            shared.metrics.bytes_out(res as usize);
            conn.sent += res as usize;
            if conn.sent >= conn.sending.len() {
                conn.sending.clear();
                conn.sent = 0;
            }
        }
        mark(conn, dirty, slot);
    }

    fn drain_inbox(&mut self, now: Instant) {
        let State {
            conns,
            shared,
            sink,
            dirty,
            inbox,
            completions,
            ..
        } = self;
        inbox.drain(completions);
        for c in completions.drain(..) {
            let slot = (c.conn >> 32) as u32;
            let Some(conn) = lookup(conns, slot, c.conn as u32) else {
                continue;
            };
            if conn.force {
                continue;
            }
            if conn
                .session
                .on_completion(c, now, shared, sink, &mut conn.out)
                == Flow::Close
            {
                conn.closing = true;
            }
            mark(conn, dirty, slot);
        }
    }

    fn on_tick(&mut self, sq: &mut Sq<'_>, now: Instant) {
        if self.shared.is_shutting_down() && self.stopping.is_none() {
            self.begin_stop(sq, now);
        }
        let grace_over = self
            .stopping
            .is_some_and(|t| now.duration_since(t) > self.shared.config.shutdown_grace());
        let State {
            conns,
            shared,
            dirty,
            ..
        } = self;
        for (slot, conn) in conns.iter_mut().enumerate() {
            let Some(conn) = conn else { continue };
            if grace_over {
                conn.force = true;
            } else if conn.session.on_tick(now, shared, &mut conn.out) == Flow::Close {
                conn.closing = true;
            }
            mark(conn, dirty, slot as u32);
        }
    }

    fn begin_stop(&mut self, sq: &mut Sq<'_>, now: Instant) {
        self.stopping = Some(now);
        for (i, l) in self.listeners.iter().enumerate() {
            if l.active {
                let sqe = opcode::AsyncCancel::new(user_data(TAG_ACCEPT, i as u32, 0))
                    .build()
                    .user_data(user_data(TAG_CANCEL, 0, 0));
                // SAFETY: no pointers.
                unsafe { sq.push(&sqe) };
            }
        }
    }

    /// Sends queued output and advances the close protocol of every connection touched in
    /// this iteration.
    fn flush_dirty(&mut self, sq: &mut Sq<'_>) {
        let dirty = std::mem::take(&mut self.dirty);
        let max_out = self.shared.config.max_write_buffer_bytes;
        for &slot in &dirty {
            let Some(Some(conn)) = self.conns.get_mut(slot as usize) else {
                continue;
            };
            conn.dirty = false;
            if conn.out.len() > max_out {
                tracing::debug!(slot, "peer does not read its responses; closing");
                conn.force = true;
            }
            if conn.force {
                conn.out.clear();
            }
            if !conn.send_active && !conn.force {
                if conn.sending.is_empty() {
                    std::mem::swap(&mut conn.out, &mut conn.sending);
                    conn.sent = 0;
                }
                if conn.sent < conn.sending.len() {
                    let rest = &conn.sending[conn.sent..];
                    let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
                    let sqe = opcode::Send::new(Fixed(slot), rest.as_ptr(), len)
                        .flags(libc::MSG_NOSIGNAL)
                        .build()
                        .user_data(user_data(TAG_SEND, slot, conn.generation));
                    conn.send_active = true;
                    // SAFETY: `sending` is not touched until this send completes, and the
                    // connection is not dropped while `send_active`.
                    unsafe { sq.push(&sqe) };
                }
            }
            let flushed = !conn.send_active && conn.out.is_empty() && conn.sending.is_empty();
            let done = conn.force
                || (conn.closing && flushed)
                || (conn.eof && flushed && conn.session.in_flight() == 0);
            if !done {
                continue;
            }
            if conn.recv_active || conn.send_active {
                if !conn.cancel_sent {
                    conn.cancel_sent = true;
                    let sqe = opcode::AsyncCancel2::new(CancelBuilder::fd(Fixed(slot)).all())
                        .build()
                        .user_data(user_data(TAG_CANCEL, slot, conn.generation));
                    // SAFETY: no pointers.
                    unsafe { sq.push(&sqe) };
                }
                continue;
            }
            let sqe = opcode::Close::new(Fixed(slot))
                .build()
                .user_data(user_data(TAG_CLOSE, slot, 0));
            // SAFETY: no pointers.
            unsafe { sq.push(&sqe) };
            self.conns[slot as usize] = None;
            self.open -= 1;
            self.shared.release_connection();
        }
        // Reuse the allocation.
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }
}

/// Pins the calling thread to one CPU (best effort: a failure is logged and ignored).
fn pin_current_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET indexes within its bit array
    // (cpu is reduced modulo CPU_SETSIZE); sched_setaffinity(0, ..) targets this thread.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        tracing::debug!(cpu, error = %io::Error::last_os_error(), "could not pin ring thread");
    }
}
