//! Join and widening of abstract states (certifier only; the checker never joins).

use crate::domain::{Aff, Env, Iv, Kind, Loc, Rel, Slot, State, Value};
use crate::linear::{Fill, Lin, fill_implied, implied};
use crate::relations::{Fact, by_intervals, holds_with, known};
use std::collections::BTreeMap;

/// Hull of two intervals.
fn hull(a: &Iv, b: &Iv, env: &Env) -> Iv {
    let d = a.lo.minus(b.lo).filter(|d| d.l == 0).map_or(1, |d| d.c);
    let m = crate::domain::pow2_gcd(crate::domain::pow2_gcd(a.m, b.m), d);
    let m = if a.m == 0 && b.m == 0 && d == 0 {
        0
    } else {
        m.max(1)
    };
    Iv::new(env.lower(a.lo, b.lo), env.upper(a.hi, b.hi), m)
}

fn join_rels(a: &[Rel], b: &[Rel], widen: bool) -> Vec<Rel> {
    a.iter()
        .filter_map(|r| {
            let s = b
                .iter()
                .find(|s| s.head == r.head && s.origin == r.origin)?;
            if widen && (s.lo < r.lo || s.hi > r.hi) {
                return None;
            }
            Some(Rel {
                lo: r.lo.min(s.lo),
                hi: r.hi.max(s.hi),
                ..*r
            })
        })
        .collect()
}

/// Least upper bound (up to the precision of affine bounds).
pub fn join_value(a: &Value, b: &Value, env: &Env) -> Value {
    let kind = match (a.kind, b.kind) {
        (Kind::Uninit, _) | (_, Kind::Uninit) => return Value::uninit(),
        (x, y) if x == y => x,
        _ => return Value::top(),
    };
    let iv = hull(&a.iv, &b.iv, env);
    if kind == Kind::Scalar && iv.is_top(env) {
        return Value::top();
    }
    Value {
        kind,
        iv,
        rels: join_rels(&a.rels, &b.rels, false),
    }
}

/// Widening of `old` by `new` (which includes `old`): a bound that moved jumps to the next
/// threshold, so ascending chains are finite.
pub fn widen_value(old: &Value, new: &Value, env: &Env, thresholds: &[i128]) -> Value {
    let j = join_value(old, new, env);
    if j.kind == Kind::Uninit || old.kind != j.kind {
        return j;
    }
    let mut iv = j.iv;
    if !env.le(iv.hi, old.iv.hi) {
        let m = env.max(iv.hi);
        let next = thresholds.iter().copied().find(|&t| t >= m);
        let Some(t) = next.or((m < crate::domain::WORD).then_some(crate::domain::WORD - 1)) else {
            return Value::top();
        };
        if iv.hi.l != 0 {
            iv.m = 1;
        }
        iv.hi = Aff::k(t);
    }
    if !env.le(old.iv.lo, iv.lo) {
        let m = env.min(iv.lo);
        let next = thresholds.iter().rev().copied().find(|&t| t <= m);
        // No threshold below: the value may be any word (a bound must stay below `m`).
        let Some(t) = next.filter(|_| m >= -(crate::domain::WORD / 2)) else {
            return Value::top();
        };
        // Keep the congruence: the new lower bound must be one of the values' residues.
        let t = match (iv.m, iv.lo.l) {
            (m, 0)
                if m > 1
                    && t.checked_sub(m)
                        .is_some_and(|x| x > -(crate::domain::WORD / 2)) =>
            {
                t.checked_sub(iv.lo.c)
                    .and_then(|d| t.checked_sub(d.rem_euclid(m)))
                    .unwrap_or(t)
            }
            _ => t,
        };
        if iv.lo.l != 0 {
            iv.m = 1;
        }
        iv.lo = Aff::k(t);
    }
    if j.kind == Kind::Scalar && iv.is_top(env) {
        return Value::top();
    }
    Value {
        kind: j.kind,
        iv,
        rels: join_rels(&old.rels, &new.rels, true),
    }
}

fn join_slots(
    a: &BTreeMap<u16, Slot>,
    b: &BTreeMap<u16, Slot>,
    f: &dyn Fn(&Value, &Value) -> Value,
) -> BTreeMap<u16, Slot> {
    let mut out = BTreeMap::new();
    for (i, x) in a {
        let Some(y) = b.get(i) else { continue };
        let slot = match (x, y) {
            (Slot::Spill(p), Slot::Spill(q)) => {
                let v = f(p, q);
                if v.kind == Kind::Uninit {
                    continue;
                }
                Slot::Spill(v)
            }
            _ => Slot::Bytes(x.mask() & y.mask()),
        };
        if slot.mask() != 0 {
            out.insert(*i, slot);
        }
    }
    out
}

/// Join of two states.
pub fn join(a: &State, b: &State, env: &Env) -> State {
    join_with(a, b, env, false)
}

/// Join of two states at a loop head: also keeps the input-length bounds each side implies
/// only through constants (see `length_bounds`). Only at heads, where the iterations meet:
/// elsewhere the transfer function carries them, and every stated fact costs the checker.
pub fn join_head(a: &State, b: &State, env: &Env) -> State {
    join_with(a, b, env, true)
}

/// `f` applied register by register.
fn zip_regs(a: &[Value; 11], b: &[Value; 11], f: impl Fn(&Value, &Value) -> Value) -> [Value; 11] {
    let mut pairs = a.iter().zip(b).map(|(p, q)| f(p, q));
    // Both arrays have 11 entries, so the fallback is never taken.
    std::array::from_fn(|_| pairs.next().unwrap_or_else(Value::uninit))
}

fn join_with(a: &State, b: &State, env: &Env, head: bool) -> State {
    let len = [a.len[0].min(b.len[0]), a.len[1].max(b.len[1])];
    let env = &env.narrow(len);
    let f = |p: &Value, q: &Value| join_value(p, q, env);
    let mut out = State {
        regs: zip_regs(&a.regs, &b.regs, f),
        stack: join_slots(&a.stack, &b.stack, &f),
        len,
        lins: Vec::new(),
        fills: Vec::new(),
        facts: Vec::new(),
    };
    out.lins = join_lins(a, b, &out, env);
    out.fills = join_fills(a, b, &out, env);
    out.facts = join_facts(a, b, &out, env, false, head);
    let facts = out.facts.clone();
    crate::relations::tighten(&mut out, &facts, env);
    out
}

/// Widening of `old` by `new`.
pub fn widen(old: &State, new: &State, env: &Env, thresholds: &[i128]) -> State {
    let len = [old.len[0].min(new.len[0]), old.len[1].max(new.len[1])];
    let env = &env.narrow(len);
    let f = |p: &Value, q: &Value| widen_value(p, q, env, thresholds);
    let mut out = State {
        regs: zip_regs(&old.regs, &new.regs, f),
        stack: join_slots(&old.stack, &new.stack, &f),
        len,
        lins: Vec::new(),
        fills: Vec::new(),
        facts: Vec::new(),
    };
    out.lins = join_lins(old, new, &out, env);
    out.fills = join_fills(old, new, &out, env);
    out.facts = join_facts(old, new, &out, env, true, false);
    let facts = out.facts.clone();
    crate::relations::tighten(&mut out, &facts, env);
    out
}

/// Facts of the join: those of either side the other side proves too (when widening, only
/// the old side's, so the set can only shrink).
fn join_facts(
    a: &State,
    b: &State,
    out: &State,
    env: &Env,
    widening: bool,
    head: bool,
) -> Vec<Fact> {
    let (known_a, known_b) = (known(a), known(b));
    let ok = |f: &Fact, other: &State, known: &[Fact]| {
        f.terms.iter().all(|t| framed(a, b, out, t.0, env)) && holds_with(other, known, f, env)
    };
    let mut facts: Vec<Fact> = a
        .facts
        .iter()
        .filter(|f| ok(f, b, &known_b))
        .cloned()
        .collect();
    if !widening {
        facts.extend(b.facts.iter().filter(|f| ok(f, a, &known_a)).cloned());
        if head {
            facts.extend(length_bounds(a, b, out, env, &known_a, &known_b));
        }
    }
    facts.sort();
    facts.dedup();
    facts
}

/// `x <= L + d` (`d <= 0`) for each location both sides bound by a constant, with `d` the
/// larger of `max(x) - min(L)` over the two sides: each side implies it by its intervals alone
/// (its lengths are narrowed by the tests it passed), but the joined intervals do not. This keeps e.g. "the next block ends inside the input" at a loop head
/// whose entry and back edge each know it only through constants (`off = 72` with `L >= 104`,
/// `off = 104` with `L >= 136`).
fn length_bounds(
    a: &State,
    b: &State,
    out: &State,
    env: &Env,
    known_a: &[Fact],
    known_b: &[Fact],
) -> Vec<Fact> {
    let slack = |s: &State, x: Loc| -> Option<i128> {
        let v = s.get(x)?;
        (v.iv.hi.l == 0 && v.iv.hi.c <= env.len_max)
            .then(|| v.iv.hi.c.checked_sub(s.len[0]))
            .flatten()
    };
    let out_env = env.narrow(out.len);
    locations(out)
        .into_iter()
        .filter(|&x| framed(a, b, out, x, env))
        .filter(|&x| a.get(x).map(|v| v.iv) != b.get(x).map(|v| v.iv))
        .filter_map(|x| {
            // Only bounds inside the input (d <= 0) are kept: they are what accesses need.
            let d = slack(a, x)?.max(slack(b, x)?);
            if d > 0 {
                return None;
            }
            let f = Fact::new(vec![(x, 1)], true, Aff::LEN.plus(Aff::k(d))?)?;
            (holds_with(a, known_a, &f, env)
                && holds_with(b, known_b, &f, env)
                && !by_intervals(out, &f, &out_env))
            .then_some(f)
        })
        .collect()
}

/// Equalities of the join: those both sides prove, plus the line through two constant points
/// (how lockstep induction variables are discovered at a loop head).
fn join_lins(a: &State, b: &State, out: &State, env: &Env) -> Vec<Lin> {
    let framed = |x: Loc| {
        matches!((a.get(x), b.get(x), out.get(x)), (Some(p), Some(q), Some(o))
            if p.kind == o.kind && q.kind == o.kind && o.kind != Kind::Uninit && !o.iv.is_top(env))
    };
    let mut lins: Vec<Lin> = a
        .lins
        .iter()
        .chain(b.lins.iter())
        .filter(|l| implied(a, l) && implied(b, l) && framed(l.a) && framed(l.b))
        .copied()
        .collect();
    let consts: Vec<(Loc, i128, i128)> = locations(out)
        .into_iter()
        .filter(|&x| framed(x))
        .filter_map(|x| {
            let p = a.get(x)?.iv.constant()?;
            let q = b.get(x)?.iv.constant()?;
            (p != q).then_some((x, p, q))
        })
        .collect();
    for (i, &(x, x1, x2)) in consts.iter().enumerate() {
        for &(y, y1, y2) in consts.get(i.saturating_add(1)..).unwrap_or_default() {
            // A candidate equality that overflows is simply not proposed.
            let lin = || {
                let (dx, dy) = (x2.checked_sub(x1)?, y2.checked_sub(y1)?);
                let c = dy.checked_mul(x1)?.checked_sub(dx.checked_mul(y1)?)?;
                Lin::new(x, y, dy, dx.checked_neg()?, c)
            };
            lins.extend(lin());
        }
    }
    lins.sort();
    lins.dedup();
    lins
}

fn locations(s: &State) -> Vec<Loc> {
    (0..11u8)
        .map(Loc::Reg)
        .chain(s.stack.iter().filter_map(|(i, slot)| match slot {
            Slot::Spill(_) => Some(Loc::Slot(*i)),
            Slot::Bytes(_) => None,
        }))
        .collect()
}

fn framed(a: &State, b: &State, out: &State, x: Loc, env: &Env) -> bool {
    matches!((a.get(x), b.get(x), out.get(x)), (Some(p), Some(q), Some(o))
        if p.kind == o.kind && q.kind == o.kind && o.kind != Kind::Uninit && !o.iv.is_top(env))
}

/// Maximal runs `[start, end)` of initialised frame bytes.
fn init_runs(s: &State) -> Vec<(i128, i128)> {
    let mut runs: Vec<(i128, i128)> = Vec::new();
    for (i, slot) in &s.stack {
        for bit in 0..8 {
            if slot.mask() & (1 << bit) == 0 {
                continue;
            }
            // Slot indices are u16: bytes stay below 2^19.
            let b = i128::from(*i).saturating_mul(8).saturating_add(bit);
            match runs.last_mut() {
                Some(r) if r.1 == b => r.1 = b.saturating_add(1),
                _ => runs.push((b, b.saturating_add(1))),
            }
        }
    }
    runs
}

/// Fills of the join: those both sides prove, plus, for a location that is a different
/// constant on each side, each initialised run of the side where it is larger, read as a
/// prefix bounded by that location (how array-filling loops are discovered).
fn join_fills(a: &State, b: &State, out: &State, env: &Env) -> Vec<Fill> {
    let mut fills: Vec<Fill> = a
        .fills
        .iter()
        .chain(b.fills.iter())
        .filter(|f| fill_implied(a, f) && fill_implied(b, f) && framed(a, b, out, f.end, env))
        .copied()
        .collect();
    for y in locations(out) {
        if !framed(a, b, out, y, env) {
            continue;
        }
        let (Some(y1), Some(y2)) = (
            a.get(y).and_then(|v| v.iv.constant()),
            b.get(y).and_then(|v| v.iv.constant()),
        ) else {
            continue;
        };
        if y1 == y2 {
            continue;
        }
        let (big, yb, small) = if y2 > y1 { (b, y2, a) } else { (a, y1, b) };
        for (start, end) in init_runs(big) {
            let Some(c) = end.checked_sub(yb) else {
                continue;
            };
            let f = Fill { start, end: y, c };
            if fill_implied(small, &f) {
                fills.push(f);
            }
        }
    }
    fills.sort();
    fills.dedup();
    fills
}
