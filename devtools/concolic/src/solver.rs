//! z3 over the recorded facts: translates [`Expr`] to bit-vector terms and solves a path prefix
//! with one fact negated, giving the input of a new path.

use crate::expr::{BinOp, CmpOp, CountKind, E, Expr};
use crate::trace::{Fact, FactKind};
use std::collections::HashMap;
use z3::ast::{Ast, BV, Bool};
use z3::{Context, Params, SatResult, Solver};

/// An input the solver proposes: its bytes (length from the model).
pub type Proposal = Vec<u8>;

/// Counters of one exploration's solver use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SolverStats {
    pub queries: u64,
    pub sat: u64,
    pub unsat: u64,
    /// Queries that hit the timeout (or z3 gave up).
    pub unknown: u64,
}

enum Term<'c> {
    Bv(BV<'c>),
    B(Bool<'c>),
}

/// A z3 context with the input variables and a memo of translated nodes.
pub struct PathSolver<'c> {
    ctx: &'c Context,
    solver: Solver<'c>,
    /// Translated nodes by address; each entry keeps its node alive, so an address is never
    /// reused for another node while the memo holds it.
    memo: HashMap<*const Expr, (E, Term<'c>)>,
    bytes: HashMap<u32, BV<'c>>,
    len: BV<'c>,
    max_len: u32,
}

impl<'c> PathSolver<'c> {
    /// A solver whose inputs are at most `max_len` bytes long; each check is limited to
    /// `timeout_ms`.
    pub fn new(ctx: &'c Context, max_len: u32, timeout_ms: u32) -> PathSolver<'c> {
        let solver = Solver::new(ctx);
        let mut p = Params::new(ctx);
        p.set_u32("timeout", timeout_ms);
        solver.set_params(&p);
        let len = BV::new_const(ctx, "input_len", 32);
        solver.assert(&len.bvule(&BV::from_u64(ctx, u64::from(max_len), 32)));
        PathSolver {
            ctx,
            solver,
            memo: HashMap::new(),
            bytes: HashMap::new(),
            len,
            max_len,
        }
    }

    /// Asserts a fact permanently (a prefix element).
    pub fn assume(&mut self, fact: &Fact) {
        let b = self.boolean(&fact.cond);
        self.solver.assert(&b);
    }

    /// Solves the asserted prefix with `fact` negated. `parent` supplies the bytes the model
    /// leaves free, so a new input differs from its parent only where it must.
    pub fn negate(
        &mut self,
        fact: &Fact,
        parent: &[u8],
        stats: &mut SolverStats,
    ) -> Option<Proposal> {
        debug_assert!(fact.kind != FactKind::Pin);
        let b = self.boolean(&fact.cond).not();
        self.solver.push();
        self.solver.assert(&b);
        stats.queries = stats.queries.saturating_add(1);
        let out = match self.solver.check() {
            SatResult::Sat => {
                stats.sat = stats.sat.saturating_add(1);
                self.solver.get_model().map(|m| self.read_model(&m, parent))
            }
            SatResult::Unsat => {
                stats.unsat = stats.unsat.saturating_add(1);
                None
            }
            SatResult::Unknown => {
                stats.unknown = stats.unknown.saturating_add(1);
                None
            }
        };
        self.solver.pop(1);
        out
    }

    /// The value of `e` when the input is `input` (tests of the translation).
    #[cfg(test)]
    pub(crate) fn value_of(&mut self, e: &E, input: &[u8]) -> Option<u64> {
        let v = self.bv(e);
        self.solver.push();
        for (i, b) in input.iter().enumerate() {
            let var = self.bv(&std::sync::Arc::new(Expr::InputByte(i as u32)));
            self.solver
                .assert(&var._eq(&BV::from_u64(self.ctx, u64::from(*b), 8)));
        }
        let out = match self.solver.check() {
            SatResult::Sat => self
                .solver
                .get_model()
                .and_then(|m| m.eval(&v, true))
                .and_then(|x| x.as_u64()),
            _ => None,
        };
        self.solver.pop(1);
        out
    }

    fn read_model(&self, m: &z3::Model<'c>, parent: &[u8]) -> Proposal {
        let len = m
            .eval(&self.len, false)
            .and_then(|v| v.as_u64())
            .map_or(parent.len(), |v| v as usize)
            .min(self.max_len as usize);
        (0..len)
            .map(|i| {
                let fixed = self
                    .bytes
                    .get(&(i as u32))
                    .and_then(|b| m.eval(b, false))
                    .and_then(|v| v.as_u64());
                fixed.map_or_else(|| parent.get(i).copied().unwrap_or(0), |v| v as u8)
            })
            .collect()
    }

    fn boolean(&mut self, e: &E) -> Bool<'c> {
        match self.term(e) {
            Term::B(b) => b,
            Term::Bv(v) => {
                let w = v.get_size();
                v._eq(&BV::from_u64(self.ctx, 0, w)).not()
            }
        }
    }

    fn bv(&mut self, e: &E) -> BV<'c> {
        match self.term(e) {
            Term::Bv(v) => v,
            Term::B(b) => b.ite(&BV::from_u64(self.ctx, 1, 1), &BV::from_u64(self.ctx, 0, 1)),
        }
    }

    fn term(&mut self, e: &E) -> Term<'c> {
        let key = std::sync::Arc::as_ptr(e);
        if let Some((_, t)) = self.memo.get(&key) {
            return match t {
                Term::Bv(v) => Term::Bv(v.clone()),
                Term::B(b) => Term::B(b.clone()),
            };
        }
        let t = self.translate(e);
        let copy = match &t {
            Term::Bv(v) => Term::Bv(v.clone()),
            Term::B(b) => Term::B(b.clone()),
        };
        self.memo.insert(key, (e.clone(), copy));
        t
    }

    fn translate(&mut self, e: &E) -> Term<'c> {
        let ctx = self.ctx;
        match &**e {
            Expr::InputByte(i) => {
                let b = self
                    .bytes
                    .entry(*i)
                    .or_insert_with(|| BV::new_const(ctx, format!("in{i}"), 8))
                    .clone();
                Term::Bv(b)
            }
            Expr::InputLen => Term::Bv(self.len.clone()),
            Expr::Const { width, value } => Term::Bv(BV::from_u64(ctx, *value, *width)),
            Expr::Bin { op, a, b, .. } => {
                let (x, y) = (self.bv(a), self.bv(b));
                Term::Bv(bin(ctx, *op, &x, &y))
            }
            Expr::Extract { hi, lo, a, .. } => Term::Bv(self.bv(a).extract(*hi, *lo)),
            Expr::Concat { hi, lo, .. } => {
                let (h, l) = (self.bv(hi), self.bv(lo));
                Term::Bv(h.concat(&l))
            }
            Expr::Extend { signed, by, a, .. } => {
                let x = self.bv(a);
                Term::Bv(if *signed {
                    x.sign_ext(*by)
                } else {
                    x.zero_ext(*by)
                })
            }
            Expr::Count { kind, a, .. } => {
                let x = self.bv(a);
                Term::Bv(count(ctx, *kind, &x))
            }
            Expr::Cmp { op, a, b, .. } => {
                let (x, y) = (self.bv(a), self.bv(b));
                Term::B(compare(*op, &x, &y))
            }
            Expr::Not { a, .. } => Term::B(self.boolean(a).not()),
            Expr::FromBool { width, c, .. } => {
                let b = self.boolean(c);
                let one = BV::from_u64(ctx, 1, *width);
                let zero = BV::from_u64(ctx, 0, *width);
                Term::Bv(b.ite(&one, &zero))
            }
            Expr::Ite { c, t, f, .. } => {
                let b = self.boolean(c);
                match (self.term(t), self.term(f)) {
                    (Term::Bv(x), Term::Bv(y)) => Term::Bv(b.ite(&x, &y)),
                    (Term::B(x), Term::B(y)) => Term::B(b.ite(&x, &y)),
                    (Term::Bv(x), Term::B(y)) => {
                        let w = x.get_size();
                        let y = y.ite(&BV::from_u64(ctx, 1, w), &BV::from_u64(ctx, 0, w));
                        Term::Bv(b.ite(&x, &y))
                    }
                    (Term::B(x), Term::Bv(y)) => {
                        let w = y.get_size();
                        let x = x.ite(&BV::from_u64(ctx, 1, w), &BV::from_u64(ctx, 0, w));
                        Term::Bv(b.ite(&x, &y))
                    }
                }
            }
        }
    }
}

/// wasm's binary operators; shift and rotate counts are taken modulo the width.
fn bin<'c>(ctx: &'c Context, op: BinOp, x: &BV<'c>, y: &BV<'c>) -> BV<'c> {
    let w = x.get_size();
    let count = || y.bvand(&BV::from_u64(ctx, u64::from(w.saturating_sub(1)), w));
    match op {
        BinOp::Add => x.bvadd(y),
        BinOp::Sub => x.bvsub(y),
        BinOp::Mul => x.bvmul(y),
        BinOp::DivS => x.bvsdiv(y),
        BinOp::DivU => x.bvudiv(y),
        BinOp::RemS => x.bvsrem(y),
        BinOp::RemU => x.bvurem(y),
        BinOp::And => x.bvand(y),
        BinOp::Or => x.bvor(y),
        BinOp::Xor => x.bvxor(y),
        BinOp::Shl => x.bvshl(&count()),
        BinOp::ShrS => x.bvashr(&count()),
        BinOp::ShrU => x.bvlshr(&count()),
        BinOp::Rotl => x.bvrotl(&count()),
        BinOp::Rotr => x.bvrotr(&count()),
    }
}

fn compare<'c>(op: CmpOp, x: &BV<'c>, y: &BV<'c>) -> Bool<'c> {
    match op {
        CmpOp::Eq => x._eq(y),
        CmpOp::Ne => x._eq(y).not(),
        CmpOp::LtS => x.bvslt(y),
        CmpOp::LtU => x.bvult(y),
        CmpOp::GtS => x.bvsgt(y),
        CmpOp::GtU => x.bvugt(y),
        CmpOp::LeS => x.bvsle(y),
        CmpOp::LeU => x.bvule(y),
        CmpOp::GeS => x.bvsge(y),
        CmpOp::GeU => x.bvuge(y),
    }
}

/// clz, ctz and popcnt, spelled out bit by bit (z3 has no such operators).
fn count<'c>(ctx: &'c Context, kind: CountKind, x: &BV<'c>) -> BV<'c> {
    let w = x.get_size();
    let k = |v: u32| BV::from_u64(ctx, u64::from(v), w);
    let bit = |i: u32| x.extract(i, i)._eq(&BV::from_u64(ctx, 1, 1));
    match kind {
        CountKind::Popcnt => (0..w).fold(k(0), |acc, i| {
            acc.bvadd(&x.extract(i, i).zero_ext(w.saturating_sub(1)))
        }),
        // From the far end inwards, so the nearest set bit decides.
        CountKind::Clz => (0..w).fold(k(w), |acc, i| bit(i).ite(&k(w - 1 - i), &acc)),
        CountKind::Ctz => (0..w).rev().fold(k(w), |acc, i| bit(i).ite(&k(i), &acc)),
    }
}
