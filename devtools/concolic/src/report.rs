//! What an exploration found, for people (`Display`) and machines (serde JSON): each finding
//! with a replayable case (hex input and the `keel vm exec` command that reruns it on the
//! real VM).

use crate::solver::SolverStats;
use keel_vm::{Trap, WasmTrap};
use serde::Serialize;
use std::fmt;

/// Kinds of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// `unreachable`.
    Unreachable,
    /// Integer division or remainder by zero, or signed division overflow.
    Division,
    /// A memory or table access out of bounds, or a host function given an out-of-bounds range.
    OutOfBounds,
    /// `keel.abort` (other than an assertion).
    Abort,
    /// A user assertion: `keel.abort` with a message starting "assertion failed".
    Assertion,
    /// Out of compute gas within the configured limit.
    OutOfGas,
    /// Any other trap (stack overflow, a limit, a capability, …).
    OtherTrap,
}

/// Message prefix that marks an abort as a failed user assertion (`KEEL_ASSERT` in
/// `keel_runtime.h`).
pub const ASSERTION_PREFIX: &str = "assertion failed";

impl FindingKind {
    /// The kind of finding a trap is.
    pub fn of(trap: &Trap) -> FindingKind {
        match trap {
            Trap::Wasm { trap } => match trap {
                WasmTrap::Unreachable => FindingKind::Unreachable,
                WasmTrap::IntegerDivisionByZero | WasmTrap::IntegerOverflow => {
                    FindingKind::Division
                }
                WasmTrap::MemoryOutOfBounds
                | WasmTrap::TableOutOfBounds
                | WasmTrap::IndirectCallToNull
                | WasmTrap::BadSignature => FindingKind::OutOfBounds,
            },
            Trap::HostOutOfBounds { .. } => FindingKind::OutOfBounds,
            Trap::Abort { message } if message.starts_with(ASSERTION_PREFIX) => {
                FindingKind::Assertion
            }
            Trap::Abort { .. } => FindingKind::Abort,
            Trap::OutOfGas => FindingKind::OutOfGas,
            _ => FindingKind::OtherTrap,
        }
    }
}

/// A replayable test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The call input, hex.
    pub input_hex: String,
    /// Compute gas the call used (as `keel vm exec` reports it).
    pub gas_used: u64,
    /// How the call ended: `returned` or the trap's text.
    pub outcome: String,
    /// A command that reruns the case on the real VM.
    pub command: String,
}

/// One distinct finding: a kind at a location (deduplicated by kind, trap text and fault
/// offset), with the first input that reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The trap's text.
    pub detail: String,
    /// Byte offset of the fault in the module, when the VM located it.
    pub offset: Option<u32>,
    /// Which run (1-based) first reached it.
    pub run: u64,
    pub case: Case,
}

/// Why exploration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// Every path reachable by negation was run.
    Exhausted,
    /// The path budget was used up.
    PathBudget,
    /// The time budget was used up.
    TimeBudget,
}

/// The result of one exploration.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub entry: String,
    /// Runs executed (each one call of the entry point).
    pub runs: u64,
    /// Distinct control paths among them.
    pub paths: u64,
    pub stopped: Stopped,
    pub findings: Vec<Finding>,
    /// The run that used the most compute gas.
    pub max_gas: Option<Case>,
    pub solver: SolverStats,
    /// Runs whose path condition hit the recording limit (`trace::MAX_FACTS`).
    pub truncated_traces: u64,
    /// Wall-clock time, in milliseconds (informative; not part of any result).
    pub elapsed_ms: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "concolic `{}`: {} runs, {} distinct paths, stopped: {:?}, {} ms",
            self.entry, self.runs, self.paths, self.stopped, self.elapsed_ms
        )?;
        writeln!(
            f,
            "solver: {} queries ({} sat, {} unsat, {} unknown)",
            self.solver.queries, self.solver.sat, self.solver.unsat, self.solver.unknown
        )?;
        if self.findings.is_empty() {
            writeln!(f, "no findings")?;
        }
        for x in &self.findings {
            let at = x
                .offset
                .map_or_else(String::new, |o| format!(" at 0x{o:x}"));
            writeln!(f, "{:?}{at}: {} (run {})", x.kind, x.detail, x.run)?;
            writeln!(f, "  input 0x{}  gas {}", x.case.input_hex, x.case.gas_used)?;
            writeln!(f, "  replay: {}", x.case.command)?;
        }
        if let Some(m) = &self.max_gas {
            writeln!(
                f,
                "max gas {} with input 0x{} ({})",
                m.gas_used, m.input_hex, m.outcome
            )?;
        }
        Ok(())
    }
}
