//! Batch BLS verification: random linear combinations checked with one multi-pairing, grouping
//! of same-message signatures, and bisection down to the exact invalid items.
//!
//! The algorithm ([`BatchVerifier`]) is independent of where the arithmetic runs; a [`Backend`]
//! supplies the two batched operations. [`CpuBackend`] is the reference backend.

mod backend;
mod batch;
mod cpu;
mod rlc;

pub use backend::{Backend, BackendError};
pub use batch::BatchVerifier;
pub use cpu::CpuBackend;
pub use rlc::{RANDOM_SCALAR_BITS, group_by_message};
