//! The certificate: per-instruction invariants, loop bounds and the instruction bound, with its
//! versioned binary encoding (see `FORMAT.md`).

use crate::domain::{Loc, Slot, State, Value};
use crate::limits;
use crate::linear::{Fill, Lin};
use crate::relations::Fact;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// First bytes of an encoded certificate.
pub const MAGIC: [u8; 4] = *b"KPCC";
/// Version of the encoding written by [`Certificate::to_bytes`].
pub const FORMAT_VERSION: u16 = 3;

/// What the routine is certified for: the caller's contract (from its manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Smallest input length the routine may be called with.
    pub input_min: u64,
    /// Largest input length.
    pub input_max: u64,
    /// Exact output length.
    pub output_len: u64,
}

/// The bound of one loop, attached to a loop head (a target of a backward edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopBound {
    /// Head pc.
    pub head: u32,
    /// The ranking location: its value at the head lies in the head invariant's interval and
    /// changes by at least `step` (same sign) between consecutive visits via backward edges.
    pub counter: Loc,
    /// Minimum progress per iteration; positive = increasing, negative = decreasing.
    pub step: i64,
    /// The head of the enclosing loop, if any.
    pub parent: Option<u32>,
    /// Declared bound on consecutive visits of the head (>= what the invariant proves).
    pub max_iterations: u64,
}

/// A proof that a routine is safe and bounded; checked by [`crate::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The calling contract the proof assumes.
    pub params: Params,
    /// sha256 of the linked text followed by the constants: binds the proof to one program.
    pub program_sha256: [u8; 32],
    /// The invariant before each instruction slot (`None`: unreachable or an `lddw` tail).
    /// Slots with equal invariants may share one (decoding shares a state its delta leaves
    /// unchanged rather than copying it).
    pub states: Vec<Option<Arc<State>>>,
    /// One bound per loop head, sorted by head.
    pub loops: Vec<LoopBound>,
    /// The innermost loop (by head) of each instruction slot, `None` outside loops.
    pub loop_of: Vec<Option<u32>>,
    /// Declared worst-case number of executed instructions (the routine's gas ceiling).
    pub max_instructions: u64,
}

/// Why bytes do not decode to a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Missing or wrong magic.
    #[error("not a Keel PCC certificate (bad magic)")]
    BadMagic,
    /// A version this build does not read.
    #[error("certificate format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u16),
    /// The body is malformed or has trailing bytes.
    #[error("malformed certificate body: {0}")]
    Body(String),
    /// The certificate declares more than the decoding limits allow (`FORMAT.md`, Limits);
    /// refused before memory is reserved for it.
    #[error("certificate too large: {0}")]
    TooLarge(String),
    /// The program the certificate is decoded for does not link, so its size is unknown.
    #[error("the routine's object does not link: {0}")]
    Program(String),
    /// A number, location or per-state count outside the range the checker works in
    /// (`FORMAT.md`, Limits).
    #[error("certificate value out of range: {0}")]
    OutOfRange(String),
}

impl Certificate {
    /// Encodes as `MAGIC | version u16 LE | postcard body`, each stated state written as its
    /// change from the previous stated one (see `FORMAT.md`). Deterministic: equal
    /// certificates give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let mut prev: Option<&State> = None;
        let states = self
            .states
            .iter()
            .map(|s| match s {
                None => WireState::Unreachable,
                Some(s) => {
                    let s: &State = s;
                    let w = match prev {
                        None => WireState::Full(Box::new(State::clone(s))),
                        Some(p) => WireState::Delta(StateDelta::between(p, s)),
                    };
                    prev = Some(s);
                    w
                }
            })
            .collect();
        let wire = Wire {
            params: self.params,
            program_sha256: self.program_sha256,
            states,
            loops: self.loops.clone(),
            loop_of: self.loop_of.clone(),
            max_instructions: self.max_instructions,
        };
        // Serialising plain data into a Vec cannot fail.
        let body = postcard::to_stdvec(&wire).unwrap_or_default();
        out.extend_from_slice(&body);
        out
    }

    /// Decodes [`Certificate::to_bytes`] output for a program of any size up to the largest
    /// the bridge links. Memory is bounded by the input size and the limits in `FORMAT.md`:
    /// every count and number is checked before a state is expanded. Errors: [`DecodeError`].
    /// Decoding does not prove anything: only [`crate::check`] does. Where the program is
    /// known (activation), use [`Certificate::from_bytes_for`]: it bounds the work by it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(bytes, None)
    }

    /// [`Certificate::from_bytes`] for a program of `slots` instruction slots (its `.text`
    /// length / 8): a certificate with another number of states or loop assignments is
    /// refused before anything is expanded, and the expanded states may hold at most
    /// [`limits::entries_for`]`(slots)` entries, so a small program's certificate cannot
    /// make the decoder do the work of the largest one.
    pub fn from_bytes_for(bytes: &[u8], slots: usize) -> Result<Self, DecodeError> {
        Self::decode(bytes, Some(slots))
    }

    /// The entries its stated states hold, as the decoder counts them against its budget
    /// (registers, stack slots, relations, equalities, fills and facts; a shared state counts
    /// once per slot it is stated at).
    pub fn decoded_entries(&self) -> usize {
        self.states
            .iter()
            .flatten()
            .map(|s| limits::entries(s))
            .fold(0usize, usize::saturating_add)
    }

    fn decode(bytes: &[u8], slots: Option<usize>) -> Result<Self, DecodeError> {
        let rest = bytes.strip_prefix(&MAGIC).ok_or(DecodeError::BadMagic)?;
        let (v, body) = rest.split_first_chunk::<2>().ok_or(DecodeError::BadMagic)?;
        let version = u16::from_le_bytes(*v);
        if version != FORMAT_VERSION {
            return Err(DecodeError::Version(version));
        }
        let (wire, tail): (Wire, _) =
            postcard::take_from_bytes(body).map_err(|e| DecodeError::Body(e.to_string()))?;
        if !tail.is_empty() {
            return Err(DecodeError::Body(format!("{} trailing bytes", tail.len())));
        }
        wire.check_counts(slots)?;
        let budget = slots.map_or(limits::MAX_DECODED_ENTRIES, limits::entries_for);
        Ok(Certificate {
            params: wire.params,
            program_sha256: wire.program_sha256,
            states: expand(wire.states, budget)?,
            loops: wire.loops,
            loop_of: wire.loop_of,
            max_instructions: wire.max_instructions,
        })
    }
}

impl Wire {
    /// The table sizes against the largest program, or exactly against the program's
    /// `slots` when it is known; the loop table's numbers against their ranges.
    fn check_counts(&self, slots: Option<usize>) -> Result<(), DecodeError> {
        let counts = [
            ("states", self.states.len()),
            ("loop assignments", self.loop_of.len()),
            ("loops", self.loops.len()),
        ];
        for (what, n) in counts {
            if n > limits::MAX_SLOTS {
                return Err(DecodeError::TooLarge(format!(
                    "{n} {what} (at most {})",
                    limits::MAX_SLOTS
                )));
            }
        }
        if let Some(slots) = slots {
            let fits = self.states.len() == slots
                && self.loop_of.len() == slots
                && self.loops.len() <= slots;
            if !fits {
                return Err(DecodeError::TooLarge(format!(
                    "{} states, {} loop assignments and {} loops for a program of {slots} \
                     instruction slots",
                    self.states.len(),
                    self.loop_of.len(),
                    self.loops.len()
                )));
            }
        }
        for lb in &self.loops {
            limits::loop_bound(lb).map_err(DecodeError::OutOfRange)?;
        }
        Ok(())
    }
}

/// Expands the wire states in order, each delta applied to the previous stated state. A delta
/// that changes nothing shares that state; any other makes one copy. Every delta is checked
/// against the limits, and the entries of each stated state (shared or not: the checker works
/// through each) counted against `budget` before it is made.
fn expand(wire: Vec<WireState>, budget: usize) -> Result<Vec<Option<Arc<State>>>, DecodeError> {
    let mut states: Vec<Option<Arc<State>>> = Vec::with_capacity(wire.len());
    let mut prev: Option<Arc<State>> = None;
    let mut entries = 0usize;
    for (slot, w) in wire.into_iter().enumerate() {
        let at = |e: String| DecodeError::OutOfRange(format!("slot {slot}: {e}"));
        let state = match w {
            WireState::Unreachable => None,
            WireState::Full(s) => {
                limits::state(&s).map_err(at)?;
                entries = charge(entries, limits::entries(&s), budget, slot)?;
                Some(Arc::new(*s))
            }
            WireState::Delta(d) => {
                let base = prev.as_ref().ok_or_else(|| {
                    DecodeError::Body(format!("slot {slot}: a change with no state before it"))
                })?;
                d.validate().map_err(at)?;
                // An upper bound on the new state's entries, counted before it is copied. A
                // shared state costs no memory but as much checking, so it counts all the same.
                let size = limits::entries(base).saturating_add(d.entries());
                entries = charge(entries, size, budget, slot)?;
                if d.is_empty() {
                    Some(Arc::clone(base))
                } else {
                    Some(Arc::new(d.apply(base).map_err(at)?))
                }
            }
        };
        if let Some(s) = &state {
            prev = Some(Arc::clone(s));
        }
        states.push(state);
    }
    Ok(states)
}

/// `total + size`, refused past `budget`.
fn charge(total: usize, size: usize, budget: usize, slot: usize) -> Result<usize, DecodeError> {
    let total = total.saturating_add(size);
    if total > budget {
        return Err(DecodeError::TooLarge(format!(
            "slot {slot}: the expanded states exceed {budget} entries"
        )));
    }
    Ok(total)
}

/// The encoded body: a [`Certificate`] with its states as [`WireState`]s.
#[derive(Serialize, Deserialize)]
struct Wire {
    params: Params,
    program_sha256: [u8; 32],
    states: Vec<WireState>,
    loops: Vec<LoopBound>,
    loop_of: Vec<Option<u32>>,
    max_instructions: u64,
}

/// One slot's state on the wire.
#[derive(Serialize, Deserialize)]
enum WireState {
    /// No state: unreachable, or the second slot of an `lddw`.
    Unreachable,
    /// The first stated state, whole.
    Full(Box<State>),
    /// A later state, as its change from the previous stated one.
    Delta(StateDelta),
}

/// What differs between two states: straight-line code changes a register or two per
/// instruction, so this is a few bytes where a whole state is hundreds.
#[derive(Serialize, Deserialize)]
struct StateDelta {
    /// Registers whose value differs, by index, ascending.
    regs: Vec<(u8, Value)>,
    /// Stack slots added or changed, ascending.
    stack_set: Vec<(u16, Slot)>,
    /// Stack slots no longer initialised, ascending.
    stack_unset: Vec<u16>,
    /// The remaining fields, when they differ.
    len: Option<[i128; 2]>,
    lins: Option<Vec<Lin>>,
    fills: Option<Vec<Fill>>,
    facts: Option<Vec<Fact>>,
}

impl StateDelta {
    fn between(a: &State, b: &State) -> Self {
        StateDelta {
            regs: (0u8..)
                .zip(a.regs.iter().zip(&b.regs))
                .filter(|(_, (x, y))| x != y)
                .map(|(r, (_, y))| (r, y.clone()))
                .collect(),
            stack_set: b
                .stack
                .iter()
                .filter(|(k, v)| a.stack.get(k) != Some(v))
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            stack_unset: a
                .stack
                .keys()
                .filter(|k| !b.stack.contains_key(k))
                .copied()
                .collect(),
            len: (a.len != b.len).then_some(b.len),
            lins: (a.lins != b.lins).then(|| b.lins.clone()),
            fills: (a.fills != b.fills).then(|| b.fills.clone()),
            facts: (a.facts != b.facts).then(|| b.facts.clone()),
        }
    }

    /// Checks what the delta carries against the limits (indices, counts and numbers).
    fn validate(&self) -> Result<(), String> {
        for (r, v) in &self.regs {
            limits::loc(Loc::Reg(*r)).map_err(|_| format!("register r{r} does not exist"))?;
            limits::value(v)?;
        }
        for (k, v) in &self.stack_set {
            limits::slot(*k, v)?;
        }
        self.len.map_or(Ok(()), limits::len)?;
        self.lins.as_deref().map_or(Ok(()), limits::lins)?;
        self.fills.as_deref().map_or(Ok(()), limits::fills)?;
        self.facts.as_deref().map_or(Ok(()), limits::facts)
    }

    /// Whether the delta changes nothing (the state repeats).
    fn is_empty(&self) -> bool {
        self.regs.is_empty()
            && self.stack_set.is_empty()
            && self.stack_unset.is_empty()
            && self.len.is_none()
            && self.lins.is_none()
            && self.fills.is_none()
            && self.facts.is_none()
    }

    /// The entries the delta brings in (an upper bound on what a state grows by).
    fn entries(&self) -> usize {
        let rels = |v: &Value| v.rels.len();
        let spilled = |s: &Slot| match s {
            Slot::Spill(v) => rels(v),
            Slot::Bytes(_) => 0,
        };
        [
            self.stack_set.len(),
            self.lins.as_ref().map_or(0, Vec::len),
            self.fills.as_ref().map_or(0, Vec::len),
            self.facts.as_ref().map_or(0, Vec::len),
        ]
        .into_iter()
        .chain(self.regs.iter().map(|(_, v)| rels(v)))
        .chain(self.stack_set.iter().map(|(_, s)| spilled(s)))
        .fold(0usize, usize::saturating_add)
    }

    /// The state `base` with this (validated) change applied.
    fn apply(self, base: &State) -> Result<State, String> {
        let mut s = State::clone(base);
        for (r, v) in self.regs {
            let slot = s
                .regs
                .get_mut(usize::from(r))
                .ok_or_else(|| format!("register r{r} does not exist"))?;
            *slot = v;
        }
        for (k, v) in self.stack_set {
            s.stack.insert(k, v);
        }
        for k in self.stack_unset {
            s.stack.remove(&k);
        }
        if let Some(len) = self.len {
            s.len = len;
        }
        if let Some(lins) = self.lins {
            s.lins = lins;
        }
        if let Some(fills) = self.fills {
            s.fills = fills;
        }
        if let Some(facts) = self.facts {
            s.facts = facts;
        }
        Ok(s)
    }
}

#[cfg(test)]
#[path = "certificate_hostile.rs"]
mod hostile;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code may unwrap

    use super::*;
    use crate::domain::Env;

    fn env() -> Env {
        Env {
            len_min: 0,
            len_max: 64,
            out_len: 32,
            rodata_len: 0,
            rodata_vaddr: 0,
        }
    }

    fn params() -> Params {
        Params {
            input_min: 0,
            input_max: 64,
            output_len: 32,
        }
    }

    fn encode(states: Vec<WireState>) -> Vec<u8> {
        let wire = Wire {
            params: params(),
            program_sha256: [0; 32],
            states,
            loops: Vec::new(),
            loop_of: Vec::new(),
            max_instructions: 1,
        };
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&postcard::to_stdvec(&wire).unwrap());
        out
    }

    fn empty_delta() -> StateDelta {
        StateDelta {
            regs: Vec::new(),
            stack_set: Vec::new(),
            stack_unset: Vec::new(),
            len: None,
            lins: None,
            fills: None,
            facts: None,
        }
    }

    #[test]
    fn states_round_trip_as_changes_from_the_previous_stated_one() {
        let a = State::entry(&env());
        let mut b = a.clone();
        b.regs[0] = Value::uninit();
        b.regs[5] = a.regs[2].clone();
        b.stack.insert(511, Slot::Bytes(0xff));
        b.len = [8, 64];
        let mut c = b.clone();
        c.stack.remove(&511);
        let cert = Certificate {
            params: params(),
            program_sha256: [7; 32],
            states: [Some(a.clone()), None, Some(b), Some(c), None, Some(a)]
                .into_iter()
                .map(|s| s.map(Arc::new))
                .collect(),
            loops: Vec::new(),
            loop_of: vec![None; 6],
            max_instructions: 9,
        };
        let bytes = cert.to_bytes();
        assert_eq!(Certificate::from_bytes(&bytes).unwrap(), cert);
        assert_eq!(cert.to_bytes(), bytes, "deterministic");
    }

    #[test]
    fn a_change_with_no_state_before_it_or_to_a_missing_register_is_malformed() {
        let err = Certificate::from_bytes(&encode(vec![
            WireState::Unreachable,
            WireState::Delta(empty_delta()),
        ]))
        .unwrap_err();
        assert!(
            matches!(&err, DecodeError::Body(m) if m.contains("slot 1") && m.contains("no state before")),
            "{err}"
        );
        let mut d = empty_delta();
        d.regs.push((11, Value::uninit()));
        let err = Certificate::from_bytes(&encode(vec![
            WireState::Full(Box::new(State::entry(&env()))),
            WireState::Delta(d),
        ]))
        .unwrap_err();
        assert!(
            matches!(&err, DecodeError::OutOfRange(m) if m.contains("r11")),
            "{err}"
        );
    }
}
