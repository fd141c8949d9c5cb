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
            if sb == -1 { 0 } else { sa.checked_rem(sb).unwrap_or(0) as u64 }
        }
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a << sh,
        BinOp::ShrU => a >> sh,
        BinOp::ShrS => (sa >> sh) as u64,
        BinOp::Rotl | BinOp::Rotr => {
            let left = if op == BinOp::Rotl { sh } else { (n - sh) % n };
            if left == 0 { a } else { (a << left) | (a >> (n - left)) }
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
            let held = !(a.bits & expr::mask(n) == 1u64 << (n - 1) && b.bits & expr::mask(n) == expr::mask(n));
            if let Some(no_overflow) = overflow.and_then(expr::not) {
                out.push((no_overflow, held));
            }
        }
    }
    out
}
