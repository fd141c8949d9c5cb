//! Every u256 intrinsic against `num-bigint` arbitrary-precision arithmetic (independent of
//! `ruint`), on random words biased toward the carry, borrow and overflow boundaries.

use keel_intrinsics::Status;
use keel_intrinsics::u256::{self, Word};
use num_bigint::BigUint;
use num_integer::Integer;
use proptest::prelude::*;

fn big(word: &Word) -> BigUint {
    BigUint::from_bytes_le(word)
}

fn modulus() -> BigUint {
    BigUint::from(1u8) << 256u32
}

fn word(value: &BigUint) -> Word {
    let bytes = (value % modulus()).to_bytes_le();
    let mut word = [0u8; 32];
    word[..bytes.len()].copy_from_slice(&bytes);
    word
}

/// The result word and whether the true value needed wrapping, as the intrinsics report it.
fn wrapping(value: &BigUint) -> (Word, Status) {
    let status = if *value >= modulus() {
        Status::Overflow
    } else {
        Status::Ok
    };
    (word(value), status)
}

/// Words of every length from 0 to 32 significant bytes, plus the all-ones word, so that
/// small operands, equal-length operands and near-maximal ones all appear often.
fn any_word() -> impl Strategy<Value = Word> {
    prop_oneof![
        any::<[u8; 32]>(),
        (any::<[u8; 32]>(), 0usize..=32).prop_map(|(mut bytes, len)| {
            bytes[len..].fill(0);
            bytes
        }),
        (any::<[u8; 32]>(), 0usize..=32).prop_map(|(mut bytes, len)| {
            bytes[len..].fill(0xff);
            bytes
        }),
        Just([0xff; 32]),
        Just([0; 32]),
        (0u8..=3).prop_map(|v| {
            let mut bytes = [0u8; 32];
            bytes[0] = v;
            bytes
        }),
    ]
}

/// Exponents small enough that overflow is not a foregone conclusion, and arbitrary ones.
fn any_exponent() -> impl Strategy<Value = Word> {
    prop_oneof![
        (0u16..300).prop_map(|e| word(&BigUint::from(e))),
        any_word(),
    ]
}

fn reference_exp(a: &BigUint, b: &BigUint) -> (Word, Status) {
    let one = BigUint::from(1u8);
    let power = a.modpow(b, &modulus());
    // a^b >= 2^256 exactly when a >= 2 and b is large enough; beyond b = 256 it always is.
    let overflow = if *a <= one || b.bits() == 0 {
        false
    } else if *b >= BigUint::from(256u16) {
        true
    } else {
        // b < 256 here, so the exact power has at most 256·256 bits.
        u32::try_from(b).is_ok_and(|exponent| a.pow(exponent) >= modulus())
    };
    let status = if overflow {
        Status::Overflow
    } else {
        Status::Ok
    };
    (word(&power), status)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn add_matches_bignum(a in any_word(), b in any_word()) {
        prop_assert_eq!(u256::add(&a, &b), wrapping(&(big(&a) + big(&b))));
    }

    #[test]
    fn sub_matches_bignum(a in any_word(), b in any_word()) {
        let expected = if big(&a) >= big(&b) {
            (word(&(big(&a) - big(&b))), Status::Ok)
        } else {
            (word(&(modulus() + big(&a) - big(&b))), Status::Overflow)
        };
        prop_assert_eq!(u256::sub(&a, &b), expected);
    }

    #[test]
    fn mul_matches_bignum(a in any_word(), b in any_word()) {
        prop_assert_eq!(u256::mul(&a, &b), wrapping(&(big(&a) * big(&b))));
    }

    #[test]
    fn div_and_rem_match_bignum(a in any_word(), b in any_word()) {
        let (quotient, remainder) = if big(&b) == BigUint::ZERO {
            (([0; 32], Status::DivZero), ([0; 32], Status::DivZero))
        } else {
            let (q, r) = big(&a).div_rem(&big(&b));
            ((word(&q), Status::Ok), (word(&r), Status::Ok))
        };
        prop_assert_eq!(u256::div(&a, &b), quotient);
        prop_assert_eq!(u256::rem(&a, &b), remainder);
    }

    #[test]
    fn add_mod_and_mul_mod_match_bignum(a in any_word(), b in any_word(), m in any_word()) {
        let m_big = big(&m);
        let (sum, product) = if m_big == BigUint::ZERO {
            (([0; 32], Status::DivZero), ([0; 32], Status::DivZero))
        } else {
            (
                (word(&((big(&a) + big(&b)) % &m_big)), Status::Ok),
                (word(&((big(&a) * big(&b)) % &m_big)), Status::Ok),
            )
        };
        prop_assert_eq!(u256::add_mod(&a, &b, &m), sum);
        prop_assert_eq!(u256::mul_mod(&a, &b, &m), product);
    }

    #[test]
    fn exp_matches_bignum(a in any_word(), b in any_exponent()) {
        prop_assert_eq!(u256::exp(&a, &b), reference_exp(&big(&a), &big(&b)));
    }

    #[test]
    fn cmp_matches_bignum(a in any_word(), b in any_word()) {
        let expected = match big(&a).cmp(&big(&b)) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        };
        prop_assert_eq!(u256::cmp(&a, &b), expected);
        prop_assert_eq!(u256::cmp(&a, &a), 0);
    }

    #[test]
    fn shifts_match_bignum(a in any_word(), shift in prop_oneof![0u32..=300, any::<u32>()]) {
        let (left, right) = if shift >= 256 {
            ([0; 32], [0; 32])
        } else {
            (word(&(big(&a) << shift)), word(&(big(&a) >> shift)))
        };
        prop_assert_eq!(u256::shl(&a, shift), left);
        prop_assert_eq!(u256::shr(&a, shift), right);
    }
}

#[test]
fn mul_mod_keeps_the_full_512_bit_product() {
    let max = [0xff; 32];
    let mut m = [0xff; 32];
    m[0] = 0xfe; // 2^256 - 2
    // (2^256 - 1)^2 mod (2^256 - 2) = 1.
    let mut one = [0; 32];
    one[0] = 1;
    assert_eq!(u256::mul_mod(&max, &max, &m), (one, Status::Ok));
    // (2^256 - 1) + (2^256 - 1) mod (2^256 - 2) = 2.
    let mut two = [0; 32];
    two[0] = 2;
    assert_eq!(u256::add_mod(&max, &max, &m), (two, Status::Ok));
}

#[test]
fn zero_divisors_and_moduli_give_zero_with_div_zero() {
    let seven = word(&BigUint::from(7u8));
    let zero = [0; 32];
    assert_eq!(u256::div(&seven, &zero), (zero, Status::DivZero));
    assert_eq!(u256::rem(&seven, &zero), (zero, Status::DivZero));
    assert_eq!(
        u256::add_mod(&seven, &seven, &zero),
        (zero, Status::DivZero)
    );
    assert_eq!(
        u256::mul_mod(&seven, &seven, &zero),
        (zero, Status::DivZero)
    );
}

#[test]
fn exp_edge_cases_follow_the_usual_conventions() {
    let zero = [0; 32];
    let one = word(&BigUint::from(1u8));
    let two = word(&BigUint::from(2u8));
    assert_eq!(u256::exp(&zero, &zero), (one, Status::Ok));
    assert_eq!(u256::exp(&zero, &[0xff; 32]), (zero, Status::Ok));
    assert_eq!(u256::exp(&one, &[0xff; 32]), (one, Status::Ok));
    let top = word(&(BigUint::from(1u8) << 255u32));
    assert_eq!(
        u256::exp(&two, &word(&BigUint::from(255u8))),
        (top, Status::Ok)
    );
    assert_eq!(
        u256::exp(&two, &word(&BigUint::from(256u16))),
        (zero, Status::Overflow)
    );
}

#[test]
fn shifting_by_255_keeps_one_bit_and_by_256_clears_everything() {
    let max = [0xff; 32];
    let top = word(&(BigUint::from(1u8) << 255u32));
    let one = word(&BigUint::from(1u8));
    assert_eq!(u256::shl(&max, 255), top);
    assert_eq!(u256::shr(&max, 255), one);
    assert_eq!(u256::shl(&max, 256), [0; 32]);
    assert_eq!(u256::shr(&max, u32::MAX), [0; 32]);
}
