//! The certificate checker: the trusted consumer. One pass over the program in pc order.
//!
//! For each reachable instruction it takes the certificate's stated pre-state, applies the
//! abstract transfer function (which proves the instruction's safety obligations) and checks
//! that every successor state is included in the successor's stated pre-state. Loop nesting
//! (see `loops`) makes every cycle pass through a declared head whose counter must make
//! progress on each edge from inside its loop, so every loop is bounded, and each instruction
//! runs at most the product of its enclosing loops' iteration bounds: their sum over the
//! reachable instructions is the worst-case instruction count.
//!
//! Relational facts (`relations`, format version 2) ride along: the transfer function creates
//! them from exact effects and derives consequences in a bounded number of elimination rounds;
//! inclusion requires every stated fact to follow from one known fact or the intervals.
//!
//! Depends only on `isa`, `domain`, `alu`, `linear`, `relations`, `transfer`, `loops` and the
//! certificate types — never on the certifier.

use crate::certificate::{Certificate, LoopBound};
use crate::domain::{Env, Kind, State, show};
use crate::image::Image;
use crate::isa::{Inadmissible, Program, admissible, decode};
use crate::loops::Nest;
use crate::property::{Property, Violation};
use crate::transfer::{enter_head, step};
use keel_ebpf_bridge::sbpf::CONSTANTS_VADDR;

/// Largest input or output length a certificate may declare (the bridge maps 4 GiB regions).
const MAX_LEN: u64 = 1 << 32;

/// A rejected (program, certificate) pair: where, which property, and the abstract values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{property}: {detail}", pc.map(|p| format!("pc {p}: ")).unwrap_or_default())]
pub struct CheckError {
    /// Instruction index (slot), when the failure is at one instruction.
    pub pc: Option<usize>,
    /// The property that failed.
    pub property: Property,
    /// The abstract values involved.
    pub detail: String,
}

fn fail(pc: Option<usize>, property: Property, detail: impl Into<String>) -> CheckError {
    CheckError {
        pc,
        property,
        detail: detail.into(),
    }
}

fn at(pc: usize) -> impl Fn(Violation) -> CheckError {
    move |v| fail(Some(pc), v.property, v.detail)
}

/// What an accepted certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Instruction slots in the program.
    pub instructions: usize,
    /// Instruction slots with an invariant (reachable).
    pub reachable: usize,
    /// Loops bounded.
    pub loops: usize,
    /// Worst-case executed instructions the checker derived, over every admitted input length.
    pub worst_case_instructions: u64,
    /// The certificate's declared bound (>= `worst_case_instructions`).
    pub declared_bound: u64,
}

/// The environment a certificate's parameters describe. Errors: lengths out of range.
pub fn env_of(cert: &Certificate, image: &Image) -> Result<Env, CheckError> {
    let p = cert.params;
    if p.input_min > p.input_max || p.input_max > MAX_LEN || p.output_len > MAX_LEN {
        return Err(fail(
            None,
            Property::CertificateMismatch,
            format!("unsupported parameters {p:?}"),
        ));
    }
    Ok(Env {
        len_min: i128::from(p.input_min),
        len_max: i128::from(p.input_max),
        out_len: i128::from(p.output_len),
        rodata_len: image.rodata.len() as i128,
        rodata_vaddr: i128::from(CONSTANTS_VADDR),
    })
}

/// Checks `cert` against the linked `image`. Deterministic; time linear in program size times
/// state size. Errors: the first failed obligation in pc order.
pub fn check(image: &Image, cert: &Certificate) -> Result<CheckReport, CheckError> {
    let mismatch = |d: String| fail(None, Property::CertificateMismatch, d);
    crate::limits::certificate(cert).map_err(&mismatch)?;
    let env = env_of(cert, image)?;
    if cert.program_sha256 != image.sha256() {
        return Err(mismatch("certificate is for a different program".into()));
    }
    let prog = decode(&image.text).map_err(|e| mismatch(e.to_string()))?;
    let n = prog.slots.len();
    if cert.states.len() != n {
        return Err(mismatch(format!(
            "{} states for {n} instruction slots",
            cert.states.len()
        )));
    }
    admit_all(&prog)?;
    let nest = Nest::new(cert, n).map_err(mismatch)?;

    let entry = State::entry(&env);
    let Some(Some(s0)) = cert.states.first() else {
        return Err(fail(Some(0), Property::EntryState, "no invariant at pc 0"));
    };
    if let Some((loc, have, stated)) = entry.first_excess(s0, &env) {
        return Err(fail(
            Some(0),
            Property::EntryState,
            format!("{loc:?} is {have} at entry, invariant says {stated}"),
        ));
    }

    let mut total: u128 = 0;
    let mut reachable = 0usize;
    for pc in 0..n {
        let Some(Some(pre)) = cert.states.get(pc) else {
            continue;
        };
        // At most `n` slots: cannot overflow.
        reachable = reachable.saturating_add(1);
        let mut s = State::clone(pre);
        if let Some(lb) = nest.head(pc) {
            let k = iterations(pre, lb, &env.narrow(pre.len)).map_err(at(pc))?;
            if k > u128::from(lb.max_iterations) {
                return Err(fail(
                    Some(pc),
                    Property::LoopBound,
                    format!(
                        "declared {} iterations but the invariant of {:?} only proves {k}",
                        lb.max_iterations, lb.counter
                    ),
                ));
            }
            enter_head(&mut s, pc as u32, &[lb.counter]);
        }
        total = total.saturating_add(nest.multiplicity(pc));
        for (t, post) in step(&prog, pc, &s, &env).map_err(at(pc))? {
            let Some(Some(stated)) = cert.states.get(t) else {
                return Err(fail(
                    Some(pc),
                    if t >= n {
                        Property::BadJump
                    } else {
                        Property::InvariantNotInductive
                    },
                    format!("successor {t} has no invariant"),
                ));
            };
            if let Some((loc, have, want)) = post.first_excess(stated, &env) {
                return Err(fail(
                    Some(pc),
                    Property::InvariantNotInductive,
                    format!("edge to {t}: {loc:?} is {have}, invariant at {t} says {want}"),
                ));
            }
            let internal = nest
                .edge(pc, t)
                .map_err(|d| fail(Some(pc), Property::UnboundedLoop, d))?;
            if let Some(lb) = internal {
                progress(&post, lb).map_err(at(pc))?;
            }
        }
    }
    let worst = u64::try_from(total).unwrap_or(u64::MAX);
    if worst > cert.max_instructions {
        return Err(fail(
            None,
            Property::InstructionBound,
            format!(
                "worst case {worst} instructions exceeds the declared {}",
                cert.max_instructions
            ),
        ));
    }
    Ok(CheckReport {
        instructions: n,
        reachable,
        loops: cert.loops.len(),
        worst_case_instructions: worst,
        declared_bound: cert.max_instructions,
    })
}

/// Every instruction, reachable or not, must be one solana-sbpf's loader accepts (SBPF v0,
/// `RequisiteVerifier`) and in the allowed set. Errors: the first inadmissible instruction.
pub fn admit_all(prog: &Program) -> Result<(), CheckError> {
    for (pc, insn) in prog.slots.iter().enumerate() {
        let Some(insn) = insn else { continue };
        admissible(prog, pc, insn).map_err(|e| match e {
            Inadmissible::Call => fail(
                Some(pc),
                Property::ForbiddenSyscall,
                format!("opcode {:#04x} (imm {})", insn.op, insn.imm),
            ),
            Inadmissible::Encoding(d) => fail(Some(pc), Property::ForbiddenInstruction, d),
            Inadmissible::Jump(d) => fail(Some(pc), Property::BadJump, d),
        })?;
    }
    Ok(())
}

/// Consecutive visits of the head the invariant allows: the counter stays within its head
/// interval and moves by at least `|step|` each time, so `floor(width / |step|) + 1`.
pub fn iterations(pre: &State, lb: &LoopBound, env: &Env) -> Result<u128, Violation> {
    let v = pre
        .get(lb.counter)
        .filter(|v| v.kind != Kind::Uninit)
        .ok_or_else(|| Violation {
            property: Property::LoopBound,
            detail: format!("counter {:?} holds no value at the head", lb.counter),
        })?;
    let width = env.max(
        v.iv.hi
            .minus(v.iv.lo)
            .unwrap_or(crate::domain::Aff::k(i128::MAX)),
    );
    if !(0..1 << 62).contains(&width) {
        return Err(Violation {
            property: Property::LoopBound,
            detail: format!("counter {:?} = {} is unbounded", lb.counter, show(v)),
        });
    }
    // `width < 2^62` and the step is non-zero and not i64::MIN (decode limits): no overflow.
    (width.checked_div(i128::from(lb.step).abs()))
        .and_then(|q| u128::try_from(q).ok())
        .and_then(|q| q.checked_add(1))
        .ok_or_else(|| Violation {
            property: Property::LoopBound,
            detail: format!("loop step {} is out of range", lb.step),
        })
}

/// The counter progressed by at least `step` since the head's last visit (ghost relation).
fn progress(post: &State, lb: &LoopBound) -> Result<(), Violation> {
    let v = post.get(lb.counter);
    let rel = v.and_then(|v| {
        v.rels
            .iter()
            .find(|r| r.head == lb.head && r.origin == lb.counter)
    });
    let step = i128::from(lb.step);
    let ok = rel.is_some_and(|r| {
        r.lo.abs() < 1 << 62
            && r.hi.abs() < 1 << 62
            && if step > 0 { r.lo >= step } else { r.hi <= step }
    });
    if ok {
        return Ok(());
    }
    Err(Violation {
        property: Property::LoopBound,
        detail: format!(
            "back edge to {}: counter {:?} = {} does not move by {} since the head{}",
            lb.head,
            lb.counter,
            v.map_or("nothing".into(), show),
            lb.step,
            rel.map_or(String::new(), |r| format!(
                " (moved by [{}, {}])",
                r.lo, r.hi
            )),
        ),
    })
}
