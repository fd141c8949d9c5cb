//! What a stopped run shows (frames, locals) and how a front end resumes it.

use crate::dwarf::SourceLoc;
use serde::Serialize;

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Entry,
    Breakpoint,
    Step,
}

/// One frame of the stopped run, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFrame {
    /// Contract call depth (0 = the transaction's own call).
    pub depth: u32,
    pub contract: String,
    pub func: String,
    /// Module offset of the metering block the frame is in.
    pub site: u32,
    pub line: Option<SourceLoc>,
}

/// A wasm local of the innermost frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Local {
    /// `argN` for parameters, `localN` for the rest (wasm indices).
    pub name: String,
    pub ty: &'static str,
    pub value: i64,
}

/// A stopped run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    pub reason: StopReason,
    pub frames: Vec<StackFrame>,
    pub locals: Vec<Local>,
    pub gas_left: u64,
}

/// How to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Until the next breakpoint.
    Continue,
    /// To the next metering block, entering calls.
    Step,
    /// To the next line of this function (or of its caller once it returns), over calls.
    Next,
    /// Until this function returns.
    Out,
    /// End the run (the call traps: "stopped by the debugger").
    Quit,
}

/// Most bytes a front end reads from memory at once.
pub const MAX_MEMORY_READ: usize = 64 * 1024;

/// Talks to the user while the run is stopped. Called on the run's thread; returns when the
/// user resumes. `memory` is the innermost frame's linear memory.
pub trait Frontend: Send {
    fn stopped(&mut self, stop: &Stop, memory: &[u8]) -> Resume;
    /// The run finished (after the last frame ended).
    fn finished(&mut self) {}
}

/// `len` bytes of `memory` at `addr`, at most [`MAX_MEMORY_READ`]; `None` out of bounds.
pub fn read_memory(memory: &[u8], addr: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(addr).ok()?;
    let len = usize::try_from(len).ok()?.min(MAX_MEMORY_READ);
    memory.get(start..start.checked_add(len)?)
}
