//! Users, capabilities and `no_new_privs`: the process-wide part of the drop.

use std::ffi::CString;
use std::path::Path;

use crate::error::{SandboxError, os};

/// An account to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUser {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

impl ServiceUser {
    /// Looks `name` up in the user database. Errors: no such user.
    pub fn lookup(name: &str) -> Result<ServiceUser, SandboxError> {
        let c = CString::new(name).map_err(|_| SandboxError::NoSuchUser(name.into()))?;
        let mut pwd: libc::passwd = unsafe_zeroed_passwd();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: all pointers are to live, correctly sized buffers; the result is read only
        // when `out` is non-null (it then points at `pwd`).
        let rc = unsafe {
            libc::getpwnam_r(c.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out)
        };
        if rc != 0 || out.is_null() {
            return Err(SandboxError::NoSuchUser(name.into()));
        }
        Ok(ServiceUser {
            name: name.into(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        })
    }

    /// The default when running as root: `keel` if it exists, else `nobody`.
    pub fn default_for_root() -> Result<ServiceUser, SandboxError> {
        ServiceUser::lookup("keel").or_else(|_| ServiceUser::lookup("nobody"))
    }
}

fn unsafe_zeroed_passwd() -> libc::passwd {
    // SAFETY: `passwd` is plain old data; all-zero (null pointers) is a valid value that
    // getpwnam_r overwrites.
    unsafe { std::mem::zeroed() }
}

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: plain syscall without arguments.
    unsafe { libc::geteuid() == 0 }
}

/// Sets `no_new_privs` on the calling thread (inherited by threads it spawns): no execve can
/// ever grant privileges again.
pub(crate) fn no_new_privs() -> Result<(), SandboxError> {
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(os("set no_new_privs"));
    }
    Ok(())
}

/// Empties the ambient set and, when CAP_SETPCAP is held (started as root), the bounding set
/// of the calling thread (inherited by threads it spawns). It runs first: the effective and
/// permitted sets are untouched, so the privileged phase keeps working. Returns whether the
/// bounding set was emptied (without CAP_SETPCAP it cannot be; with `no_new_privs` and no
/// `execve` allowed it could never grant anything anyway).
pub(crate) fn drop_bounding_and_ambient() -> Result<bool, SandboxError> {
    // SAFETY: plain prctl calls with integer arguments.
    unsafe {
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) != 0
        {
            return Err(os("clear the ambient capabilities"));
        }
        // CAP_SETPCAP is capability 8.
        if libc::prctl(libc::PR_CAPBSET_READ, 8, 0, 0, 0) != 1 || !has_effective(8) {
            return Ok(false);
        }
        let mut cap = 0;
        // PR_CAPBSET_READ fails (EINVAL) past the last capability this kernel knows.
        while libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) >= 0 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return Err(os("drop the capability bounding set"));
            }
            cap += 1;
        }
    }
    Ok(true)
}

/// Whether capability `cap` is in the calling thread's effective set.
fn has_effective(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|bits| bits & (1u64 << cap) != 0)
}

/// Gives `dir` (not recursively: only what the daemon creates lives there) to `user`.
pub(crate) fn chown_tree(dir: &Path, user: &ServiceUser) -> Result<(), SandboxError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::lchown(&p, Some(user.uid), Some(user.gid)).map_err(|source| {
            SandboxError::Credentials {
                what: "give the data directory to the service user",
                source,
            }
        })?;
        if p.is_dir() && !p.is_symlink() {
            let entries = std::fs::read_dir(&p).map_err(|source| SandboxError::Credentials {
                what: "read the data directory",
                source,
            })?;
            stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    Ok(())
}

/// Switches the whole process to `user` (glibc runs the set*id calls on every thread), with
/// no supplementary groups. A uid change from 0 clears every thread's permitted, effective and
/// ambient capabilities; [`verify_no_capabilities`] checks it.
pub(crate) fn switch_user(user: &ServiceUser) -> Result<(), SandboxError> {
    // SAFETY: plain syscalls with integer arguments (setgroups with an empty list).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(os("drop the supplementary groups"));
        }
        if libc::setresgid(user.gid, user.gid, user.gid) != 0 {
            return Err(os("switch group"));
        }
        if libc::setresuid(user.uid, user.uid, user.uid) != 0 {
            return Err(os("switch user"));
        }
    }
    Ok(())
}

/// Checks, from /proc, that no thread of this process keeps a capability (nor, when `bounding`,
/// a bounding set), that every one has `no_new_privs`, and (when `filtered`) a seccomp filter.
pub(crate) fn verify_threads(filtered: bool, bounding: bool) -> Result<usize, SandboxError> {
    let tasks =
        std::fs::read_dir("/proc/self/task").map_err(|source| SandboxError::Credentials {
            what: "list this process's threads",
            source,
        })?;
    let mut count = 0;
    for task in tasks.filter_map(Result::ok) {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        let tid = task.file_name().to_string_lossy().parse().unwrap_or(0);
        let unconfined = |what: String| SandboxError::Unconfined {
            tid,
            name: field("Name:"),
            what,
        };
        let caps: &[&str] = if bounding {
            &["CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"]
        } else {
            &["CapPrm:", "CapEff:", "CapAmb:"]
        };
        for &cap in caps {
            if !field(cap).trim_start_matches('0').is_empty() {
                return Err(unconfined(format!("{cap} {}", field(cap))));
            }
        }
        if field("NoNewPrivs:") != "1" {
            return Err(unconfined("no_new_privs is not set".into()));
        }
        if filtered && field("Seccomp:") != "2" {
            return Err(unconfined("it has no seccomp filter".into()));
        }
        count += 1;
    }
    Ok(count)
}

/// Empties the calling thread's permitted, effective and inheritable capabilities (for a daemon
/// started unprivileged but with capabilities, where no uid change clears them).
pub(crate) fn clear_capabilities() -> Result<(), SandboxError> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a v3 header and two data structs from live memory.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        return Err(os("clear the capabilities"));
    }
    Ok(())
}
