//! Errors of the hwtest library.

use std::path::PathBuf;

use thiserror::Error;

/// Why an hwtest operation failed (a path failing its checks is a verdict, not an error).
#[derive(Debug, Error)]
pub enum HwtestError {
    /// The built-in vectors do not parse.
    #[error("BLS vectors: {0}")]
    Vectors(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A report is not valid JSON of a known schema.
    #[error("{path}: not a hwtest report: {reason}")]
    BadReport {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The signing key is unusable.
    #[error("signing key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A component could not be started (worker pool, VM, registry, server).
    #[error("{what}: {reason}")]
    Setup {
        /// The component.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Rendering a plot failed.
    #[error("plot: {0}")]
    Plot(String),
}

impl HwtestError {
    /// A setup error.
    pub fn setup(what: &'static str, reason: impl ToString) -> Self {
        Self::Setup {
            what,
            reason: reason.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
