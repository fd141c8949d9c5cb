//! The server's error type.

use thiserror::Error;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// A socket could not be bound or set up.
    #[error("cannot listen on {what}: {source}")]
    Listen {
        /// Which listener.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process listens on the address (SO_REUSEPORT never joins another process's
    /// sockets, and a live Unix socket is never taken over).
    #[error("cannot listen on {what}: address in use{}", owner.map(|p| format!(" by process {p}")).unwrap_or_default())]
    AddressInUse {
        /// Which listener.
        what: String,
        /// The process holding it, where it can be seen.
        owner: Option<u32>,
    },
    /// A thread or runtime could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which component.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An event-loop thread failed or panicked.
    #[error("event loop failed: {0}")]
    EventLoop(String),
}
