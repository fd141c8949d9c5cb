//! Whether `symex` (`formal/coq/Keel/Symex.v`) can unroll an export's loops: every loop it
//! reaches must be a counted loop whose counter starts at a constant in the loop's own block,
//! so each iteration's test is decided by computation, and the unrolled iterations must fit a
//! budget that keeps coqc fast. Anything else keeps its gas lemma `Admitted`, with the reason.
//!
//! This is a prediction of what the tactic will finish, not a soundness argument: the kernel
//! checks the proof, and `--check` fails if a prediction is ever wrong.

use crate::ir::{Instr, Program, Val};
use std::collections::BTreeSet;

/// Most loop iterations (summed over loops, multiplied through nesting) one export may unroll.
pub const UNROLL_BUDGET: u64 = 256;

/// The counter shape of one loop: the local, its constant start, step and iteration count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub local: u32,
    pub start: u64,
    pub step: u64,
    pub iterations: u64,
}

/// Iterations `symex` unrolls for the functions in `reach`, or why it cannot.
///
/// # Errors
/// A loop whose counter shape or constant start is not recognised, or a total over
/// [`UNROLL_BUDGET`].
pub fn unrolled_iterations(p: &Program, reach: &BTreeSet<u32>) -> Result<u64, String> {
    let mut total = 0u64;
    for f in reach {
        let Some(func) = p.funcs.get(*f as usize) else {
            continue;
        };
        let n = seq_iterations(&func.body, 1).map_err(|why| format!("function {f}: {why}"))?;
        total = total.saturating_add(n);
    }
    if total > UNROLL_BUDGET {
        return Err(format!(
            "{total} loop iterations to unroll (budget {UNROLL_BUDGET})"
        ));
    }
    Ok(total)
}

/// Iterations of the loops in `seq`, each entered `times` times.
fn seq_iterations(seq: &[Instr], times: u64) -> Result<u64, String> {
    let mut total = 0u64;
    for (k, i) in seq.iter().enumerate() {
        match i {
            Instr::Loop { body, .. } => {
                let c = counted(seq, k, body)?;
                let runs = times.saturating_mul(c.iterations);
                total = total
                    .saturating_add(runs)
                    .saturating_add(seq_iterations(body, runs)?);
            }
            Instr::Block { body, .. } => {
                total = total.saturating_add(seq_iterations(body, times)?);
            }
            Instr::If { then, els, .. } => {
                total = total
                    .saturating_add(seq_iterations(then, times)?)
                    .saturating_add(seq_iterations(els, times)?);
            }
            _ => {}
        }
    }
    Ok(total)
}

fn int(v: &Val) -> u64 {
    match v {
        Val::I32(z) => u64::from(*z),
        Val::I64(z) => *z,
    }
}

/// The loop `seq[k]` with body `body`, when it ends with `local.get|tee $i; const N;
/// lt_u|ne; br_if 0`, advances `$i` by a constant, and `$i` is set to a constant earlier in
/// `seq` with no other write to it in between.
pub fn counted(seq: &[Instr], k: usize, body: &[Instr]) -> Result<Counted, String> {
    let tail = body
        .len()
        .checked_sub(4)
        .and_then(|t| body.get(t..))
        .ok_or("loop body too short for a counted test")?;
    let (local, limit) = match tail {
        [
            Instr::LocalGet(i) | Instr::LocalTee(i),
            Instr::Const(n),
            Instr::Relop(_, "LtU" | "Ne"),
            Instr::BrIf(0),
        ] => (*i, int(n)),
        _ => return Err("the loop does not end with a counted test".into()),
    };
    let step = body
        .windows(4)
        .find_map(|w| match w {
            [
                Instr::LocalGet(g),
                Instr::Const(s),
                Instr::Binop(_, "Add"),
                Instr::LocalSet(t) | Instr::LocalTee(t),
            ] if *g == local && *t == local && int(s) > 0 => Some(int(s)),
            _ => None,
        })
        .ok_or_else(|| format!("local {local} is not advanced by a constant"))?;
    let start = constant_start(seq, k, local)?;
    let iterations = limit
        .checked_sub(start)
        .filter(|d| *d > 0)
        .map_or(1, |d| d.div_ceil(step));
    Ok(Counted {
        local,
        start,
        step,
        iterations,
    })
}

/// The constant `local` holds on entry to `seq[k]`: the nearest earlier write in `seq` must be
/// `const C; local.set|tee local`, with no nested construct in between writing it.
fn constant_start(seq: &[Instr], k: usize, local: u32) -> Result<u64, String> {
    let before = seq.get(..k).unwrap_or(&[]);
    for (j, i) in before.iter().enumerate().rev() {
        match i {
            Instr::LocalSet(x) | Instr::LocalTee(x) if *x == local => {
                return match j.checked_sub(1).and_then(|p| before.get(p)) {
                    Some(Instr::Const(c)) => Ok(int(c)),
                    _ => Err(format!("local {local} does not start at a constant")),
                };
            }
            Instr::Block { .. } | Instr::Loop { .. } | Instr::If { .. } if writes(i, local) => {
                return Err(format!(
                    "local {local} is set in a nested block before the loop"
                ));
            }
            _ => {}
        }
    }
    Err(format!(
        "local {local} is not set to a constant in the loop's block"
    ))
}

fn writes(i: &Instr, local: u32) -> bool {
    let mut found = false;
    i.walk(&mut |j| {
        if matches!(j, Instr::LocalSet(x) | Instr::LocalTee(x) if *x == local) {
            found = true;
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Ty;

    fn loop_body(limit: u32, cmp: &'static str) -> Vec<Instr> {
        vec![
            Instr::Charge(7),
            Instr::LocalGet(0),
            Instr::Const(Val::I32(2)),
            Instr::Binop(Ty::T32, "Add"),
            Instr::LocalSet(0),
            Instr::LocalGet(0),
            Instr::Const(Val::I32(limit)),
            Instr::Relop(Ty::T32, cmp),
            Instr::BrIf(0),
        ]
    }

    fn lp(body: Vec<Instr>) -> Instr {
        Instr::Loop {
            params: 0,
            results: 0,
            body,
        }
    }

    #[test]
    fn a_loop_from_a_constant_start_counts_its_iterations() {
        let body = loop_body(9, "LtU");
        let seq = vec![
            Instr::Const(Val::I32(1)),
            Instr::LocalSet(0),
            lp(body.clone()),
        ];
        let c = counted(&seq, 2, &body).expect("counted");
        assert_eq!((c.local, c.start, c.step, c.iterations), (0, 1, 2, 4));
    }

    #[test]
    fn a_counter_from_the_input_or_set_conditionally_is_refused() {
        let body = loop_body(9, "LtU");
        let from_input = vec![Instr::LocalGet(1), Instr::LocalSet(0), lp(body.clone())];
        assert!(counted(&from_input, 2, &body).is_err());
        let conditional = vec![
            Instr::Const(Val::I32(0)),
            Instr::LocalSet(0),
            Instr::If {
                params: 0,
                results: 0,
                then: vec![Instr::Const(Val::I32(5)), Instr::LocalSet(0)],
                els: vec![],
            },
            lp(body.clone()),
        ];
        assert!(counted(&conditional, 3, &body).is_err());
    }

    #[test]
    fn nested_loops_multiply_against_the_budget() {
        let inner = loop_body(64, "LtU");
        let mut outer = vec![Instr::Const(Val::I32(0)), Instr::LocalSet(0), lp(inner)];
        outer.extend([
            Instr::LocalGet(1),
            Instr::Const(Val::I32(1)),
            Instr::Binop(Ty::T32, "Add"),
            Instr::LocalSet(1),
            Instr::LocalGet(1),
            Instr::Const(Val::I32(16)),
            Instr::Relop(Ty::T32, "LtU"),
            Instr::BrIf(0),
        ]);
        let seq = vec![Instr::Const(Val::I32(0)), Instr::LocalSet(1), lp(outer)];
        // 16 outer turns, each running 32 inner ones.
        assert_eq!(seq_iterations(&seq, 1), Ok(16 + 16 * 32));
    }
}
