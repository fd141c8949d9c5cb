//! Where an idle ring sleeps: in `epoll_wait` on its own sockets, listeners and wake eventfd,
//! then one non-waiting `io_uring_enter` runs the completions that woke it.
//!
//! Why not sleep in `io_uring_enter`: data arriving on a socket wakes its waiters with the
//! `WF_SYNC` hint ("the waker is about to sleep"), and epoll passes that hint on to the thread
//! in `epoll_wait`, but io_uring's deferred task work wakes its ring without it. The scheduler
//! then leaves a sleeping ring on its own idle core instead of running it next to the client
//! that woke it, and on a VM each such request pays an idle vCPU's wake-up. Traced at one
//! client (`perf` sched events): 12 % of the ring's wake-ups crossed cores and took 30 µs at
//! the median against 7 µs on the waker's core, while the epoll backend's worker was never
//! woken across cores. Sleeping where tokio sleeps gives the ring the same placement.
//!
//! Readiness is edge-triggered: each arrival wakes the sleeper once, so a socket whose recv the
//! loop has stopped re-arming (a peer's EOF, a closing connection) cannot keep `epoll_wait`
//! returning at once. No wake-up is lost: an arrival between the loop's last look at the ring
//! and `epoll_wait` leaves its descriptor on epoll's ready list. Registrations need no removal:
//! the kernel drops them when the file is finally released (the ring's `Close`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Events fetched per `epoll_wait` (they are not read: the ring reaps its own completions).
const EVENTS: usize = 16;

/// An epoll set a ring sleeps on.
pub(super) struct EpollWait {
    epfd: OwnedFd,
}

impl EpollWait {
    /// A new, empty set. Errors: `epoll_create1` failed (descriptor limits).
    pub(super) fn new() -> io::Result<EpollWait> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        Ok(EpollWait {
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Wakes the sleeper on every new arrival of data, connection or hang-up on `fd`.
    /// Errors: `epoll_ctl` refused the descriptor.
    pub(super) fn watch(&self, fd: RawFd) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: 0,
        };
        // SAFETY: `event` is a live, initialised struct; the kernel copies it.
        let rc =
            unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sleeps until a watched descriptor signals or `timeout` passes (rounded up to a
    /// millisecond). An interruption is not an error.
    pub(super) fn sleep(&self, timeout: Duration) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `events` is a live buffer of `EVENTS` entries.
        let rc = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS as i32,
                ms,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    use super::*;

    #[test]
    fn an_arrival_on_a_watched_socket_wakes_the_sleeper() {
        let set = EpollWait::new().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        set.watch(a.as_raw_fd()).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
            b
        });
        let started = Instant::now();
        set.sleep(Duration::from_secs(30)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the write did not wake the sleeper"
        );
        drop(writer.join().unwrap());
    }

    #[test]
    fn an_arrival_wakes_once_so_unread_data_does_not_spin_the_loop() {
        let set = EpollWait::new().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        set.watch(a.as_raw_fd()).unwrap();
        b.write_all(b"unread").unwrap();
        set.sleep(Duration::from_secs(30)).unwrap();
        // Still readable, never read: the second sleep lasts its whole timeout.
        let timeout = Duration::from_millis(30);
        let started = Instant::now();
        set.sleep(timeout).unwrap();
        assert!(
            started.elapsed() >= timeout,
            "woken again without a new arrival"
        );
        // A peer's hang-up is a new arrival.
        drop(b);
        let started = Instant::now();
        set.sleep(Duration::from_secs(30)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn the_sleep_ends_at_its_timeout_with_nothing_watched() {
        let set = EpollWait::new().unwrap();
        let timeout = Duration::from_micros(1500);
        let started = Instant::now();
        set.sleep(timeout).unwrap();
        assert!(started.elapsed() >= timeout, "rounded up, never down");
        assert!(set.watch(-1).is_err(), "a bad descriptor is reported");
    }
}
