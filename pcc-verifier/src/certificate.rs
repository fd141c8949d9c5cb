//! The certificate: per-instruction invariants, loop bounds and the instruction bound, with its
//! versioned binary encoding (see `FORMAT.md`).

use crate::domain::{Loc, Slot, State, Value};
use crate::limits;
use crate::linear::{Fill, Lin};
use crate::relations::Fact;
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The calling contract the proof assumes.
    pub params: Params,
    /// sha256 of the linked text followed by the constants: binds the proof to one program.
    pub program_sha256: [u8; 32],
    /// The invariant before each instruction slot (`None`: unreachable or an `lddw` tail).
    pub states: Vec<Option<State>>,
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
                    let w = match prev {
                        None => WireState::Full(Box::new(s.clone())),
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

    /// Decodes [`Certificate::to_bytes`] output. Memory is bounded by the input size and the
    /// limits in `FORMAT.md`: every count and number is checked before a state is expanded.
    /// Errors: [`DecodeError`]. Decoding does not prove anything: only [`crate::check`] does.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
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
        let counts = [
            ("states", wire.states.len()),
            ("loop assignments", wire.loop_of.len()),
            ("loops", wire.loops.len()),
        ];
        for (what, n) in counts {
            if n > limits::MAX_SLOTS {
                return Err(DecodeError::TooLarge(format!(
                    "{n} {what} (at most {})",
                    limits::MAX_SLOTS
                )));
            }
        }
        for lb in &wire.loops {
            limits::loop_bound(lb).map_err(DecodeError::OutOfRange)?;
        }
        Ok(Certificate {
            params: wire.params,
            program_sha256: wire.program_sha256,
            states: expand(wire.states)?,
            loops: wire.loops,
            loop_of: wire.loop_of,
            max_instructions: wire.max_instructions,
        })
    }
}

/// Expands the wire states in order, each delta applied to the previous stated state (one copy
/// per stated slot). Every delta is checked against the limits, and the entries of the state it
/// yields counted against [`limits::MAX_DECODED_ENTRIES`], before that copy is made.
fn expand(wire: Vec<WireState>) -> Result<Vec<Option<State>>, DecodeError> {
    let mut states: Vec<Option<State>> = Vec::with_capacity(wire.len());
    let mut prev: Option<usize> = None;
    let mut entries = 0usize;
    for (slot, w) in wire.into_iter().enumerate() {
        let at = |e: String| DecodeError::OutOfRange(format!("slot {slot}: {e}"));
        let (state, size) = match w {
            WireState::Unreachable => (None, 0),
            WireState::Full(s) => {
                limits::state(&s).map_err(at)?;
                let size = limits::entries(&s);
                (Some(*s), size)
            }
            WireState::Delta(d) => {
                let base = prev
                    .and_then(|i| states.get(i))
                    .and_then(Option::as_ref)
                    .ok_or_else(|| {
                        DecodeError::Body(format!("slot {slot}: a change with no state before it"))
                    })?;
                d.validate().map_err(at)?;
                // An upper bound on the new state's entries, counted before it is copied.
                let size = limits::entries(base).saturating_add(d.entries());
                budget(entries, size, slot)?;
                (Some(d.apply(base).map_err(at)?), size)
            }
        };
        entries = budget(entries, size, slot)?;
        if state.is_some() {
            prev = Some(slot);
        }
        states.push(state);
    }
    Ok(states)
}

/// `total + size`, refused past [`limits::MAX_DECODED_ENTRIES`].
fn budget(total: usize, size: usize, slot: usize) -> Result<usize, DecodeError> {
    let total = total.saturating_add(size);
    if total > limits::MAX_DECODED_ENTRIES {
        return Err(DecodeError::TooLarge(format!(
            "slot {slot}: the expanded states exceed {} entries",
            limits::MAX_DECODED_ENTRIES
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
        let mut s = base.clone();
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
            states: vec![Some(a.clone()), None, Some(b), Some(c), None, Some(a)],
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
