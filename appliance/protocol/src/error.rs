//! Errors of frame and body decoding, and the error codes of the wire protocol.

use thiserror::Error;

/// Why a byte stream is not a valid sequence of frames. Every variant is fatal for the
/// stream: after a bad header the receiver cannot find the next frame boundary.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The first four bytes of a header are not `KEEL`.
    #[error("bad frame magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The header names a protocol version this implementation does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// The reserved flags field is not zero.
    #[error("reserved flags {0:#06x} are not zero")]
    ReservedFlags(u16),
    /// The declared body length exceeds the receiver's limit.
    #[error("frame body of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Declared body length.
        len: u32,
        /// The receiver's limit.
        max: u32,
    },
}

impl FrameError {
    /// The error code a server reports before closing the connection.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::BadMagic(_) | FrameError::ReservedFlags(_) => ErrorCode::MalformedFrame,
            FrameError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
        }
    }
}

/// Why a well-framed body does not decode as the message its kind names. Not fatal for the
/// stream: the frame boundary is known, so the receiver can answer and go on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BodyError {
    /// The kind byte names no message in this direction.
    #[error("unknown message kind {0:#04x}")]
    UnknownKind(u8),
    /// The body is not the borsh encoding of the kind's fields (or has trailing bytes).
    #[error("malformed body for kind {kind:#04x}: {reason}")]
    Malformed {
        /// The frame's kind byte.
        kind: u8,
        /// What borsh reported.
        reason: String,
    },
    /// An error response carries a code this implementation does not know.
    #[error("unknown error code {0}")]
    UnknownErrorCode(u16),
    /// A `BlsBatchVerify` body is longer than [`crate::BLS_BATCH_MAX_BYTES`] (checked before
    /// anything is decoded).
    #[error("BlsBatchVerify body of {len} bytes exceeds the limit of {max}")]
    BlsBatchBodyTooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A `BlsBatchVerify` request declares more than [`crate::BLS_BATCH_MAX_ITEMS`] items
    /// (checked before the items are decoded).
    #[error("BlsBatchVerify with {items} items exceeds the limit of {max}")]
    BlsBatchTooManyItems {
        /// The declared item count.
        items: u32,
        /// The limit.
        max: u32,
    },
    /// A `SubmitTx` body is longer than [`crate::SUBMIT_TX_MAX_BYTES`] (checked before
    /// anything is decoded).
    #[error("SubmitTx body of {len} bytes exceeds the limit of {max}")]
    SubmitTxTooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl BodyError {
    /// The error code a server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            BodyError::UnknownKind(_) => ErrorCode::UnknownKind,
            BodyError::Malformed { .. } | BodyError::UnknownErrorCode(_) => {
                ErrorCode::MalformedBody
            }
            BodyError::BlsBatchBodyTooLarge { .. }
            | BodyError::BlsBatchTooManyItems { .. }
            | BodyError::SubmitTxTooLarge { .. } => ErrorCode::RequestTooLarge,
        }
    }
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// The code carried by an error response (a `u16` on the wire). The table in
        /// `PROTOCOL.md` is normative; codes are never renumbered.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $code,)*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code for a wire value, or `None` if it is unknown.
            pub fn from_u16(value: u16) -> Option<ErrorCode> {
                match value {
                    $($code => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }

            /// A stable snake_case name (used in logs and metrics labels).
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }
        }
    };
}

error_codes! {
    /// Bad magic or non-zero reserved flags; the connection is closed.
    MalformedFrame = 1,
    /// Unknown protocol version; the connection is closed.
    UnsupportedVersion = 2,
    /// The kind byte names no request.
    UnknownKind = 3,
    /// The declared body length exceeds the server's limit; the connection is closed.
    FrameTooLarge = 4,
    /// The body does not decode as the kind's fields.
    MalformedBody = 5,
    /// The request needs an authenticated connection.
    NotAuthenticated = 6,
    /// The authenticated key may not make this request (read-only or not allowlisted).
    Forbidden = 7,
    /// The handshake failed (bad key, bad signature, out-of-order message); connection closed.
    HandshakeFailed = 8,
    /// The connection already has the maximum number of requests in flight.
    TooManyInFlight = 9,
    /// The server is at its connection limit; the connection is closed.
    TooManyConnections = 10,
    /// The connection was idle, or a frame took too long to arrive; the connection is closed.
    Timeout = 11,
    /// The server is shutting down and takes no new requests.
    ShuttingDown = 12,
    /// The server's worker queue is full; retry later.
    Overloaded = 13,
    /// The chain rejected the request's payload (invalid block or transaction).
    Rejected = 14,
    /// The service does not implement this request.
    Unsupported = 15,
    /// An internal failure in the server.
    Internal = 16,
    /// The request exceeds a per-request limit (`BlsBatchVerify`: items or bytes; `SubmitTx`:
    /// bytes).
    RequestTooLarge = 17,
    /// The mempool refused a transaction that may be valid: pool or sender full, replacement
    /// underpriced, nonce outside the window, already pending. Retrying later or with a higher
    /// priority fee may succeed.
    MempoolRefused = 18,
}
