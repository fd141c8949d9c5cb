//! Zero-knowledge primitives of Keel's host ABI, independent of any wasm engine.
//!
//! Every entry point takes and returns plain byte slices in the encodings ABI.md fixes, rejects
//! malformed input with a typed error (never a panic), and bounds every size it decodes before
//! allocating. Field and curve arithmetic, pairings and the Groth16 verifier are arkworks';
//! the Poseidon permutation is light-poseidon's. Nothing here is hand-written arithmetic.

pub mod curve;
pub mod encoding;
pub mod groth16;
pub mod poseidon;
pub mod vk_cache;

pub use curve::Curve;
pub use groth16::{Groth16Error, MAX_PUBLIC_INPUTS, verify_groth16};
pub use poseidon::{MAX_ARITY, PoseidonError, poseidon};
