//! The validator's side of the socket: pending transactions and block building.
//!
//! - [`Mempool`] holds signed transactions that passed admission (the daemon checks them
//!   statelessly and verifies their signatures first): bounded by count and bytes, ordered per
//!   sender by nonce (a gap holds later nonces back), replaced only by a higher priority fee
//!   with a minimum bump, the lowest-paying evicted when full, expired after a time to live.
//! - [`Mempool::build`] packs a block: a greedy multi-dimensional knapsack by priority fee per
//!   unit of the scarcest gas dimension, in per-sender nonce order, within every limit.
//! - [`VerdictCache`] and [`CachedVerifier`]: the signature verdicts of admitted transactions,
//!   keyed by the signed-transaction hash, so a block built from the pool is not verified twice.
//!
//! Pure logic: time is a number the caller passes in (`now_ms`), iteration is over ordered
//! maps, so the same calls give the same pool and the same blocks on every machine.

// Counts and byte totals come from input: every sum is checked or saturating.
#![deny(clippy::arithmetic_side_effects)]

pub mod config;
pub mod error;
pub mod packing;
pub mod pool;
pub mod verdict_cache;

pub use config::PoolConfig;
pub use error::AdmitError;
pub use packing::{BlockLimits, Packed};
pub use pool::{Admission, Mempool, PoolEntry, PoolStats, TxHash};
pub use verdict_cache::{CachedVerifier, VerdictCache};
