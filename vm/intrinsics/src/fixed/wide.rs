//! The working format behind `exp`, `ln` and `pow`: signed Q64.192 (a sign and a 256-bit
//! magnitude with 192 fraction bits), with 512-bit products.
//!
//! 192 fraction bits leave 128 guard bits over the Q64.64 result, enough that `exp` near
//! `2^63` (126 significant result bits) still has more than 50 guard bits of relative accuracy.

use ruint::aliases::{U256, U512};

use super::FixedError;

/// Fraction bits of the working format.
const FRAC: usize = 192;
/// Fraction bits of Q64.64, and the shift between the two formats.
const Q64_FRAC: usize = 64;
const TO_Q64: usize = FRAC - Q64_FRAC;

/// 1.0 in the working format.
const ONE: U256 = U256::from_limbs([0, 0, 0, 1]);
/// ln 2 · 2^192, rounded to nearest (error ≤ 2^-193).
const LN2: U256 = U256::from_limbs([
    0x40f3_4326_7298_b62e,
    0xc9e3_b398_03f2_f6af,
    0xb172_17f7_d1cf_79ab,
    0,
]);
/// √2 · 2^192 (truncated): the normalisation threshold for `ln`; its accuracy only moves the
/// reduced range by a negligible amount.
const SQRT2: U256 = U256::from_limbs([
    0x3ade_c175_1277_509a,
    0xb2fb_1366_ea95_7d3e,
    0x6a09_e667_f3bc_c908,
    1,
]);

/// Taylor terms for `e^r`, `r ∈ [0, ln 2)`: `ln2^44 / 44! < 2^-204`.
const EXP_TERMS: u64 = 44;
/// `atanh` terms for `ln m`, `|s| ≤ 0.1716`: `s^(2·40) < 2^-200`.
const ATANH_TERMS: u64 = 40;

/// `exp` inputs at or above 44 overflow (the threshold 63·ln 2 ≈ 43.668 is found exactly by the
/// range reduction); inputs at or below −45 give 0, since `e^-45 < 2^-64`.
const EXP_OVERFLOW_AT: U256 = U256::from_limbs([0, 0, 0, 44]);
const EXP_ZERO_AT: U256 = U256::from_limbs([0, 0, 0, 45]);

/// A signed working-precision value: `(-1)^negative · magnitude / 2^192`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wide {
    negative: bool,
    magnitude: U256,
}

impl Wide {
    /// The exact working value of a Q64.64 raw value.
    pub(super) fn from_q64(raw: i128) -> Self {
        Self {
            negative: raw < 0,
            magnitude: U256::from(raw.unsigned_abs()) << TO_Q64,
        }
    }

    /// Truncates toward zero to a Q64.64 raw value. Callers only pass values below 2^63 in
    /// magnitude (`ln` results lie within ±45).
    pub(super) fn to_q64(self) -> i128 {
        let magnitude: i128 = (self.magnitude >> TO_Q64).saturating_to();
        if self.negative { -magnitude } else { magnitude }
    }

    /// `self · factor` for a Q64.64 raw `factor`, truncated in magnitude to working precision.
    /// Magnitudes beyond 64 saturate to 64: that is already far outside `exp`'s finite range,
    /// so the saturated value gives the same `exp` result (0 or `Overflow`).
    pub(super) fn scale(self, factor: i128) -> Self {
        let product = U512::from(self.magnitude) * U512::from(factor.unsigned_abs());
        let cap = U512::from(64u8) << FRAC;
        let magnitude = (product >> Q64_FRAC).min(cap);
        Self {
            negative: self.negative != (factor < 0),
            magnitude: U256::saturating_from(magnitude),
        }
    }

    fn add(self, other: Self) -> Self {
        if self.negative == other.negative {
            return Self {
                negative: self.negative,
                magnitude: self.magnitude.saturating_add(other.magnitude),
            };
        }
        let (larger, smaller) = if self.magnitude >= other.magnitude {
            (self, other)
        } else {
            (other, self)
        };
        Self {
            negative: larger.negative,
            magnitude: larger.magnitude - smaller.magnitude,
        }
    }
}

/// `a · b / 2^192`, truncated. Callers keep the result below 2^256 (all operands here are < 4).
fn mul(a: U256, b: U256) -> U256 {
    let product: U512 = a.widening_mul(b);
    U256::saturating_from(product >> FRAC)
}

/// `a · 2^192 / b`, truncated, for `a < b` (`b` nonzero).
fn div(a: U256, b: U256) -> U256 {
    let quotient = (U512::from(a) << FRAC) / U512::from(b);
    U256::saturating_from(quotient)
}

/// `e^x` as a Q64.64 raw value, truncated; `Overflow` when `e^x ≥ 2^63` (up to the working
/// error right at the boundary).
///
/// Range reduction: `x = k·ln 2 + r` with `r ∈ [0, ln 2)`, so `e^x = 2^k · e^r`, and the shift
/// by `k` is exact. With `|x| < 45`, `k ∈ [-65, 63]`.
pub(super) fn exp(x: Wide) -> Result<i128, FixedError> {
    if !x.negative && x.magnitude >= EXP_OVERFLOW_AT {
        return Err(FixedError::Overflow);
    }
    if x.negative && x.magnitude >= EXP_ZERO_AT {
        return Ok(0);
    }
    // magnitude < 45 · 2^192, so the quotient is at most 64.
    let quotient = x.magnitude / LN2;
    let remainder = x.magnitude - quotient * LN2;
    let quotient: i32 = quotient.saturating_to();
    let (k, r) = if !x.negative {
        (quotient, remainder)
    } else if remainder.is_zero() {
        (-quotient, remainder)
    } else {
        (-quotient - 1, LN2 - remainder)
    };
    if k >= 63 {
        return Err(FixedError::Overflow);
    }
    // e^r ∈ [1, 2) at 192 fraction bits; the Q64.64 result is e^r · 2^k / 2^128.
    // k ∈ [-65, 62], so the shift lies in [66, 193].
    let shift = TO_Q64.saturating_add_signed(-(k as isize));
    let result = exp_reduced(r).wrapping_shr(shift);
    let result = u128::try_from(&result).map_err(|_| FixedError::Overflow)?;
    i128::try_from(result).map_err(|_| FixedError::Overflow)
}

/// `e^r` for `r ∈ [0, ln 2)` in the working format: Horner form of the degree-43 Taylor
/// polynomial, `1 + r(1 + r/2(1 + r/3(…)))`. Error below 2^-185 relative.
fn exp_reduced(r: U256) -> U256 {
    let mut sum = ONE;
    for n in (1..EXP_TERMS).rev() {
        sum = ONE + mul(r, sum) / U256::from(n);
    }
    sum
}

/// `ln x` for a positive Q64.64 raw value, in the working format; absolute error below 2^-185.
///
/// Normalisation: `x = 2^e · m` with `m ∈ [√2/2, √2)`, so `ln x = e·ln 2 + ln m`, and
/// `ln m = 2·atanh(s)` with `s = (m − 1)/(m + 1)`, `|s| ≤ 0.1716`.
pub(super) fn ln(raw: i128) -> Wide {
    let raw = raw.unsigned_abs();
    let top_bit = 127 - raw.leading_zeros(); // ∈ [0, 126] for raw ∈ [1, 2^127)
    // m = raw / 2^top_bit ∈ [1, 2); the shift is ≥ 66, so the low bits are zero and the halving
    // below is exact.
    let mut m = U256::from(raw) << (FRAC - top_bit as usize);
    let mut e = i64::from(top_bit) - 64;
    if m > SQRT2 {
        m >>= 1;
        e += 1;
    }
    let (s_negative, distance) = if m >= ONE {
        (false, m - ONE)
    } else {
        (true, ONE - m)
    };
    let s = div(distance, m + ONE);
    let ln_m = Wide {
        negative: s_negative,
        magnitude: atanh_series(s) << 1,
    };
    let e_ln2 = Wide {
        negative: e < 0,
        magnitude: LN2 * U256::from(e.unsigned_abs()),
    };
    e_ln2.add(ln_m)
}

/// `atanh(s) = s · Σ s^(2i) / (2i + 1)` for `0 ≤ s ≤ 0.1716`, in Horner form over `t = s²`.
fn atanh_series(s: U256) -> U256 {
    let t = mul(s, s);
    let mut sum = U256::ZERO;
    for i in (0..ATANH_TERMS).rev() {
        sum = ONE / U256::from(2 * i + 1) + mul(t, sum);
    }
    mul(s, sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dashu_float::FBig;
    use dashu_int::{IBig, UBig};
    use proptest::prelude::*;

    /// The exact real value of a working-format number, for the 400-bit reference.
    fn real(value: Wide) -> FBig {
        let magnitude = IBig::from(UBig::from_le_bytes(&value.magnitude.to_le_bytes::<32>()));
        let signed = if value.negative {
            -magnitude
        } else {
            magnitude
        };
        FBig::from_parts(signed, -(FRAC as isize))
            .with_precision(400)
            .value()
    }

    fn positive(magnitude: U256) -> Wide {
        Wide {
            negative: false,
            magnitude,
        }
    }

    /// 2^-185: the working accuracy the module documentation's bounds rest on.
    fn tolerance() -> FBig {
        FBig::from_parts(IBig::ONE, -185)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn working_ln_is_within_2_pow_minus_185_of_the_reference(
            raw in (1i128..=i128::MAX, 0u32..127).prop_map(|(raw, shift)| (raw >> shift).max(1))
        ) {
            let computed = real(ln(raw));
            let reference = FBig::from_parts(IBig::from(raw), -64).with_precision(400).value().ln();
            let error = computed - reference;
            prop_assert!(error < tolerance() && -error < tolerance());
        }

        #[test]
        fn working_exp_kernel_is_within_2_pow_minus_185_relative(limbs in any::<[u64; 3]>()) {
            // r uniform in [0, ln 2).
            let r = U256::from_limbs([limbs[0], limbs[1], limbs[2], 0]) % LN2;
            let computed = real(positive(exp_reduced(r)));
            let reference = real(positive(r)).exp();
            let error = (computed - &reference) / reference;
            prop_assert!(error < tolerance() && -error < tolerance());
        }
    }

    #[test]
    fn ln2_constant_agrees_with_a_machin_like_atanh_formula() {
        // ln 2 = 18·atanh(1/26) − 2·atanh(1/4801) + 8·atanh(1/8749): an independent route to
        // the constant through the same series.
        let atanh_inv = |n: u32| atanh_series(ONE / U256::from(n));
        let series = atanh_inv(26) * U256::from(18u8) + atanh_inv(8749) * U256::from(8u8)
            - atanh_inv(4801) * U256::from(2u8);
        let difference = if series > LN2 {
            series - LN2
        } else {
            LN2 - series
        };
        assert!(difference < U256::from(1u8) << 8, "difference {difference}");
    }

    #[test]
    fn sqrt2_threshold_squares_to_two() {
        let square = mul(SQRT2, SQRT2);
        let two = ONE << 1;
        assert!(square <= two && two - square < U256::from(1u8) << 2);
    }

    #[test]
    fn exp_of_reduced_ln2_is_two() {
        let two = exp_reduced(LN2);
        let target = ONE << 1;
        let difference = if two > target {
            two - target
        } else {
            target - two
        };
        assert!(difference < U256::from(1u8) << 8, "difference {difference}");
    }
}
