//! Wrapping 256-bit unsigned integers over 32-byte little-endian words (`keel_u256`).
//!
//! Each function takes its operands as [`Word`]s and returns the result word together with a
//! [`Status`], exactly what the host function writes back to the contract:
//!
//! | op | result | status |
//! |---|---|---|
//! | [`add`], [`sub`], [`mul`], [`exp`] | the true result mod 2^256 | `Overflow` if it wrapped |
//! | [`div`], [`rem`] | floor quotient / remainder | `DivZero` (result 0) if `b == 0` |
//! | [`add_mod`], [`mul_mod`] | `(a + b) mod m` / `(a * b) mod m`, exact | `DivZero` (result 0) if `m == 0` |
//! | [`cmp`] | `-1`, `0`, `1` | — |
//! | [`shl`], [`shr`] | logical shift; `shift >= 256` gives 0 | — |
//!
//! `add_mod` and `mul_mod` never lose bits: the sum is formed in 257 bits and the product in
//! 512 bits before the reduction. Work per call is bounded by the operand width: the most
//! expensive op, [`exp`], does at most 256 squarings and 256 multiplications.
//!
//! # Example
//! ```
//! use keel_intrinsics::{Status, u256};
//!
//! let max = [0xff; 32];
//! let mut one = [0; 32];
//! one[0] = 1;
//! assert_eq!(u256::add(&max, &one), ([0; 32], Status::Overflow));
//! assert_eq!(u256::div(&max, &[0; 32]), ([0; 32], Status::DivZero));
//! ```

use ruint::aliases::U256;

use crate::Status;

/// A 256-bit unsigned integer as 32 little-endian bytes, the layout of `keel_u256`.
pub type Word = [u8; 32];

fn load(word: &Word) -> U256 {
    U256::from_le_bytes(*word)
}

fn store(value: U256) -> Word {
    value.to_le_bytes()
}

fn wrapped(value: U256, overflowed: bool) -> (Word, Status) {
    let status = if overflowed {
        Status::Overflow
    } else {
        Status::Ok
    };
    (store(value), status)
}

fn div_zero() -> (Word, Status) {
    ([0; 32], Status::DivZero)
}

/// `a + b` mod 2^256; `Overflow` when the true sum is at least 2^256.
#[must_use]
pub fn add(a: &Word, b: &Word) -> (Word, Status) {
    let (value, overflowed) = load(a).overflowing_add(load(b));
    wrapped(value, overflowed)
}

/// `a - b` mod 2^256; `Overflow` when `b > a` (the subtraction borrowed).
#[must_use]
pub fn sub(a: &Word, b: &Word) -> (Word, Status) {
    let (value, overflowed) = load(a).overflowing_sub(load(b));
    wrapped(value, overflowed)
}

/// `a * b` mod 2^256; `Overflow` when the true product is at least 2^256.
#[must_use]
pub fn mul(a: &Word, b: &Word) -> (Word, Status) {
    let (value, overflowed) = load(a).overflowing_mul(load(b));
    wrapped(value, overflowed)
}

/// `floor(a / b)`; `b == 0` gives 0 with `DivZero`.
#[must_use]
pub fn div(a: &Word, b: &Word) -> (Word, Status) {
    match load(a).checked_div(load(b)) {
        Some(quotient) => (store(quotient), Status::Ok),
        None => div_zero(),
    }
}

/// `a mod b` (the ABI's `u256_mod`); `b == 0` gives 0 with `DivZero`.
#[must_use]
pub fn rem(a: &Word, b: &Word) -> (Word, Status) {
    match load(a).checked_rem(load(b)) {
        Some(remainder) => (store(remainder), Status::Ok),
        None => div_zero(),
    }
}

/// `(a + b) mod m`, exact (no intermediate wrap); `m == 0` gives 0 with `DivZero`.
#[must_use]
pub fn add_mod(a: &Word, b: &Word, m: &Word) -> (Word, Status) {
    let modulus = load(m);
    if modulus.is_zero() {
        return div_zero();
    }
    (store(load(a).add_mod(load(b), modulus)), Status::Ok)
}

/// `(a * b) mod m`, exact (the 512-bit product is reduced); `m == 0` gives 0 with `DivZero`.
#[must_use]
pub fn mul_mod(a: &Word, b: &Word, m: &Word) -> (Word, Status) {
    let modulus = load(m);
    if modulus.is_zero() {
        return div_zero();
    }
    (store(load(a).mul_mod(load(b), modulus)), Status::Ok)
}

/// `a ^ b` mod 2^256 (with `0 ^ 0 = 1`); `Overflow` when the true power is at least 2^256.
///
/// Square-and-multiply over the 256 bits of `b`: at most 512 multiplications.
#[must_use]
pub fn exp(a: &Word, b: &Word) -> (Word, Status) {
    let (value, overflowed) = load(a).overflowing_pow(load(b));
    wrapped(value, overflowed)
}

/// Compares `a` with `b` as unsigned integers: `-1` if `a < b`, `0` if equal, `1` if `a > b`.
#[must_use]
pub fn cmp(a: &Word, b: &Word) -> i32 {
    match load(a).cmp(&load(b)) {
        core::cmp::Ordering::Less => -1,
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Greater => 1,
    }
}

/// `a << shift` mod 2^256; any `shift >= 256` gives 0.
///
/// The ABI passes the shift as an `i32`; the VM reinterprets it as `u32`, so a negative shift
/// is a huge one and also gives 0.
#[must_use]
pub fn shl(a: &Word, shift: u32) -> Word {
    match usize::try_from(shift) {
        Ok(shift) if shift < 256 => store(load(a) << shift),
        _ => [0; 32],
    }
}

/// `a >> shift` (logical); any `shift >= 256` gives 0.
///
/// The ABI passes the shift as an `i32`; the VM reinterprets it as `u32`, so a negative shift
/// is a huge one and also gives 0.
#[must_use]
pub fn shr(a: &Word, shift: u32) -> Word {
    match usize::try_from(shift) {
        Ok(shift) if shift < 256 => store(load(a) >> shift),
        _ => [0; 32],
    }
}
