//! Relational facts (trusted): linear constraints over at most three locations whose constant
//! is affine in the input length `L`,
//!
//! ```text
//! k1*x1 + k2*x2 + k3*x3 <= c + l*L      or      ... = c + l*L
//! ```
//!
//! (a two-variable-per-inequality domain extended to sums of three). They carry what intervals
//! cannot: "this index plus that block offset stays below the input length", "this remaining
//! count plus that pointer equals `L + 3`", "32 * depth = L - 72". A location stands for its
//! integer representative (the pointer offset for pointers), as in `linear`; a fact is dropped
//! whenever its location is overwritten in a way that is not tracked exactly.
//!
//! Facts are created by the transfer function only from exact effects (copies, constant
//! shifts and scalings, `x += y`, the outcome of a comparison), and [`derive`] combines the
//! new ones with the known ones (and with the interval bounds of their locations) by
//! eliminating a shared location — a fixed number of rounds, no fixpoint. Whatever a fact
//! bounds on a single location with a unit (or dividing) coefficient narrows its interval, and
//! a fact left with no location narrows the admitted input lengths.

use crate::domain::{Aff, Env, Iv, Kind, Loc, Region, Slot, State, Value};
use crate::linear::Lin;
use serde::{Deserialize, Serialize};

/// Locations per fact.
pub(crate) const MAX_TERMS: usize = 3;
/// Coefficients are kept below this magnitude.
pub(crate) const MAX_COEF: i128 = 1 << 10;
/// Facts kept per state; the excess (oldest first) is dropped, which is always sound.
pub const MAX_FACTS: usize = 48;
/// Elimination rounds of [`derive`].
const ROUNDS: usize = 3;
/// Facts one round of [`derive`] may add (the first found, in a deterministic order).
const PER_ROUND: usize = 24;

/// `Σ k·x <= c` (`le`) or `Σ k·x = c`, over 1 to 3 distinct locations sorted by location.
/// Normalised: coefficients divided by their gcd when the constant allows, equalities with a
/// positive first coefficient.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fact {
    /// Locations and their non-zero coefficients.
    pub terms: Vec<(Loc, i64)>,
    /// `<=` when set, `=` otherwise.
    pub le: bool,
    /// The constant, affine in `L`.
    pub c: Aff,
}

use crate::linear::gcd;

impl Fact {
    /// The normalised fact, `None` if it has more than three locations or out-of-range
    /// numbers. May have no location at all (a constraint on `L` alone).
    pub fn new(terms: Vec<(Loc, i128)>, le: bool, c: Aff) -> Option<Fact> {
        let mut terms = terms;
        terms.sort_by_key(|t| t.0);
        let mut merged: Vec<(Loc, i128)> = Vec::with_capacity(terms.len());
        for (x, k) in terms {
            match merged.last_mut() {
                Some(last) if last.0 == x => last.1 = last.1.checked_add(k)?,
                _ => merged.push((x, k)),
            }
        }
        merged.retain(|t| t.1 != 0);
        if merged.len() > MAX_TERMS {
            return None;
        }
        let mut c = c;
        let g = merged.iter().fold(0, |g, t| gcd(g, t.1));
        // For `<=` the constant term may be rounded down (the left side is an integer).
        let divides = |x: i128| x.checked_rem(g) == Some(0);
        if g > 1 && divides(c.l) && (le || divides(c.c)) {
            for t in &mut merged {
                t.1 = t.1.checked_div(g)?;
            }
            c = Aff {
                c: c.c.checked_div_euclid(g)?,
                l: c.l.checked_div(g)?,
            };
        }
        if !le && merged.first().is_some_and(|t| t.1 < 0) {
            for t in &mut merged {
                t.1 = t.1.checked_neg()?;
            }
            c = Aff::k(0).minus(c)?;
        }
        if merged
            .iter()
            .any(|t| t.1.checked_abs().is_none_or(|a| a >= MAX_COEF))
        {
            return None;
        }
        let c = c.plus(Aff::k(0))?;
        Some(Fact {
            terms: merged.into_iter().map(|(x, k)| (x, k as i64)).collect(),
            le,
            c,
        })
    }

    /// Coefficient of `x` (0 if absent).
    pub fn coef(&self, x: Loc) -> i128 {
        self.terms
            .iter()
            .find(|t| t.0 == x)
            .map_or(0, |t| i128::from(t.1))
    }

    /// Whether the fact mentions `x`.
    pub fn mentions(&self, x: Loc) -> bool {
        self.terms.iter().any(|t| t.0 == x)
    }

    /// The terms times `k`, `None` on overflow.
    fn scaled_terms(&self, k: i128) -> Option<Vec<(Loc, i128)>> {
        self.terms
            .iter()
            .map(|&(x, a)| Some((x, i128::from(a).checked_mul(k)?)))
            .collect()
    }
}

/// The equality a [`Lin`] states, as a fact.
pub fn of_lin(l: &Lin) -> Option<Fact> {
    Fact::new(
        vec![(l.a, i128::from(l.ka)), (l.b, i128::from(l.kb))],
        false,
        Aff::k(l.c),
    )
}

/// A location whose value has an integer representative: initialised and not "any word".
pub fn framed(v: Option<&Value>, env: &Env) -> bool {
    v.is_some_and(|v| v.kind != Kind::Uninit && !v.iv.is_top(env))
}

/// The bounds of `x`'s interval as facts (`x = v` for a single value).
pub fn unary(st: &State, x: Loc, env: &Env) -> Vec<Fact> {
    let Some(v) = st.get(x).filter(|v| framed(Some(v), env)) else {
        return Vec::new();
    };
    if v.iv.lo == v.iv.hi {
        return Fact::new(vec![(x, 1)], false, v.iv.lo)
            .into_iter()
            .collect();
    }
    let lo = Aff::k(0).minus(v.iv.lo);
    [
        Fact::new(vec![(x, 1)], true, v.iv.hi),
        lo.and_then(|lo| Fact::new(vec![(x, -1)], true, lo)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every fact `st` states: its facts and its two-variable equalities.
pub fn known(st: &State) -> Vec<Fact> {
    st.facts
        .iter()
        .cloned()
        .chain(st.lins.iter().filter_map(of_lin))
        .collect()
}

/// Eliminates `v` between `f` and `g` (non-negative multipliers on inequalities).
pub fn combine(f: &Fact, g: &Fact, v: Loc) -> Option<Fact> {
    let (a, b) = (f.coef(v), g.coef(v));
    if a == 0 || b == 0 {
        return None;
    }
    let d = gcd(a, b);
    let (mut mf, mut mg) = (
        b.checked_abs()?.checked_div(d)?,
        a.checked_abs()?.checked_div(d)?,
    );
    if a.signum() == b.signum() {
        // One multiplier must be negative: only an equality may be negated.
        if !g.le {
            mg = mg.checked_neg()?;
        } else if !f.le {
            mf = mf.checked_neg()?;
        } else {
            return None;
        }
    }
    let mut terms = f.scaled_terms(mf)?;
    terms.extend(g.scaled_terms(mg)?);
    Fact::new(terms, f.le || g.le, f.c.scale(mf)?.plus(g.c.scale(mg)?)?)
}

/// Whether `have` implies `want` (same locations and coefficients, weaker or equal constant).
fn implies(have: &Fact, want: &Fact, env: &Env) -> bool {
    if have.terms == want.terms {
        return if want.le {
            env.le(have.c, want.c)
        } else {
            !have.le && have.c == want.c
        };
    }
    // An equality also bounds its negation.
    want.le
        && !have.le
        && have.terms.len() == want.terms.len()
        && have
            .terms
            .iter()
            .zip(&want.terms)
            .all(|(h, w)| h.0 == w.0 && w.1.checked_neg() == Some(h.1))
        && Aff::k(0).minus(have.c).is_some_and(|c| env.le(c, want.c))
}

/// Whether the intervals of `st` alone imply `want`.
pub fn by_intervals(st: &State, want: &Fact, env: &Env) -> bool {
    let mut lo = Some(Aff::k(0));
    let mut hi = Some(Aff::k(0));
    for &(x, k) in &want.terms {
        let Some(v) = st.get(x).filter(|v| framed(Some(v), env)) else {
            return false;
        };
        let k = i128::from(k);
        let (a, b) = (v.iv.lo.scale(k), v.iv.hi.scale(k));
        let (min, max) = if k > 0 { (a, b) } else { (b, a) };
        lo = lo.zip(min).and_then(|(s, t)| s.plus(t));
        hi = hi.zip(max).and_then(|(s, t)| s.plus(t));
    }
    match (want.le, lo, hi) {
        (true, _, Some(hi)) => env.le(hi, want.c),
        (false, Some(lo), Some(hi)) => lo == hi && lo == want.c,
        _ => false,
    }
}

/// Whether `st` proves `want`: a fact it states implies it, or its intervals do.
pub fn holds(st: &State, want: &Fact, env: &Env) -> bool {
    holds_with(st, &known(st), want, env)
}

/// [`holds`] with `known(st)` computed once by the caller.
pub fn holds_with(st: &State, known: &[Fact], want: &Fact, env: &Env) -> bool {
    let env = &env.narrow(st.len);
    by_intervals(st, want, env) || known.iter().any(|f| implies(f, want, env))
}

/// The facts after `x_new = x_old + s * y` (representatives exact), replacing those on `x`:
/// every fact on `x_old` rewritten, plus `x - s*y = old` when `x_old` was the single value
/// `old`.
pub fn add_var(st: &State, x: Loc, y: Loc, s: i128, old: Option<Aff>) -> Vec<Fact> {
    let mut out: Vec<Fact> = known(st)
        .iter()
        .filter(|f| f.mentions(x))
        .filter_map(|f| {
            // a*x_old = a*x_new - a*s*y
            let a = f.coef(x);
            let mut terms: Vec<(Loc, i128)> = f.scaled_terms(1)?;
            terms.push((y, a.checked_mul(s)?.checked_neg()?));
            Fact::new(terms, f.le, f.c)
        })
        .collect();
    if let (Some(old), Some(minus_s)) = (old, s.checked_neg()) {
        out.extend(Fact::new(vec![(x, 1), (y, minus_s)], false, old));
    }
    out.retain(|f| !f.terms.is_empty());
    out
}

/// Updates the facts for an exact effect on one location (see `linear::Effect`).
pub fn on_clobber(st: &mut State, x: Loc) {
    st.facts.retain(|f| !f.mentions(x));
}

/// `x += k` (representative shifted by exactly `k`).
pub fn on_add_const(st: &mut State, x: Loc, k: i128) {
    rewrite_on(st, x, |f, a| {
        let c = f.c.plus(Aff::k(a.checked_mul(k)?))?;
        Fact::new(f.scaled_terms(1)?, f.le, c)
    });
}

/// Replaces each fact with a term `a·x` (`a != 0`) by `rewrite(fact, a)`, dropping it on
/// `None`; facts without `x` are kept.
fn rewrite_on(st: &mut State, x: Loc, rewrite: impl Fn(&Fact, i128) -> Option<Fact>) {
    let facts = std::mem::take(&mut st.facts);
    st.facts = facts
        .into_iter()
        .filter_map(|f| match f.coef(x) {
            0 => Some(f),
            a => rewrite(&f, a),
        })
        .collect();
}

/// `x = y` (same representative): the facts on `y` also hold for `x`.
pub fn on_copy(st: &mut State, x: Loc, y: Loc) {
    on_clobber(st, x);
    let copies: Vec<Fact> = st
        .facts
        .iter()
        .filter(|f| f.mentions(y))
        .filter_map(|f| {
            let terms = f
                .scaled_terms(1)?
                .into_iter()
                .map(|(z, k)| (if z == y { x } else { z }, k))
                .collect();
            Fact::new(terms, f.le, f.c)
        })
        .collect();
    st.facts.extend(copies);
    st.facts.sort();
    st.facts.dedup();
}

/// `x *= k`, `k > 0` (representative scaled exactly).
pub fn on_scale(st: &mut State, x: Loc, k: i128) {
    rewrite_on(st, x, |f, a| {
        // a*x_old = a*x_new / k: multiply the fact by k, keep a on x_new.
        let terms = f
            .scaled_terms(k)?
            .into_iter()
            .map(|(z, c)| (z, if z == x { a } else { c }))
            .collect();
        Fact::new(terms, f.le, f.c.scale(k)?)
    });
}

fn value_mut(st: &mut State, x: Loc) -> Option<&mut Value> {
    match x {
        Loc::Reg(r) => st.regs.get_mut(usize::from(r)),
        Loc::Slot(s) => match st.stack.get_mut(&s) {
            Some(Slot::Spill(v)) => Some(v),
            _ => None,
        },
    }
}

/// `floor(c / k)` as an affine bound, if exact in `L` (`k > 0`).
fn div_floor(c: Aff, k: i128) -> Option<Aff> {
    if c.l.checked_rem(k)? != 0 {
        return None;
    }
    Some(Aff {
        c: c.c.checked_div_euclid(k)?,
        l: c.l.checked_div(k)?,
    })
}

/// Narrows the interval of each location a one-location fact of `facts` bounds.
pub fn tighten(st: &mut State, facts: &[Fact], env: &Env) {
    let env = &env.narrow(st.len);
    for f in facts.iter().filter(|f| f.terms.len() == 1) {
        let Some(&(x, k)) = f.terms.first() else {
            continue;
        };
        let k = i128::from(k);
        // k*x <= c gives an upper bound (k > 0) or a lower one (k < 0); `=` gives both.
        let hi = (k > 0).then(|| div_floor(f.c, k)).flatten();
        let lo = (k < 0)
            .then(|| div_floor(f.c, k.checked_neg()?).and_then(|q| Aff::k(0).minus(q)))
            .flatten();
        let (hi, lo) = if f.le {
            (hi, lo)
        } else {
            let exact = div_floor(f.c, k.abs())
                .filter(|q| q.scale(k.abs()) == Some(f.c))
                .and_then(|q| if k > 0 { Some(q) } else { Aff::k(0).minus(q) });
            (exact, exact)
        };
        let Some(v) = value_mut(st, x).filter(|v| framed(Some(v), env)) else {
            continue;
        };
        // Bounds in L matter for pointers (accesses are checked against L); on scalars
        // (loop counters) they would only defeat the certifier's widening, so scalars take
        // constant bounds only.
        let keep = |b: &Option<Aff>| match b {
            Some(b) if b.l != 0 && v.kind == Kind::Scalar => None,
            b => *b,
        };
        let (hi, lo) = (keep(&hi), keep(&lo));
        let mut iv = v.iv;
        if let Some(h) = hi {
            // An interval holds one upper bound. A bound in L on an input pointer is the one its
            // accesses are checked against, so it replaces a constant bound it does not
            // dominate (both hold; the constant one is dropped) as long as the interval stays
            // non-empty for every input length of the state.
            let input_len_bound =
                v.kind == Kind::Ptr(Region::Input) && h.l != 0 && iv.hi.l == 0 && env.le(iv.lo, h);
            if env.le(h, iv.hi) || input_len_bound {
                iv.hi = h;
            }
        }
        if let Some(l) = lo
            && env.le(iv.lo, l)
            && l != iv.lo
        {
            // The congruence survives a move of the lower bound by a multiple of it.
            let d = l.minus(iv.lo);
            if !d.is_some_and(|d| d.l == 0 && iv.m > 0 && d.c.checked_rem(iv.m) == Some(0)) {
                iv.m = 1;
            }
            iv.lo = l;
        }
        if iv != v.iv {
            v.iv = Iv::new(iv.lo, iv.hi, iv.m);
        }
    }
}

/// Narrows `x`'s interval by the one-location facts on `x` (after a copy or shift moved facts
/// onto it).
pub fn refresh(st: &mut State, x: Loc, env: &Env) {
    let on_x: Vec<Fact> = st
        .facts
        .iter()
        .filter(|f| f.terms.len() == 1 && f.terms.first().is_some_and(|t| t.0 == x))
        .cloned()
        .collect();
    if !on_x.is_empty() {
        tighten(st, &on_x, env);
    }
}

/// Restricts the state's input lengths to those where `0 <= c` (or `0 = c`) for the
/// location-free fact `f`; `false` if none is left.
fn narrow_len(st: &mut State, f: &Fact) -> bool {
    let (c, l) = (f.c.c, f.c.l);
    let [mut lo, mut hi] = st.len;
    if l == 0 {
        if (f.le && c < 0) || (!f.le && c != 0) {
            return false;
        }
    } else if let (Some(minus_c), Some(minus_l)) = (c.checked_neg(), l.checked_neg()) {
        // (Otherwise, beyond i128, the lengths are left as they are: narrowing is optional.)
        if !f.le {
            // c + l*L = 0 has at most one solution.
            let exact = |r: &i128| r.checked_mul(l) == Some(minus_c);
            match minus_c.checked_div(l).filter(exact) {
                Some(r) => (lo, hi) = (lo.max(r), hi.min(r)),
                None => return false,
            }
        } else if l > 0 {
            // L >= ceil(-c / l)
            if let Some(b) = crate::linear::ceil_div(minus_c, l) {
                lo = lo.max(b);
            }
        } else if let Some(b) = c.checked_div_euclid(minus_l) {
            // L <= floor(c / -l)
            hi = hi.min(b);
        }
    }
    st.len = [lo, hi];
    lo <= hi
}

/// Adds `fresh` (facts just established) and what [`ROUNDS`] rounds of elimination against
/// the known facts and the interval bounds derive from them; narrows intervals and input
/// lengths accordingly. Returns `false` if the state is infeasible (no admitted length left).
pub fn derive(st: &mut State, fresh: Vec<Fact>, env: &Env) -> bool {
    let mut fresh: Vec<Fact> = fresh;
    fresh.truncate(PER_ROUND);
    let mut added: Vec<Fact> = Vec::new();
    for f in &fresh {
        if f.terms.is_empty() {
            if !narrow_len(st, f) {
                return false;
            }
        } else if !holds(st, f, env) {
            st.facts.push(f.clone());
            added.push(f.clone());
        }
    }
    for _ in 0..ROUNDS {
        let env_n = env.narrow(st.len);
        let base = known(st);
        let mut next: Vec<Fact> = Vec::new();
        for f in &fresh {
            let mut partners: Vec<Fact> = base.clone();
            for &(x, _) in &f.terms {
                partners.extend(unary(st, x, &env_n));
            }
            for g in &partners {
                for &(v, _) in &f.terms {
                    let Some(h) = combine(f, g, v) else { continue };
                    if h.terms.is_empty() {
                        if !narrow_len(st, &h) {
                            return false;
                        }
                        continue;
                    }
                    // Derived facts relate at most two locations (sums of three come only
                    // from `x += y`), which keeps the rounds small.
                    let useful = h.terms.len() <= 2
                        && h.terms.iter().all(|t| framed(st.get(t.0), &env_n))
                        && !holds_with(st, &base, &h, &env_n)
                        && !next.contains(&h);
                    if useful && next.len() < PER_ROUND {
                        next.push(h);
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        st.facts.extend(next.iter().cloned());
        added.extend(next.iter().cloned());
        fresh = next;
    }
    tighten(st, &added, env);
    if st.facts.len() > MAX_FACTS {
        let excess = st.facts.len().saturating_sub(MAX_FACTS);
        st.facts.drain(..excess);
    }
    st.facts.sort();
    st.facts.dedup();
    true
}
