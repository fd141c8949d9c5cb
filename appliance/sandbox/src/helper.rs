//! Helper processes the daemon starts — the BLS plug-in host — confined like a daemon thread.
//!
//! A helper runs code Keel did not write (a vendor's plug-in), so it gets no more than a BLS
//! worker thread: the service user, no capabilities, `no_new_privs`, the filesystem read-only
//! (Landlock; nothing writable at all) and the [`ThreadClass::Bls`] seccomp allowlist (compute
//! and I/O on the descriptors it holds). Two steps, because the foreign code is loaded between
//! them: [`HelperSandbox::confine_before_load`] while the process has one thread (Landlock and
//! credentials then cover every thread the plug-in starts), and
//! [`HelperSandbox::filter_all_threads`] once the plug-in has initialised (loading it needs
//! `openat` and `mmap` of the file; its threads, if any, must be filtered too, hence TSYNC).

use crate::class::ThreadClass;
use crate::credentials::{self, ServiceUser};
use crate::error::SandboxError;
use crate::landlock_rules::{Confinement, kernel_abi};
use crate::mode::Mode;
use crate::seccomp;

/// What a helper process is told of the daemon's sandbox, on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperSandbox {
    /// How a syscall outside the allowlist is answered (the daemon's own `--sandbox`).
    pub mode: Mode,
    /// The account to switch to when started as root (the daemon's service user).
    pub user: Option<ServiceUser>,
}

impl HelperSandbox {
    /// What a daemon about to arm `settings` hands the helpers it starts.
    pub fn of_daemon(settings: &crate::Settings) -> HelperSandbox {
        HelperSandbox {
            mode: settings.mode,
            user: settings.user.clone(),
        }
    }

    /// Command-line arguments that make the helper build the same sandbox
    /// (`--sandbox MODE [--user NAME]`), parsed back by [`HelperSandbox::from_args`].
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--sandbox".to_string(), self.mode.name().to_string()];
        if let Some(u) = &self.user {
            args.extend(["--user".to_string(), u.name.clone()]);
        }
        args
    }

    /// From a mode and an optional user name. Errors: the user does not exist, or is uid 0
    /// (which would keep every capability).
    pub fn from_args(mode: Mode, user: Option<&str>) -> Result<HelperSandbox, SandboxError> {
        let user = user.map(ServiceUser::lookup).transpose()?;
        if let Some(u) = user.as_ref().filter(|u| u.uid == 0) {
            return Err(SandboxError::NoSuchUser(format!(
                "{} (uid 0 keeps every capability)",
                u.name
            )));
        }
        Ok(HelperSandbox { mode, user })
    }

    /// Step 1, while the process is single-threaded: empty the capability bounding and ambient
    /// sets, set `no_new_privs`, switch to the service user (when root and one is given; else
    /// drop this thread's capabilities), and make the whole filesystem read-only (Landlock,
    /// where the kernel has it). In `off` mode only the credentials part runs.
    pub fn confine_before_load(&self) -> Result<(), SandboxError> {
        crate::preload::c_library_lookups();
        credentials::drop_bounding_and_ambient()?;
        credentials::no_new_privs()?;
        match &self.user {
            Some(user) if credentials::is_root() => credentials::switch_user(user)?,
            _ => credentials::clear_capabilities()?,
        }
        if self.mode != Mode::Off && kernel_abi() > 0 {
            Confinement::build(&[])?.apply()?;
        }
        Ok(())
    }

    /// Step 2, after the foreign code is loaded and initialised: the BLS workers' seccomp
    /// allowlist on every thread of the process.
    pub fn filter_all_threads(&self) -> Result<(), SandboxError> {
        seccomp::install_all_threads(
            ThreadClass::Bls,
            &seccomp::compile(ThreadClass::Bls, self.mode)?,
        )
    }
}
