//! Batch BLS verification on NUMA-pinned worker threads.
//!
//! - [`topology`]: NUMA nodes and their CPUs from sysfs.
//! - [`pool`]: one pinned worker per chosen CPU, each with a bounded queue.
//! - [`bls`]: random-linear-combination batch verification with grouping of same-message
//!   signatures and bisection to the exact invalid items; the [`bls::Backend`] slot and its CPU
//!   implementation.
//! - [`service`]: batches requests from many callers by size or deadline.
//! - [`file`]: verification of a JSON file of `{pk, msg, sig}` hex triples.
//! - [`bench`]: `keel bench bls` — naive loop vs. Keel's workers vs. blst's own pool.
//!
//! Verdicts never depend on batching, timing, thread count or machine: every path agrees with
//! [`keel_crypto::SingleVerifier`] (the batched paths up to a 2^-63 chance per check of passing
//! an invalid signature).

pub mod affinity;
pub mod bench;
pub mod bls;
pub mod file;
pub mod pool;
pub mod service;
pub mod topology;

pub use bls::{Backend, BackendError, BatchVerifier, CpuBackend};
pub use pool::{PoolConfig, PoolError, WorkerInfo, WorkerPool};
pub use service::{BatchPolicy, BatchService, ServiceError};
pub use topology::Topology;
