//! The bridge's error type: every way a native call can fail, as a value.

use crate::manifest::RoutineId;
use thiserror::Error;

/// Why a routine could not be loaded, found or run.
///
/// Run-time variants (`BudgetExhausted`, `Fault`, `Rejected`) are deterministic: the same
/// routine, input and budget give the same variant on the interpreter and on the JIT.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BridgeError {
    /// No routine with this id is registered.
    #[error("unknown routine id {0}")]
    UnknownRoutine(RoutineId),
    /// A routine with this id is already registered.
    #[error("routine id {0} is already registered")]
    DuplicateRoutine(RoutineId),
    /// The input length breaks the routine's manifest.
    #[error("routine {routine}: input of {len} bytes not admitted ({rule})")]
    InputSize {
        routine: RoutineId,
        len: usize,
        rule: String,
    },
    /// The requested output length is not the routine's output length.
    #[error("routine {routine}: output length {requested}, the routine writes {expected}")]
    OutputSize {
        routine: RoutineId,
        requested: usize,
        expected: usize,
    },
    /// The routine ran out of its instruction budget.
    #[error("routine {routine}: instruction budget of {budget} exhausted")]
    BudgetExhausted { routine: RoutineId, budget: u64 },
    /// The routine trapped: out-of-bounds or write-to-read-only access, bad instruction, ...
    #[error("routine {routine} faulted after {instructions} instructions: {reason}")]
    Fault {
        routine: RoutineId,
        instructions: u64,
        reason: String,
    },
    /// The routine ran to completion but returned a non-zero status (bad input values).
    #[error("routine {routine} rejected its input with status {status}")]
    Rejected { routine: RoutineId, status: u64 },
    /// The routine's BPF object is malformed, fails the verifier or fails to JIT-compile.
    #[error("routine {routine}: cannot load program: {reason}")]
    Load { routine: RoutineId, reason: String },
    /// The requested engine does not exist on this host (JIT off x86-64, kernel without BPF).
    #[error("engine unavailable: {0}")]
    EngineUnavailable(String),
    /// The kernel backend failed after loading (map update, test run).
    #[error("kernel backend: {0}")]
    Kernel(String),
}

impl BridgeError {
    /// A stable numeric code for this error, for a host function's status return.
    /// 0 is never returned (it means success to callers); codes are never reused.
    pub fn status_code(&self) -> u32 {
        match self {
            Self::UnknownRoutine(_) => 1,
            // 2 was "inactive" (a registry flag replaced by governance); never reused.
            Self::DuplicateRoutine(_) => 3,
            Self::InputSize { .. } => 4,
            Self::OutputSize { .. } => 5,
            Self::BudgetExhausted { .. } => 6,
            Self::Fault { .. } => 7,
            Self::Rejected { .. } => 8,
            Self::Load { .. } => 9,
            Self::EngineUnavailable(_) => 10,
            Self::Kernel(_) => 11,
        }
    }
}
