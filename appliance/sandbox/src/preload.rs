//! What the C library would otherwise look up lazily, from whichever thread happens to need it
//! first — by then possibly a sandboxed thread that may not open files.
//!
//! glibc's malloc sizes its arena limit the first time a thread needs a new arena beyond the
//! first eight, by reading `/sys/devices/system/cpu/online`. That happens once per process, at
//! a moment decided by scheduling: under the default `kill` mode it killed the daemon now and
//! then (seen as a rare `openat` violation from an epoll worker in `log` mode). Setting the
//! limit explicitly, to glibc's own default (eight arenas per online CPU), removes the lookup.
//!
//! The first time a thread's arena gives memory back (its heap shrinks after large buffers are
//! freed, e.g. after 16 MiB frames), glibc reads `/proc/sys/vm/overcommit_memory` and keeps the
//! answer. Under `kill` that read from an io_uring ring thread killed the daemon. Shrinking one
//! thread arena's heap here, before the drop, makes glibc read and keep it now.

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
        shrink_a_thread_heap();
    }
}

/// Allocates 2 MiB in page-sized chunks on a new thread (its own arena: the chunks are above
/// the tcache and fastbin sizes and below the mmap threshold) and frees them, so the freed top
/// of that arena's heap exceeds the trim threshold and the heap shrinks.
#[cfg(target_env = "gnu")]
fn shrink_a_thread_heap() {
    let touched = std::thread::Builder::new()
        .name("keel-preload".into())
        .spawn(|| {
            let chunks: Vec<Box<[u8]>> = (0..512).map(|_| vec![1u8; 4096].into()).collect();
            let total: usize = chunks.iter().map(|c| c.len()).sum();
            drop(chunks);
            total
        })
        .and_then(|t| {
            t.join()
                .map_err(|_| std::io::Error::other("the preload thread panicked"))
        });
    if let Err(e) = touched {
        tracing::warn!(error = %e, "cannot preload malloc's overcommit setting: a thread may open a /proc file late");
    }
}
