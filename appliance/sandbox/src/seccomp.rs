//! Compiling a thread class's allowlist to a seccomp-bpf program (seccompiler) and
//! installing it on the calling thread.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::class::ThreadClass;
use crate::error::SandboxError;
use crate::mode::Mode;
use crate::syscalls::{Allow, Only, groups};

/// The compiled filters of `class` under `mode`, in installation order (none when the mode is
/// `off`). Two programs: clone3 passes its flags in memory, where seccomp cannot look, so a
/// first filter answers it `ENOSYS` (the C library then falls back to clone, whose flags the
/// class filter checks); the class filter lets clone3 through to that answer. The kernel runs
/// both and keeps the stricter verdict.
pub(crate) fn compile(class: ThreadClass, mode: Mode) -> Result<Vec<BpfProgram>, SandboxError> {
    let refuse = match mode {
        Mode::Enforce => SeccompAction::Errno(libc::EPERM as u32),
        Mode::Kill => SeccompAction::KillProcess,
        Mode::Log => SeccompAction::Log,
        Mode::Off => return Ok(Vec::new()),
    };
    let fail = |reason: String| SandboxError::Filter {
        class: class.name(),
        reason,
    };
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| fail(e.to_string()))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for allow in groups(class).iter().flat_map(|g| g.iter()) {
        let entry = rules.entry(allow.nr).or_default();
        entry.extend(rules_for(allow).map_err(|e| fail(e.to_string()))?);
    }
    rules.insert(libc::SYS_clone3, Vec::new());
    let class_filter = SeccompFilter::new(rules, refuse, SeccompAction::Allow, arch)
        .map_err(|e| fail(e.to_string()))?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| fail(e.to_string()))?;
    [clone3, class_filter]
        .into_iter()
        .map(|f| {
            BpfProgram::try_from(f).map_err(|e: seccompiler::BackendError| fail(e.to_string()))
        })
        .collect()
}

/// The rules for one allowed syscall: none (unconditional) or one rule per accepted value.
fn rules_for(allow: &Allow) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    match allow.only {
        Only::Any => Ok(Vec::new()),
        Only::OneOf(arg, values) => values
            .iter()
            .map(|&v| {
                SeccompRule::new(vec![SeccompCondition::new(
                    arg,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::Eq,
                    v,
                )?])
            })
            .collect(),
        Only::HasBits(arg, bits) => Ok(vec![SeccompRule::new(vec![SeccompCondition::new(
            arg,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(bits),
            bits,
        )?])?]),
    }
}

/// Installs `programs` on the calling thread only (threads it spawns later inherit them).
pub(crate) fn install(class: ThreadClass, programs: &[BpfProgram]) -> Result<(), SandboxError> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(|e| SandboxError::Install {
            class: class.name(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Installs `programs` on every thread of the process (TSYNC): for a helper process whose
/// threads were started by code Keel did not write.
pub(crate) fn install_all_threads(
    class: ThreadClass,
    programs: &[BpfProgram],
) -> Result<(), SandboxError> {
    for program in programs {
        seccompiler::apply_filter_all_threads(program).map_err(|e| SandboxError::Install {
            class: class.name(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Runs `body` on a fresh thread confined by `class`'s enforce filter.
    fn confined<T: Send + 'static>(class: ThreadClass, body: fn() -> T) -> T {
        let programs = compile(class, Mode::Enforce).unwrap();
        std::thread::spawn(move || {
            install(class, &programs).unwrap();
            body()
        })
        .join()
        .unwrap()
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc >= 0 {
            0
        } else {
            std::io::Error::last_os_error().raw_os_error().unwrap()
        }
    }

    #[test]
    fn an_execution_worker_cannot_open_files_or_sockets_but_computes_and_spawns_threads() {
        let (open, socket, uring, spawned) = confined(ThreadClass::Execution, || {
            let open = std::fs::File::open("/etc/hostname").map(drop);
            // SAFETY: plain syscalls; a descriptor that opens is leaked (the test ends).
            let socket = errno_of(
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) } as libc::c_long
            );
            let mut params = [0u8; 120];
            // SAFETY: io_uring_setup writes at most 120 bytes into `params`.
            let uring = errno_of(unsafe {
                libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr())
            });
            // Thread creation survives the clone3 → ENOSYS → clone fallback.
            let spawned = std::thread::spawn(|| 6 * 7).join().unwrap();
            (open.unwrap_err().raw_os_error(), socket, uring, spawned)
        });
        assert_eq!(open, Some(libc::EPERM));
        assert_eq!(socket, libc::EPERM);
        assert_eq!(uring, libc::EPERM);
        assert_eq!(spawned, 42);
    }

    #[test]
    fn the_store_thread_may_open_files_and_the_network_thread_may_not() {
        let store = confined(ThreadClass::Store, || {
            std::fs::File::open("/etc/hostname").is_ok()
        });
        assert!(store);
        let network = confined(ThreadClass::Network, || {
            std::fs::File::open("/etc/hostname")
                .unwrap_err()
                .raw_os_error()
        });
        assert_eq!(network, Some(libc::EPERM));
    }

    #[test]
    fn off_compiles_no_filter_and_every_other_mode_compiles_two() {
        for class in ThreadClass::ALL {
            assert!(compile(class, Mode::Off).unwrap().is_empty());
            for mode in [Mode::Enforce, Mode::Kill, Mode::Log] {
                assert_eq!(compile(class, mode).unwrap().len(), 2);
            }
        }
    }
}
