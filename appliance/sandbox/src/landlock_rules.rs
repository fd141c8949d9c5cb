//! Landlock: the filesystem read-only everywhere, writable only in the data directory and the
//! socket directory.
//!
//! Requires Landlock ABI 1 (Linux 5.13) for any confinement; asks for ABI 3 (Linux 6.2, adds
//! truncation) best-effort. Below ABI 1 the kernel cannot confine paths: the daemon logs a
//! warning, reports `keel_sandbox_landlock_abi 0` on /metrics and relies on the user drop and
//! the seccomp filters alone (the execution workers cannot open files at all either way).

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};

use crate::error::SandboxError;

/// The highest ABI whose rights we ask for.
const WANTED: ABI = ABI::V3;

/// The ruleset built during the privileged phase (its path descriptors opened then), applied by
/// each thread to itself.
pub(crate) struct Confinement {
    ruleset: RulesetCreated,
}

impl Confinement {
    /// Builds the ruleset: read (and execute) beneath `/`, everything beneath `writable`.
    pub(crate) fn build(writable: &[PathBuf]) -> Result<Confinement, SandboxError> {
        let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
        let ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(WANTED))
            .map_err(err)?
            .create()
            .map_err(err)?
            .add_rules(path_beneath_rules(["/"], AccessFs::from_read(WANTED)))
            .map_err(err)?
            .add_rules(path_beneath_rules(writable, AccessFs::from_all(WANTED)))
            .map_err(err)?;
        Ok(Confinement { ruleset })
    }

    /// Confines the calling thread. Returns whether the kernel enforced it (false: no
    /// Landlock here).
    pub(crate) fn apply(&self) -> Result<bool, SandboxError> {
        let copy = self
            .ruleset
            .try_clone()
            .map_err(|e| SandboxError::Landlock(e.to_string()))?;
        let status = copy
            .restrict_self()
            .map_err(|e| SandboxError::Landlock(e.to_string()))?;
        Ok(status.ruleset != RulesetStatus::NotEnforced)
    }
}

/// The Landlock ABI this kernel offers (0: none).
pub(crate) fn kernel_abi() -> i64 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns
    // the ABI version (or an error); it touches no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    v.max(0)
}
