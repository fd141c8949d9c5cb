//! The certifier (producer, untrusted): computes invariants by abstract interpretation
//! (worklist fixpoint, widening with thresholds at loop heads, then narrowing), infers a
//! ranking counter for every loop head, and returns a certificate the checker accepts — or the
//! first obligation it could not prove.

use crate::certificate::{Certificate, LoopBound, Params};
use crate::checker::{self, CheckError};
use crate::domain::{Env, Kind, Loc, Slot, State};
use crate::image::Image;
use crate::isa::{OpKind, Program, allowed, decode};
use crate::lattice::{join, join_head, widen};
use crate::property::Property;
use crate::transfer::{enter_head, step};
use std::collections::{BTreeMap, BTreeSet};

/// Visits of a loop head joined exactly before widening starts.
const WIDEN_DELAY: u32 = 40;
/// Descending (narrowing) rounds after each ascending phase.
const NARROW_ROUNDS: usize = 3;
/// Ascending/descending alternations before giving up.
const MAX_ROUNDS: usize = 12;

/// Why a routine could not be certified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertifyError {
    /// The object does not link (see `image::link`).
    #[error("cannot link the object: {0}")]
    Link(String),
    /// The program is unsafe or the analysis is too weak to prove it: the instruction, the
    /// property and the abstract values.
    #[error("pc {pc}: {property}: {detail}")]
    Unproven {
        /// Instruction index.
        pc: usize,
        /// Property that could not be proven.
        property: Property,
        /// Abstract values involved.
        detail: String,
    },
    /// No location makes strict, bounded progress around a loop.
    #[error("pc {head}: unbounded loop: no counter makes progress on every back edge ({detail})")]
    NoLoopBound {
        /// Loop head.
        head: usize,
        /// What was tried.
        detail: String,
    },
    /// The fixpoint did not stabilise within the round limit.
    #[error("the analysis did not converge")]
    NoFixpoint,
    /// The produced certificate fails the checker (a certifier defect or a checker-only
    /// obligation such as the instruction bound).
    #[error("the checker rejects the produced certificate: {0}")]
    Check(#[from] CheckError),
}

/// Certifies a relocatable BPF object for `params`. Deterministic. Errors: [`CertifyError`].
pub fn certify_object(elf: &[u8], params: &Params) -> Result<Certificate, CertifyError> {
    let image = crate::image::link(elf).map_err(CertifyError::Link)?;
    certify(&image, params)
}

/// Certifies a linked image for `params`. Deterministic. Errors: [`CertifyError`].
pub fn certify(image: &Image, params: &Params) -> Result<Certificate, CertifyError> {
    let mut cert = Certificate {
        params: *params,
        program_sha256: image.sha256(),
        states: Vec::new(),
        loops: Vec::new(),
        loop_of: Vec::new(),
        max_instructions: u64::MAX,
    };
    let env = checker::env_of(&cert, image)?;
    let prog = decode(&image.text).map_err(|e| CertifyError::Unproven {
        pc: 0,
        property: Property::ForbiddenInstruction,
        detail: e.to_string(),
    })?;
    checker::admit_all(&prog).map_err(|e| CertifyError::Unproven {
        pc: e.pc.unwrap_or(0),
        property: e.property,
        detail: e.detail,
    })?;
    let n = prog.slots.len();
    let mut heads = vec![false; n];
    let mut latch = vec![0usize; n];
    for (pc, insn) in prog.slots.iter().enumerate() {
        if let Some(insn) = insn
            && matches!(allowed(insn.op), Some(OpKind::Ja | OpKind::Jump))
            && let Some(t) = crate::isa::jump_target(pc, insn.off).filter(|&t| t <= pc)
            && let (Some(head), Some(l)) = (heads.get_mut(t), latch.get_mut(t))
        {
            *head = true;
            *l = (*l).max(pc);
        }
    }
    let engine = Engine {
        prog: &prog,
        env,
        heads: &heads,
        latch: &latch,
        thresholds: thresholds(&prog, &env),
    };
    // Pass 1: every location is a candidate counter at every head.
    let all = |_: usize, s: &State| -> Vec<Loc> { locations(s) };
    let states = engine.fixpoint(&all)?;
    let (_, bodies) = engine.nesting(&states, &all);
    let loops = engine.infer_loops(&states, &all, &bodies)?;
    // Pass 2: only the chosen counters, as the checker will track them.
    let chosen = |pc: usize, _: &State| -> Vec<Loc> {
        loops
            .iter()
            .find(|l| l.head as usize == pc)
            .map(|l| vec![l.counter])
            .unwrap_or_default()
    };
    let states = engine.fixpoint(&chosen)?;
    let (loop_of, bodies) = engine.nesting(&states, &chosen);
    cert.states = states
        .into_iter()
        .map(|s| s.map(std::sync::Arc::new))
        .collect();
    cert.loops = loops
        .into_iter()
        .filter(|l| bodies.contains_key(&(l.head as usize)))
        .map(|mut l| {
            l.parent = bodies.get(&(l.head as usize)).and_then(|(p, _)| *p);
            l
        })
        .collect();
    cert.loop_of = loop_of;
    let report = checker::check(image, &cert)?;
    cert.max_instructions = report.worst_case_instructions;
    tracing::debug!(
        slots = n,
        loops = cert.loops.len(),
        worst = report.worst_case_instructions,
        "certified"
    );
    Ok(cert)
}

fn locations(s: &State) -> Vec<Loc> {
    let regs = (0..10u8)
        .zip(&s.regs)
        .filter(|(_, v)| v.kind != Kind::Uninit)
        .map(|(r, _)| r);
    let slots = s.stack.iter().filter_map(|(i, slot)| match slot {
        Slot::Spill(v) if v.kind != Kind::Uninit => Some(Loc::Slot(*i)),
        _ => None,
    });
    regs.map(Loc::Reg).chain(slots).collect()
}

/// Widening thresholds: every immediate and its neighbours, plus region sizes.
fn thresholds(prog: &Program, env: &Env) -> Vec<i128> {
    let mut t = BTreeSet::new();
    for insn in prog.slots.iter().flatten() {
        let c = i128::from(insn.imm);
        t.extend([c.saturating_sub(1), c, c.saturating_add(1)]);
    }
    for c in [
        0,
        crate::domain::STACK_SIZE,
        env.out_len,
        env.rodata_len,
        env.len_max,
    ] {
        t.extend([c.saturating_sub(1), c, c.saturating_add(1)]);
    }
    t.into_iter().collect()
}

type Origins<'a> = dyn Fn(usize, &State) -> Vec<Loc> + 'a;

struct Engine<'a> {
    prog: &'a Program,
    env: Env,
    heads: &'a [bool],
    /// Per head, the last instruction jumping back to it.
    latch: &'a [usize],
    thresholds: Vec<i128>,
}

impl Engine<'_> {
    fn is_head(&self, pc: usize) -> bool {
        self.heads.get(pc).copied().unwrap_or(false)
    }

    fn successors(
        &self,
        pc: usize,
        pre: &State,
        origins: &Origins<'_>,
    ) -> Result<Vec<(usize, State)>, crate::property::Violation> {
        let mut s = pre.clone();
        if self.is_head(pc) {
            let o = origins(pc, &s);
            enter_head(&mut s, pc as u32, &o);
        }
        step(self.prog, pc, &s, &self.env)
    }

    fn fixpoint(&self, origins: &Origins<'_>) -> Result<Vec<Option<State>>, CertifyError> {
        let n = self.prog.slots.len();
        let mut states: Vec<Option<State>> = vec![None; n];
        if let Some(s) = states.first_mut() {
            *s = Some(State::entry(&self.env));
        }
        let mut visits = vec![0u32; n];
        // Per head, its state before the last join (for an early widening step).
        let mut prev: Vec<Option<State>> = vec![None; n];
        let mut widened_early: BTreeSet<usize> = BTreeSet::new();
        let mut work: BTreeSet<usize> = BTreeSet::from([0]);
        // Per instruction, the instructions it has been reached from so far.
        let mut preds: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        for round in 0..MAX_ROUNDS {
            while let Some(pc) = work.pop_first() {
                let Some(Some(pre)) = states.get(pc) else {
                    continue;
                };
                // An unproven obligation blocks its successors for now; narrowing may remove
                // it, and the final verification reports it if it stays.
                let Ok(succs) = self.successors(pc, pre, origins) else {
                    continue;
                };
                for (t, st) in succs {
                    let Some(slot) = states.get_mut(t) else {
                        continue;
                    };
                    let only_pred = preds.get_mut(t).is_some_and(|p| {
                        p.insert(pc);
                        p.len() == 1
                    }) && !self.is_head(t);
                    let new = match slot.as_ref() {
                        None => st,
                        // Straight-line code, first ascending phase: an instruction reached
                        // from one place only takes its predecessor's successor, which only
                        // grows then, without a join. (Later phases start from narrowed
                        // states, where a replacement could undo a join: they join.)
                        Some(_) if only_pred && round == 0 => st,
                        Some(old) => {
                            let j = self.join_at(t, old, &st);
                            let seen = visits.get_mut(t).map_or(0, |v| {
                                *v = v.saturating_add(1);
                                *v
                            });
                            if self.is_head(t) && seen > WIDEN_DELAY {
                                widen(old, &j, &self.env, &self.thresholds)
                            } else {
                                j
                            }
                        }
                    };
                    if slot.as_ref() != Some(&new) {
                        if self.is_head(t)
                            && let Some(p) = prev.get_mut(t)
                        {
                            *p = slot.take();
                        }
                        *slot = Some(new);
                        work.insert(t);
                    }
                }
            }
            for _ in 0..NARROW_ROUNDS {
                let narrowed = self.recompute(&states, origins);
                // The transfer function is not monotone (facts, ghost relations), so a descending
                // step may leave a state that no longer covers a predecessor's successor: then
                // keep the states before it.
                if !self.covers(&states, &narrowed, origins) {
                    break;
                }
                states = narrowed;
            }
            let mut first = None;
            for pc in 0..n {
                let Some(Some(pre)) = states.get(pc) else {
                    continue;
                };
                match self.successors(pc, pre, origins) {
                    Err(v) => {
                        first.get_or_insert((pc, v));
                    }
                    Ok(succs) => {
                        let stable = succs.iter().all(|(t, st)| {
                            matches!(states.get(*t), Some(Some(s)) if st.within(s, &self.env))
                        });
                        if !stable {
                            work.insert(pc);
                        }
                    }
                }
            }
            if work.is_empty()
                && let Some((pc, _)) = &first
                && let Some(h) = self.early_widening(*pc, &mut states, &prev, &widened_early)
            {
                // The failure may be an artefact of the exact joins: a body state that still
                // conflates early iterations (e.g. a pointer bounded by 32 + 64k and by
                // L - 32, neither implying the other) blocks the loop before widening starts.
                // Widen the innermost loop around it now and iterate again.
                widened_early.insert(h);
                if let Some(v) = visits.get_mut(h) {
                    *v = (*v).max(WIDEN_DELAY + 1);
                }
                work.insert(h);
                continue;
            }
            if work.is_empty() {
                return match first {
                    None => Ok(states),
                    Some((pc, v)) => Err(CertifyError::Unproven {
                        pc,
                        property: v.property,
                        detail: v.detail,
                    }),
                };
            }
            // Re-propagate from the unstable instructions with fresh widening delays.
            let pending: Vec<usize> = work.iter().copied().collect();
            work.clear();
            for pc in pending {
                let Some(Some(pre)) = states.get(pc).cloned() else {
                    continue;
                };
                if let Ok(succs) = self.successors(pc, &pre, origins) {
                    for (t, st) in succs {
                        if let Some(slot) = states.get_mut(t) {
                            let new = match slot.as_ref() {
                                None => st,
                                Some(old) => self.join_at(t, old, &st),
                            };
                            if slot.as_ref() != Some(&new) {
                                *slot = Some(new);
                                work.insert(t);
                            }
                        }
                    }
                }
            }
        }
        Err(CertifyError::NoFixpoint)
    }

    /// The innermost loop head around `pc` (by layout: `head <= pc <= latch`) not yet widened
    /// early, after one widening step of its state against the one before its last join.
    fn early_widening(
        &self,
        pc: usize,
        states: &mut [Option<State>],
        prev: &[Option<State>],
        done: &BTreeSet<usize>,
    ) -> Option<usize> {
        let h = (0..=pc).rev().find(|&h| {
            self.is_head(h) && self.latch.get(h).is_some_and(|&l| l >= pc) && !done.contains(&h)
        })?;
        let (Some(old), Some(cur)) = (prev.get(h)?.as_ref(), states.get(h)?.as_ref()) else {
            return None;
        };
        // Only the region sizes as thresholds: the next immediate is usually the bound the
        // exact joins already reached.
        let coarse: BTreeSet<i128> = [
            0,
            crate::domain::STACK_SIZE,
            self.env.out_len,
            self.env.rodata_len,
            self.env.len_max,
        ]
        .into_iter()
        .flat_map(|c| [c.saturating_sub(1), c, c.saturating_add(1)])
        .collect();
        let coarse: Vec<i128> = coarse.into_iter().collect();
        let w = widen(old, &join(old, cur, &self.env), &self.env, &coarse);
        *states.get_mut(h)? = Some(w);
        Some(h)
    }

    /// The join of two states of instruction `t`; at a loop head it also keeps the input-length
    /// bounds both sides imply (`join_head`).
    fn join_at(&self, t: usize, a: &State, b: &State) -> State {
        if self.is_head(t) {
            join_head(a, b, &self.env)
        } else {
            join(a, b, &self.env)
        }
    }

    /// Whether every successor in `next` is covered by its target's state, except on edges
    /// out of instructions whose obligation failed in `prev` (narrowing may newly unblock
    /// them; the next ascending phase takes those).
    fn covers(
        &self,
        prev: &[Option<State>],
        next: &[Option<State>],
        origins: &Origins<'_>,
    ) -> bool {
        next.iter().enumerate().all(|(pc, pre)| {
            let Some(pre) = pre else { return true };
            let Ok(succs) = self.successors(pc, pre, origins) else {
                return true;
            };
            let blocked_before = prev
                .get(pc)
                .and_then(Option::as_ref)
                .is_some_and(|p| self.successors(pc, p, origins).is_err());
            blocked_before
                || succs.iter().all(|(t, st)| match next.get(*t) {
                    Some(Some(s)) => st.within(s, &self.env),
                    _ => false,
                })
        })
    }

    /// One descending step: every state recomputed from its predecessors' states.
    fn recompute(&self, states: &[Option<State>], origins: &Origins<'_>) -> Vec<Option<State>> {
        // One descending sweep in layout order (Gauss-Seidel): a forward edge carries its
        // source's state from this sweep, a back edge the state of the previous iteration.
        // A narrowed bound crosses a whole loop body in one sweep instead of one instruction
        // per round (the caller keeps the result only if it still covers every successor).
        let mut out: Vec<Option<State>> = vec![None; states.len()];
        if let Some(s) = out.first_mut() {
            *s = Some(State::entry(&self.env));
        }
        let feed = |out: &mut Vec<Option<State>>, t: usize, st: State| {
            if let Some(slot) = out.get_mut(t) {
                *slot = Some(match slot.take() {
                    None => st,
                    Some(old) => self.join_at(t, &old, &st),
                });
            }
        };
        for (pc, pre) in states.iter().enumerate() {
            let Some(pre) = pre else { continue };
            if let Ok(succs) = self.successors(pc, pre, origins) {
                for (t, st) in succs.into_iter().filter(|(t, _)| *t <= pc) {
                    feed(&mut out, t, st);
                }
            }
        }
        for pc in 0..states.len() {
            let Some(Some(pre)) = out.get(pc).cloned() else {
                continue;
            };
            let Ok(succs) = self.successors(pc, &pre, origins) else {
                continue;
            };
            for (t, st) in succs.into_iter().filter(|(t, _)| *t > pc) {
                feed(&mut out, t, st);
            }
        }
        out
    }

    /// Loop bodies (nodes on a cycle through the head) and the innermost loop of each node.
    /// Returns `loop_of` and, per head, its parent and body.
    #[allow(clippy::type_complexity)]
    fn nesting(
        &self,
        states: &[Option<State>],
        origins: &Origins<'_>,
    ) -> (Vec<Option<u32>>, BTreeMap<usize, (Option<u32>, Vec<bool>)>) {
        let n = states.len();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut heads = BTreeSet::new();
        for (pc, pre) in states.iter().enumerate() {
            let Some(pre) = pre else { continue };
            let Ok(succs) = self.successors(pc, pre, origins) else {
                continue;
            };
            for (t, _) in succs.into_iter().filter(|(t, _)| *t < n) {
                if let (Some(s), Some(p)) = (succ.get_mut(pc), pred.get_mut(t)) {
                    s.push(t);
                    p.push(pc);
                }
                if t <= pc {
                    heads.insert(t);
                }
            }
        }
        // The natural loop of a head: the head and every instruction that reaches one of its
        // back edges' sources without passing through the head. (Not "every node on a cycle
        // through the head": for an inner loop that would take in the enclosing loop too.)
        let natural = |h: usize| {
            let preds_of = |x: usize| pred.get(x).into_iter().flatten().copied();
            let mut body = vec![false; n];
            let mut stack: Vec<usize> = preds_of(h).filter(|&p| p >= h).collect();
            for &p in stack.iter().chain([&h]) {
                if let Some(b) = body.get_mut(p) {
                    *b = true;
                }
            }
            while let Some(x) = stack.pop() {
                if x == h {
                    continue;
                }
                for y in preds_of(x) {
                    if let Some(b) = body.get_mut(y)
                        && !*b
                    {
                        *b = true;
                        stack.push(y);
                    }
                }
            }
            body
        };
        let mut bodies: Vec<(usize, Vec<bool>)> = heads.iter().map(|&h| (h, natural(h))).collect();
        let size = |b: &Vec<bool>| b.iter().filter(|x| **x).count();
        bodies.sort_by_key(|(h, b)| (std::cmp::Reverse(size(b)), *h));
        let mut loop_of: Vec<Option<u32>> = vec![None; n];
        let mut out = BTreeMap::new();
        for (h, body) in bodies {
            let parent = loop_of.get(h).copied().flatten();
            for (slot, inside) in loop_of.iter_mut().zip(&body) {
                if *inside {
                    *slot = Some(h as u32);
                }
            }
            out.insert(h, (parent, body));
        }
        (loop_of, out)
    }

    /// For each loop head, the candidate counter with the fewest proven iterations.
    fn infer_loops(
        &self,
        states: &[Option<State>],
        origins: &Origins<'_>,
        bodies: &BTreeMap<usize, (Option<u32>, Vec<bool>)>,
    ) -> Result<Vec<LoopBound>, CertifyError> {
        let n = states.len();
        let mut back: Vec<Vec<State>> = vec![Vec::new(); n];
        for (pc, pre) in states.iter().enumerate() {
            let Some(pre) = pre else { continue };
            let Ok(succs) = self.successors(pc, pre, origins) else {
                continue;
            };
            for (t, st) in succs {
                if bodies
                    .get(&t)
                    .is_some_and(|(_, body)| body.get(pc) == Some(&true))
                    && let Some(b) = back.get_mut(t)
                {
                    b.push(st);
                }
            }
        }
        let mut loops = Vec::new();
        for (h, edges) in back.iter().enumerate() {
            let head_state = states.get(h).and_then(Option::as_ref);
            let Some(head_state) = head_state.filter(|_| !edges.is_empty()) else {
                continue;
            };
            let mut best: Option<(u128, LoopBound)> = None;
            for loc in locations(head_state) {
                let Some(step) = progress(edges, h, loc) else {
                    continue;
                };
                let mut lb = LoopBound {
                    head: h as u32,
                    counter: loc,
                    step,
                    parent: None,
                    max_iterations: 0,
                };
                let Ok(k) = checker::iterations(head_state, &lb, &self.env.narrow(head_state.len))
                else {
                    continue;
                };
                lb.max_iterations = u64::try_from(k).unwrap_or(u64::MAX);
                if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
                    best = Some((k, lb));
                }
            }
            match best {
                Some((_, lb)) => loops.push(lb),
                None => {
                    return Err(CertifyError::NoLoopBound {
                        head: h,
                        detail: format!(
                            "{} back edge(s); no register or spilled slot changes monotonically \
                             within a bounded interval",
                            edges.len()
                        ),
                    });
                }
            }
        }
        Ok(loops)
    }
}

/// The common progress of `loc` over all back edges into `head`, if it has one sign.
fn progress(edges: &[State], head: usize, loc: Loc) -> Option<i64> {
    let mut up = i128::MAX;
    let mut down = i128::MIN;
    for e in edges {
        let r = e
            .get(loc)?
            .rels
            .iter()
            .find(|r| r.head as usize == head && r.origin == loc)?;
        up = up.min(r.lo);
        down = down.max(r.hi);
    }
    if up >= 1 {
        i64::try_from(up).ok()
    } else if down <= -1 {
        i64::try_from(down).ok()
    } else {
        None
    }
}
