//! Typed failures of decoding keys and signatures.

use thiserror::Error;

/// Why bytes could not be turned into a key or a signature.
///
/// Verification itself never fails with an error: a signature that does not verify is a
/// [`crate::Verdict::Invalid`], not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The input has the wrong number of bytes.
    #[error("{what}: expected {expected} bytes, got {got}")]
    WrongLength {
        /// What was being decoded.
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The compression flags or the field elements are malformed (not a canonical compressed
    /// encoding, coordinate not below the field modulus).
    #[error("{what}: malformed encoding")]
    BadEncoding {
        /// What was being decoded.
        what: &'static str,
    },
    /// The encoded x-coordinate has no point on the curve.
    #[error("{what}: point is not on the curve")]
    NotOnCurve {
        /// What was being decoded.
        what: &'static str,
    },
    /// The point is on the curve but outside the prime-order subgroup.
    #[error("{what}: point is not in the prime-order subgroup")]
    NotInSubgroup {
        /// What was being decoded.
        what: &'static str,
    },
    /// The point at infinity: it would make verification trivially pass for some inputs.
    #[error("{what}: point at infinity")]
    Infinity {
        /// What was being decoded.
        what: &'static str,
    },
    /// A secret key that is zero or not below the group order.
    #[error("secret key is zero or out of range")]
    InvalidSecretKey,
}

impl CryptoError {
    /// Maps a blst status to a typed error; `what` names the object being decoded.
    pub(crate) fn from_blst(err: blst::BLST_ERROR, what: &'static str) -> Self {
        use blst::BLST_ERROR as E;
        match err {
            E::BLST_POINT_NOT_ON_CURVE => Self::NotOnCurve { what },
            E::BLST_POINT_NOT_IN_GROUP => Self::NotInSubgroup { what },
            E::BLST_PK_IS_INFINITY => Self::Infinity { what },
            _ => Self::BadEncoding { what },
        }
    }
}
