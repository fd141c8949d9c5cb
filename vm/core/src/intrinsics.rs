//! Bindings from ABI function ids to the pure arithmetic in `keel-intrinsics`.
//!
//! Each binding has the operand/result shape that [`crate::host::HostState::intrinsic`]
//! expects; on an error status the result is zero, as `keel.h` documents.

use crate::abi::HostFn;
use keel_intrinsics::fixed::{FixedError, Q64x64};
use keel_intrinsics::u256;

type Word = [u8; 32];
type Fx = [u8; 16];

fn code((r, s): (Word, keel_intrinsics::Status)) -> (Word, i32) {
    (r, s.code())
}

/// The two-operand u256 operation for `f` (add, sub, mul, div, mod, exp).
pub fn u256_binary(f: HostFn) -> fn([Word; 2]) -> (Word, i32) {
    match f {
        HostFn::U256Add => |[a, b]| code(u256::add(&a, &b)),
        HostFn::U256Sub => |[a, b]| code(u256::sub(&a, &b)),
        HostFn::U256Mul => |[a, b]| code(u256::mul(&a, &b)),
        HostFn::U256Div => |[a, b]| code(u256::div(&a, &b)),
        HostFn::U256Mod => |[a, b]| code(u256::rem(&a, &b)),
        _ => |[a, b]| code(u256::exp(&a, &b)),
    }
}

/// The three-operand u256 operation for `f` (addmod, mulmod).
pub fn u256_ternary(f: HostFn) -> fn([Word; 3]) -> (Word, i32) {
    match f {
        HostFn::U256AddMod => |[a, b, m]| code(u256::add_mod(&a, &b, &m)),
        _ => |[a, b, m]| code(u256::mul_mod(&a, &b, &m)),
    }
}

pub fn u256_cmp(a: &Word, b: &Word) -> i32 {
    u256::cmp(a, b)
}

pub fn u256_shl(a: &Word, shift: u32) -> Word {
    u256::shl(a, shift)
}

pub fn u256_shr(a: &Word, shift: u32) -> Word {
    u256::shr(a, shift)
}

fn fx_result(r: Result<Q64x64, FixedError>) -> (Fx, i32) {
    match r {
        Ok(v) => (v.to_le_bytes(), 0),
        Err(e) => ([0u8; 16], e.status().code()),
    }
}

/// The two-operand Q64.64 operation for `f` (mul, div, pow).
pub fn fx_binary(f: HostFn) -> fn([Fx; 2]) -> (Fx, i32) {
    match f {
        HostFn::FxMul => |[a, b]| fx_result(Q64x64::from_le_bytes(a).mul(Q64x64::from_le_bytes(b))),
        HostFn::FxDiv => |[a, b]| fx_result(Q64x64::from_le_bytes(a).div(Q64x64::from_le_bytes(b))),
        _ => |[a, b]| fx_result(Q64x64::from_le_bytes(a).pow(Q64x64::from_le_bytes(b))),
    }
}

/// The one-operand Q64.64 operation for `f` (sqrt, exp, ln).
pub fn fx_unary(f: HostFn) -> fn([Fx; 1]) -> (Fx, i32) {
    match f {
        HostFn::FxSqrt => |[a]| fx_result(Q64x64::from_le_bytes(a).sqrt()),
        HostFn::FxExp => |[a]| fx_result(Q64x64::from_le_bytes(a).exp()),
        _ => |[a]| fx_result(Q64x64::from_le_bytes(a).ln()),
    }
}
