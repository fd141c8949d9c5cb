//! The keel daemon's network core.
//!
//! [`ServerHandle::start`] binds a Unix socket and/or TCP listener and serves the
//! `keel-protocol` wire protocol to validators, handing every chain request to a [`Service`]
//! on a bounded worker pool. [`serve`] does the same and returns after SIGTERM/SIGINT and a
//! graceful shutdown.
//!
//! Network backends: an io_uring event loop per core (`uring`, see its module docs for why the
//! `io-uring` crate) and an epoll fallback on tokio (`fallback`), chosen at start by probing
//! the kernel. Both drive the same per-connection state machine (`session`), so protocol,
//! authentication, limits and errors are identical; integration tests run on both.
//!
//! Guarantees: a connection that misbehaves (garbage, oversized frames, slow-loris, too many
//! requests, not reading its answers) gets an error frame and/or is closed; every other
//! connection keeps being served. No input reaches a panic; a panicking service handler is
//! answered with `Internal`.
//!
//! The [`bench`](mod@bench) module is the load test behind `keel bench serve`.

mod admission;
mod auth;
pub mod bench;
mod config;
pub mod contention;
mod error;
mod fallback;
mod fd_limit;
mod listen;
mod metrics;
mod pool;
mod server;
mod service;
mod session;
mod shared;
mod uring;

pub use config::ServerConfig;
pub use error::ServerError;
pub use listen::{port_owner, process_is_alive};
pub use server::{Backend, BoundListeners, ServerHandle, serve};
pub use service::{Peer, RequestContext, Service};

pub use keel_protocol as protocol;
