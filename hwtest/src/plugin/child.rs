//! The plug-in host's process handle, usable from sandboxed threads. The daemon drives a
//! plug-in from its BLS and batcher threads, whose seccomp allowlist has neither `kill` nor
//! `wait4`; a pidfd opened when the host is spawned lets them kill and reap exactly this
//! process (`pidfd_send_signal`, `waitid(P_PIDFD)`) and nothing else. Without pidfds (Linux
//! before 5.3) the plain calls are used.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

/// `waitid`'s id type for a pidfd (linux/wait.h).
const P_PIDFD: libc::idtype_t = 3;

pub(crate) struct HostChild {
    child: Child,
    pidfd: Option<OwnedFd>,
    /// How it ended, once reaped.
    status: Option<ExitStatus>,
}

impl HostChild {
    pub(crate) fn new(child: Child) -> HostChild {
        // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
        let pidfd = i32::try_from(fd)
            .ok()
            .filter(|&fd| fd >= 0)
            // SAFETY: see above: a fresh descriptor, owned from here on.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        HostChild {
            child,
            pidfd,
            status: None,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, if it still runs.
    pub(crate) fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        match &self.pidfd {
            // SAFETY: pidfd_send_signal on a descriptor we own, no siginfo.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            },
            None => {
                let _ = self.child.kill();
            }
        }
    }

    /// Waits for it to end and says how (`exit status: N`, `signal: N (NAME)`).
    pub(crate) fn wait(&mut self) -> String {
        if let Some(s) = self.status {
            return s.to_string();
        }
        let status = match &self.pidfd {
            Some(fd) => wait_pidfd(fd),
            None => self.child.wait(),
        };
        match status {
            Ok(s) => {
                self.status = Some(s);
                s.to_string()
            }
            Err(e) => e.to_string(),
        }
    }
}

fn wait_pidfd(fd: &OwnedFd) -> std::io::Result<ExitStatus> {
    // SAFETY: siginfo_t is plain data; waitid fills it for the pidfd we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        loop {
            let rc = libc::waitid(
                P_PIDFD,
                fd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            );
            if rc == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let code = info.si_status();
        // The wait(2) encoding, so the status reads as std's does.
        let raw = match info.si_code {
            libc::CLD_EXITED => (code & 0xff) << 8,
            libc::CLD_DUMPED => code | 0x80,
            _ => code,
        };
        Ok(ExitStatus::from_raw(raw))
    }
}
