//! Two-variable linear equalities between locations (trusted): `ka * a + kb * b = c`.
//!
//! They relate induction variables that move in lockstep (a pointer and a counter), which
//! intervals alone cannot: when a branch bounds one, [`propagate`] bounds the other. A value in
//! an equality is its integer representative inside its interval (the pointer offset for
//! pointers), so every operation that could change the representative drops the equality.

use crate::domain::{Aff, Env, Iv, Kind, Loc, State};
use serde::{Deserialize, Serialize};

/// `ka * a + kb * b = c`, normalised: `a < b`, `ka > 0`, coefficients coprime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lin {
    /// First location.
    pub a: Loc,
    /// Second location.
    pub b: Loc,
    /// Coefficient of `a`.
    pub ka: i64,
    /// Coefficient of `b`.
    pub kb: i64,
    /// Constant.
    pub c: i128,
}

/// gcd of the magnitudes; 1 where `i128::MIN` would overflow (1 divides everything).
pub(crate) fn gcd(a: i128, b: i128) -> i128 {
    match a.checked_rem(b) {
        _ if b == 0 => a.checked_abs().unwrap_or(1),
        Some(r) => gcd(b, r),
        None => 1,
    }
}

/// `ceil(n / d)` for `d > 0`, `None` on overflow.
pub(crate) fn ceil_div(n: i128, d: i128) -> Option<i128> {
    let q = n.checked_div_euclid(d)?;
    q.checked_add(i128::from(n.checked_rem_euclid(d)? != 0))
}

impl Lin {
    /// The normalised equality `ka * a + kb * b = c`, `None` if degenerate or too large.
    pub fn new(a: Loc, b: Loc, ka: i128, kb: i128, c: i128) -> Option<Lin> {
        if a == b || ka == 0 || kb == 0 {
            return None;
        }
        let (a, b, ka, kb) = if a < b {
            (a, b, ka, kb)
        } else {
            (b, a, kb, ka)
        };
        let g = gcd(gcd(ka, kb), c).max(1);
        let g = if ka < 0 { g.checked_neg()? } else { g };
        let (ka, kb, c) = (ka.checked_div(g)?, kb.checked_div(g)?, c.checked_div(g)?);
        (ka.abs() < 1 << 20 && kb.abs() < 1 << 20 && c.abs() < 1 << 80).then_some(Lin {
            a,
            b,
            ka: ka as i64,
            kb: kb as i64,
            c,
        })
    }

    /// Whether the equality mentions `x`; then `(coefficient of x, other, its coefficient)`.
    pub fn side(&self, x: Loc) -> Option<(i128, Loc, i128)> {
        if self.a == x {
            Some((i128::from(self.ka), self.b, i128::from(self.kb)))
        } else if self.b == x {
            Some((i128::from(self.kb), self.a, i128::from(self.ka)))
        } else {
            None
        }
    }
}

/// What an instruction did to a location, for equality maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing written.
    Keep,
    /// `x += k` with the representative shifted by exactly `k`.
    AddConst(Loc, i128),
    /// `x = y`, same kind and interval.
    Copy(Loc, Loc),
    /// `x = y + k` (a copy of `y` shifted by the constant `k`).
    CopyPlus(Loc, Loc, i128),
    /// `x *= k`, `k > 0`, with the representative scaled by exactly `k`.
    Scale(Loc, i128),
    /// `x` overwritten with something unrelated.
    Clobber(Loc),
}

/// Updates `st.lins` for `effect`.
pub fn apply(st: &mut State, effect: Effect) {
    match effect {
        Effect::Keep => {}
        Effect::AddConst(x, k) => {
            let lins = std::mem::take(&mut st.lins);
            st.lins = lins
                .into_iter()
                .filter_map(|l| match l.side(x) {
                    // An equality that would overflow is forgotten (always sound).
                    Some((kx, y, ky)) => {
                        Lin::new(x, y, kx, ky, l.c.checked_add(kx.checked_mul(k)?)?)
                    }
                    None => Some(l),
                })
                .collect();
            crate::relations::on_add_const(st, x, k);
        }
        Effect::Clobber(x) => {
            st.lins.retain(|l| l.side(x).is_none());
            crate::relations::on_clobber(st, x);
        }
        Effect::Scale(x, k) => {
            let lins = std::mem::take(&mut st.lins);
            // kx*x_old = kx*x_new / k: multiply by k, keep kx on x_new.
            st.lins = lins
                .into_iter()
                .filter_map(|l| match l.side(x) {
                    Some((kx, y, ky)) => {
                        Lin::new(x, y, kx, ky.checked_mul(k)?, l.c.checked_mul(k)?)
                    }
                    None => Some(l),
                })
                .collect();
            crate::relations::on_scale(st, x, k);
        }
        Effect::CopyPlus(x, y, k) => {
            apply(st, Effect::Copy(x, y));
            apply(st, Effect::AddConst(x, k));
        }
        Effect::Copy(x, y) => {
            crate::relations::on_copy(st, x, y);
            st.lins.retain(|l| l.side(x).is_none());
            let copies: Vec<Lin> = st
                .lins
                .iter()
                .filter_map(|l| {
                    l.side(y)
                        .and_then(|(ky, z, kz)| Lin::new(x, z, ky, kz, l.c))
                })
                .chain(Lin::new(x, y, 1, -1, 0))
                .collect();
            st.lins.extend(copies);
        }
    }
    st.lins.sort();
    st.lins.dedup();
    apply_fills(st, effect);
}

/// The singleton integer value at `x`, if it is one.
fn constant(st: &State, x: Loc) -> Option<(Kind, i128)> {
    st.get(x)
        .filter(|v| v.kind != Kind::Uninit)
        .and_then(|v| v.iv.constant().map(|c| (v.kind, c)))
}

/// Whether `st` proves `l`: it states `l`, or both sides are constants satisfying it.
pub fn implied(st: &State, l: &Lin) -> bool {
    st.lins.contains(l)
        || matches!((constant(st, l.a), constant(st, l.b)),
            (Some((_, x)), Some((_, y))) if i128::from(l.ka).checked_mul(x)
                .zip(i128::from(l.kb).checked_mul(y))
                .and_then(|(a, b)| a.checked_add(b)) == Some(l.c))
}

/// After `x`'s interval was narrowed, narrows the other side of each equality on `x`.
pub fn propagate(st: &mut State, x: Loc, env: &Env) {
    let Some(vx) = st.get(x).cloned() else { return };
    let lins: Vec<Lin> = st
        .lins
        .iter()
        .copied()
        .filter(|l| l.side(x).is_some())
        .collect();
    for l in lins {
        let Some((kx, z, kz)) = l.side(x) else {
            continue;
        };
        let (xl, xh) = (env.min(vx.iv.lo), env.max(vx.iv.hi));
        // kz * z = c - kx * x; narrowing is optional, so an overflow skips it.
        let bounds = || -> Option<(i128, i128)> {
            let at = |x: i128| l.c.checked_sub(kx.checked_mul(x)?);
            let (p, q) = (at(xh)?, at(xl)?);
            let (nl, nh) = if kx > 0 { (p, q) } else { (q, p) };
            if kz > 0 {
                Some((ceil_div(nl, kz)?, nh.checked_div_euclid(kz)?))
            } else {
                let k = kz.checked_neg()?;
                Some((
                    ceil_div(nh.checked_neg()?, k)?,
                    nl.checked_neg()?.checked_div_euclid(k)?,
                ))
            }
        };
        let Some((zl, zh)) = bounds() else {
            continue;
        };
        let target = match z {
            Loc::Reg(r) => st.regs.get_mut(usize::from(r)),
            Loc::Slot(s) => match st.stack.get_mut(&s) {
                Some(crate::domain::Slot::Spill(v)) => Some(v),
                _ => None,
            },
        };
        let Some(v) = target else { continue };
        if v.kind == Kind::Uninit || v.iv.is_top(env) {
            continue;
        }
        let lo = if env.le(Aff::k(zl), v.iv.lo) {
            v.iv.lo
        } else {
            Aff::k(zl)
        };
        let hi = if env.le(v.iv.hi, Aff::k(zh)) {
            v.iv.hi
        } else {
            Aff::k(zh)
        };
        // Keep the congruence only if the lower bound moved by a multiple of it.
        let m = match lo.minus(v.iv.lo) {
            Some(d) if d.l == 0 && v.iv.m > 0 && d.c.checked_rem(v.iv.m) == Some(0) => v.iv.m,
            _ if lo == v.iv.lo => v.iv.m,
            _ => 1,
        };
        v.iv = Iv::new(lo, hi, m);
    }
}

/// "Stack bytes `[start, v + c)` are initialised", `v` the representative at `end`: what a
/// loop that fills an array through a counter or a moving pointer establishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fill {
    /// First initialised frame byte.
    pub start: i128,
    /// The location whose value bounds the initialised prefix.
    pub end: Loc,
    /// Offset added to that value.
    pub c: i128,
}

/// The smallest end byte (exclusive) `f` guarantees in `st`, if `f.end` holds a value.
pub fn fill_end(st: &State, f: &Fill, env: &Env) -> Option<i128> {
    st.get(f.end)
        .filter(|v| v.kind != Kind::Uninit && !v.iv.is_top(env))
        .and_then(|v| env.min(v.iv.lo).checked_add(f.c))
}

/// Whether frame byte `b` is initialised by some fill of `st`.
pub fn filled(st: &State, b: i128, env: &Env) -> bool {
    st.fills
        .iter()
        .any(|f| f.start <= b && fill_end(st, f, env).is_some_and(|e| b < e))
}

/// Whether `st` proves `f`: it states `f`, or `f.end` is a constant and the bytes are
/// initialised slot by slot.
pub fn fill_implied(st: &State, f: &Fill) -> bool {
    if st.fills.contains(f) {
        return true;
    }
    let Some(y) = st.get(f.end).and_then(|v| v.iv.constant()) else {
        return false;
    };
    // Stops at the first byte outside the 4 KiB frame, so at most 4097 steps.
    y.checked_add(f.c)
        .is_some_and(|end| (f.start..end).all(|b| byte_init(st, b)))
}

fn byte_init(st: &State, b: i128) -> bool {
    (0..crate::domain::STACK_SIZE).contains(&b)
        && st
            .stack
            .get(&((b / 8) as u16))
            .is_some_and(|s| s.mask() & (1 << (b % 8)) != 0)
}

/// Before `x` is overwritten: fills bounded by `x` become plain initialised bytes.
pub fn materialize(st: &mut State, x: Loc, env: &Env) {
    let (gone, kept): (Vec<Fill>, Vec<Fill>) = std::mem::take(&mut st.fills)
        .into_iter()
        .partition(|f| f.end == x);
    for f in &gone {
        let end = fill_end(st, f, env)
            .unwrap_or(f.start)
            .min(crate::domain::STACK_SIZE);
        for b in f.start.max(0)..end {
            let slot = st
                .stack
                .entry((b / 8) as u16)
                .or_insert(crate::domain::Slot::Bytes(0));
            if let crate::domain::Slot::Bytes(m) = slot {
                *m |= 1 << (b % 8);
            }
        }
    }
    st.fills = kept;
}

/// Fills whose end location holds a single constant become plain initialised bytes, so that
/// joins compare them byte by byte.
pub fn settle(st: &mut State, env: &Env) {
    let ends: Vec<Loc> = st
        .fills
        .iter()
        .map(|f| f.end)
        .filter(|&x| {
            st.get(x)
                .is_some_and(|v| v.kind != Kind::Uninit && v.iv.constant().is_some())
        })
        .collect();
    for x in ends {
        materialize(st, x, env);
    }
}

/// Effect of `x += k` and of a copy on fills (called with [`apply`]).
pub fn apply_fills(st: &mut State, effect: Effect) {
    if let Effect::AddConst(x, k) = effect {
        // A fill whose offset would overflow is forgotten (always sound).
        st.fills.retain_mut(|f| {
            if f.end != x {
                return true;
            }
            f.c.checked_sub(k).map(|c| f.c = c).is_some()
        });
    }
    st.fills.sort();
    st.fills.dedup();
}

/// A store of `n` bytes through `base` (at location `b`) + `off` that lands exactly on a
/// fill's end extends the fill by `n`.
pub fn extend_fills(st: &mut State, b: Loc, off: i16, n: u8) {
    let lins = st.lins.clone();
    for f in st.fills.iter_mut() {
        // base offset - end = d, so the store starts at end + d + off.
        let d = if f.end == b {
            Some(0)
        } else {
            lins.iter().find_map(|l| match l.side(b) {
                Some((1, e, -1)) if e == f.end => Some(l.c),
                Some((-1, e, 1)) if e == f.end => l.c.checked_neg(),
                _ => None,
            })
        };
        if d.and_then(|d| d.checked_add(i128::from(off))) == Some(f.c) {
            // Not extending is always sound.
            f.c = f.c.checked_add(i128::from(n)).unwrap_or(f.c);
        }
    }
}
