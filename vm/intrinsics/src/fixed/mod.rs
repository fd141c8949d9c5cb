//! Signed Q64.64 fixed point (`keel_fx`): the VM's bounded, deterministic stand-in for floats.
//!
//! # Format
//! A [`Q64x64`] is an `i128` two's-complement raw value `r` meaning `r / 2^64`: 64 integer bits
//! (one of them the sign) and 64 fraction bits. On the wire (contract memory) it is 16 bytes,
//! little-endian. The range is `[-2^63, 2^63 - 2^-64]`; one ulp is `2^-64`.
//!
//! # Rounding
//! Every operation rounds **toward zero** (truncation). `mul`, `div` and `sqrt` compute the exact
//! result in 256-bit integers and truncate it once, so they are exactly rounded. `exp`, `ln` and
//! `pow` compute in a 192-fraction-bit working format (Q64.192 in 256 bits, products in 512 bits)
//! and then truncate; their error is bounded below.
//!
//! # Domains, errors and bounds
//! A failing operation returns a [`FixedError`]; the VM reports [`FixedError::status`] to the
//! contract with a zero result. An `Overflow` means the true result lies outside the range.
//!
//! | op | domain | error (vs. the true real result `v`) |
//! |---|---|---|
//! | [`Q64x64::mul`] | all | exact, truncated: `< 1 ulp` |
//! | [`Q64x64::div`] | divisor ≠ 0 (`DivZero`) | exact, truncated: `< 1 ulp` |
//! | [`Q64x64::sqrt`] | `a ≥ 0` (`Domain`) | exact, truncated (`floor`): `< 1 ulp` |
//! | [`Q64x64::exp`] | `x < 63·ln 2 ≈ 43.668` (`Overflow` above); `exp(x) < 2^-64` gives 0 | `< 1 ulp`† |
//! | [`Q64x64::ln`] | `x > 0` (`Domain`) | `< 1 ulp`† |
//! | [`Q64x64::pow`] | see its doc (`Domain`, `DivZero`, `Overflow`) | `< 1 ulp + 2^-120·v` |
//!
//! † The working value is within `2^-50` ulp of `v`, so the result is `v` truncated toward zero,
//! except when `v` lies within `2^-50` ulp of a representable value: then it may be one ulp
//! closer to zero. The tests check `|result − v| < 1 ulp + 2^-50 ulp`.
//!
//! # Bounded work
//! There are no data-dependent loops. `sqrt` runs exactly 96 bit steps; `exp` evaluates a
//! 44-term Taylor polynomial after range reduction by ln 2; `ln` evaluates a 40-term `atanh`
//! series after normalising to `[√2/2, √2)`; `pow` is one `ln` plus one `exp`. Every step is a
//! fixed-width 256- or 512-bit integer operation.
//!
//! # Example
//! ```
//! use keel_intrinsics::fixed::{FixedError, Q64x64};
//!
//! let two = Q64x64::from_int(2);
//! // √2 · 2^64 = 0x1_6A09_E667_F3BC_C908.B2…, truncated.
//! assert_eq!(two.sqrt()?.to_bits(), 0x1_6A09_E667_F3BC_C908);
//! assert_eq!(Q64x64::ZERO.ln(), Err(FixedError::Domain));
//! let wire: [u8; 16] = two.pow(Q64x64::from_int(10))?.to_le_bytes();
//! assert!(Q64x64::from_le_bytes(wire) <= Q64x64::from_int(1024));
//! # Ok::<(), FixedError>(())
//! ```

mod wide;

use ruint::aliases::U256;

use crate::Status;

/// Why a fixed-point operation has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FixedError {
    /// The true result lies outside `[-2^63, 2^63 - 2^-64]`.
    #[error("fixed-point result out of range")]
    Overflow,
    /// A division (or a negative power of zero) had a zero divisor.
    #[error("fixed-point division by zero")]
    DivZero,
    /// The operand is outside the function's domain (e.g. `ln` of a value ≤ 0).
    #[error("fixed-point operand outside the function's domain")]
    Domain,
}

impl FixedError {
    /// The [`Status`] the host function returns for this error.
    #[must_use]
    pub const fn status(self) -> Status {
        match self {
            Self::Overflow => Status::Overflow,
            Self::DivZero => Status::DivZero,
            Self::Domain => Status::Domain,
        }
    }
}

/// A signed Q64.64 fixed-point number: `raw / 2^64` with `raw: i128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Q64x64(i128);

/// `2^127` as a 256-bit magnitude: the largest magnitude a (negative) result can have.
const MAG_LIMIT: U256 = U256::from_limbs([0, 1 << 63, 0, 0]);

impl Q64x64 {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// One (`raw = 2^64`).
    pub const ONE: Self = Self(1 << 64);
    /// The smallest value, `-2^63`.
    pub const MIN: Self = Self(i128::MIN);
    /// The largest value, `2^63 - 2^-64`.
    pub const MAX: Self = Self(i128::MAX);

    /// The value whose raw representation is `raw` (i.e. `raw / 2^64`).
    #[must_use]
    pub const fn from_bits(raw: i128) -> Self {
        Self(raw)
    }

    /// The raw representation (`self * 2^64`).
    #[must_use]
    pub const fn to_bits(self) -> i128 {
        self.0
    }

    /// Decodes the 16-byte little-endian two's-complement wire form (`keel_fx`).
    #[must_use]
    pub const fn from_le_bytes(bytes: [u8; 16]) -> Self {
        Self(i128::from_le_bytes(bytes))
    }

    /// Encodes the 16-byte little-endian two's-complement wire form (`keel_fx`).
    #[must_use]
    pub const fn to_le_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// The integer `n` exactly; every `i64` is representable.
    #[must_use]
    pub const fn from_int(n: i64) -> Self {
        Self((n as i128) << 64)
    }

    /// `self · rhs`, exact then truncated toward zero; `Overflow` if out of range.
    #[expect(
        clippy::should_implement_trait,
        reason = "named after the ABI's fx_mul; fallible, so it cannot be std::ops::Mul"
    )]
    pub fn mul(self, rhs: Self) -> Result<Self, FixedError> {
        // |a|, |b| <= 2^127, so the exact product fits in 254 bits.
        let product = U256::from(self.0.unsigned_abs()) * U256::from(rhs.0.unsigned_abs());
        from_sign_magnitude((self.0 < 0) != (rhs.0 < 0), product >> 64)
    }

    /// `self / rhs`, exact then truncated toward zero; `DivZero` if `rhs` is zero, `Overflow` if
    /// out of range.
    #[expect(
        clippy::should_implement_trait,
        reason = "named after the ABI's fx_div; fallible, so it cannot be std::ops::Div"
    )]
    pub fn div(self, rhs: Self) -> Result<Self, FixedError> {
        if rhs.0 == 0 {
            return Err(FixedError::DivZero);
        }
        // |a| * 2^64 <= 2^191 fits; the quotient is the exact one, floored in magnitude.
        let numerator = U256::from(self.0.unsigned_abs()) << 64;
        let quotient = numerator / U256::from(rhs.0.unsigned_abs());
        from_sign_magnitude((self.0 < 0) != (rhs.0 < 0), quotient)
    }

    /// `√self`, truncated (the largest `r` with `r² ≤ self`); `Domain` if `self < 0`.
    ///
    /// Never overflows: `√(2^63) < 2^32`.
    pub fn sqrt(self) -> Result<Self, FixedError> {
        let raw = u128::try_from(self.0).map_err(|_| FixedError::Domain)?;
        // sqrt(raw / 2^64) * 2^64 = sqrt(raw * 2^64).
        let root = isqrt_192(U256::from(raw) << 64);
        from_sign_magnitude(false, root)
    }

    /// `e^self`, error `< 1 ulp` (see the module table); `Overflow` if `self ≥ 63·ln 2`
    /// (≈ 43.668, where `e^self ≥ 2^63`). Results below one ulp are 0.
    pub fn exp(self) -> Result<Self, FixedError> {
        wide::exp(wide::Wide::from_q64(self.0)).map(Self)
    }

    /// `ln self`, error `< 1 ulp` (see the module table); `Domain` if `self ≤ 0`. Never
    /// overflows: the result lies in `[-44.37, 43.67]`.
    pub fn ln(self) -> Result<Self, FixedError> {
        if self.0 <= 0 {
            return Err(FixedError::Domain);
        }
        Ok(Self(wide::ln(self.0).to_q64()))
    }

    /// `self ^ exponent` for a real exponent, computed as `exp(exponent · ln self)` with the
    /// logarithm kept at working precision.
    ///
    /// - `exponent == 0` gives 1 for every base (including 0 and negatives).
    /// - `self < 0` otherwise gives `Domain` (integer exponents of negative bases are not
    ///   special-cased).
    /// - `self == 0` gives 0 for `exponent > 0` and `DivZero` for `exponent < 0`.
    /// - `Overflow` if the result is `≥ 2^63`; a result within the relative bound of `2^63` may
    ///   report `Overflow` too.
    ///
    /// Error: `|result − v| < 1 ulp + 2^-120·v`, where `v` is the true power.
    pub fn pow(self, exponent: Self) -> Result<Self, FixedError> {
        if exponent.0 == 0 {
            return Ok(Self::ONE);
        }
        match self.0 {
            ..0 => Err(FixedError::Domain),
            0 if exponent.0 > 0 => Ok(Self::ZERO),
            0 => Err(FixedError::DivZero),
            base => wide::exp(wide::ln(base).scale(exponent.0)).map(Self),
        }
    }
}

/// Turns a sign and a truncated magnitude into a value, or `Overflow` if it does not fit.
fn from_sign_magnitude(negative: bool, magnitude: U256) -> Result<Q64x64, FixedError> {
    if magnitude > MAG_LIMIT || (magnitude == MAG_LIMIT && !negative) {
        return Err(FixedError::Overflow);
    }
    let magnitude = u128::try_from(&magnitude).map_err(|_| FixedError::Overflow)?;
    // magnitude <= 2^127, so the two's-complement negation of its bit pattern is exact.
    let raw = if negative {
        (magnitude as i128).wrapping_neg()
    } else {
        magnitude as i128
    };
    Ok(Q64x64(raw))
}

/// `floor(√n)` for `n < 2^192`, by the digit-by-digit method: exactly 96 steps whatever `n`.
fn isqrt_192(n: U256) -> U256 {
    let mut remainder = n;
    let mut root = U256::ZERO;
    let mut bit = U256::ONE << 190;
    for _ in 0..96 {
        let trial = root + bit;
        if remainder >= trial {
            remainder -= trial;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests;
