//! The certificate: per-instruction invariants, loop bounds and the instruction bound, with its
//! versioned binary encoding (see `FORMAT.md`).

use crate::domain::{Loc, State};
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
}

impl Certificate {
    /// Encodes as `MAGIC | version u16 LE | postcard body`. Deterministic: equal certificates
    /// give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Serialising plain data into a Vec cannot fail.
        let body = postcard::to_stdvec(self).unwrap_or_default();
        out.extend_from_slice(&body);
        out
    }

    /// Decodes [`Certificate::to_bytes`] output. Errors: [`DecodeError`]. Decoding does not
    /// validate anything: only [`crate::check`] does.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let rest = bytes.strip_prefix(&MAGIC).ok_or(DecodeError::BadMagic)?;
        let (v, body) = rest.split_at_checked(2).ok_or(DecodeError::BadMagic)?;
        let version = u16::from_le_bytes([v[0], v[1]]);
        if version != FORMAT_VERSION {
            return Err(DecodeError::Version(version));
        }
        let (cert, tail) =
            postcard::take_from_bytes(body).map_err(|e| DecodeError::Body(e.to_string()))?;
        if !tail.is_empty() {
            return Err(DecodeError::Body(format!("{} trailing bytes", tail.len())));
        }
        Ok(cert)
    }
}
