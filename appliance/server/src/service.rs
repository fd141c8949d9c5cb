//! The seam between the network core and the chain: the `Service` trait.

use keel_protocol::{Request, Response};
use std::net::SocketAddr;

/// Where a connection comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer and its address.
    Tcp(SocketAddr),
    /// A Unix-socket peer (Unix peers have no useful address).
    Unix,
}

/// What the server knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The connection's peer.
    pub peer: Peer,
    /// The BLS public key (compressed) the peer proved possession of, if it authenticated.
    pub public_key: Option<[u8; 48]>,
    /// Whether the connection may only read. Mutating requests never reach the service on a
    /// read-only connection; the flag is informational.
    pub read_only: bool,
    /// The request id of the frame (echoed in the response by the server).
    pub request_id: u64,
}

/// The chain executor behind the daemon. Implemented by the `keel` binary.
///
/// `handle` runs on a worker thread of a bounded pool (never on a network thread), so it may
/// take milliseconds; several calls run concurrently and may complete in any order. The server
/// has already checked authentication and permissions: a mutating request
/// (`SubmitBlock`, `ExecuteBlock`, `Deploy`, `GovernanceSubmit`) only arrives from an allowlisted
/// key. Handshake messages and `Ping` are answered by the server and never reach `handle`.
/// A panic inside `handle` is caught and answered with an `Internal` error.
pub trait Service: Send + Sync + 'static {
    /// Answers one request. Failures are values: return `Response::Error` with a code
    /// (`Rejected` for invalid chain payloads, `Unsupported` for requests not implemented).
    fn handle(&self, ctx: &RequestContext, request: Request) -> Response;

    /// Called once at graceful shutdown, after the last in-flight request has completed and
    /// before the server reports that it stopped: the place to flush and fsync.
    fn shutdown(&self) {}

    /// Appends the service's own Prometheus text-format lines (with `# HELP`/`# TYPE`) to the
    /// metrics page, e.g. gas used or verify batches.
    fn write_metrics(&self, _out: &mut String) {}
}
