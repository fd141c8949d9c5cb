//! Batch BLS verification: linear combinations (scalars derived from the committed batch)
//! checked with one multi-pairing, grouping
//! of same-message signatures, and bisection down to the exact invalid items.
//!
//! The algorithm ([`BatchVerifier`]) is independent of where the arithmetic runs; a [`Backend`]
//! supplies the two batched operations. [`CpuBackend`] is the reference backend.

mod backend;
mod batch;
mod commit;
mod cpu;
mod rlc;

pub use backend::{Backend, BackendError};
pub use batch::{BISECTION_BUDGET, BatchVerifier};
pub use commit::{
    CommittedBatch, RANDOM_SCALAR_BITS, SCALAR_BYTES, Scalar, batch_digest, derive_scalars,
};
pub use cpu::CpuBackend;
pub use rlc::group_by_message;
