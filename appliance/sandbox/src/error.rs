//! Why the sandbox could not be set up.

/// A failure to arm or enter the sandbox. Every variant is fatal in `enforce` mode: a daemon
/// that cannot confine itself refuses to serve rather than run open.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The service user does not exist (`--user` names an unknown account).
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// A credential or capability operation failed.
    #[error("cannot {what}: {source}")]
    Credentials {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The seccomp filter of a thread class could not be built.
    #[error("seccomp filter for {class}: {reason}")]
    Filter { class: &'static str, reason: String },
    /// Installing a seccomp filter on a thread failed.
    #[error("cannot install the seccomp filter of {class}: {reason}")]
    Install { class: &'static str, reason: String },
    /// The Landlock ruleset could not be built or applied.
    #[error("landlock: {0}")]
    Landlock(String),
    /// `arm` was called twice in one process.
    #[error("the sandbox is already armed in this process")]
    AlreadyArmed,
    /// After the drop, a thread still runs outside the sandbox.
    #[error("thread {tid} ({name}) is not sandboxed: {what}")]
    Unconfined {
        tid: u32,
        name: String,
        what: String,
    },
}

pub(crate) fn os(what: &'static str) -> SandboxError {
    SandboxError::Credentials {
        what,
        source: std::io::Error::last_os_error(),
    }
}
