//! The client's error type.

use keel_protocol::{BodyError, ErrorCode, FrameError};
use thiserror::Error;

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that are not valid frames.
    #[error("bad frame from server: {0}")]
    Frame(#[from] FrameError),
    /// The server sent a body that does not decode.
    #[error("bad response body: {0}")]
    Body(#[from] BodyError),
    /// The server answered with an error.
    #[error("server error {code:?}: {message}")]
    Server {
        /// The code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The handshake did not complete.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The connection closed before the response arrived.
    #[error("connection closed")]
    Closed,
    /// A response carried an id that no outstanding request has.
    #[error("unexpected response id {0}")]
    UnexpectedId(u64),
    /// A request is too large to encode.
    #[error("request too large")]
    TooLarge,
}
