//! The randomness beacon: what makes `keel.randomness(h)` unpredictable and ungrindable.
//!
//! 1. **VRF** ([`vrf`]): the proposer of block `h` signs (chain id, `h`, seed`h−1`) with its BLS
//!    validator key under a VRF-only domain tag. A BLS signature is deterministic and unique for
//!    a validated key, so the proposer has exactly one valid proof; its output is the SHA-256 of
//!    the signature.
//! 2. **Seed chain** ([`seed`]): seed`h` = H(seed`h−1` ‖ VRF output`h`), seed`0` from the chain id.
//!    It commits to every VRF output up to `h`.
//! 3. **VDF** ([`vdf`]): the beacon of height `h` is H(VDF(seed`h−1`)), Wesolowski's proof of
//!    exponentiation in the RSA-2048 group ([`group`]). Evaluation takes `delay` sequential
//!    squarings (a node-local background job, [`worker`]); verification is two short
//!    exponentiations, cheap enough for consensus.
//!
//! Every function here is deterministic: no host randomness, no clock.

pub mod error;
pub mod group;
pub mod hash_to_prime;
pub mod seed;
pub mod vdf;
pub mod vrf;
pub mod worker;

pub use error::{VdfError, VrfError};
pub use group::RsaGroup;
pub use vdf::{VdfOutput, VdfParams};
pub use worker::BeaconWorker;
