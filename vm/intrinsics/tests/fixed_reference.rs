//! Every Q64.64 operation against an independent reference: exact `num-bigint` arithmetic for
//! `mul`, `div` and `sqrt`, and correctly rounded 400-bit `dashu-float` values for `exp`, `ln`
//! and `pow`, checking the rounding direction and the error bounds documented in
//! `keel_intrinsics::fixed`.

use dashu_float::FBig;
use dashu_int::IBig;
use keel_intrinsics::fixed::{FixedError, Q64x64};
use num_bigint::BigInt;
use proptest::prelude::*;

/// Binary working precision of the reference: far beyond the 192 bits of the implementation.
const PRECISION: usize = 400;
/// Extra fraction bits kept when the reference is compared with a result (units of 2^-144).
const EXTRA: usize = 80;

fn q(raw: i128) -> Q64x64 {
    Q64x64::from_bits(raw)
}

// ---- exact reference for mul, div, sqrt ----

/// `value` as a Q64.64 result, or `Overflow` when it does not fit.
fn exact(value: BigInt) -> Result<Q64x64, FixedError> {
    i128::try_from(value)
        .map(q)
        .map_err(|_| FixedError::Overflow)
}

fn any_fixed() -> impl Strategy<Value = i128> {
    // Shifting right by a random amount spreads the magnitudes over all 128 bit lengths, so
    // both in-range and overflowing products and quotients are common.
    prop_oneof![
        (any::<i128>(), 0u32..128).prop_map(|(raw, shift)| raw >> shift),
        Just(i128::MIN),
        Just(i128::MAX),
        -2i128..=2,
    ]
}

// ---- high-precision reference for exp, ln, pow ----

fn real(raw: i128) -> FBig {
    FBig::from_parts(IBig::from(raw), -64)
        .with_precision(PRECISION)
        .value()
}

fn pow2(exponent: isize) -> FBig {
    FBig::from_parts(IBig::ONE, exponent)
}

/// `floor(v · 2^(64 + EXTRA))`: the reference in units of 2^-EXTRA ulp.
fn scaled(v: &FBig) -> IBig {
    (v * pow2(64 + EXTRA as isize)).floor().to_int().value()
}

/// Checks that `raw` is `v` truncated toward zero up to `slack` (in the units of [`scaled`]):
/// `|raw| ≤ |v| + slack` and `|raw| > |v| − 1 ulp − slack`, with matching signs.
fn assert_truncated(raw: i128, v: &FBig, slack: &IBig) -> Result<(), TestCaseError> {
    let reference = scaled(v);
    let got = IBig::from(raw) << EXTRA;
    let ulp = IBig::ONE << EXTRA;
    let (got, reference) = if reference < IBig::ZERO {
        (-got, -reference)
    } else {
        (got, reference)
    };
    prop_assert!(
        got <= &reference + slack,
        "result {raw} lies away from zero of the reference {v}"
    );
    prop_assert!(
        got > &reference - &ulp - slack,
        "result {raw} is more than the bound below the reference {v}"
    );
    Ok(())
}

/// `2^-50` ulp: the working error allowance of `exp` and `ln`.
fn faithful_slack() -> IBig {
    IBig::ONE << (EXTRA - 50)
}

/// Checks an `exp`-like result against `e^y`: overflow exactly when `e^y ≥ 2^63` (up to the
/// relative error at the boundary: `2^-relative_bits`, or `2^-180` for `exp`'s working
/// precision), and otherwise the truncation bound plus `2^-relative_bits · v` (if given).
fn assert_exp_result(
    result: Result<Q64x64, FixedError>,
    y: &FBig,
    relative_bits: Option<usize>,
) -> Result<(), TestCaseError> {
    if *y >= real(44 << 64) {
        prop_assert_eq!(result, Err(FixedError::Overflow));
        return Ok(());
    }
    if *y <= real(-46 << 64) {
        prop_assert_eq!(result, Ok(Q64x64::ZERO));
        return Ok(());
    }
    let v = y.exp();
    let limit = pow2(63);
    match result {
        Err(FixedError::Overflow) => {
            let margin = relative_bits.unwrap_or(180) as isize;
            prop_assert!(
                v >= &limit - pow2(63 - margin),
                "spurious overflow for e^{y}"
            )
        }
        Ok(value) => {
            prop_assert!(v < limit, "e^{y} should overflow");
            let mut slack = faithful_slack();
            if let Some(bits) = relative_bits {
                slack += scaled(&v) >> bits;
            }
            assert_truncated(value.to_bits(), &v, &slack)?;
        }
        Err(other) => prop_assert!(false, "unexpected {other:?} for e^{y}"),
    }
    Ok(())
}

fn exp_input() -> impl Strategy<Value = i128> {
    prop_oneof![
        4 => (-47i128 << 64)..(45i128 << 64),
        1 => (-1i128 << 64)..(1i128 << 64),
        1 => any::<i128>(),
        // Around the overflow threshold 63·ln2.
        1 => (805_537_444_647_767_306_566i128 - (1 << 40))..(805_537_444_647_767_306_566i128 + (1 << 40)),
    ]
}

fn positive_fixed() -> impl Strategy<Value = i128> {
    prop_oneof![
        (1i128..=i128::MAX, 0u32..127).prop_map(|(raw, shift)| (raw >> shift).max(1)),
        // Near 1, where ln is small and the atanh argument changes sign.
        ((1i128 << 64) - (1 << 40))..((1i128 << 64) + (1 << 40)),
        Just(1),
        Just(i128::MAX),
    ]
}

/// A base and an exponent whose power mostly lands inside the representable range: the
/// exponent is chosen (with f64, only to pick inputs) so that `b·ln a` is roughly a target.
fn pow_inputs() -> impl Strategy<Value = (i128, i128)> {
    prop_oneof![
        4 => (positive_fixed(), -46.0f64..45.0).prop_map(|(a, target)| {
            let ln_a = (a as f64 / 2f64.powi(64)).ln();
            let b = if ln_a == 0.0 { target } else { target / ln_a };
            (a, (b * 2f64.powi(64)) as i128)
        }),
        1 => (positive_fixed(), any_fixed()),
        1 => (any_fixed(), any_fixed()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn mul_is_the_exact_product_truncated_toward_zero(a in any_fixed(), b in any_fixed()) {
        // BigInt division truncates toward zero.
        let expected = exact(BigInt::from(a) * BigInt::from(b) / (BigInt::from(1) << 64));
        prop_assert_eq!(q(a).mul(q(b)), expected);
    }

    #[test]
    fn div_is_the_exact_quotient_truncated_toward_zero(a in any_fixed(), b in any_fixed()) {
        let expected = if b == 0 {
            Err(FixedError::DivZero)
        } else {
            exact((BigInt::from(a) << 64) / BigInt::from(b))
        };
        prop_assert_eq!(q(a).div(q(b)), expected);
    }

    #[test]
    fn sqrt_is_the_exact_root_truncated(a in any_fixed()) {
        match q(a).sqrt() {
            Ok(root) => {
                prop_assert!(a >= 0);
                let n = BigInt::from(a) << 64;
                let r = BigInt::from(root.to_bits());
                prop_assert!(&r * &r <= n && (&r + 1) * (&r + 1) > n);
            }
            Err(error) => {
                prop_assert!(a < 0);
                prop_assert_eq!(error, FixedError::Domain);
            }
        }
    }

    #[test]
    fn exp_is_within_one_ulp_and_overflows_only_past_2_pow_63(x in exp_input()) {
        assert_exp_result(q(x).exp(), &real(x), None)?;
    }

    #[test]
    fn ln_is_within_one_ulp_and_truncated_toward_zero(x in prop_oneof![positive_fixed(), any_fixed()]) {
        match q(x).ln() {
            Ok(value) => {
                prop_assert!(x > 0);
                assert_truncated(value.to_bits(), &real(x).ln(), &faithful_slack())?;
            }
            Err(error) => {
                prop_assert!(x <= 0);
                prop_assert_eq!(error, FixedError::Domain);
            }
        }
    }

    #[test]
    fn pow_is_within_the_relative_bound_of_the_true_power((a, b) in pow_inputs()) {
        let result = q(a).pow(q(b));
        match (a, b) {
            (_, 0) => prop_assert_eq!(result, Ok(Q64x64::ONE)),
            (..0, _) => prop_assert_eq!(result, Err(FixedError::Domain)),
            (0, 1..) => prop_assert_eq!(result, Ok(Q64x64::ZERO)),
            (0, _) => prop_assert_eq!(result, Err(FixedError::DivZero)),
            _ => {
                let y = real(b) * real(a).ln();
                assert_exp_result(result, &y, Some(120))?;
            }
        }
    }
}

#[test]
fn known_constants_agree_with_the_reference() {
    // e, ln 2, ln 10 and √2, each truncated to 64 fraction bits by the reference itself.
    let truncate = |v: FBig| -> Result<Q64x64, FixedError> {
        let raw = (v * pow2(64)).floor().to_int().value();
        i128::try_from(raw).map(q).map_err(|_| FixedError::Overflow)
    };
    assert_eq!(Q64x64::ONE.exp(), truncate(real(1 << 64).exp()));
    assert_eq!(Q64x64::from_int(2).ln(), truncate(real(2 << 64).ln()));
    assert_eq!(Q64x64::from_int(10).ln(), truncate(real(10 << 64).ln()));
    assert_eq!(Q64x64::from_int(2).sqrt(), truncate(real(2 << 64).sqrt()));
}
