//! Thread-to-CPU pinning (Linux `sched_setaffinity`).

use std::io;

/// Pins the calling thread to one logical CPU.
///
/// # Errors
/// The OS error when the CPU does not exist or is outside this process's cpuset;
/// `Unsupported` on non-Linux systems.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    imp::pin(cpu)
}

/// The CPUs the calling thread may run on, ascending.
///
/// # Errors
/// The OS error from `sched_getaffinity`; `Unsupported` on non-Linux systems.
pub fn current_thread_cpus() -> io::Result<Vec<usize>> {
    imp::current()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::mem;

    fn set_size() -> usize {
        libc::CPU_SETSIZE as usize
    }

    pub fn pin(cpu: usize) -> io::Result<()> {
        if cpu >= set_size() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cpu index beyond CPU_SETSIZE",
            ));
        }
        // SAFETY: `cpu_set_t` is plain old data for which all-zero is the empty set; the index was
        // checked against CPU_SETSIZE; pid 0 means the calling thread.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn current() -> io::Result<Vec<usize>> {
        // SAFETY: as above; the kernel writes at most `size_of::<cpu_set_t>()` bytes into `set`,
        // and CPU_ISSET reads indices below CPU_SETSIZE only.
        unsafe {
            let mut set: libc::cpu_set_t = mem::zeroed();
            if libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok((0..set_size())
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    pub fn pin(_cpu: usize) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "thread pinning needs Linux",
        ))
    }

    pub fn current() -> io::Result<Vec<usize>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "thread affinity needs Linux",
        ))
    }
}
