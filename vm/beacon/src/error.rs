//! Typed failures of the VRF and the VDF.

use thiserror::Error;

/// Why a VRF proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VrfError {
    /// The public key does not decode to a valid G1 point in the subgroup.
    #[error("VRF public key: {0}")]
    Key(keel_crypto::CryptoError),
    /// The proof does not decode to a G2 point.
    #[error("VRF proof: {0}")]
    Encoding(keel_crypto::CryptoError),
    /// The proof is a well-formed point but not the signature of this key over this input.
    #[error("VRF proof does not verify for this key and input")]
    Invalid,
}

/// Why a VDF output or proof is refused, or could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VdfError {
    /// An element's encoding has the wrong length (every element is exactly as long as the
    /// modulus: nothing else is decoded).
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// An element is zero, not below the modulus, or not the canonical representative of its
    /// class in the group modulo ±1.
    #[error("{what}: not a canonical group element")]
    NotCanonical { what: &'static str },
    /// The output and proof do not satisfy π^ℓ · x^r = y.
    #[error("VDF proof does not verify")]
    Invalid,
    /// The delay is zero or above [`crate::vdf::MAX_DELAY`].
    #[error("VDF delay {0} is outside 1..={max}", max = crate::vdf::MAX_DELAY)]
    Delay(u64),
    /// The modulus is not a usable RSA modulus (too small or even).
    #[error("VDF modulus: {0}")]
    Modulus(&'static str),
    /// No prime was found among the hash-to-prime candidates (probability below 2^-100).
    #[error("hash to prime found no prime in {0} candidates")]
    NoPrime(u32),
}
