//! The single owner of a ring and of every byte its operations may touch: the io_uring, the
//! provided-buffer ring, and the loop state (boxed eventfd buffer and tick timespec,
//! connection send buffers). Its `Drop` is the only teardown, on every exit path — normal
//! shutdown, an error return, or a panic unwinding through `run_ring`.
//!
//! Why `Drop` must cancel and drain instead of trusting an order: Rust drops a struct's
//! fields in declaration order (after its own `Drop::drop`) and locals in reverse declaration
//! order, but no order is enough — closing an io_uring fd does not wait for its operations
//! (the kernel cancels them asynchronously, and a recv already running may still write a
//! provided buffer). So the owner cancels everything, reaps until the ring counts no
//! operation in flight, and only then frees; if that cannot finish within its bound it leaks
//! the memory on purpose rather than free memory the kernel may still write.

use std::io;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use super::balance::Balance;
use super::bufring::{BGID, BufRing};
use super::event_loop::{Listener, State};
use super::ring::{Cqe, Ring};
use super::slots::{TAG_ACCEPT, TAG_TEARDOWN, split_user_data, user_data};
use crate::shared::Shared;

/// Waits the teardown makes for completions before it gives up and leaks (bound: 1 s).
const DRAIN_ROUNDS: u32 = 100;
/// Longest single wait for a completion during teardown.
const DRAIN_WAIT: Duration = Duration::from_millis(10);

pub(super) struct RingOwner {
    pub(super) ring: Ring,
    /// Freed by `Drop` only once nothing is in flight (else leaked).
    pub(super) bufs: ManuallyDrop<BufRing>,
    /// As `bufs`: holds the memory non-buffer SQEs point to.
    pub(super) state: ManuallyDrop<State>,
    /// The loop's completion batch (kept to reuse its allocation).
    pub(super) cqes: Vec<Cqe>,
    /// The teardown's bound, [`DRAIN_ROUNDS`] (tests lower it to exercise the leak path).
    pub(super) drain_rounds: u32,
    /// Times the loop slept in `epoll_wait` (see `epoll_wait`).
    pub(super) epoll_sleeps: u64,
    /// Times the loop entered the ring allowed to wait (it sleeps there if nothing is ready).
    pub(super) ring_waits: u64,
}

impl RingOwner {
    /// Creates the ring, the buffer ring and the loop state, and registers the connection
    /// table and the buffer ring. From the moment the owner exists, every exit goes through
    /// its `Drop`.
    pub(super) fn new(
        shared: Arc<Shared>,
        (balance, index): (Arc<Balance>, usize),
        listeners: Vec<Listener>,
    ) -> io::Result<RingOwner> {
        let inbox = balance
            .inbox(index)
            .cloned()
            .ok_or_else(|| io::Error::other(format!("no inbox for ring {index}")))?;
        let config = &shared.config;
        let entries = config.ring_entries.max(64);
        let ring = Ring::new(entries)?;
        let bufs = BufRing::new(config.recv_buffers, config.recv_buffer_bytes)?;
        let table = u32::try_from(config.max_connections)
            .unwrap_or(u32::MAX)
            .min(0x00FF_FFFF);
        let owner = RingOwner {
            ring,
            bufs: ManuallyDrop::new(bufs),
            state: ManuallyDrop::new(State::new(
                shared,
                (balance, index),
                inbox,
                listeners,
                table,
            )),
            cqes: Vec::with_capacity(entries as usize * 4),
            drain_rounds: DRAIN_ROUNDS,
            epoll_sleeps: 0,
            ring_waits: 0,
        };
        owner.ring.submitter().register_files_sparse(table)?;
        owner.bufs.register(&owner.ring.submitter())?;
        owner.ring.restrict_and_enable()?;
        Ok(owner)
    }
}

impl Drop for RingOwner {
    fn drop(&mut self) {
        let shared = self.state.shared.clone();
        // Connections still open never reach their Close: return them to the server's limit.
        for _ in 0..std::mem::take(&mut self.state.open) {
            shared.release_connection();
            self.state.balance.release(self.state.index);
        }
        let operations = self.ring.in_flight();
        let cancel = user_data(TAG_TEARDOWN, 0, 0);
        self.ring
            .cancel_all_and_drain(cancel, self.drain_rounds, DRAIN_WAIT, close_accepted);
        let left = self.ring.in_flight();
        if left > 0 {
            tracing::error!(
                left,
                "io_uring teardown could not drain its operations; leaking the ring's buffers \
                 and state instead of freeing memory the kernel may still write"
            );
            shared.metrics.ring_teardown(operations, left, false);
            return;
        }
        if let Err(e) = self.ring.submitter().unregister_buf_ring(BGID) {
            tracing::debug!(error = %e, "buffer ring unregistration failed");
        }
        // SAFETY: each is dropped exactly once, here, and never used again; `left == 0` means
        // no operation the kernel holds points into them.
        unsafe {
            ManuallyDrop::drop(&mut self.bufs);
            ManuallyDrop::drop(&mut self.state);
        }
        shared.metrics.ring_teardown(operations, left, true);
        // Then the fields drop in declaration order: `ring` closes the io_uring (and with it
        // the registered connection descriptors).
    }
}

/// A multishot accept that completed before the cancel hands us a descriptor nobody owns yet.
fn close_accepted((ud, res, _): Cqe) {
    if split_user_data(ud).0 == TAG_ACCEPT && res >= 0 {
        // SAFETY: the kernel just created this descriptor for us and nothing else refers to it.
        unsafe { libc::close(res) };
    }
}
