//! Counting this daemon's seccomp violations in `log` mode.
//!
//! `SECCOMP_RET_LOG` lets the syscall run and makes the kernel write an audit record (type
//! 1326, `pid=<ours> ... syscall=<nr>`) to the kernel log. The daemon opens `/dev/kmsg` during
//! the privileged phase (reading it later needs no privilege: the descriptor is the right),
//! seeks to its end, and counts the records of its own pid whenever asked (/metrics, the
//! shutdown summary). Counts are a lower bound if the kernel rate-limits its log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

/// The kernel log reader and what it has counted so far.
pub(crate) struct ViolationLog {
    inner: Mutex<Counted>,
}

struct Counted {
    kmsg: File,
    /// Syscall number → records.
    by_syscall: BTreeMap<u64, u64>,
}

impl ViolationLog {
    /// Opens the kernel log at its current end. `None` when it cannot be read.
    pub(crate) fn open() -> Option<ViolationLog> {
        let mut kmsg = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/kmsg")
            .ok()?;
        kmsg.seek(SeekFrom::End(0)).ok()?;
        Some(ViolationLog {
            inner: Mutex::new(Counted {
                kmsg,
                by_syscall: BTreeMap::new(),
            }),
        })
    }

    /// Reads the records written since the last call and returns the totals per syscall.
    pub(crate) fn counts(&self) -> BTreeMap<u64, u64> {
        let Ok(mut c) = self.inner.lock() else {
            return BTreeMap::new();
        };
        let pid = format!(" pid={} ", std::process::id());
        let mut record = [0u8; 8192];
        // /dev/kmsg returns one record per read; EAGAIN at the end. Bounded by the ring size.
        for _ in 0..100_000 {
            match c.kmsg.read(&mut record) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let line = String::from_utf8_lossy(&record[..n]);
                    if line.contains("type=1326") && line.contains(&pid) {
                        let nr = syscall_of(&line).unwrap_or(u64::MAX);
                        let e = c.by_syscall.entry(nr).or_insert(0);
                        *e = e.saturating_add(1);
                    }
                }
            }
        }
        c.by_syscall.clone()
    }
}

fn syscall_of(line: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("syscall="))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syscall_number_is_read_from_an_audit_record() {
        let line = "5,1234,5678,-;audit: type=1326 audit(1.2:3): auid=4294967295 uid=65534 \
                    gid=65534 ses=4294967295 subj=unconfined pid=42 comm=\"keel-worker-0\" \
                    exe=\"/usr/bin/keel\" sig=0 arch=c000003e syscall=257 compat=0 ip=0x1 \
                    code=0x7ffc0000";
        assert_eq!(syscall_of(line), Some(257));
        assert_eq!(syscall_of("no record"), None);
    }
}
