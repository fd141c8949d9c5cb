//! What a certificate may declare (trusted): caps on every decoded count and the ranges of
//! every certificate-supplied number. The decoder enforces them before it expands a state and
//! the checker again on whatever certificate it is given, so the domain's arithmetic (exact for
//! bounds below 2^100, see `domain`) never sees a number it could overflow on.

use crate::certificate::LoopBound;
use crate::domain::{Aff, Iv, LIMIT, Loc, STACK_SLOTS, Slot, State, Value};
use crate::linear::{Fill, Lin};
use crate::relations::{Fact, MAX_COEF, MAX_TERMS};

/// Most instruction slots (states, loop assignments, loops) a certificate may have: the
/// largest `.text` the bridge links.
pub const MAX_SLOTS: usize = keel_ebpf_bridge::link::MAX_TEXT / crate::isa::INSN_SIZE;
/// Most ghost relations on one value (the built-in routines use 1).
pub const MAX_RELS: usize = 16;
/// Most linear equalities in one state (built-ins: up to 326).
pub const MAX_LINS: usize = 2048;
/// Most stack fills in one state (built-ins: up to 9).
pub const MAX_FILLS: usize = 256;
/// Most relational facts in one state (built-ins: up to 132).
pub const MAX_STATE_FACTS: usize = 1024;
/// Most entries (registers, stack slots, relations, equalities, fills, facts) over all the
/// expanded states of one certificate: twice the largest built-in (merkle_sha256, 1.03 M).
/// Caps decode memory (~300 MB at worst, measured) whatever the encoded size.
pub const MAX_DECODED_ENTRIES: usize = 2 << 20;
/// Most entries a certificate may expand to per instruction slot of its program: a certificate
/// for a program of `n` slots expands to at most `n * ENTRIES_PER_SLOT` entries (and never more
/// than [`MAX_DECODED_ENTRIES`]). Twice the densest built-in (merkle_sha256, ~127 per slot).
pub const ENTRIES_PER_SLOT: usize = 256;

/// The decoded-entry budget of a certificate for a program of `slots` instruction slots.
pub fn entries_for(slots: usize) -> usize {
    slots
        .saturating_mul(ENTRIES_PER_SLOT)
        .min(MAX_DECODED_ENTRIES)
}

/// Largest input length a state may mention (the bridge maps 4 GiB regions).
pub const MAX_LEN: i128 = 1 << 32;
/// Largest magnitude of a linear equality's coefficient and constant (as `Lin::new` keeps).
const LIN_COEF: i64 = 1 << 20;
const LIN_CONST: i128 = 1 << 80;

/// A decoded certificate declares more, or a larger number, than the limits above allow.
pub type Excess = String;

fn small(x: i128, what: &str) -> Result<(), Excess> {
    if x.checked_abs().is_some_and(|a| a < LIMIT) {
        Ok(())
    } else {
        Err(format!("{what} {x} is out of range"))
    }
}

fn aff(a: Aff) -> Result<(), Excess> {
    if a.is_sane() {
        Ok(())
    } else {
        Err(format!("bound {a:?} is out of range"))
    }
}

fn iv(iv: &Iv) -> Result<(), Excess> {
    aff(iv.lo)?;
    aff(iv.hi)?;
    if (0..=LIMIT).contains(&iv.m) {
        Ok(())
    } else {
        Err(format!("congruence {} is out of range", iv.m))
    }
}

/// A location that exists: `r0..=r10` or one of the frame's slots.
pub fn loc(l: Loc) -> Result<(), Excess> {
    match l {
        Loc::Reg(r) if r <= 10 => Ok(()),
        Loc::Slot(s) if s < STACK_SLOTS => Ok(()),
        _ => Err(format!("location {l:?} does not exist")),
    }
}

/// A value's interval, congruence and relations.
pub fn value(v: &Value) -> Result<(), Excess> {
    iv(&v.iv)?;
    if v.rels.len() > MAX_RELS {
        return Err(format!(
            "{} relations on one value (at most {MAX_RELS})",
            v.rels.len()
        ));
    }
    for r in &v.rels {
        loc(r.origin)?;
        small(r.lo, "relation delta")?;
        small(r.hi, "relation delta")?;
    }
    Ok(())
}

/// A stack slot's index and contents.
pub fn slot(index: u16, s: &Slot) -> Result<(), Excess> {
    loc(Loc::Slot(index))?;
    match s {
        Slot::Spill(v) => value(v),
        Slot::Bytes(_) => Ok(()),
    }
}

/// The input lengths a state occurs with.
pub fn len(l: [i128; 2]) -> Result<(), Excess> {
    if l.iter().all(|x| (0..=MAX_LEN).contains(x)) {
        Ok(())
    } else {
        Err(format!("input lengths {l:?} are out of range"))
    }
}

fn count<T>(items: &[T], max: usize, what: &str) -> Result<(), Excess> {
    if items.len() > max {
        return Err(format!(
            "{} {what} in one state (at most {max})",
            items.len()
        ));
    }
    Ok(())
}

/// A state's equalities.
pub fn lins(lins: &[Lin]) -> Result<(), Excess> {
    count(lins, MAX_LINS, "linear equalities")?;
    for l in lins {
        loc(l.a)?;
        loc(l.b)?;
        let coef = |k: i64| k != 0 && k.checked_abs().is_some_and(|a| a < LIN_COEF);
        let c_ok = l.c.checked_abs().is_some_and(|a| a < LIN_CONST);
        if !coef(l.ka) || !coef(l.kb) || !c_ok {
            return Err(format!("equality {l:?} is out of range"));
        }
    }
    Ok(())
}

/// A state's fills.
pub fn fills(fills: &[Fill]) -> Result<(), Excess> {
    count(fills, MAX_FILLS, "fills")?;
    for f in fills {
        loc(f.end)?;
        small(f.start, "fill start")?;
        small(f.c, "fill offset")?;
    }
    Ok(())
}

/// A state's relational facts.
pub fn facts(facts: &[Fact]) -> Result<(), Excess> {
    count(facts, MAX_STATE_FACTS, "facts")?;
    for f in facts {
        aff(f.c)?;
        let coef = |k: i64| k != 0 && i128::from(k).abs() < MAX_COEF;
        if f.terms.len() > MAX_TERMS {
            return Err(format!("fact {f:?} has {} terms", f.terms.len()));
        }
        for &(l, k) in &f.terms {
            loc(l)?;
            if !coef(k) {
                return Err(format!("fact {f:?}: coefficient {k} is out of range"));
            }
        }
    }
    Ok(())
}

/// Everything in a state.
pub fn state(s: &State) -> Result<(), Excess> {
    s.regs.iter().try_for_each(value)?;
    for (&i, sl) in &s.stack {
        slot(i, sl)?;
    }
    len(s.len)?;
    lins(&s.lins)?;
    fills(&s.fills)?;
    facts(&s.facts)
}

/// The entries a state holds in memory, for [`MAX_DECODED_ENTRIES`].
pub fn entries(s: &State) -> usize {
    let rels = |v: &Value| v.rels.len();
    let spilled = s.stack.values().map(|sl| match sl {
        Slot::Spill(v) => rels(v),
        Slot::Bytes(_) => 0,
    });
    // Each term is below its cap, so these sums stay far below usize::MAX.
    [
        s.regs.len(),
        s.stack.len(),
        s.lins.len(),
        s.fills.len(),
        s.facts.len(),
    ]
    .into_iter()
    .chain(s.regs.iter().map(rels))
    .chain(spilled)
    .fold(0usize, usize::saturating_add)
}

/// Everything in a certificate built in memory (the decoder checks the same as it goes).
pub fn certificate(cert: &crate::Certificate) -> Result<(), Excess> {
    for (what, n) in [
        ("states", cert.states.len()),
        ("loop assignments", cert.loop_of.len()),
        ("loops", cert.loops.len()),
    ] {
        if n > MAX_SLOTS {
            return Err(format!("{n} {what} (at most {MAX_SLOTS})"));
        }
    }
    cert.loops.iter().try_for_each(loop_bound)?;
    for (pc, s) in cert.states.iter().enumerate() {
        s.as_deref()
            .map_or(Ok(()), state)
            .map_err(|e| format!("state {pc}: {e}"))?;
    }
    Ok(())
}

/// A loop table entry's counter and step (the head is checked against the program).
pub fn loop_bound(lb: &LoopBound) -> Result<(), Excess> {
    loc(lb.counter)?;
    if lb.step == 0 || lb.step == i64::MIN {
        return Err(format!(
            "loop at {}: step {} is out of range",
            lb.head, lb.step
        ));
    }
    Ok(())
}
