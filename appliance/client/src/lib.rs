//! Client library for the keel daemon, over a Unix socket or TCP.
//!
//! - [`Client`]: blocking; [`Client::call`] for one request, [`Client::pipeline`] to keep many
//!   requests in flight on one connection (responses matched by id, returned in request order).
//! - [`AsyncClient`]: tokio; cheap to clone, and concurrent [`AsyncClient::call`]s pipeline on
//!   one connection.
//!
//! Both authenticate with [`Client::handshake`] / [`AsyncClient::handshake`]: send the public
//! key, sign the server's challenge with the [`keel_crypto::SecretKey`].

mod blocking;
mod error;
mod nonblocking;

pub use blocking::Client;
pub use error::ClientError;
pub use nonblocking::AsyncClient;

pub use keel_protocol as protocol;

use keel_crypto::SecretKey;
use keel_protocol::{Request, Response, auth_message};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// Largest response body a client accepts (the protocol's absolute limit).
pub const MAX_RESPONSE_BODY: u32 = keel_protocol::frame::ABSOLUTE_MAX_BODY;

/// Turns an error response into `Err(ClientError::Server)`.
pub(crate) fn ok_or_server_error(response: Response) -> Result<Response, ClientError> {
    match response {
        Response::Error { code, message } => Err(ClientError::Server { code, message }),
        other => Ok(other),
    }
}

/// The AuthProof answering a Challenge, after checking the server id when one is pinned.
pub(crate) fn answer_challenge(
    key: &SecretKey,
    challenge: Response,
    expected_server: Option<[u8; 32]>,
) -> Result<Request, ClientError> {
    let Response::Challenge { nonce, server_id } = ok_or_server_error(challenge)? else {
        return Err(ClientError::Handshake("expected a challenge".into()));
    };
    if expected_server.is_some_and(|id| id != server_id) {
        return Err(ClientError::Handshake(
            "server id does not match the pinned one".into(),
        ));
    }
    Ok(Request::AuthProof {
        signature: key.sign(&auth_message(&nonce, &server_id)).to_bytes(),
    })
}

/// Reads the handshake's final answer.
pub(crate) fn read_only_from(response: Response) -> Result<bool, ClientError> {
    match ok_or_server_error(response)? {
        Response::Authenticated { read_only } => Ok(read_only),
        other => Err(ClientError::Handshake(format!(
            "unexpected {:?}",
            other.kind()
        ))),
    }
}
