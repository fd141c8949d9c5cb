//! The abstract domain shared by the checker and the certifier (trusted).
//!
//! Every number is a bound that is affine in the routine's input length `L`
//! (`c + l * L`, [`Aff`]), with `L` ranging over the certificate's admitted input lengths;
//! an inequality between two affine bounds holds for every admitted `L` iff it holds at both
//! ends of the range, which is all the checker ever evaluates.
//!
//! A register or an 8-byte stack slot holds a [`Value`]: uninitialised, a scalar, or a pointer
//! into one of four regions, each with an interval of integers. A scalar interval `[lo, hi]`
//! stands for the 64-bit words `x mod 2^64` with `lo <= x <= hi` (so `-8` and `2^64 - 8` are the
//! same word); a pointer interval is the byte offset from the start of its region.
//! A value may also carry [`Rel`]s: "this value equals the value location `origin` had at the
//! last visit of loop head `head`, plus `delta`" — the ghost facts the loop-bound check needs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Size of the routine's stack frame (bytes); `r10` points at its end.
pub const STACK_SIZE: i128 = 4096;
/// Number of 8-byte stack slots.
pub const STACK_SLOTS: u16 = (STACK_SIZE / 8) as u16;
/// 2^64, the modulus of machine words.
pub const WORD: i128 = 1 << 64;
/// Bounds are kept below this magnitude so that sums and products of two bounds never
/// overflow `i128`; anything larger is abstracted to "any word".
pub(crate) const LIMIT: i128 = 1 << 100;
/// Largest coefficient of `L` kept in a bound.
const L_LIMIT: i128 = 1 << 32;

/// An affine bound `c + l * L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Aff {
    /// Constant term.
    pub c: i128,
    /// Coefficient of the input length.
    pub l: i128,
}

impl Aff {
    /// The constant `c`.
    pub const fn k(c: i128) -> Self {
        Self { c, l: 0 }
    }

    /// The input length `L`.
    pub const LEN: Self = Self { c: 0, l: 1 };

    /// Value at input length `len`.
    pub fn at(self, len: i128) -> i128 {
        // Kept bounds (|c| < 2^100, |l| < 2^32) at lengths <= 2^32 never saturate; saturation
        // is monotone, so comparisons against in-range thresholds stay exact regardless.
        self.c.saturating_add(self.l.saturating_mul(len))
    }

    /// Whether both terms are in the kept range, where sums and products of two bounds are
    /// exact in `i128`.
    pub(crate) fn is_sane(self) -> bool {
        self.c.checked_abs().is_some_and(|c| c < LIMIT)
            && self.l.checked_abs().is_some_and(|l| l < L_LIMIT)
    }

    fn sane(self) -> Option<Self> {
        self.is_sane().then_some(self)
    }

    /// `self + other`, `None` if out of the kept range.
    pub fn plus(self, other: Self) -> Option<Self> {
        Self {
            c: self.c.checked_add(other.c)?,
            l: self.l.checked_add(other.l)?,
        }
        .sane()
    }

    /// `self - other`, `None` if out of the kept range.
    pub fn minus(self, other: Self) -> Option<Self> {
        Self {
            c: self.c.checked_sub(other.c)?,
            l: self.l.checked_sub(other.l)?,
        }
        .sane()
    }

    /// `self * k`, `None` if out of the kept range.
    pub fn scale(self, k: i128) -> Option<Self> {
        if k.abs() >= LIMIT {
            return None;
        }
        Self {
            c: self.c.checked_mul(k)?,
            l: self.l.checked_mul(k)?,
        }
        .sane()
    }
}

/// The range of input lengths a certificate covers, and the fixed region sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// Smallest admitted input length.
    pub len_min: i128,
    /// Largest admitted input length.
    pub len_max: i128,
    /// Output region length.
    pub out_len: i128,
    /// Constants region length.
    pub rodata_len: i128,
    /// Virtual address of the constants region (`lddw` of an address inside it is a pointer).
    pub rodata_vaddr: i128,
}

impl Env {
    /// The same environment restricted to input lengths in `len`.
    pub fn narrow(&self, len: [i128; 2]) -> Env {
        Env {
            len_min: len[0].max(self.len_min),
            len_max: len[1].min(self.len_max),
            ..*self
        }
    }

    /// `a <= b` for every admitted input length.
    pub fn le(&self, a: Aff, b: Aff) -> bool {
        a.at(self.len_min) <= b.at(self.len_min) && a.at(self.len_max) <= b.at(self.len_max)
    }

    /// The largest value `a` takes over the admitted lengths.
    pub fn max(&self, a: Aff) -> i128 {
        a.at(self.len_min).max(a.at(self.len_max))
    }

    /// The smallest value `a` takes over the admitted lengths.
    pub fn min(&self, a: Aff) -> i128 {
        a.at(self.len_min).min(a.at(self.len_max))
    }

    /// An upper bound of both `a` and `b` (the larger one if it dominates, else a constant).
    pub fn upper(&self, a: Aff, b: Aff) -> Aff {
        if self.le(a, b) {
            b
        } else if self.le(b, a) {
            a
        } else {
            Aff::k(self.max(a).max(self.max(b)))
        }
    }

    /// A lower bound of both `a` and `b`.
    pub fn lower(&self, a: Aff, b: Aff) -> Aff {
        if self.le(a, b) {
            a
        } else if self.le(b, a) {
            b
        } else {
            Aff::k(self.min(a).min(self.min(b)))
        }
    }

    /// Size of `region` as an affine bound.
    pub fn region_size(&self, region: Region) -> Aff {
        match region {
            Region::Input => Aff::LEN,
            Region::Output => Aff::k(self.out_len),
            Region::Stack => Aff::k(STACK_SIZE),
            Region::Rodata => Aff::k(self.rodata_len),
        }
    }
}

/// An interval of integers with affine bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iv {
    /// Lower bound.
    pub lo: Aff,
    /// Upper bound.
    pub hi: Aff,
    /// Congruence: every value is `lo` modulo `m` (a power of two; 1 = no information,
    /// 0 = the interval is a single value when `lo == hi`).
    pub m: i128,
}

/// The largest power of two dividing `d` (0 for 0).
pub fn pow2_of(d: i128) -> i128 {
    if d == 0 { 0 } else { d & d.wrapping_neg() }
}

/// The largest power of two dividing `|d|` (2^126 for `i128::MIN`, whose 2^127 does not fit).
fn pow2_abs(d: i128) -> i128 {
    d.checked_abs().map_or(1 << 126, pow2_of)
}

/// The largest power of two dividing both (0 acts as "any").
pub fn pow2_gcd(a: i128, b: i128) -> i128 {
    match (a, b) {
        (0, x) | (x, 0) => pow2_abs(x).max(if x == 0 { 0 } else { 1 }),
        (x, y) => pow2_abs(x).min(pow2_abs(y)).max(1),
    }
}

impl Iv {
    /// Every 64-bit word.
    pub const TOP: Self = Self {
        lo: Aff::k(0),
        hi: Aff::k(WORD - 1),
        m: 1,
    };

    /// The single constant `c`.
    pub const fn k(c: i128) -> Self {
        Self {
            lo: Aff::k(c),
            hi: Aff::k(c),
            m: 0,
        }
    }

    /// `[lo, hi]` with congruence `m`, rounded inward to the congruence when the bounds are
    /// constants.
    pub fn new(lo: Aff, hi: Aff, m: i128) -> Self {
        let mut iv = Self { lo, hi, m };
        if m > 1 && lo.l == 0 && hi.l == 0 && hi.c >= lo.c {
            // Rounding inward is an optional tightening: skipped if it would overflow.
            let top = (hi.c.checked_sub(lo.c))
                .and_then(|w| w.checked_div(m))
                .and_then(|q| q.checked_mul(m))
                .and_then(|w| lo.c.checked_add(w));
            if let Some(top) = top {
                iv.hi = Aff::k(top);
            }
        }
        if iv.lo == iv.hi && iv.lo.l == 0 {
            iv.m = 0;
        } else if iv.m == 0 {
            iv.m = (iv.hi.c.checked_sub(iv.lo.c)).map_or(1, |w| pow2_gcd(0, w).max(1));
            if iv.hi.l != iv.lo.l {
                iv.m = 1;
            }
        }
        iv
    }

    /// Whether the congruence of `self` implies that of `other`.
    pub fn stride_within(&self, other: &Iv) -> bool {
        let d = self.lo.minus(other.lo);
        let divides = |x: i128| x.checked_rem(other.m) == Some(0);
        other.m <= 1 || (divides(self.m) && d.is_some_and(|d| d.l == 0 && divides(d.c)))
    }

    /// `[lo, hi]` with constant bounds.
    pub const fn range(lo: i128, hi: i128) -> Self {
        Self {
            lo: Aff::k(lo),
            hi: Aff::k(hi),
            m: if lo == hi { 0 } else { 1 },
        }
    }

    /// Whether the interval is a single constant (independent of `L`).
    pub fn constant(&self) -> Option<i128> {
        (self.lo == self.hi && self.lo.l == 0).then_some(self.lo.c)
    }

    /// Whether the interval holds every word (its width reaches 2^64 for some `L`).
    pub fn is_top(&self, env: &Env) -> bool {
        // Saturation is monotone: a width past i128 is still at least a word.
        let w = |len| self.hi.at(len).saturating_sub(self.lo.at(len));
        w(env.len_min) >= WORD - 1 || w(env.len_max) >= WORD - 1
    }

    /// `self ⊆ other` as sets of words (the checker's inclusion test).
    pub fn within(&self, other: &Iv, env: &Env) -> bool {
        other.is_top(env)
            || (env.le(other.lo, self.lo) && env.le(self.hi, other.hi) && self.stride_within(other))
    }

    /// The same words, as integers inside `[0, 2^64)`, if the interval does not straddle a
    /// multiple of 2^64 (so unsigned comparisons can be refined on it).
    pub fn unsigned(&self, env: &Env) -> Option<Iv> {
        self.shifted_into(env, 0, WORD - 1)
    }

    /// The same words as integers inside `[-2^63, 2^63)`, if possible.
    pub fn signed(&self, env: &Env) -> Option<Iv> {
        self.shifted_into(env, -(WORD / 2), WORD / 2 - 1)
    }

    fn shifted_into(&self, env: &Env, lo: i128, hi: i128) -> Option<Iv> {
        for shift in [0, WORD, -WORD] {
            // 2^64 is a multiple of every kept modulus, so the congruence survives the shift.
            let s = Iv {
                lo: self.lo.plus(Aff::k(shift))?,
                hi: self.hi.plus(Aff::k(shift))?,
                m: if self.m > (1 << 64) { 1 } else { self.m },
            };
            if env.le(Aff::k(lo), s.lo) && env.le(s.hi, Aff::k(hi)) {
                return Some(s);
            }
        }
        None
    }
}

/// A memory region a pointer may point into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Region {
    /// The input (read-only, `L` bytes).
    Input,
    /// The output (writable, `out_len` bytes).
    Output,
    /// The stack frame (writable, 4096 bytes; offsets from its lowest address).
    Stack,
    /// The constants (read-only).
    Rodata,
}

impl Region {
    /// Whether stores into the region are allowed.
    pub fn writable(self) -> bool {
        matches!(self, Region::Output | Region::Stack)
    }
}

/// A storage location: a register or an 8-byte stack slot (index from the frame's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Loc {
    /// Register `r0..=r10`.
    Reg(u8),
    /// Stack slot `i` covers frame bytes `8i..8i+8`.
    Slot(u16),
}

/// "This value = (value of `origin` at the last visit of `head`) + delta", delta in
/// `[lo, hi]` (constants: ghost facts never depend on `L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rel {
    /// Loop head pc.
    pub head: u32,
    /// The location whose value at the head is the reference.
    pub origin: Loc,
    /// Smallest difference.
    pub lo: i128,
    /// Largest difference.
    pub hi: i128,
}

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Never written (reading it is an error). As a stated invariant: "anything".
    Uninit,
    /// A 64-bit word in the interval.
    Scalar,
    /// An address in the region, at an offset in the interval.
    Ptr(Region),
}

/// An abstract register or spilled-slot value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// Kind of the value.
    pub kind: Kind,
    /// Scalar words or pointer offsets (meaningless for `Uninit`).
    pub iv: Iv,
    /// Ghost relations to loop-head values, sorted.
    pub rels: Vec<Rel>,
}

impl Value {
    /// An uninitialised value.
    pub fn uninit() -> Self {
        Self {
            kind: Kind::Uninit,
            iv: Iv::k(0),
            rels: Vec::new(),
        }
    }

    /// A scalar in `iv`.
    pub fn scalar(iv: Iv) -> Self {
        Self {
            kind: Kind::Scalar,
            iv,
            rels: Vec::new(),
        }
    }

    /// Any word.
    pub fn top() -> Self {
        Self::scalar(Iv::TOP)
    }

    /// A pointer into `region` at offsets `iv`.
    pub fn ptr(region: Region, iv: Iv) -> Self {
        Self {
            kind: Kind::Ptr(region),
            iv,
            rels: Vec::new(),
        }
    }

    /// `self ⊑ other`: every concrete value `self` describes, `other` describes too.
    pub fn within(&self, other: &Value, env: &Env) -> bool {
        let kind_ok = match (self.kind, other.kind) {
            (_, Kind::Uninit) => true,
            (Kind::Uninit, _) => false,
            (Kind::Scalar, Kind::Scalar) => self.iv.within(&other.iv, env),
            // A pointer is a word, so "any word" covers it.
            (Kind::Ptr(_), Kind::Scalar) => other.iv.is_top(env),
            (Kind::Ptr(a), Kind::Ptr(b)) => a == b && self.iv.within(&other.iv, env),
            (Kind::Scalar, Kind::Ptr(_)) => false,
        };
        kind_ok
            && (other.kind == Kind::Uninit
                || other.rels.iter().all(|r| {
                    self.rels.iter().any(|s| {
                        s.head == r.head && s.origin == r.origin && r.lo <= s.lo && s.hi <= r.hi
                    })
                }))
    }
}

/// An 8-byte stack slot that holds something initialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    /// A whole register spilled by an aligned 8-byte store.
    Spill(Value),
    /// Bytes written by narrower or unaligned stores: bit `i` set = byte `i` initialised.
    Bytes(u8),
}

impl Slot {
    /// Initialised-byte mask.
    pub fn mask(&self) -> u8 {
        match self {
            Slot::Spill(_) => 0xff,
            Slot::Bytes(m) => *m,
        }
    }
}

/// The abstract machine state before an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// `r0..=r10`.
    pub regs: [Value; 11],
    /// Initialised stack slots (absent = uninitialised).
    pub stack: BTreeMap<u16, Slot>,
    /// The input lengths this state can occur with (`[min, max]`, within the certificate's).
    pub len: [i128; 2],
    /// Linear equalities between locations, sorted.
    pub lins: Vec<crate::linear::Lin>,
    /// Initialised stack prefixes bounded by a location, sorted.
    pub fills: Vec<crate::linear::Fill>,
    /// Relational facts (linear constraints with an `L`-affine constant), sorted.
    pub facts: Vec<crate::relations::Fact>,
}

impl State {
    /// The state at entry: r1 = input, r2 = L, r3 = output, r4 = output length, r10 = frame end.
    pub fn entry(env: &Env) -> Self {
        let mut regs: [Value; 11] = std::array::from_fn(|_| Value::uninit());
        regs[1] = Value::ptr(Region::Input, Iv::k(0));
        regs[2] = Value::scalar(Iv {
            lo: Aff::LEN,
            hi: Aff::LEN,
            m: 0,
        });
        regs[3] = Value::ptr(Region::Output, Iv::k(0));
        regs[4] = Value::scalar(Iv::k(env.out_len));
        regs[10] = Value::ptr(Region::Stack, Iv::k(STACK_SIZE));
        Self {
            regs,
            stack: BTreeMap::new(),
            len: [env.len_min, env.len_max],
            lins: Vec::new(),
            fills: Vec::new(),
            facts: Vec::new(),
        }
    }

    /// The value held at `loc`, if it holds a whole value.
    pub fn get(&self, loc: Loc) -> Option<&Value> {
        match loc {
            Loc::Reg(r) => self.regs.get(usize::from(r)),
            Loc::Slot(s) => match self.stack.get(&s) {
                Some(Slot::Spill(v)) => Some(v),
                _ => None,
            },
        }
    }

    /// `self ⊑ other` (the stated invariant `other` covers this state).
    pub fn within(&self, other: &State, env: &Env) -> bool {
        self.first_excess(other, env).is_none()
    }

    /// The first location at which `self ⊑ other` fails, for error messages.
    pub fn first_excess(&self, other: &State, env: &Env) -> Option<(Loc, String, String)> {
        if self.len[0] < other.len[0] || self.len[1] > other.len[1] {
            let show_len = |l: [i128; 2]| format!("input length in [{}, {}]", l[0], l[1]);
            return Some((Loc::Reg(2), show_len(self.len), show_len(other.len)));
        }
        // Values need to be included only for the lengths this state occurs with.
        let env = &env.narrow(self.len);
        for l in &other.lins {
            // The representatives must not change between the two states: same kinds and
            // integer inclusion of the intervals (no "any word" shortcut).
            let same_frame = |x: Loc| match (self.get(x), other.get(x)) {
                (Some(a), Some(b)) => {
                    a.kind == b.kind && env.le(b.iv.lo, a.iv.lo) && env.le(a.iv.hi, b.iv.hi)
                }
                _ => false,
            };
            if !crate::linear::implied(self, l) || !same_frame(l.a) || !same_frame(l.b) {
                return Some((l.a, format!("not known to satisfy {l:?}"), format!("{l:?}")));
            }
        }
        for f in &other.fills {
            let framed = matches!((self.get(f.end), other.get(f.end)), (Some(a), Some(b))
                if a.kind == b.kind && env.le(b.iv.lo, a.iv.lo) && env.le(a.iv.hi, b.iv.hi));
            if !framed || !crate::linear::fill_implied(self, f) {
                return Some((
                    f.end,
                    format!("not known to satisfy {f:?}"),
                    format!("{f:?}"),
                ));
            }
        }
        let known = if other.facts.is_empty() {
            Vec::new()
        } else {
            crate::relations::known(self)
        };
        for f in &other.facts {
            let same_frame = |x: Loc| match (self.get(x), other.get(x)) {
                (Some(a), Some(b)) => {
                    a.kind == b.kind
                        && crate::relations::framed(Some(b), env)
                        && env.le(b.iv.lo, a.iv.lo)
                        && env.le(a.iv.hi, b.iv.hi)
                }
                _ => false,
            };
            if !f.terms.iter().all(|t| same_frame(t.0))
                || !crate::relations::holds_with(self, &known, f, env)
            {
                let at = f.terms.first().map_or(Loc::Reg(2), |t| t.0);
                return Some((at, format!("not known to satisfy {f:?}"), format!("{f:?}")));
            }
        }
        // The stated facts hold, so the bounds they put on single locations hold too.
        let mut tightened = None;
        if other.facts.iter().any(|f| f.terms.len() == 1) {
            let mut t = self.clone();
            crate::relations::tighten(&mut t, &other.facts, env);
            tightened = Some(t);
        }
        let this = tightened.as_ref().unwrap_or(self);
        for (r, (a, b)) in this.regs.iter().zip(other.regs.iter()).enumerate() {
            if !a.within(b, env) {
                return Some((Loc::Reg(r as u8), show(a), show(b)));
            }
        }
        for (i, b) in &other.stack {
            let a = this.stack.get(i);
            let ok = match (a, b) {
                (None, _) => false,
                (Some(Slot::Spill(a)), Slot::Spill(b)) => a.within(b, env),
                (Some(Slot::Bytes(_)), Slot::Spill(_)) => false,
                (Some(a), Slot::Bytes(m)) => a.mask() & m == *m,
            };
            if !ok {
                let sa = a.map_or("uninitialised".to_string(), show_slot);
                return Some((Loc::Slot(*i), sa, show_slot(b)));
            }
        }
        None
    }
}

fn show_aff(a: Aff) -> String {
    match (a.c, a.l) {
        (c, 0) => c.to_string(),
        (0, 1) => "L".into(),
        (c, 1) => format!("L{c:+}"),
        (c, l) => format!("{l}L{c:+}"),
    }
}

/// Human-readable rendering of an interval, e.g. `[0, L-1]`.
pub fn show_iv(iv: &Iv) -> String {
    let stride = if iv.m > 1 {
        format!(" step {}", iv.m)
    } else {
        String::new()
    };
    format!("[{}, {}]{stride}", show_aff(iv.lo), show_aff(iv.hi))
}

/// Human-readable rendering of a value, e.g. `input+[0, L-1]` or `scalar[0, 255]`.
pub fn show(v: &Value) -> String {
    let base = match v.kind {
        Kind::Uninit => return "uninitialised".into(),
        Kind::Scalar => format!("scalar{}", show_iv(&v.iv)),
        Kind::Ptr(r) => format!("{}+{}", format!("{r:?}").to_lowercase(), show_iv(&v.iv)),
    };
    let rels: Vec<String> = v
        .rels
        .iter()
        .map(|r| format!(" (= {:?}@{} + [{}, {}])", r.origin, r.head, r.lo, r.hi))
        .collect();
    base + &rels.concat()
}

/// Human-readable rendering of a stack slot.
pub fn show_slot(s: &Slot) -> String {
    match s {
        Slot::Spill(v) => format!("spill {}", show(v)),
        Slot::Bytes(m) => format!("bytes(mask {m:#04x})"),
    }
}
