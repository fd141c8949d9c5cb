//! Batch BLS verification on NUMA-pinned worker threads.
//!
//! - [`topology`]: NUMA nodes and their CPUs from sysfs.
//! - [`pool`]: one pinned worker per chosen CPU, each with a bounded two-lane queue (block jobs
//!   before client jobs).
//! - [`bls`]: linear-combination batch verification with scalars derived from a hash of the
//!   committed batch, grouping of same-message signatures and bisection to the exact invalid
//!   items; the [`bls::Backend`] slot and its CPU implementation.
//! - [`service`]: a block lane (one block, one batch) and a client lane (requests batched by size
//!   or deadline) in front of one pool.
//! - [`file`]: verification of a JSON file of `{pk, msg, sig}` hex triples.
//! - [`bench`]: `keel bench bls` — naive loop vs. Keel's workers vs. blst's own pool.
//!
//! Verdicts are a function of the batch alone, never of timing, thread count, machine or run
//! (no host randomness), and agree with [`keel_crypto::SingleVerifier`] unless an adversary
//! grinds a batch whose errors cancel under the derived scalars (about 2^-128 per attempt).

pub mod affinity;
pub mod bench;
pub mod bls;
pub mod file;
pub mod pool;
pub mod service;
pub mod topology;

pub use bls::{BISECTION_BUDGET, Backend, BackendError, BatchVerifier, CpuBackend};
pub use pool::{PoolConfig, PoolError, Priority, WorkerInfo, WorkerPool};
pub use service::{BatchPolicy, BatchService, Lane, PriorityVerifier, ServiceError};
pub use topology::Topology;
