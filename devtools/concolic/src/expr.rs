//! Symbolic expressions over the input: bit-vectors of width 1..=64 and booleans.
//!
//! Built by the interpreter alongside each concrete value that depends on the input, and
//! translated to z3 only by the solver (`solver.rs`), so the interpreter stays solver-free.
//! Every node records its depth; an expression deeper than [`MAX_DEPTH`] is not built (the
//! value is concretised) so no input can make the shadow grow without bound.

use std::sync::Arc;

/// Deepest expression kept symbolic; deeper values are concretised.
pub const MAX_DEPTH: u32 = 4096;

/// A shared expression node.
pub type E = Arc<Expr>;

/// Binary bit-vector operations with wasm's semantics (shift counts taken modulo the width;
/// division by zero never reaches the solver, the interpreter records a trap check first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    DivS,
    DivU,
    RemS,
    RemU,
    And,
    Or,
    Xor,
    Shl,
    ShrS,
    ShrU,
    Rotl,
    Rotr,
}

/// Comparisons, giving a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    LtS,
    LtU,
    GtS,
    GtU,
    LeS,
    LeU,
    GeS,
    GeU,
}

/// One node.
#[derive(Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// Byte `i` of the call input (8 bits).
    InputByte(u32),
    /// The input's length (32 bits).
    InputLen,
    /// A constant of `width` bits.
    Const {
        width: u32,
        value: u64,
    },
    Bin {
        op: BinOp,
        a: E,
        b: E,
        depth: u32,
    },
    /// Bits `hi..=lo` of `a`.
    Extract {
        hi: u32,
        lo: u32,
        a: E,
        depth: u32,
    },
    /// `hi` above `lo`.
    Concat {
        hi: E,
        lo: E,
        depth: u32,
    },
    /// `a` extended by `by` bits, with its sign when `signed`.
    Extend {
        signed: bool,
        by: u32,
        a: E,
        depth: u32,
    },
    /// Count of leading zeros, trailing zeros or set bits of `a`, at `a`'s width.
    Count {
        kind: CountKind,
        a: E,
        depth: u32,
    },
    Cmp {
        op: CmpOp,
        a: E,
        b: E,
        depth: u32,
    },
    Not {
        a: E,
        depth: u32,
    },
    /// 1 when the boolean `c` holds, else 0, at `width` bits.
    FromBool {
        width: u32,
        c: E,
        depth: u32,
    },
    /// `t` if the boolean `c` holds, else `f`.
    Ite {
        c: E,
        t: E,
        f: E,
        depth: u32,
    },
}

/// What [`Expr::Count`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountKind {
    Clz,
    Ctz,
    Popcnt,
}

impl Expr {
    /// Width in bits; 0 for booleans.
    pub fn width(&self) -> u32 {
        match self {
            Expr::InputByte(_) => 8,
            Expr::InputLen => 32,
            Expr::Const { width, .. } => *width,
            Expr::Bin { a, .. } | Expr::Count { a, .. } => a.width(),
            Expr::Extract { hi, lo, .. } => hi.saturating_sub(*lo).saturating_add(1),
            Expr::Concat { hi, lo, .. } => hi.width().saturating_add(lo.width()),
            Expr::Extend { by, a, .. } => a.width().saturating_add(*by),
            Expr::Cmp { .. } | Expr::Not { .. } => 0,
            Expr::FromBool { width, .. } => *width,
            Expr::Ite { t, .. } => t.width(),
        }
    }

    /// Depth of the tree below and including this node.
    pub fn depth(&self) -> u32 {
        match self {
            Expr::InputByte(_) | Expr::InputLen | Expr::Const { .. } => 1,
            Expr::Bin { depth, .. }
            | Expr::Extract { depth, .. }
            | Expr::Concat { depth, .. }
            | Expr::Extend { depth, .. }
            | Expr::Count { depth, .. }
            | Expr::Cmp { depth, .. }
            | Expr::Not { depth, .. }
            | Expr::FromBool { depth, .. }
            | Expr::Ite { depth, .. } => *depth,
        }
    }
}

fn deeper(parts: &[&E]) -> Option<u32> {
    let d = parts.iter().map(|e| e.depth()).max().unwrap_or(0);
    let d = d.checked_add(1)?;
    (d <= MAX_DEPTH).then_some(d)
}

/// A constant of `width` bits (the value is masked to the width).
pub fn konst(width: u32, value: u64) -> E {
    Arc::new(Expr::Const {
        width,
        value: value & mask(width),
    })
}

/// The all-ones mask of `width` bits (`width` ≤ 64).
pub fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width).wrapping_sub(1)
    }
}

pub fn bin(op: BinOp, a: E, b: E) -> Option<E> {
    let depth = deeper(&[&a, &b])?;
    Some(Arc::new(Expr::Bin { op, a, b, depth }))
}

pub fn cmp(op: CmpOp, a: E, b: E) -> Option<E> {
    let depth = deeper(&[&a, &b])?;
    Some(Arc::new(Expr::Cmp { op, a, b, depth }))
}

/// The negation of a boolean; a double negation cancels.
pub fn not(a: E) -> Option<E> {
    if let Expr::Not { a: inner, .. } = &*a {
        return Some(Arc::clone(inner));
    }
    let depth = deeper(&[&a])?;
    Some(Arc::new(Expr::Not { a, depth }))
}

pub fn extract(hi: u32, lo: u32, a: E) -> Option<E> {
    if lo == 0 && hi.checked_add(1) == Some(a.width()) {
        return Some(a);
    }
    // A byte of a concatenation of bytes (a loaded word stored again) is that byte.
    if let Expr::Concat { hi: h, lo: l, .. } = &*a {
        let lw = l.width();
        if hi < lw {
            return extract(hi, lo, Arc::clone(l));
        }
        if lo >= lw {
            return extract(hi.checked_sub(lw)?, lo.checked_sub(lw)?, Arc::clone(h));
        }
    }
    let depth = deeper(&[&a])?;
    Some(Arc::new(Expr::Extract { hi, lo, a, depth }))
}

pub fn concat(hi: E, lo: E) -> Option<E> {
    let depth = deeper(&[&hi, &lo])?;
    Some(Arc::new(Expr::Concat { hi, lo, depth }))
}

pub fn extend(signed: bool, by: u32, a: E) -> Option<E> {
    if by == 0 {
        return Some(a);
    }
    let depth = deeper(&[&a])?;
    Some(Arc::new(Expr::Extend {
        signed,
        by,
        a,
        depth,
    }))
}

pub fn count(kind: CountKind, a: E) -> Option<E> {
    let depth = deeper(&[&a])?;
    Some(Arc::new(Expr::Count { kind, a, depth }))
}

/// A boolean as a `width`-bit 0/1 value.
pub fn from_bool(width: u32, c: E) -> Option<E> {
    let depth = deeper(&[&c])?;
    Some(Arc::new(Expr::FromBool { width, c, depth }))
}

pub fn ite(c: E, t: E, f: E) -> Option<E> {
    let depth = deeper(&[&c, &t, &f])?;
    Some(Arc::new(Expr::Ite { c, t, f, depth }))
}

/// The boolean "`a` is not zero", folding `FromBool` so a compare-then-branch stays a compare.
pub fn nonzero(a: E) -> Option<E> {
    if let Expr::FromBool { c, .. } = &*a {
        return Some(Arc::clone(c));
    }
    let w = a.width();
    cmp(CmpOp::Ne, a, konst(w, 0))
}
