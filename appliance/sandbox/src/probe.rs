//! Test-only (feature `probe`): on request, each sandboxed thread attempts the forbidden
//! actions at its next [`crate::checkpoint`] and records what the kernel answered; /metrics
//! shows the outcomes. Never compiled into a release daemon.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::class::ThreadClass;

/// One forbidden action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attempt {
    OpenShadow,
    Execve,
    Socket,
    IoUringSetup,
    Ptrace,
}

impl Attempt {
    pub const ALL: [Attempt; 5] = [
        Attempt::OpenShadow,
        Attempt::Execve,
        Attempt::Socket,
        Attempt::IoUringSetup,
        Attempt::Ptrace,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attempt::OpenShadow => "open_etc_shadow",
            Attempt::Execve => "execve",
            Attempt::Socket => "socket",
            Attempt::IoUringSetup => "io_uring_setup",
            Attempt::Ptrace => "ptrace",
        }
    }
}

static REQUESTED: AtomicU64 = AtomicU64::new(0);
static RESULTS: Mutex<BTreeMap<(&'static str, &'static str), String>> = Mutex::new(BTreeMap::new());

thread_local! {
    static CLASS: Cell<Option<ThreadClass>> = const { Cell::new(None) };
    static SEEN: Cell<u64> = const { Cell::new(0) };
}

pub(crate) fn set_class(class: ThreadClass) {
    CLASS.with(|c| c.set(Some(class)));
}

/// Installs `class`'s seccomp filter (under `mode`) on the calling thread only, with nothing
/// else of the sandbox: for tests of code that runs on such a thread in the daemon.
pub fn confine_this_thread(
    class: ThreadClass,
    mode: crate::Mode,
) -> Result<(), crate::SandboxError> {
    crate::seccomp::install(class, &crate::seccomp::compile(class, mode)?)
}

/// Asks every sandboxed thread to run the probes at its next checkpoint.
pub fn request() {
    REQUESTED.fetch_add(1, Ordering::AcqRel);
}

pub(crate) fn run_if_requested() {
    let wanted = REQUESTED.load(Ordering::Acquire);
    if wanted == 0 || SEEN.with(Cell::get) == wanted {
        return;
    }
    SEEN.with(|s| s.set(wanted));
    let Some(class) = CLASS.with(Cell::get) else {
        return;
    };
    for attempt in Attempt::ALL {
        let outcome = run(attempt);
        if let Ok(mut r) = RESULTS.lock() {
            r.insert((class.name(), attempt.name()), outcome);
        }
    }
}

/// `"refused"` when the kernel answered EPERM (the seccomp verdict), else what happened. Every
/// attempt is harmless if it were allowed: the execve target does not exist, ptrace asks about
/// our own process (ESRCH when allowed), a socket or ring that opens is closed at once.
fn run(attempt: Attempt) -> String {
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: each call passes valid pointers (static C strings, a zeroed params struct) or
    // integers; descriptors that open are closed immediately.
    let (rc, e) = unsafe {
        match attempt {
            Attempt::OpenShadow => {
                let fd = libc::open(c"/etc/shadow".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                let e = errno();
                if fd >= 0 {
                    libc::close(fd);
                }
                (fd, e)
            }
            Attempt::Execve => {
                let argv = [c"keel-probe".as_ptr(), std::ptr::null()];
                let envp = [std::ptr::null()];
                let rc = libc::execve(
                    c"/nonexistent/keel-probe".as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                );
                (rc, errno())
            }
            Attempt::Socket => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                let e = errno();
                if fd >= 0 {
                    libc::close(fd);
                }
                (fd, e)
            }
            Attempt::IoUringSetup => {
                let mut params = [0u8; 120];
                let fd = libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) as i32;
                let e = errno();
                if fd >= 0 {
                    libc::close(fd);
                }
                (fd, e)
            }
            Attempt::Ptrace => {
                let rc = libc::ptrace(libc::PTRACE_PEEKDATA, libc::getpid(), 0, 0) as i32;
                (rc, errno())
            }
        }
    };
    match (rc, e) {
        (r, _) if r >= 0 => "allowed".into(),
        (_, libc::EPERM) => "refused".into(),
        (_, e) => format!("errno_{e}"),
    }
}

pub(crate) fn write_metrics(out: &mut String) {
    let Ok(r) = RESULTS.lock() else { return };
    for ((class, attempt), outcome) in r.iter() {
        let _ = writeln!(
            out,
            "keel_sandbox_probe{{class=\"{class}\",attempt=\"{attempt}\",outcome=\"{outcome}\"}} 1"
        );
    }
}
