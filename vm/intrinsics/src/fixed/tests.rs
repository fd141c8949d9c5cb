//! Known values and edge cases; the randomized comparisons against an independent
//! high-precision reference live in `tests/fixed_reference.rs`.

use super::*;

const ULP: i128 = 1;

fn q(raw: i128) -> Q64x64 {
    Q64x64::from_bits(raw)
}

fn int(n: i64) -> Q64x64 {
    Q64x64::from_int(n)
}

#[test]
fn wire_bytes_are_little_endian_twos_complement() {
    let minus_one = int(-1);
    let mut expected = [0xff_u8; 16];
    expected[..8].fill(0);
    assert_eq!(minus_one.to_le_bytes(), expected);
    assert_eq!(Q64x64::from_le_bytes(expected), minus_one);
    assert_eq!(Q64x64::ONE.to_le_bytes()[8], 1);
    for value in [Q64x64::MIN, Q64x64::MAX, Q64x64::ZERO, q(12_345)] {
        assert_eq!(Q64x64::from_le_bytes(value.to_le_bytes()), value);
    }
}

#[test]
fn from_int_covers_the_whole_i64_range() {
    assert_eq!(int(i64::MIN), Q64x64::MIN);
    assert_eq!(int(i64::MAX).to_bits(), i128::from(i64::MAX) << 64);
    assert_eq!(int(0), Q64x64::ZERO);
}

#[test]
fn errors_map_to_the_abi_status_codes() {
    assert_eq!(FixedError::Overflow.status(), Status::Overflow);
    assert_eq!(FixedError::DivZero.status(), Status::DivZero);
    assert_eq!(FixedError::Domain.status(), Status::Domain);
}

#[test]
fn mul_truncates_toward_zero_on_both_signs() {
    // 1 ulp * 0.5 = 0.5 ulp → 0 either sign.
    let half = q(1 << 63);
    assert_eq!(q(ULP).mul(half), Ok(Q64x64::ZERO));
    assert_eq!(q(-ULP).mul(half), Ok(Q64x64::ZERO));
    // 3 ulp * 0.5 = 1.5 ulp → ±1 ulp.
    assert_eq!(q(3).mul(half), Ok(q(1)));
    assert_eq!(q(-3).mul(half), Ok(q(-1)));
    assert_eq!(int(-3).mul(int(7)), Ok(int(-21)));
}

#[test]
fn mul_reaches_min_but_overflows_past_max() {
    assert_eq!(Q64x64::MIN.mul(Q64x64::ONE), Ok(Q64x64::MIN));
    assert_eq!(int(1 << 62).mul(int(-2)), Ok(Q64x64::MIN));
    assert_eq!(int(1 << 62).mul(int(2)), Err(FixedError::Overflow));
    assert_eq!(Q64x64::MIN.mul(int(-1)), Err(FixedError::Overflow));
    assert_eq!(Q64x64::MAX.mul(Q64x64::ONE), Ok(Q64x64::MAX));
    assert_eq!(Q64x64::MIN.mul(Q64x64::MIN), Err(FixedError::Overflow));
}

#[test]
fn div_by_zero_is_reported_and_min_over_minus_one_overflows() {
    assert_eq!(Q64x64::ONE.div(Q64x64::ZERO), Err(FixedError::DivZero));
    assert_eq!(Q64x64::ZERO.div(Q64x64::ZERO), Err(FixedError::DivZero));
    assert_eq!(Q64x64::MIN.div(int(-1)), Err(FixedError::Overflow));
    assert_eq!(Q64x64::MIN.div(Q64x64::ONE), Ok(Q64x64::MIN));
    assert_eq!(int(1).div(q(1)), Err(FixedError::Overflow));
}

#[test]
fn div_truncates_toward_zero() {
    assert_eq!(int(1).div(int(3)), Ok(q(0x5555_5555_5555_5555)));
    assert_eq!(int(-1).div(int(3)), Ok(q(-0x5555_5555_5555_5555)));
    assert_eq!(int(7).div(int(-2)), Ok(q(-(7 << 63))));
}

#[test]
fn sqrt_matches_known_values_and_rejects_negatives() {
    assert_eq!(Q64x64::ZERO.sqrt(), Ok(Q64x64::ZERO));
    assert_eq!(Q64x64::ONE.sqrt(), Ok(Q64x64::ONE));
    assert_eq!(int(4).sqrt(), Ok(int(2)));
    // √2 · 2^64 = 0x1_6A09_E667_F3BC_C908.B2…, truncated.
    assert_eq!(int(2).sqrt(), Ok(q(0x1_6A09_E667_F3BC_C908)));
    // √(2^-64) = 2^-32.
    assert_eq!(q(1).sqrt(), Ok(q(1 << 32)));
    assert_eq!(int(1 << 62).sqrt(), Ok(int(1 << 31)));
    assert!(Q64x64::MAX.sqrt().is_ok());
    assert_eq!(q(-1).sqrt(), Err(FixedError::Domain));
    assert_eq!(Q64x64::MIN.sqrt(), Err(FixedError::Domain));
}

#[test]
fn exp_matches_known_values() {
    assert_eq!(Q64x64::ZERO.exp(), Ok(Q64x64::ONE));
    // e · 2^64 = 0x2_B7E1_5162_8AED_2A6A.BF…
    assert_eq!(Q64x64::ONE.exp(), Ok(q(0x2_B7E1_5162_8AED_2A6A)));
    // e^ln2 with ln 2 truncated to 64 bits lies just below 2.
    let ln2 = q(0xB172_17F7_D1CF_79AB);
    let two = ln2.exp().map(Q64x64::to_bits);
    assert!(matches!(two, Ok(raw) if (2 << 64) - raw <= 2), "{two:?}");
}

#[test]
fn exp_overflows_exactly_at_63_ln2() {
    // floor(63·ln2·2^64); the true threshold lies 0.68 ulp above it.
    let below = q(805_537_444_647_767_306_566);
    let result = below.exp().map(Q64x64::to_bits);
    assert!(
        matches!(result, Ok(raw) if raw > i128::MAX - (1 << 63)),
        "{result:?}"
    );
    assert_eq!(
        q(805_537_444_647_767_306_567).exp(),
        Err(FixedError::Overflow)
    );
    assert_eq!(Q64x64::MAX.exp(), Err(FixedError::Overflow));
}

#[test]
fn exp_underflows_to_zero_for_very_negative_inputs() {
    assert_eq!(Q64x64::MIN.exp(), Ok(Q64x64::ZERO));
    assert_eq!(int(-45).exp(), Ok(Q64x64::ZERO));
    // e^-44 ≈ 7.8e-20 ≈ 1.4 ulp.
    assert_eq!(int(-44).exp(), Ok(q(1)));
}

#[test]
fn ln_matches_known_values() {
    assert_eq!(Q64x64::ONE.ln(), Ok(Q64x64::ZERO));
    assert_eq!(int(2).ln(), Ok(q(0xB172_17F7_D1CF_79AB)));
    assert_eq!(int(10).ln(), Ok(q(0x2_4D76_3776_AAA2_B05B)));
    // ln(2^-64) = -64·ln2, truncated toward zero.
    assert_eq!(q(1).ln(), Ok(q(-(64 * 0xB172_17F7_D1CF_79AB + 50))));
}

#[test]
fn ln_rejects_zero_and_negatives() {
    assert_eq!(Q64x64::ZERO.ln(), Err(FixedError::Domain));
    assert_eq!(q(-1).ln(), Err(FixedError::Domain));
    assert_eq!(Q64x64::MIN.ln(), Err(FixedError::Domain));
}

#[test]
fn ln_of_max_is_just_below_63_ln2() {
    let result = Q64x64::MAX.ln().map(Q64x64::to_bits);
    assert_eq!(result, Ok(805_537_444_647_767_306_566));
}

#[test]
fn pow_handles_zero_exponents_and_zero_bases() {
    for base in [Q64x64::ZERO, Q64x64::ONE, int(-5), Q64x64::MIN, Q64x64::MAX] {
        assert_eq!(base.pow(Q64x64::ZERO), Ok(Q64x64::ONE));
    }
    assert_eq!(Q64x64::ZERO.pow(q(1)), Ok(Q64x64::ZERO));
    assert_eq!(Q64x64::ZERO.pow(Q64x64::MAX), Ok(Q64x64::ZERO));
    assert_eq!(Q64x64::ZERO.pow(int(-1)), Err(FixedError::DivZero));
    assert_eq!(int(-2).pow(int(2)), Err(FixedError::Domain));
}

#[test]
fn pow_matches_known_values() {
    let close = |result: Result<Q64x64, FixedError>, expected: i128, ulps: i128| matches!(result, Ok(value) if (value.to_bits() - expected).abs() <= ulps);
    assert!(close(int(2).pow(int(10)), 1024 << 64, 1));
    assert!(close(int(4).pow(q(1 << 63)), 2 << 64, 1));
    assert!(close(int(2).pow(int(-1)), 1 << 63, 1));
    assert_eq!(Q64x64::ONE.pow(Q64x64::MAX), Ok(Q64x64::ONE));
    assert_eq!(int(2).pow(int(63)), Err(FixedError::Overflow));
    assert_eq!(int(2).pow(int(-65)), Ok(Q64x64::ZERO));
    assert_eq!(int(2).pow(Q64x64::MAX), Err(FixedError::Overflow));
    assert_eq!(int(2).pow(Q64x64::MIN), Ok(Q64x64::ZERO));
}
