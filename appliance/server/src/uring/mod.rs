//! The io_uring backend: one ring per network thread, each with its own SO_REUSEPORT TCP
//! listener, a multishot accept per listener, a multishot recv per connection fed by a
//! provided-buffer ring, connections in the registered-file table, and one `io_uring_enter`
//! per busy loop iteration for all submissions and completions. A ring out of work submits its
//! answers, polls briefly (`busy_poll`), then sleeps in `io_uring_enter` or, with
//! `ring_sleeps_in_epoll`, in `epoll_wait` on its own descriptors (`epoll_wait`).
//!
//! Why the `io-uring` crate rather than compio: the server needs exactly the features that make
//! io_uring pay off here — multishot accept/recv, provided-buffer rings, direct (registered)
//! descriptors and explicit batching — and a plain state machine over `Session`s. compio wraps
//! them behind an owned-buffer future API (one buffer and one future per operation) and its own
//! runtime, which would add per-request allocation and hide the submission batching we want to
//! tune. The unsafe surface stays small: buffer-ring memory (`bufring`) and SQE lifetimes
//! (`event_loop`), each with its invariant written down, and one owner (`owner`) that holds
//! the ring and all memory its operations reference and tears them down in a safe order.

mod balance;
mod bufring;
mod busy_poll;
mod closing;
mod epoll_wait;
mod event_loop;
mod owner;
mod ring;
mod slots;
#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use io_uring::{IoUring, Probe, opcode};

use crate::pool::{Completion, CompletionSink};

pub(crate) use balance::Balance;
use balance::Handoff;
pub(crate) use event_loop::run_ring;

/// Checks that io_uring works here with every feature the backend uses. `Err` says why not
/// (old kernel, seccomp, `io_uring_disabled` sysctl...).
pub(crate) fn probe() -> Result<(), String> {
    let release = kernel_release();
    if release < (6, 0) {
        return Err(format!(
            "kernel {}.{} lacks multishot recv (needs 6.0)",
            release.0, release.1
        ));
    }
    let ring = IoUring::new(8).map_err(|e| format!("io_uring_setup failed: {e}"))?;
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("io_uring probe failed: {e}"))?;
    for (code, name) in [
        (opcode::AcceptMulti::CODE, "accept"),
        (opcode::RecvMulti::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::Close::CODE, "close"),
        (opcode::Read::CODE, "read"),
        (opcode::Timeout::CODE, "timeout"),
        (opcode::AsyncCancel::CODE, "async_cancel"),
    ] {
        if !probe.is_supported(code) {
            return Err(format!("io_uring lacks the {name} opcode"));
        }
    }
    ring.submitter()
        .register_files_sparse(4)
        .map_err(|e| format!("registered files unavailable: {e}"))?;
    let bufs = bufring::BufRing::new(4, 256).map_err(|e| e.to_string())?;
    bufs.register(&ring.submitter())
        .map_err(|e| format!("provided-buffer rings unavailable: {e}"))?;
    drop(ring);
    drop(bufs);
    Ok(())
}

fn kernel_release() -> (u32, u32) {
    // SAFETY: `uname` fills a zeroed, correctly sized struct.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above; on failure we report (0, 0) and the probe refuses io_uring.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (0, 0);
    }
    let release: String = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Completions from the worker pool for one ring, connections other rings hand over to it,
/// and the eventfd that wakes the ring.
pub(crate) struct Inbox {
    queue: Mutex<Vec<Completion>>,
    handoffs: Mutex<Vec<Handoff>>,
    eventfd: OwnedFd,
}

impl Inbox {
    pub(crate) fn new() -> io::Result<Arc<Inbox>> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Arc::new(Inbox {
            queue: Mutex::new(Vec::with_capacity(1024)),
            handoffs: Mutex::new(Vec::new()),
            eventfd,
        }))
    }

    /// Wakes the ring (shutdown, or new completions).
    pub(crate) fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our eventfd. A full counter (EAGAIN)
        // still means the ring will wake, so the result is irrelevant.
        let _ = unsafe { libc::write(self.eventfd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    pub(crate) fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    /// Moves every queued completion into `into`.
    pub(crate) fn drain(&self, into: &mut Vec<Completion>) {
        if let Ok(mut q) = self.queue.lock() {
            std::mem::swap(&mut *q, into);
        }
    }

    /// Queues a connection another ring accepted for this one, and wakes it.
    fn hand_over(&self, handoff: Handoff) {
        let was_empty = match self.handoffs.lock() {
            Ok(mut q) => {
                let empty = q.is_empty();
                q.push(handoff);
                empty
            }
            // A poisoned queue is never read again: the connection closes when dropped.
            Err(_) => return,
        };
        if was_empty {
            self.wake();
        }
    }

    /// Moves every handed-over connection into `into` (cheap when there is none: accepts
    /// are rare next to completions).
    fn take_handoffs(&self, into: &mut Vec<Handoff>) {
        if let Ok(mut q) = self.handoffs.lock()
            && !q.is_empty()
        {
            into.append(&mut q);
        }
    }
}

impl CompletionSink for Inbox {
    fn complete(&self, completion: Completion) {
        let was_empty = match self.queue.lock() {
            Ok(mut q) => {
                let empty = q.is_empty();
                q.push(completion);
                empty
            }
            Err(_) => return,
        };
        // Only the first completion of a batch pays for the wake-up syscall: the ring drains
        // the whole queue each time it runs.
        if was_empty {
            self.wake();
        }
    }
}
