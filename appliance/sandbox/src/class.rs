//! The thread classes of the daemon: each gets its own seccomp allowlist.

/// A kind of daemon thread. Each thread calls [`crate::enter`] with its class when it starts
/// (after its own privileged setup, e.g. creating its io_uring), and threads it spawns inherit
/// its filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThreadClass {
    /// io_uring ring threads and the epoll fallback: accept, receive, send on descriptors the
    /// privileged phase bound. No `socket`, no `open`.
    Network,
    /// Request workers: decode, execute contracts and routines, commit to the open store.
    /// No `open`, no `socket`, no `execve`, no new io_uring.
    Execution,
    /// Pinned BLS verification workers: compute only.
    Bls,
    /// The BLS batcher: queues and timers only.
    Batcher,
    /// The metrics endpoint: accept and answer scrapes, read kernel counters through held
    /// descriptors.
    Metrics,
    /// Reopens the state store after a disk error: the only worker allowed to open files
    /// (inside the data directory, by Landlock).
    Store,
    /// The main thread after start-up: supervision, the demo client, shutdown (removing the
    /// socket and the lock record).
    Main,
}

impl ThreadClass {
    /// Every class, in a fixed order (for metrics and tests).
    pub const ALL: [ThreadClass; 7] = [
        ThreadClass::Network,
        ThreadClass::Execution,
        ThreadClass::Bls,
        ThreadClass::Batcher,
        ThreadClass::Metrics,
        ThreadClass::Store,
        ThreadClass::Main,
    ];

    /// Its name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            ThreadClass::Network => "network",
            ThreadClass::Execution => "execution",
            ThreadClass::Bls => "bls",
            ThreadClass::Batcher => "batcher",
            ThreadClass::Metrics => "metrics",
            ThreadClass::Store => "store",
            ThreadClass::Main => "main",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
