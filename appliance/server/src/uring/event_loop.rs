//! One ring's event loop.
//!
//! SQE lifetime invariant (the reason the `unsafe` pushes are sound): every pointer an SQE
//! carries points into memory the [`RingOwner`] owns — connection send buffers (a `Conn` is
//! only dropped once `send_active` and `recv_active` are both false), the eventfd read buffer
//! and the tick timespec (boxed in `State`), and the provided-buffer ring — and the owner
//! neither moves nor frees it while the ring counts an operation in flight: its `Drop`
//! cancels and reaps every operation first, on every exit path (see `owner`).

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::cqueue;
use io_uring::opcode;
use io_uring::types::{Fd, Fixed, Timespec};
use keel_protocol::ErrorCode;

use super::Inbox;
use super::balance::{Balance, Handoff};
use super::bufring::{BGID, BufRing};
use super::busy_poll::BusyPoll;
use super::epoll_wait::EpollWait;
use super::owner::RingOwner;
use super::ring::{Ring, SubmitError};
use super::slots::{
    Conn, TAG_ACCEPT, TAG_CANCEL, TAG_CLOSE, TAG_RECV, TAG_SEND, TAG_TICK, TAG_WAKE, lookup, mark,
    split_user_data, user_data,
};
use crate::pool::{Completion, CompletionSink};
use crate::service::Peer;
use crate::session::{Flow, Session, write_error};
use crate::shared::Shared;

/// Write-buffer capacity a connection keeps between answers.
const RETAINED_OUT_BYTES: usize = 256 * 1024;

/// Completions handled between two submissions of queued answers within one batch.
const FLUSH_EVERY: usize = 8;

/// A listener this ring accepts on (index 0: TCP, 1: Unix).
pub(super) struct Listener {
    fd: RawFd,
    tcp: bool,
    pub(super) active: bool,
    /// Accepting failed for lack of descriptors: re-armed on the next tick, not at once (an
    /// immediate re-arm fails again and spins the ring).
    backoff: bool,
}

pub(super) struct State {
    pub(super) shared: Arc<Shared>,
    pub(super) inbox: Arc<Inbox>,
    /// Every ring's connection count, and where connections for other rings go.
    pub(super) balance: Arc<Balance>,
    /// This ring's seat in `balance`.
    pub(super) index: usize,
    /// Connections handed over by other rings, being adopted (kept to reuse its allocation).
    handoffs: Vec<Handoff>,
    sink: Arc<dyn CompletionSink>,
    pub(super) conns: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    pub(super) listeners: Vec<Listener>,
    pub(super) dirty: Vec<u32>,
    wake_buf: Box<[u8; 8]>,
    tick: Box<Timespec>,
    completions: Vec<Completion>,
    pub(super) stopping: Option<Instant>,
    /// Connections holding a slot (released at their Close, or by the owner's teardown).
    pub(super) open: usize,
    /// Where the loop sleeps when it can (`None`: always in `io_uring_enter`); watches the
    /// listeners, the wake eventfd and every adopted connection.
    pub(super) epoll: Option<EpollWait>,
}

/// Consulted once per loop iteration, right after `io_uring_enter`: `Some(error)` ends the
/// loop with that error exactly as a failed enter would. Production never fails; tests use it
/// to drive the error path with operations in flight.
pub(super) type Fault<'a> = &'a mut dyn FnMut(&mut RingOwner) -> Option<io::Error>;

/// Runs ring `index` of `balance` until shutdown has drained its connections. Blocks the
/// calling thread, which must be the only one to touch the ring (it is created here,
/// single-issuer).
pub(crate) fn run_ring(
    shared: Arc<Shared>,
    (balance, index): (Arc<Balance>, usize),
    tcp: Option<TcpListener>,
    unix: Option<Arc<UnixListener>>,
    pin_to: Option<usize>,
) -> io::Result<()> {
    run_ring_with(
        shared,
        (balance, index),
        tcp.as_ref(),
        unix.as_deref(),
        pin_to,
        &mut |_| None,
    )
}

/// [`run_ring`] with a fault hook. The listeners are borrowed: they outlive the owner, so an
/// armed accept never outlives its listener's descriptor.
pub(super) fn run_ring_with(
    shared: Arc<Shared>,
    seat: (Arc<Balance>, usize),
    tcp: Option<&TcpListener>,
    unix: Option<&UnixListener>,
    pin_to: Option<usize>,
    fault: Fault<'_>,
) -> io::Result<()> {
    if let Some(cpu) = pin_to {
        pin_current_thread(cpu);
    }
    let listeners = [
        (tcp.map(AsRawFd::as_raw_fd), true),
        (unix.map(AsRawFd::as_raw_fd), false),
    ]
    .into_iter()
    .filter_map(|(fd, tcp)| {
        fd.map(|fd| Listener {
            fd,
            tcp,
            active: false,
            backoff: false,
        })
    })
    .collect();
    let mut owner = RingOwner::new(shared, seat, listeners)?;
    // The ring exists, registered and restricted: from here on this thread only drives it.
    keel_sandbox::enter(keel_sandbox::ThreadClass::Network);
    let result = owner.run(fault);
    // The teardown (cancel, drain, then free) runs here whatever `run` returned; a panic in
    // `run` unwinds through the same `Drop`.
    drop(owner);
    result
}

impl RingOwner {
    fn run(&mut self, fault: Fault<'_>) -> io::Result<()> {
        self.state.arm_all(&mut self.ring)?;
        let min_wait = self.state.shared.config.ring_min_wait_us;
        let min_wait =
            (min_wait > 0 && self.ring.params().is_feature_min_timeout()).then_some(min_wait);
        let tick = self.state.shared.config.tick();
        let poll_us = self.state.shared.config.ring_busy_poll_us;
        let mut busy_poll = BusyPoll::new(Duration::from_micros(u64::from(poll_us)));
        loop {
            let wait = self.before_sleep(tick, &mut busy_poll)?;
            self.ring_waits = self.ring_waits.saturating_add(u64::from(wait));
            // Submits everything queued and, unless the loop already slept in epoll or work is
            // pending, waits for completions: at most one syscall.
            self.ring.enter(min_wait, wait)?;
            keel_sandbox::checkpoint();
            if let Some(e) = fault(self) {
                return Err(e);
            }
            self.turn()?;
            if self.state.finished() {
                return Ok(());
            }
        }
    }

    /// Gets ready to wait: submits the answers, then, unless work is already pending, polls
    /// briefly (see `busy_poll`) and sleeps in epoll (see `epoll_wait`) when every operation in
    /// flight announces its completion through a watched descriptor. Returns whether the next
    /// enter must still wait in the ring: sends, closes and cancels in flight complete without
    /// such an announcement, and a ring without an epoll set always waits in the ring.
    fn before_sleep(&mut self, tick: Duration, busy_poll: &mut BusyPoll) -> io::Result<bool> {
        let RingOwner { ring, state, .. } = self;
        if ring.queued() {
            // The answers go out before the poll or the sleep (and count as in flight).
            ring.submit_now()?;
        }
        if ring.work_pending() {
            return Ok(false);
        }
        let unannounced = [TAG_SEND, TAG_CLOSE, TAG_CANCEL]
            .iter()
            .any(|&t| ring.in_flight_tagged(t) > 0);
        if unannounced {
            return Ok(true); // e.g. a send waiting for room in the socket buffer
        }
        // Not while this ring's requests are in the worker pool: the workers may need this
        // core (measured: Status p50 at 1 client under contention rose ~25 µs with the poll).
        if !state.awaiting_workers() && busy_poll.poll(|| ring.work_pending()) {
            return Ok(false);
        }
        let Some(epoll) = state.epoll.as_ref() else {
            return Ok(true);
        };
        // Bounded by the tick: its timer completes without waking an epoll sleeper.
        epoll.sleep(tick)?;
        self.epoll_sleeps = self.epoll_sleeps.saturating_add(1);
        Ok(false)
    }

    /// Handles one batch of completions, then worker results, then queued output.
    fn turn(&mut self) -> Result<(), SubmitError> {
        let RingOwner {
            ring,
            bufs,
            state,
            cqes,
            ..
        } = self;
        cqes.clear();
        ring.reap(cqes);
        let now = Instant::now();
        for (i, &(ud, res, flags)) in cqes.iter().enumerate() {
            let mut handled = state.on_cqe(ring, bufs, now, ud, res, flags);
            // Answers go out every few completions, not only at the end of the batch: if this
            // thread is descheduled mid-batch (a busy host), only the answers it has not
            // produced yet wait for it, not every answer of the batch.
            if handled.is_ok() && (i + 1) % FLUSH_EVERY == 0 && i + 1 < cqes.len() {
                handled = state
                    .flush_dirty(ring)
                    .and_then(|()| ring.submit_now().map_err(SubmitError::Submit));
                bufs.publish();
            }
            if let Err(e) = handled {
                // The teardown still sees (and closes) descriptors in the unhandled rest.
                ring.requeue(cqes.get(i + 1..).unwrap_or_default());
                return Err(e);
            }
        }
        state.drain_inbox(now);
        state.adopt_handoffs(ring, now)?;
        state.flush_dirty(ring)?;
        bufs.publish();
        Ok(())
    }
}

impl State {
    pub(super) fn new(
        shared: Arc<Shared>,
        (balance, index): (Arc<Balance>, usize),
        inbox: Arc<Inbox>,
        listeners: Vec<Listener>,
        table: u32,
    ) -> State {
        let sink: Arc<dyn CompletionSink> = inbox.clone();
        let epoll = if shared.config.ring_sleeps_in_epoll {
            epoll_set(&listeners, &inbox)
        } else {
            None
        };
        State {
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
            balance,
            index,
            handoffs: Vec::new(),
            sink,
            epoll,
        }
    }

    fn arm_all(&mut self, ring: &mut Ring) -> Result<(), SubmitError> {
        for i in 0..self.listeners.len() {
            self.arm_accept(ring, i)?;
        }
        self.arm_wake(ring)?;
        self.arm_tick(ring)
    }

    /// Whether any connection has requests in the worker pool (one pass over the table).
    fn awaiting_workers(&self) -> bool {
        self.conns
            .iter()
            .flatten()
            .any(|c| c.session.in_flight() > 0)
    }

    /// Shutdown has closed every connection and no accept is armed.
    fn finished(&self) -> bool {
        self.stopping.is_some() && self.open == 0 && self.listeners.iter().all(|l| !l.active)
    }

    fn arm_accept(&mut self, ring: &mut Ring, index: usize) -> Result<(), SubmitError> {
        let Some(l) = self.listeners.get_mut(index) else {
            return Ok(());
        };
        let sqe = opcode::AcceptMulti::new(Fd(l.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(TAG_ACCEPT, index as u32, 0));
        // SAFETY: no pointers.
        unsafe { ring.push(&sqe) }?;
        l.active = true;
        Ok(())
    }

    fn arm_wake(&mut self, ring: &mut Ring) -> Result<(), SubmitError> {
        let sqe = opcode::Read::new(Fd(self.inbox.eventfd()), self.wake_buf.as_mut_ptr(), 8)
            .build()
            .user_data(user_data(TAG_WAKE, 0, 0));
        // SAFETY: `wake_buf` is boxed in `State`, which the owner frees only after the drain.
        unsafe { ring.push(&sqe) }
    }

    fn arm_tick(&mut self, ring: &mut Ring) -> Result<(), SubmitError> {
        let sqe = opcode::Timeout::new(&*self.tick)
            .build()
            .user_data(user_data(TAG_TICK, 0, 0));
        // SAFETY: `tick` is boxed in `State`, which the owner frees only after the drain.
        unsafe { ring.push(&sqe) }
    }

    fn arm_recv(&mut self, ring: &mut Ring, slot: u32) -> Result<(), SubmitError> {
        let Some(Some(conn)) = self.conns.get_mut(slot as usize) else {
            return Ok(());
        };
        let sqe = opcode::RecvMulti::new(Fixed(slot), BGID)
            .build()
            .user_data(user_data(TAG_RECV, slot, conn.generation));
        // SAFETY: the buffers come from the provided-buffer ring, freed only after the drain.
        unsafe { ring.push(&sqe) }?;
        conn.recv_active = true;
        Ok(())
    }

    fn on_cqe(
        &mut self,
        ring: &mut Ring,
        bufs: &mut BufRing,
        now: Instant,
        ud: u64,
        res: i32,
        flags: u32,
    ) -> Result<(), SubmitError> {
        let (tag, slot, generation) = split_user_data(ud);
        match tag {
            TAG_ACCEPT => self.on_accept(ring, slot as usize, res, flags, now),
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
                    self.arm_recv(ring, slot)?;
                }
                Ok(())
            }
            TAG_SEND => {
                self.on_send(slot, generation, res);
                Ok(())
            }
            TAG_CLOSE => {
                // The slot is only reusable once the kernel has really closed it.
                self.free.push(slot);
                Ok(())
            }
            TAG_WAKE => {
                self.arm_wake(ring)?;
                if self.shared.is_shutting_down() && self.stopping.is_none() {
                    self.begin_stop(ring, now)?;
                }
                Ok(())
            }
            TAG_TICK => {
                self.arm_tick(ring)?;
                for i in 0..self.listeners.len() {
                    let paused = self.listeners.get(i).is_some_and(|l| l.backoff);
                    if paused && self.stopping.is_none() {
                        self.listeners[i].backoff = false;
                        self.arm_accept(ring, i)?;
                    }
                }
                self.on_tick(ring, now)
            }
            _ => Ok(()), // TAG_CANCEL: the cancelled operations report on their own.
        }
    }

    fn conn(&mut self, slot: u32, generation: u32) -> Option<&mut Conn> {
        lookup(&mut self.conns, slot, generation)
    }

    fn on_accept(
        &mut self,
        ring: &mut Ring,
        index: usize,
        res: i32,
        flags: u32,
        now: Instant,
    ) -> Result<(), SubmitError> {
        // Own the descriptor first: it is closed on every path below that does not keep it.
        // SAFETY: the kernel just gave us this descriptor and nothing else refers to it.
        let file = (res >= 0).then(|| unsafe { std::fs::File::from_raw_fd(res) });
        let exhausted = res == -libc::EMFILE || res == -libc::ENFILE;
        if !cqueue::more(flags) {
            if let Some(l) = self.listeners.get_mut(index) {
                l.active = false;
                l.backoff = exhausted;
            }
            if self.stopping.is_none() && !exhausted {
                self.arm_accept(ring, index)?;
            }
        }
        if exhausted {
            tracing::warn!("out of file descriptors: accepting paused until the next tick");
        }
        let Some(file) = file else {
            if res != -libc::ECANCELED {
                tracing::debug!(error = %io::Error::from_raw_os_error(-res), "accept failed");
            }
            return Ok(());
        };
        match self.listeners.get(index) {
            Some(l) if self.stopping.is_none() => {
                let tcp = l.tcp;
                self.place(ring, file, tcp, now)
            }
            _ => Ok(()),
        }
    }

    /// Keeps an accepted connection or hands it to a ring with fewer (see `balance`).
    fn place(
        &mut self,
        ring: &mut Ring,
        file: std::fs::File,
        tcp: bool,
        now: Instant,
    ) -> Result<(), SubmitError> {
        let target = self.balance.place(self.index);
        if target == self.index {
            return self.adopt(ring, file, tcp, now);
        }
        if !self.balance.hand_over(target, Handoff { file, tcp }) {
            self.balance.release(target);
        }
        Ok(())
    }

    /// Adopts the connections other rings handed over (closes them once stopping).
    fn adopt_handoffs(&mut self, ring: &mut Ring, now: Instant) -> Result<(), SubmitError> {
        let mut handoffs = std::mem::take(&mut self.handoffs);
        self.inbox.take_handoffs(&mut handoffs);
        let mut result = Ok(());
        for Handoff { file, tcp } in handoffs.drain(..) {
            if result.is_err() || self.stopping.is_some() {
                self.balance.release(self.index);
                continue;
            }
            result = self.adopt(ring, file, tcp, now);
        }
        self.handoffs = handoffs;
        result
    }

    /// Gives a connection placed on this ring a slot in the registered table and arms its
    /// recv. A refused connection is released from the ring's count.
    fn adopt(
        &mut self,
        ring: &mut Ring,
        file: std::fs::File,
        tcp: bool,
        now: Instant,
    ) -> Result<(), SubmitError> {
        let res = file.as_raw_fd();
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
        let Some(ticket) = self.shared.admit_connection(&peer) else {
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
            self.balance.release(self.index);
            return Ok(());
        };
        let Some(slot) = self.free.pop() else {
            self.shared.release_connection();
            self.balance.release(self.index);
            return Ok(());
        };
        // The registered table takes its own reference; `file` closes ours when dropped.
        if let Err(e) = ring.submitter().register_files_update(slot, &[res]) {
            tracing::warn!(error = %e, "cannot register an accepted connection");
            self.free.push(slot);
            self.shared.release_connection();
            self.balance.release(self.index);
            return Ok(());
        }
        // Watched before our descriptor closes: the registration follows the file, which the
        // table keeps open. A connection epoll refuses still works, woken by the ring instead.
        if let Some(epoll) = &self.epoll
            && let Err(e) = epoll.watch(res)
        {
            tracing::warn!(error = %e, "cannot watch a connection: the ring sleeps in io_uring");
            self.epoll = None;
        }
        drop(file);
        let generation = self.generations[slot as usize].wrapping_add(1);
        self.generations[slot as usize] = generation;
        let token = (u64::from(slot) << 32) | u64::from(generation);
        self.conns[slot as usize] = Some(Conn {
            generation,
            session: Session::new(token, peer, ticket, &self.shared, now),
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
        self.arm_recv(ring, slot)
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
                // A large answer's buffer is not kept for the connection's life.
                if conn.sending.capacity() > RETAINED_OUT_BYTES {
                    conn.sending = Vec::new();
                }
                conn.sent = 0;
            }
        }
        mark(conn, dirty, slot);
    }

    /// Hands worker results to their sessions.
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
}

/// The epoll set the ring sleeps on, watching its listeners and wake eventfd; `None` (the ring
/// then sleeps in `io_uring_enter`) if the kernel refuses it.
fn epoll_set(listeners: &[Listener], inbox: &Inbox) -> Option<EpollWait> {
    let set = EpollWait::new().and_then(|set| {
        for fd in listeners.iter().map(|l| l.fd).chain([inbox.eventfd()]) {
            set.watch(fd)?;
        }
        Ok(set)
    });
    match set {
        Ok(set) => Some(set),
        Err(e) => {
            tracing::warn!(error = %e, "no epoll set: the ring sleeps in io_uring_enter");
            None
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
