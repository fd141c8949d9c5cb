//! Abstract ALU operations and branch refinement over [`Value`]s (trusted).
//!
//! Each operation returns a sound over-approximation; when no precise rule applies the result
//! is "any word" (a pointer is a word too, so that is always sound).

use crate::domain::{Aff, Env, Iv, Kind, Rel, Value, WORD, show};
use crate::property::{Property, Violation};

/// Pointer offsets beyond this magnitude make the pointer useless; it becomes "any word".
const PTR_LIMIT: i128 = 1 << 40;

fn scalar(iv: Option<Iv>, env: &Env) -> Value {
    match iv {
        Some(iv) if !iv.is_top(env) => Value::scalar(iv),
        _ => Value::top(),
    }
}

fn add_iv(a: &Iv, b: &Iv) -> Option<Iv> {
    Some(Iv::new(
        a.lo.plus(b.lo)?,
        a.hi.plus(b.hi)?,
        crate::domain::pow2_gcd(a.m, b.m),
    ))
}

fn sub_iv(a: &Iv, b: &Iv) -> Option<Iv> {
    // The new lower bound is `a.lo - b.hi`: congruent to the values only if `b` is one value.
    Some(Iv::new(
        a.lo.minus(b.hi)?,
        a.hi.minus(b.lo)?,
        if b.m == 0 { a.m } else { 1 },
    ))
}

/// Interval with constant bounds covering `iv` over all admitted lengths.
fn flat(iv: &Iv, env: &Env) -> (i128, i128) {
    (env.min(iv.lo), env.max(iv.hi))
}

/// Constant-bounded `b` (a step that does not depend on `L`), for ghost relations.
fn const_bounds(v: &Value) -> Option<(i128, i128)> {
    (v.kind == Kind::Scalar && v.iv.lo.l == 0 && v.iv.hi.l == 0).then_some((v.iv.lo.c, v.iv.hi.c))
}

fn shift_rels(rels: &[Rel], lo: i128, hi: i128) -> Vec<Rel> {
    // A relation that leaves the kept range is forgotten (always sound).
    rels.iter()
        .filter_map(|r| {
            Some(Rel {
                lo: r.lo.checked_add(lo)?,
                hi: r.hi.checked_add(hi)?,
                ..*r
            })
        })
        .filter(|r| r.lo.unsigned_abs() < 1 << 63 && r.hi.unsigned_abs() < 1 << 63)
        .collect()
}

fn ptr_or_top(kind: Kind, iv: Option<Iv>, env: &Env) -> Value {
    match (kind, iv) {
        (Kind::Ptr(r), Some(iv)) if env.min(iv.lo) > -PTR_LIMIT && env.max(iv.hi) < PTR_LIMIT => {
            Value::ptr(r, iv)
        }
        _ => Value::top(),
    }
}

fn div_zero(b: &Value) -> Violation {
    Violation {
        property: Property::DivisionByZero,
        detail: format!("divisor {} may be zero", show(b)),
    }
}

/// Bit width needed for values up to `hi` (>= 0): the smallest `2^k - 1 >= hi`.
fn mask_above(hi: i128) -> i128 {
    let mut m = 0i128;
    while m < hi {
        m = (m << 1) | 1;
    }
    m
}

/// A 64-bit ALU operation (`code` = opcode & 0xf0) on `a` (destination) and `b` (source).
///
/// Errors: `DivisionByZero` for `div`/`mod` whose divisor may be zero.
pub fn alu64(code: u8, a: &Value, b: &Value, env: &Env) -> Result<Value, Violation> {
    let (ua, ub) = (a.iv.unsigned(env), b.iv.unsigned(env));
    let scalars = a.kind == Kind::Scalar && b.kind == Kind::Scalar;
    let v = match code {
        0xb0 => b.clone(), // mov
        0x00 | 0x10 => {
            let add = code == 0x00;
            let mut v = match (a.kind, b.kind) {
                (Kind::Scalar, Kind::Scalar) => scalar(
                    if add {
                        add_iv(&a.iv, &b.iv)
                    } else {
                        sub_iv(&a.iv, &b.iv)
                    },
                    env,
                ),
                (Kind::Ptr(_), Kind::Scalar) => ptr_or_top(
                    a.kind,
                    if add {
                        add_iv(&a.iv, &b.iv)
                    } else {
                        sub_iv(&a.iv, &b.iv)
                    },
                    env,
                ),
                (Kind::Scalar, Kind::Ptr(_)) if add => {
                    ptr_or_top(b.kind, add_iv(&b.iv, &a.iv), env)
                }
                (Kind::Ptr(x), Kind::Ptr(y)) if !add && x == y => scalar(sub_iv(&a.iv, &b.iv), env),
                _ => Value::top(),
            };
            if v.kind == a.kind
                && let Some((lo, hi)) = const_bounds(b)
            {
                v.rels = match (add, hi.checked_neg(), lo.checked_neg()) {
                    (true, _, _) => shift_rels(&a.rels, lo, hi),
                    (false, Some(minus_hi), Some(minus_lo)) => {
                        shift_rels(&a.rels, minus_hi, minus_lo)
                    }
                    (false, _, _) => Vec::new(),
                };
            }
            v
        }
        0x20 if scalars => {
            // Multiplication by a constant scales exactly (mod 2^64); otherwise both factors
            // must be small non-negative numbers.
            let by_const = |x: &Iv, k: i128| -> Option<Iv> {
                let (p, q) = (x.lo.scale(k)?, x.hi.scale(k)?);
                let m = match x.m {
                    0 => 0,
                    m if k > 0 => crate::domain::pow2_gcd(m.saturating_mul(k), 0),
                    _ => 1,
                };
                Some(if k >= 0 {
                    Iv::new(p, q, m)
                } else {
                    Iv::new(q, p, m)
                })
            };
            let iv = match (a.iv.constant(), b.iv.constant()) {
                (_, Some(k)) => by_const(&a.iv, k),
                (Some(k), _) => by_const(&b.iv, k),
                _ => match (ua, ub) {
                    (Some(x), Some(y)) => {
                        let ((xl, xh), (yl, yh)) = (flat(&x, env), flat(&y, env));
                        (xl.checked_mul(yl))
                            .zip(xh.checked_mul(yh))
                            .map(|(l, h)| Iv::range(l, h))
                    }
                    _ => None,
                },
            };
            scalar(iv, env)
        }
        0x30 | 0x90 => {
            let d = ub
                .filter(|d| b.kind == Kind::Scalar && env.min(d.lo) >= 1)
                .ok_or_else(|| div_zero(b))?;
            let (dl, dh) = flat(&d, env);
            let (nl, nh) = match ua.filter(|_| a.kind == Kind::Scalar) {
                Some(n) => flat(&n, env),
                None => (0, WORD - 1),
            };
            // `dl >= 1`, so `dh >= 1` and nothing here can overflow; `top` is the safe answer.
            if code == 0x30 {
                (nl.checked_div(dh))
                    .zip(nh.checked_div(dl))
                    .map_or_else(Value::top, |(l, h)| Value::scalar(Iv::range(l, h)))
            } else {
                Value::scalar(Iv::range(0, dh.saturating_sub(1).min(nh)))
            }
        }
        0x40 | 0xa0 if scalars => match (ua, ub) {
            (Some(x), Some(y)) => {
                let (xl, xh) = flat(&x, env);
                let (yl, yh) = flat(&y, env);
                let lo = if code == 0x40 { xl.max(yl) } else { 0 };
                Value::scalar(Iv::range(lo, mask_above(xh.max(yh))))
            }
            _ => Value::top(),
        },
        0x50 if scalars => {
            let his: Vec<i128> = [ua, ub].iter().flatten().map(|x| flat(x, env).1).collect();
            match his.iter().min() {
                Some(&h) => Value::scalar(Iv::range(0, h)),
                None => Value::top(),
            }
        }
        0x60 | 0x70 | 0xc0 if scalars => match b.iv.constant() {
            Some(k) => shift(code, a, (k & 63) as u32, env),
            None => Value::top(),
        },
        0x80 if a.kind == Kind::Scalar => scalar(
            Some(Iv::new(
                Aff::k(0).minus(a.iv.hi).unwrap_or(Aff::k(WORD)),
                Aff::k(0).minus(a.iv.lo).unwrap_or(Aff::k(WORD)),
                if a.iv.m == 0 { 0 } else { 1 },
            )),
            env,
        ),
        _ => Value::top(),
    };
    Ok(v)
}

fn shift(code: u8, a: &Value, k: u32, env: &Env) -> Value {
    let p = 1i128 << k;
    match code {
        0x60 => match a.iv.unsigned(env) {
            Some(x) if env.max(x.hi).checked_mul(p).is_some_and(|h| h < WORD) => scalar(
                x.lo.scale(p)
                    .zip(x.hi.scale(p))
                    .map(|(lo, hi)| Iv::new(lo, hi, if x.m == 0 { 0 } else { x.m << k })),
                env,
            ),
            _ => Value::top(),
        },
        0x70 => match a.iv.unsigned(env) {
            Some(x) => {
                let (l, h) = flat(&x, env);
                Value::scalar(Iv::range(l >> k, h >> k))
            }
            None => Value::scalar(Iv::range(0, (WORD - 1) >> k)),
        },
        _ => match a.iv.signed(env) {
            Some(x) => {
                let (l, h) = flat(&x, env);
                Value::scalar(Iv::range(l >> k, h >> k))
            }
            None => Value::scalar(Iv::range(-(WORD / 2) >> k, (WORD / 2 - 1) >> k)),
        },
    }
}

/// A 32-bit ALU operation (full opcode `op`); `imm` is the instruction's immediate.
///
/// Errors: `DivisionByZero` for `div32`/`mod32` whose 32-bit divisor may be zero.
pub fn alu32(op: u8, a: &Value, b: &Value, imm: i64, env: &Env) -> Result<Value, Violation> {
    const U32: Iv = Iv::range(0, (1 << 32) - 1);
    const I32: Iv = Iv::range(-(1 << 31), (1 << 31) - 1);
    let small = |v: &Value| {
        v.kind == Kind::Scalar
            && v.iv
                .unsigned(env)
                .is_some_and(|x| env.max(x.hi) < (1 << 31))
    };
    let v = match op & 0xf0 {
        0xb0 if op & 0x08 == 0 => Value::scalar(Iv::k(i128::from(imm as u32))),
        0xb0 => match b.iv.unsigned(env) {
            Some(x) if b.kind == Kind::Scalar && env.max(x.hi) < (1 << 32) => Value::scalar(x),
            _ => Value::scalar(U32),
        },
        code @ (0x00 | 0x10) if small(a) && small(b) => {
            let iv = if code == 0x00 {
                add_iv(&a.iv, &b.iv)
            } else {
                sub_iv(&a.iv, &b.iv)
            };
            match iv {
                Some(iv) if iv.within(&I32, env) => Value::scalar(iv),
                _ => Value::scalar(I32),
            }
        }
        0x00 | 0x10 | 0x20 => Value::scalar(I32),
        0x30 | 0x90 => {
            let nonzero = if op & 0x08 == 0 {
                imm as u32 != 0
            } else {
                b.kind == Kind::Scalar
                    && b.iv
                        .unsigned(env)
                        .is_some_and(|x| env.min(x.lo) >= 1 && env.max(x.hi) < (1 << 32))
            };
            if !nonzero {
                return Err(div_zero(b));
            }
            Value::scalar(U32)
        }
        0x50 if op & 0x08 == 0 && imm >= 0 => Value::scalar(Iv::range(0, i128::from(imm))),
        0xd0 => {
            let bits = match imm {
                16 | 32 | 64 => imm as u32,
                _ => {
                    return Err(Violation {
                        property: Property::ForbiddenInstruction,
                        detail: format!("byte swap of width {imm}"),
                    });
                }
            };
            if bits == 64 {
                if op == 0xd4 { a.clone() } else { Value::top() }
            } else {
                (1i128.checked_shl(bits))
                    .and_then(|x| x.checked_sub(1))
                    .map_or_else(Value::top, |max| Value::scalar(Iv::range(0, max)))
            }
        }
        _ => Value::scalar(U32),
    };
    let mut v = v;
    if v.kind == Kind::Scalar && v.iv.is_top(env) {
        v = Value::top();
    }
    Ok(v)
}

/// Refined operand intervals and input-length range of one edge; `None` = infeasible.
type Refined = Option<(Iv, Iv, [i128; 2])>;

/// Refines the operands of a conditional jump (`code` = opcode & 0xf0) on `a` (dst) and `b`
/// (src or immediate): the new intervals on the taken and the fall-through edge, `None` for an
/// edge that cannot be taken.
pub fn refine(code: u8, a: &Value, b: &Value, env: &Env) -> (Refined, Refined) {
    let both = Some((a.iv, b.iv, [env.len_min, env.len_max]));
    let same_space = match (a.kind, b.kind) {
        (Kind::Scalar, Kind::Scalar) => true,
        (Kind::Ptr(x), Kind::Ptr(y)) => x == y,
        _ => false,
    };
    if !same_space || code == 0x40 {
        return (both, both);
    }
    let signed = matches!(code, 0x60 | 0x70 | 0xc0 | 0xd0);
    let views = if a.kind != Kind::Scalar {
        Some((a.iv, b.iv))
    } else if signed {
        a.iv.signed(env).zip(b.iv.signed(env))
    } else {
        a.iv.unsigned(env).zip(b.iv.unsigned(env)).or_else(|| {
            a.iv.signed(env)
                .zip(b.iv.signed(env))
                .filter(|_| matches!(code, 0x10 | 0x50))
        })
    };
    let Some((x, y)) = views else {
        return (both, both);
    };
    let swap = |r: Refined| r.map(|(p, q, l)| (q, p, l));
    match code {
        0x10 => (eq(x, y, env), ne(x, y, env)),
        0x50 => (ne(x, y, env), eq(x, y, env)),
        0x20 | 0x60 => (swap(lt(y, x, env)), le(x, y, env)),
        0x30 | 0x70 => (swap(le(y, x, env)), lt(x, y, env)),
        0xa0 | 0xc0 => (lt(x, y, env), swap(le(y, x, env))),
        0xb0 | 0xd0 => (le(x, y, env), swap(lt(y, x, env))),
        _ => (both, both),
    }
}

fn feasible(iv: Iv, env: &Env) -> bool {
    // Empty for every admitted length iff hi < lo at both ends.
    !iv.hi.plus(Aff::k(1)).is_some_and(|h| env.le(h, iv.lo))
}

/// The input lengths (within `env`'s) for which the affine `d >= 0`.
fn nonneg(d: Aff, env: &Env) -> [i128; 2] {
    let (mut lo, mut hi) = (env.len_min, env.len_max);
    // Restricting is optional: where a bound would overflow, the range is kept.
    if d.l > 0 {
        if let Some(b) =
            d.c.checked_neg()
                .and_then(|c| crate::linear::ceil_div(c, d.l))
        {
            lo = lo.max(b);
        }
    } else if d.l < 0 {
        if let Some(b) = d.l.checked_neg().and_then(|l| d.c.checked_div_euclid(l)) {
            hi = hi.min(b);
        }
    } else if d.c < 0 {
        // An empty range (`lo >= 0`, so this is exact).
        hi = lo.saturating_sub(1);
    }
    [lo, hi]
}

/// Keeps the edge if some admitted length remains, restricting the length range to where the
/// constraints `ds >= 0` can hold.
fn ok(x: Iv, y: Iv, ds: &[Aff], env: &Env) -> Refined {
    let mut len = [env.len_min, env.len_max];
    for d in ds {
        let [lo, hi] = nonneg(*d, env);
        len = [len[0].max(lo), len[1].min(hi)];
    }
    if len[0] > len[1] {
        return None;
    }
    let env = env.narrow(len);
    (feasible(x, &env) && feasible(y, &env)).then_some((x, y, len))
}

/// `x <= y - strict`.
fn order(x: Iv, y: Iv, strict: i128, env: &Env) -> Refined {
    let full = [env.len_min, env.len_max];
    let (Some(yh), Some(xl)) = (y.hi.minus(Aff::k(strict)), x.lo.plus(Aff::k(strict))) else {
        return Some((x, y, full));
    };
    // Either bound is sound; the comparison's wins unless the old one is tighter everywhere
    // (judged on the input lengths the edge leaves).
    let d = yh.minus(x.lo).into_iter().collect::<Vec<_>>();
    let (_, _, len) = ok(x, y, &d, env)?;
    let env = &env.narrow(len);
    // A single value (such as `L` itself) is already exact: keep it.
    let nx = if x.lo == x.hi {
        x
    } else {
        Iv::new(x.lo, if env.le(x.hi, yh) { x.hi } else { yh }, x.m)
    };
    let ny = if y.lo == y.hi {
        y
    } else {
        Iv::new(if env.le(xl, y.lo) { y.lo } else { xl }, y.hi, y.m)
    };
    ok(nx, ny, &d, env)
}

fn lt(x: Iv, y: Iv, env: &Env) -> Refined {
    order(x, y, 1, env)
}

fn le(x: Iv, y: Iv, env: &Env) -> Refined {
    order(x, y, 0, env)
}

fn eq(x: Iv, y: Iv, env: &Env) -> Refined {
    let lo = if env.le(x.lo, y.lo) { y.lo } else { x.lo };
    let hi = if env.le(x.hi, y.hi) { x.hi } else { y.hi };
    // Values keep the congruence of the side whose lower bound is kept.
    let m = Iv::new(lo, hi, if lo == x.lo { x.m } else { y.m });
    // Each bound chosen is one of the originals that dominates, so `m` is within both.
    if (env.le(x.lo, y.lo) || env.le(y.lo, x.lo)) && (env.le(x.hi, y.hi) || env.le(y.hi, x.hi)) {
        let ds: Vec<Aff> = [y.hi.minus(x.lo), x.hi.minus(y.lo)]
            .into_iter()
            .flatten()
            .collect();
        return ok(m, m, &ds, env);
    }
    Some((x, y, [env.len_min, env.len_max]))
}

fn ne(x: Iv, y: Iv, env: &Env) -> Refined {
    let trim = |v: Iv, c: Option<i128>| -> Iv {
        let Some(c) = c else { return v };
        let mut v = v;
        let m = if v.lo.l == 0 { v.m.max(1) } else { 1 };
        // Trimming is optional: skipped where it would overflow.
        if v.lo == Aff::k(c)
            && let Some(lo) = c.checked_add(m)
        {
            v.lo = Aff::k(lo);
        }
        if v.hi == Aff::k(c)
            && let Some(hi) = c.checked_sub(m)
        {
            v.hi = Aff::k(hi);
        }
        v
    };
    ok(trim(x, y.constant()), trim(y, x.constant()), &[], env)
}
