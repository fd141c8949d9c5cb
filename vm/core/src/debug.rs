//! The replay debugger's window into a running call, kept off the consensus path.
//!
//! A node never runs this code. A VM built with [`crate::Vm::for_debugging`] (wasmi tier only)
//! instruments modules with [`crate::metering::instrument_for_debugging`]: the same gas and
//! stack charges as [`crate::metering::instrument`], plus, right after each metering block's
//! charge, a call to the imported `keel_debug.local(i64)` per local and
//! `keel_debug.block(site, func, charge)`, and the same with charge 0 after each call to a
//! defined function returns. Injected instructions are not charged (charges come
//! from the input operators), so gas, writes, return data and traps are those of the consensus
//! run; the VM also reports each contract frame and each host call (arguments, result, gas) to
//! the [`DebugHook`].

use crate::VmError;
use crate::abi::HostFn;
use crate::admission::AdmittedModule;
use crate::error::{StateError, Trap};
use crate::gas::GasVector;
use crate::host::Address;
use crate::vm::CallOutcome;

/// Import module of the debug hooks (only present in debug-instrumented modules).
pub const DEBUG_MODULE: &str = "keel_debug";

/// Most locals reported per metering block (the first ones of the function: parameters
/// first); bounds the work and memory of every hook call.
pub const MAX_DEBUG_LOCALS: usize = 64;

/// Whether the run goes on after a hook returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The debugger ends the run: the call traps with [`Trap::EngineLimit`] ("stopped by the
    /// debugger"), which a node never sees.
    Abort,
}

/// A contract frame starting (top-level call or `keel.call`).
pub struct FrameStart<'a> {
    pub contract: Address,
    pub entry: &'a str,
    /// 0 for the transaction's own call, +1 per nested `keel.call`.
    pub depth: u32,
    /// The admitted input module: offsets in events are byte offsets into `module.bytes`.
    pub module: &'a AdmittedModule,
    pub input: &'a [u8],
    pub limits: GasVector,
}

/// A metering block entered (its charge already taken), or execution resuming in a caller
/// after a call returned (`charge` 0: calls do not end a metering block).
pub struct BlockEvent<'a> {
    /// Byte offset, in the input module, of the block's first operator (or of the operator
    /// after the call).
    pub site: u32,
    /// Function index in the input module's space (imports first).
    pub func: u32,
    /// Compute gas this block charged.
    pub charge: u64,
    /// Compute gas left after the charge.
    pub gas_left: u64,
    /// Non-compute dimensions used so far by this frame.
    pub used: GasVector,
    /// Stack slots charged so far (the `keel$stack` global): grows with each wasm call, so
    /// it tells a deeper frame from the same or a shallower one.
    pub stack: u32,
    /// Raw values of the function's first [`MAX_DEBUG_LOCALS`] locals (i32 zero-extended).
    pub locals: &'a [i64],
    /// The instance's linear memory (empty without one).
    pub memory: &'a [u8],
}

/// How a host function ended.
pub enum HostReturn<'a> {
    /// Returned, with its result if it has one.
    Value(Option<i64>),
    Trap(&'a Trap),
    Fatal(&'a StateError),
}

/// A host function that ran.
pub struct HostCallEvent<'a> {
    pub func: HostFn,
    /// Offset of the call instruction in the input module.
    pub site: u32,
    pub args: &'a [i64],
    pub ret: HostReturn<'a>,
    pub gas_before: u64,
    pub gas_after: u64,
    pub used_before: GasVector,
    pub used_after: GasVector,
    /// Linear memory after the call (its outputs are there).
    pub memory: &'a [u8],
}

/// Receives what a debug-instrumented run does. Called on the thread running the call; a
/// hook may block (an interactive debugger waits for its user inside [`DebugHook::block`]).
pub trait DebugHook: Send + Sync {
    fn frame_start(&self, frame: &FrameStart<'_>);
    fn block(&self, event: &BlockEvent<'_>) -> Flow;
    fn host_call(&self, event: &HostCallEvent<'_>);
    /// The frame's outcome, or the node-level error that ended it.
    fn frame_end(&self, outcome: Result<&CallOutcome, &VmError>);
}
