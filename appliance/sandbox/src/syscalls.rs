//! The allowlists: which syscalls each thread class may make, as data. A class is a union of
//! groups; anything not listed is refused (or killed, or logged: see [`crate::Mode`]).
//!
//! Never allowed anywhere after start-up: `execve`/`execveat`, `ptrace`, `process_vm_*`,
//! `io_uring_setup` (rings exist before the drop), `bpf` program loads and map creation,
//! `mount`, `unshare`, `setns`, module and kexec calls, `perf_event_open`, `userfaultfd`.
//! `socket` only on the main thread (the demo client, sd_notify), and only for Unix and IP.

use crate::class::ThreadClass;

/// A condition on one syscall argument.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Only {
    /// Any arguments.
    Any,
    /// Argument `.0` equals one of `.1`.
    OneOf(u8, &'static [u64]),
    /// Argument `.0` has every bit of `.1` set (clone: threads only).
    HasBits(u8, u64),
}

/// One allowed syscall.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allow {
    pub nr: libc::c_long,
    pub only: Only,
}

const fn any(nr: libc::c_long) -> Allow {
    Allow {
        nr,
        only: Only::Any,
    }
}

const fn one_of(nr: libc::c_long, arg: u8, values: &'static [u64]) -> Allow {
    Allow {
        nr,
        only: Only::OneOf(arg, values),
    }
}

/// What every thread needs: memory, threads, futexes, time, signals, I/O on descriptors it
/// already holds, and the set*id calls glibc broadcasts to every thread when the main thread
/// drops its user (harmless afterwards: there is no capability left to gain anything).
const BASE: &[Allow] = &[
    any(libc::SYS_read),
    any(libc::SYS_write),
    any(libc::SYS_readv),
    any(libc::SYS_writev),
    any(libc::SYS_pread64),
    any(libc::SYS_pwrite64),
    any(libc::SYS_close),
    any(libc::SYS_fstat),
    any(libc::SYS_newfstatat),
    any(libc::SYS_statx),
    any(libc::SYS_lseek),
    any(libc::SYS_fcntl),
    any(libc::SYS_mmap),
    any(libc::SYS_munmap),
    any(libc::SYS_mprotect),
    any(libc::SYS_mremap),
    any(libc::SYS_madvise),
    any(libc::SYS_brk),
    any(libc::SYS_mlock),
    any(libc::SYS_munlock),
    any(libc::SYS_membarrier),
    any(libc::SYS_rt_sigaction),
    any(libc::SYS_rt_sigprocmask),
    any(libc::SYS_rt_sigreturn),
    any(libc::SYS_sigaltstack),
    any(libc::SYS_futex),
    any(libc::SYS_futex_waitv),
    any(libc::SYS_set_robust_list),
    any(libc::SYS_rseq),
    any(libc::SYS_sched_yield),
    any(libc::SYS_sched_getaffinity),
    any(libc::SYS_nanosleep),
    any(libc::SYS_clock_nanosleep),
    any(libc::SYS_clock_gettime),
    any(libc::SYS_clock_getres),
    any(libc::SYS_gettimeofday),
    any(libc::SYS_getpid),
    any(libc::SYS_gettid),
    any(libc::SYS_getuid),
    any(libc::SYS_geteuid),
    any(libc::SYS_getgid),
    any(libc::SYS_getegid),
    any(libc::SYS_getrandom),
    any(libc::SYS_uname),
    any(libc::SYS_poll),
    any(libc::SYS_ppoll),
    any(libc::SYS_exit),
    any(libc::SYS_exit_group),
    any(libc::SYS_restart_syscall),
    any(libc::SYS_tgkill),
    any(libc::SYS_setresuid),
    any(libc::SYS_setresgid),
    any(libc::SYS_setgroups),
    // Threads only: a new process could escape the per-thread filters' bookkeeping.
    Allow {
        nr: libc::SYS_clone,
        only: Only::HasBits(0, libc::CLONE_THREAD as u64),
    },
    // PR_SET_NAME, PR_GET_NAME: thread names.
    one_of(libc::SYS_prctl, 0, &[15, 16]),
    // FIONBIO, FIOCLEX, TCGETS (isatty for log colours).
    one_of(libc::SYS_ioctl, 1, &[0x5421, 0x5451, 0x5401]),
];

/// Writing to files already open (the store, the audit log).
const STORAGE: &[Allow] = &[
    any(libc::SYS_fsync),
    any(libc::SYS_fdatasync),
    any(libc::SYS_ftruncate),
    any(libc::SYS_fallocate),
    any(libc::SYS_flock),
    any(libc::SYS_fstatfs),
];

/// Opening and changing files by path (Landlock keeps writes inside the data and socket
/// directories).
const FILE_PATHS: &[Allow] = &[
    any(libc::SYS_openat),
    any(libc::SYS_mkdirat),
    any(libc::SYS_unlinkat),
    any(libc::SYS_renameat),
    any(libc::SYS_renameat2),
    any(libc::SYS_getdents64),
    any(libc::SYS_statfs),
    any(libc::SYS_readlinkat),
    any(libc::SYS_getcwd),
    any(libc::SYS_faccessat),
    any(libc::SYS_faccessat2),
    #[cfg(target_arch = "x86_64")]
    any(libc::SYS_open),
    #[cfg(target_arch = "x86_64")]
    any(libc::SYS_mkdir),
    #[cfg(target_arch = "x86_64")]
    any(libc::SYS_unlink),
    #[cfg(target_arch = "x86_64")]
    any(libc::SYS_rename),
];

/// Serving connections accepted on listeners bound before the drop.
const SERVE: &[Allow] = &[
    any(libc::SYS_accept4),
    any(libc::SYS_accept),
    any(libc::SYS_recvfrom),
    any(libc::SYS_sendto),
    any(libc::SYS_recvmsg),
    any(libc::SYS_sendmsg),
    any(libc::SYS_shutdown),
    any(libc::SYS_setsockopt),
    any(libc::SYS_getsockopt),
    any(libc::SYS_getsockname),
    any(libc::SYS_getpeername),
    any(libc::SYS_eventfd2),
    any(libc::SYS_epoll_create1),
    any(libc::SYS_epoll_ctl),
    any(libc::SYS_epoll_wait),
    any(libc::SYS_epoll_pwait),
    any(libc::SYS_epoll_pwait2),
    any(libc::SYS_pipe2),
];

/// Driving the rings created before the drop (restricted to the loop's opcodes).
const RING: &[Allow] = &[
    any(libc::SYS_io_uring_enter),
    any(libc::SYS_io_uring_register),
];

/// Kernel program maps through descriptors opened before the drop: lookup, update, delete,
/// next key, object info. Never program loads or map creation.
const BPF_MAPS: &[Allow] = &[one_of(libc::SYS_bpf, 0, &[1, 2, 3, 4, 15])];

/// A client socket (the demo, sd_notify): Unix, IPv4, IPv6 only.
const CLIENT: &[Allow] = &[
    one_of(
        libc::SYS_socket,
        0,
        &[
            libc::AF_UNIX as u64,
            libc::AF_INET as u64,
            libc::AF_INET6 as u64,
        ],
    ),
    any(libc::SYS_connect),
];

/// Process-wide calls the main thread still makes: waiting for its threads, signals, and
/// disabling the kernel programs' perf-event links when they are dropped at exit
/// (PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_DISABLE: the links themselves stay pinned).
const SUPERVISE: &[Allow] = &[
    any(libc::SYS_wait4),
    any(libc::SYS_kill),
    one_of(libc::SYS_ioctl, 1, &[0x2400, 0x2401]),
];

/// Killing and reaping a helper process (the BLS plug-in host) through the pidfd opened when
/// it was spawned: only processes whose pidfd the thread holds can be reached (`waitid` only
/// with `P_PIDFD`).
const CHILDREN: &[Allow] = &[
    any(libc::SYS_pidfd_send_signal),
    one_of(libc::SYS_waitid, 0, &[3]),
];

/// The groups that make up `class`'s allowlist.
pub(crate) fn groups(class: ThreadClass) -> &'static [&'static [Allow]] {
    match class {
        ThreadClass::Network => &[BASE, SERVE, RING],
        ThreadClass::Execution => &[BASE, STORAGE, BPF_MAPS, CHILDREN],
        ThreadClass::Bls | ThreadClass::Batcher => &[BASE, CHILDREN],
        ThreadClass::Metrics => &[BASE, SERVE, BPF_MAPS],
        ThreadClass::Store => &[BASE, STORAGE, FILE_PATHS],
        ThreadClass::Main => &[
            BASE, STORAGE, FILE_PATHS, SERVE, BPF_MAPS, CLIENT, SUPERVISE, CHILDREN,
        ],
    }
}
