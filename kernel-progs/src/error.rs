//! The one error type of the crate: every failure to load, attach, pin or read is a value the
//! daemon can log before running on without the kernel programs.

use std::path::PathBuf;

/// What went wrong with a kernel program, map or pin.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The process may not load BPF programs (needs root or CAP_BPF + CAP_NET_ADMIN/CAP_PERFMON).
    #[error("not permitted to {action}: run as root or grant CAP_BPF/CAP_NET_ADMIN/CAP_PERFMON")]
    NotPermitted {
        /// What was attempted.
        action: String,
    },
    /// The kernel lacks a feature the program needs (program type, attach point, tracepoint).
    #[error("the kernel does not support {feature}: {detail}")]
    Unsupported {
        /// The missing feature.
        feature: String,
        /// What the kernel or libbpf said.
        detail: String,
    },
    /// A libbpf call failed for another reason.
    #[error("{action}: {source}")]
    Bpf {
        /// What was attempted.
        action: String,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// A filesystem operation (bpffs, cgroup, tracefs) failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The named network interface does not exist in this network namespace.
    #[error("no network interface named {0:?}")]
    NoSuchInterface(String),
    /// The configuration cannot be applied as given.
    #[error("invalid kernel-programs configuration: {0}")]
    InvalidConfig(String),
    /// A pinned object under the pin directory is not what this version expects.
    #[error("pinned object {path} is unusable: {detail}")]
    BadPin {
        /// The pin.
        path: PathBuf,
        /// Why it cannot be used.
        detail: String,
    },
    /// A map held a value of an unexpected size (a pin from an incompatible version).
    #[error("map {map}: expected {expected} bytes per value, got {got}")]
    MapLayout {
        /// The map's name.
        map: &'static str,
        /// The size this version expects.
        expected: usize,
        /// The size found.
        got: usize,
    },
}

impl KernelError {
    /// Wraps a libbpf error, classifying permission and support failures so the daemon's warning
    /// says what to fix.
    pub(crate) fn bpf(action: impl Into<String>, source: libbpf_rs::Error) -> Self {
        let action = action.into();
        match source.kind() {
            libbpf_rs::ErrorKind::PermissionDenied => Self::NotPermitted { action },
            libbpf_rs::ErrorKind::Unsupported => Self::Unsupported {
                feature: action,
                detail: source.to_string(),
            },
            _ => Self::Bpf { action, source },
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// True when the failure comes from the environment (privileges, kernel features, missing
    /// interface) rather than from a bug or a bad configuration: the daemon should warn and run
    /// without kernel programs.
    pub fn is_environmental(&self) -> bool {
        matches!(
            self,
            Self::NotPermitted { .. }
                | Self::Unsupported { .. }
                | Self::NoSuchInterface(_)
                | Self::Io { .. }
        )
    }
}
