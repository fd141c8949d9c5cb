//! Routine manifests: what a routine accepts, what it produces, what it may call and what it
//! may cost. Pure data; the built-in table is in `builtin.rs`.

use std::fmt;

/// Identifier of a routine in the registry (what `keel.native_call` passes).
pub type RoutineId = u32;

/// Gas charged per executed sBPF instruction.
///
/// One sBPF instruction is one register-sized ALU op, load, store or branch, the same work as a
/// "simple" WebAssembly instruction in `keel-vm`'s schedule (cost 1), so the factor is 1.
/// Changing it is a governance act, like any gas schedule change.
pub const GAS_PER_INSTRUCTION: u64 = 1;

/// Converts an instruction count to gas (saturating, never wraps).
pub fn gas_for_instructions(instructions: u64) -> u64 {
    instructions.saturating_mul(GAS_PER_INSTRUCTION)
}

/// Which input lengths a routine admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRule {
    /// Exactly this many bytes.
    Exact(usize),
    /// Any length in `min..=max`.
    Range { min: usize, max: usize },
    /// `base + stride * k` bytes for `k` in `0..=max_count`.
    Strided {
        base: usize,
        stride: usize,
        max_count: usize,
    },
}

impl InputRule {
    /// Whether an input of `len` bytes is admitted.
    pub fn admits(&self, len: usize) -> bool {
        match *self {
            Self::Exact(n) => len == n,
            Self::Range { min, max } => (min..=max).contains(&len),
            Self::Strided {
                base,
                stride,
                max_count,
            } => {
                len >= base
                    && stride > 0
                    && (len - base).is_multiple_of(stride)
                    && (len - base) / stride <= max_count
            }
        }
    }

    /// The largest admitted length.
    pub fn max_len(&self) -> usize {
        match *self {
            Self::Exact(n) => n,
            Self::Range { max, .. } => max,
            Self::Strided {
                base,
                stride,
                max_count,
            } => base.saturating_add(stride.saturating_mul(max_count)),
        }
    }
}

impl fmt::Display for InputRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exact(n) => write!(f, "exactly {n} bytes"),
            Self::Range { min, max } => write!(f, "{min}..={max} bytes"),
            Self::Strided {
                base,
                stride,
                max_count,
            } => {
                write!(f, "{base} + {stride}*k bytes, k <= {max_count}")
            }
        }
    }
}

/// Upper bound on a routine's instruction count as a function of its input length:
/// `base + per_block * ceil(len / block_bytes)` (`block_bytes == 0` means no per-block term).
///
/// The bound is what a caller charges up front; tests check every built-in stays under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostModel {
    /// Instructions independent of the input length.
    pub base: u64,
    /// Input bytes per block.
    pub block_bytes: u64,
    /// Instructions per (started) block.
    pub per_block: u64,
}

impl CostModel {
    /// The maximum number of instructions for an input of `len` bytes.
    pub fn max_instructions(&self, len: usize) -> u64 {
        let blocks = if self.block_bytes == 0 {
            0
        } else {
            (len as u64).div_ceil(self.block_bytes)
        };
        self.base
            .saturating_add(self.per_block.saturating_mul(blocks))
    }

    /// The maximum gas for an input of `len` bytes.
    pub fn max_gas(&self, len: usize) -> u64 {
        gas_for_instructions(self.max_instructions(len))
    }
}

/// Everything the registry and the host need to know about a routine before running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Registry id.
    pub id: RoutineId,
    /// Human-readable name (CLI, logs).
    pub name: &'static str,
    /// Version of the routine's semantics; bumped on any change of behaviour.
    pub version: u32,
    /// Admitted input lengths.
    pub input: InputRule,
    /// Exact output length.
    pub output_len: usize,
    /// Syscalls the routine may invoke (the loader admits none today: routines must be pure).
    pub syscalls: &'static [&'static str],
    /// Instruction-count bound.
    pub cost: CostModel,
    /// What the routine computes and its input layout.
    pub summary: &'static str,
}
