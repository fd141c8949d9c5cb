//! Keel's appliance wire protocol: how a validator talks to the `keel` daemon.
//!
//! A connection carries a stream of *frames* in both directions. Every frame is a fixed
//! 20-byte header (magic `KEEL`, version, message kind, reserved flags, request id, body
//! length) followed by a body whose layout depends on the kind and is encoded with
//! [borsh](https://borsh.io). The normative specification, written so that a non-Rust
//! implementation can be built from it alone, is `PROTOCOL.md` next to this crate.
//!
//! - [`frame`]: the header layout, limits and frame encoding.
//! - [`FrameDecoder`]: a streaming decoder that accepts bytes in any chunking (partial frames,
//!   several frames per read) and never panics, whatever the input.
//! - [`Request`] / [`Response`]: the messages, with their kind codes and bodies.
//! - [`ErrorCode`]: the codes carried by error responses.
//!
//! Chain payloads (blocks, transactions, receipts, proofs) are opaque byte strings at this
//! layer: the chain crate defines them.

mod decoder;
mod error;
pub mod frame;
mod message;

pub use decoder::{FrameDecoder, FrameRef};
pub use error::{BodyError, ErrorCode, FrameError};
pub use frame::{Frame, FrameHeader, HEADER_LEN, MAGIC, PROTOCOL_VERSION};
pub use message::{
    AUTH_DOMAIN_TAG, BLS_BATCH_MAX_BYTES, BLS_BATCH_MAX_ITEMS, BlsItem, BuildRequest, Request,
    RequestKind, Response, ResponseKind, SUBMIT_TX_MAX_BYTES, StatusReply, auth_message,
};
