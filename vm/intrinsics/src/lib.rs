//! 256-bit integer and signed Q64.64 fixed-point arithmetic for the Keel VM host ABI.
//!
//! This crate is the pure arithmetic behind the `keel.u256_*` and `keel.fx_*` host functions
//! (see `contracts/include/keel.h`). It does no memory access and no metering: the VM copies the
//! operands out of linear memory, calls into this crate and charges gas from its own schedule.
//!
//! Every function is deterministic (integer-only, no floats, no allocation, no platform-dependent
//! behaviour) and does a bounded amount of work per call; the bounds are stated on each module.
//! No function panics on any input.
//!
//! - [`u256`]: wrapping 256-bit unsigned integers over 32-byte little-endian words.
//! - [`fixed`]: signed Q64.64 fixed point ([`fixed::Q64x64`]) with `mul`, `div`, `sqrt`, `exp`,
//!   `ln` and `pow`, and their documented rounding and error bounds.
//! - [`Status`]: the status code every arithmetic host function returns to the contract.

pub mod fixed;
mod status;
pub mod u256;

pub use status::Status;
