//! Integer instructions, concretely (wasm semantics, exactly) and symbolically.

use crate::expr::{self, BinOp, CmpOp, CountKind, E};
use crate::ops::{Num, W};
use keel_vm::WasmTrap;

/// A value: its concrete bits (i32 zero-extended) and, when it depends on the input, its
/// expression.
#[derive(Debug, Clone, Default)]
pub struct Val {
    pub bits: u64,
    pub sym: Option<E>,
}

impl Val {
    pub fn concrete(bits: u64) -> Val {
        Val { bits, sym: None }
    }

    /// The expression of this value at `width` bits (a constant when concrete).
    pub fn expr(&self, width: u32) -> E {
        match &self.sym {
            Some(e) => e.clone(),
            None => expr::konst(width, self.bits),
        }
    }
}

fn sext(bits: u64, from: u32) -> i64 {
    let shift = 64u32.saturating_sub(from);
    ((bits << shift) as i64) >> shift
}

/// `op` on concrete operands; division traps as wasm specifies.
pub fn bin_concrete(w: W, op: BinOp, a: u64, b: u64) -> Result<u64, WasmTrap> {
    let n = w.bits();
    let m = expr::mask(n);
    let (a, b) = (a & m, b & m);
    let (sa, sb) = (sext(a, n), sext(b, n));
    let sh = (b & u64::from(n.saturating_sub(1))) as u32;
    let div0 = || {
        if b == 0 {
            Err(WasmTrap::IntegerDivisionByZero)
        } else {
            Ok(())
        }
    };
    let r = match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::DivU => {
            div0()?;
            a.checked_div(b).unwrap_or(0)
        }
        BinOp::RemU => {
            div0()?;
            a.checked_rem(b).unwrap_or(0)
        }
        BinOp::DivS => {
            div0()?;
            let min = sext(1u64 << (n - 1), n);
            if sa == min && sb == -1 {
                return Err(WasmTrap::IntegerOverflow);
            }
            sa.checked_div(sb).unwrap_or(0) as u64
        }
        BinOp::RemS => {
            div0()?;
            if sb == -1 {
                0
            } else {
                sa.checked_rem(sb).unwrap_or(0) as u64
            }
        }
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a << sh,
        BinOp::ShrU => a >> sh,
        BinOp::ShrS => (sa >> sh) as u64,
        BinOp::Rotl | BinOp::Rotr => {
            let left = if op == BinOp::Rotl { sh } else { (n - sh) % n };
            if left == 0 {
                a
            } else {
                (a << left) | (a >> (n - left))
            }
        }
    };
    Ok(r & m)
}

pub fn cmp_concrete(w: W, op: CmpOp, a: u64, b: u64) -> bool {
    let n = w.bits();
    let m = expr::mask(n);
    let (a, b) = (a & m, b & m);
    let (sa, sb) = (sext(a, n), sext(b, n));
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::LtS => sa < sb,
        CmpOp::LtU => a < b,
        CmpOp::GtS => sa > sb,
        CmpOp::GtU => a > b,
        CmpOp::LeS => sa <= sb,
        CmpOp::LeU => a <= b,
        CmpOp::GeS => sa >= sb,
        CmpOp::GeU => a >= b,
    }
}

fn count_concrete(w: W, kind: CountKind, a: u64) -> u64 {
    let n = w.bits();
    let a = a & expr::mask(n);
    u64::from(match kind {
        CountKind::Popcnt => a.count_ones(),
        CountKind::Clz => a.leading_zeros().saturating_sub(64 - n),
        CountKind::Ctz => a.trailing_zeros().min(n),
    })
}

/// Evaluates a numeric instruction on its operands (one or two, in stack order). Division
/// traps are the caller's to check first (it records them); here they are returned.
pub fn eval(op: Num, args: &[Val]) -> Result<Val, WasmTrap> {
    let a = args.first().cloned().unwrap_or_default();
    let b = args.get(1).cloned().unwrap_or_default();
    let any_sym = a.sym.is_some() || b.sym.is_some();
    Ok(match op {
        Num::Bin(w, o) => {
            let bits = bin_concrete(w, o, a.bits, b.bits)?;
            let sym = any_sym
                .then(|| expr::bin(o, a.expr(w.bits()), b.expr(w.bits())))
                .flatten();
            Val { bits, sym }
        }
        Num::Cmp(w, o) => {
            let bits = u64::from(cmp_concrete(w, o, a.bits, b.bits));
            let sym = any_sym
                .then(|| expr::cmp(o, a.expr(w.bits()), b.expr(w.bits())))
                .flatten()
                .and_then(|c| expr::from_bool(32, c));
            Val { bits, sym }
        }
        Num::Eqz(w) => {
            let bits = u64::from(a.bits & expr::mask(w.bits()) == 0);
            let sym = a
                .sym
                .as_ref()
                .and_then(|s| expr::cmp(CmpOp::Eq, s.clone(), expr::konst(w.bits(), 0)))
                .and_then(|c| expr::from_bool(32, c));
            Val { bits, sym }
        }
        Num::Count(w, k) => Val {
            bits: count_concrete(w, k, a.bits),
            sym: a.sym.and_then(|s| expr::count(k, s)),
        },
        Num::ExtendS(w, from) => {
            let bits = (sext(a.bits, from) as u64) & expr::mask(w.bits());
            let sym = a
                .sym
                .and_then(|s| expr::extract(from - 1, 0, s))
                .and_then(|s| expr::extend(true, w.bits() - from, s));
            Val { bits, sym }
        }
        Num::Wrap => Val {
            bits: a.bits & expr::mask(32),
            sym: a.sym.and_then(|s| expr::extract(31, 0, s)),
        },
        Num::ExtendI32 { signed } => {
            let bits = if signed {
                sext(a.bits, 32) as u64
            } else {
                a.bits & expr::mask(32)
            };
            Val {
                bits,
                sym: a.sym.and_then(|s| expr::extend(signed, 32, s)),
            }
        }
    })
}

/// The conditions under which a division or remainder does not trap, when they depend on the
/// input: `b != 0`, and for signed division also `!(a == MIN && b == -1)`.
pub fn division_guards(w: W, op: BinOp, a: &Val, b: &Val) -> Vec<(E, bool)> {
    let n = w.bits();
    let mut out = Vec::new();
    if !matches!(op, BinOp::DivS | BinOp::DivU | BinOp::RemS | BinOp::RemU) {
        return out;
    }
    if let Some(bs) = &b.sym
        && let Some(c) = expr::cmp(CmpOp::Ne, bs.clone(), expr::konst(n, 0))
    {
        out.push((c, b.bits & expr::mask(n) != 0));
    }
    if op == BinOp::DivS && (a.sym.is_some() || b.sym.is_some()) {
        let min = expr::konst(n, 1u64 << (n - 1));
        let is_min = expr::cmp(CmpOp::Eq, a.expr(n), min);
        let is_m1 = expr::cmp(CmpOp::Eq, b.expr(n), expr::konst(n, u64::MAX));
        if let (Some(x), Some(y)) = (is_min, is_m1) {
            // overflow = x && y; encoded as ite(x, y, false) then negated.
            let f = expr::cmp(CmpOp::Ne, expr::konst(1, 0), expr::konst(1, 0));
            let overflow = f.and_then(|f| expr::ite(x, y, f));
            let held = !(a.bits & expr::mask(n) == 1u64 << (n - 1)
                && b.bits & expr::mask(n) == expr::mask(n));
            if let Some(no_overflow) = overflow.and_then(expr::not) {
                out.push((no_overflow, held));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;
    use crate::solver::PathSolver;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// Operand `k` (0 or 1) of width `w` as input bytes `8k..8k+w/8`, little-endian.
    fn operand(k: u32, w: W, bits: u64) -> Val {
        let n = w.bits() / 8;
        let mut e: Option<E> = None;
        for i in 0..n {
            let byte = Arc::new(Expr::InputByte(8 * k + i));
            e = Some(match e {
                None => byte,
                Some(low) => expr::concat(byte, low).expect("shallow"),
            });
        }
        Val {
            bits: bits & expr::mask(w.bits()),
            sym: e,
        }
    }

    fn ops() -> Vec<Num> {
        use BinOp as B;
        use CmpOp as C;
        let mut v = Vec::new();
        for w in [W::I32, W::I64] {
            for b in [
                B::Add,
                B::Sub,
                B::Mul,
                B::DivS,
                B::DivU,
                B::RemS,
                B::RemU,
                B::And,
                B::Or,
                B::Xor,
                B::Shl,
                B::ShrS,
                B::ShrU,
                B::Rotl,
                B::Rotr,
            ] {
                v.push(Num::Bin(w, b));
            }
            for c in [
                C::Eq,
                C::Ne,
                C::LtS,
                C::LtU,
                C::GtS,
                C::GtU,
                C::LeS,
                C::LeU,
                C::GeS,
                C::GeU,
            ] {
                v.push(Num::Cmp(w, c));
            }
            v.push(Num::Eqz(w));
            for k in [CountKind::Clz, CountKind::Ctz, CountKind::Popcnt] {
                v.push(Num::Count(w, k));
            }
        }
        v.extend([
            Num::ExtendS(W::I32, 8),
            Num::ExtendS(W::I32, 16),
            Num::ExtendS(W::I64, 8),
            Num::ExtendS(W::I64, 16),
            Num::ExtendS(W::I64, 32),
            Num::Wrap,
            Num::ExtendI32 { signed: true },
            Num::ExtendI32 { signed: false },
        ]);
        v
    }

    fn width_in(op: Num) -> W {
        match op {
            Num::Bin(w, _)
            | Num::Cmp(w, _)
            | Num::Eqz(w)
            | Num::Count(w, _)
            | Num::ExtendS(w, _) => w,
            Num::Wrap => W::I64,
            Num::ExtendI32 { .. } => W::I32,
        }
    }

    /// Interesting operands: edges of both widths, and anything.
    fn word() -> impl Strategy<Value = u64> {
        prop_oneof![
            prop::sample::select(vec![
                0u64,
                1,
                2,
                31,
                32,
                63,
                64,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                i64::MAX as u64,
                1 << 63,
                u64::MAX,
            ]),
            any::<u64>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The expression built for an instruction, evaluated by z3 on the operands' bytes,
        /// equals the concrete result: the solver sees exactly wasm's semantics.
        #[test]
        fn symbolic_results_equal_concrete_results(
            pick in any::<prop::sample::Index>(),
            a in word(),
            b in word(),
        ) {
            let all = ops();
            let op = *pick.get(&all);
            let w = width_in(op);
            let args = [operand(0, w, a), operand(1, w, b)];
            let Ok(v) = eval(op, &args) else { return Ok(()); };
            let mut input = a.to_le_bytes().to_vec();
            input.extend(b.to_le_bytes());
            let ctx = z3::Context::new(&z3::Config::new());
            let mut s = PathSolver::new(&ctx, 64, 5000);
            let sym = v.sym.expect("symbolic operands give a symbolic result");
            prop_assert_eq!(s.value_of(&sym, &input), Some(v.bits), "{:?} {:#x} {:#x}", op, a, b);
        }
    }

    #[test]
    fn division_traps_as_wasm_specifies() {
        let div = |w, op, a, b| bin_concrete(w, op, a, b);
        assert_eq!(
            div(W::I32, BinOp::DivU, 1, 0),
            Err(WasmTrap::IntegerDivisionByZero)
        );
        assert_eq!(
            div(W::I32, BinOp::RemS, 1, 0),
            Err(WasmTrap::IntegerDivisionByZero)
        );
        assert_eq!(
            div(W::I32, BinOp::DivS, 0x8000_0000, 0xffff_ffff),
            Err(WasmTrap::IntegerOverflow)
        );
        assert_eq!(div(W::I32, BinOp::RemS, 0x8000_0000, 0xffff_ffff), Ok(0));
        assert_eq!(
            div(W::I64, BinOp::DivS, 1 << 63, u64::MAX),
            Err(WasmTrap::IntegerOverflow)
        );
        assert_eq!(div(W::I32, BinOp::DivS, 0xffff_fff9, 2), Ok(0xffff_fffd));
        assert_eq!(div(W::I32, BinOp::Rotl, 0x8000_0001, 33), Ok(3));
        assert_eq!(div(W::I64, BinOp::Shl, 1, 65), Ok(2));
    }

    #[test]
    fn division_guards_cover_zero_and_overflow() {
        let a = operand(0, W::I32, 0x8000_0000);
        let b = operand(1, W::I32, 0xffff_ffff);
        let g = division_guards(W::I32, BinOp::DivS, &a, &b);
        assert_eq!(g.len(), 2);
        assert!(g[0].1, "b != 0 held");
        assert!(!g[1].1, "no-overflow did not hold");
        assert!(division_guards(W::I32, BinOp::Add, &a, &b).is_empty());
    }
}
