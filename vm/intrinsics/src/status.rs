//! The status code shared by all arithmetic intrinsics.

/// Outcome of an arithmetic intrinsic, as returned to the contract (`KEEL_OK`, `KEEL_OVERFLOW`,
/// `KEEL_DIV_ZERO`, `KEEL_DOMAIN` in `keel.h`).
///
/// The numeric values are part of the host ABI and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    /// The result is exact (u256) or within the documented bound (fixed point).
    Ok = 0,
    /// The true result does not fit: u256 results are wrapped, fixed-point results are zero.
    Overflow = 1,
    /// The divisor or modulus was zero; the result is zero.
    DivZero = 2,
    /// The operand is outside the function's domain (e.g. `ln` of a non-positive value); the
    /// result is zero.
    Domain = 3,
}

impl Status {
    /// The ABI code of this status (`0..=3`), as the host function returns it.
    #[must_use]
    pub const fn code(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn status_codes_match_the_c_header() {
        assert_eq!(Status::Ok.code(), 0);
        assert_eq!(Status::Overflow.code(), 1);
        assert_eq!(Status::DivZero.code(), 2);
        assert_eq!(Status::Domain.code(), 3);
    }
}
