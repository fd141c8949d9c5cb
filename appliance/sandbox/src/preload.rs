//! What the C library would otherwise look up lazily, from whichever thread happens to need it
//! first — by then possibly a sandboxed thread that may not open files.
//!
//! glibc's malloc sizes its arena limit the first time a thread needs a new arena beyond the
//! first eight, by reading `/sys/devices/system/cpu/online`. That happens once per process, at
//! a moment decided by scheduling: under the default `kill` mode it killed the daemon now and
//! then (seen as a rare `openat` violation from an epoll worker in `log` mode). Setting the
//! limit explicitly, to glibc's own default (eight arenas per online CPU), removes the lookup.

/// Runs the lookups now, in the privileged phase, while the process may still open files.
pub(crate) fn c_library_lookups() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: sysconf and mallopt take integers; mallopt only changes malloc's tuning.
        unsafe {
            let cpus = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1);
            let arenas = i32::try_from(cpus.saturating_mul(8)).unwrap_or(i32::MAX);
            if libc::mallopt(libc::M_ARENA_MAX, arenas) != 1 {
                tracing::warn!("mallopt(M_ARENA_MAX) failed: a thread may open a /sys file late");
            }
        }
    }
}
