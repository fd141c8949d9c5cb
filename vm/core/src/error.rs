//! Traps (a call failed, deterministically) and VM errors (the call could not be attempted).

use crate::abi::HostFn;
use crate::admission::AdmissionError;
use crate::gas::Dimension;
use crate::manifest::Capability;
use crate::metering::MeteringError;
use serde::{Deserialize, Serialize};

/// A WebAssembly trap, independent of the engine that raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WasmTrap {
    Unreachable,
    MemoryOutOfBounds,
    TableOutOfBounds,
    IndirectCallToNull,
    IntegerDivisionByZero,
    IntegerOverflow,
    BadSignature,
}

/// Why a call failed. Every variant is deterministic: the same call on the same state traps the
/// same way on every engine tier and machine. A trapped call's writes are discarded, but its gas
/// is charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trap {
    #[error("out of gas (compute)")]
    OutOfGas,
    #[error("stack overflow: the deterministic stack budget is exhausted")]
    StackOverflow,
    #[error("gas limit exceeded in dimension {dimension}")]
    LimitExceeded { dimension: Dimension },
    #[error("contract aborted: {message}")]
    Abort { message: String },
    #[error("host function {func:?} was given an out-of-bounds range (ptr {ptr}, len {len})")]
    HostOutOfBounds { func: HostFn, ptr: u32, len: u32 },
    #[error("native routine {routine} failed (code {code}): {message}")]
    Native {
        routine: u32,
        code: u32,
        message: String,
    },
    #[error("no entry point `{name}` of type () -> ()")]
    NoSuchEntry { name: String },
    #[error("wasm trap: {trap:?}")]
    Wasm { trap: WasmTrap },
    #[error("call depth limit of {limit} nested calls reached")]
    CallDepth { limit: u32 },
    #[error(
        "re-entrancy: contract {} is already on the call stack and did not opt in",
        hex::encode(contract)
    )]
    Reentrancy {
        #[serde(with = "crate::fault::hex32")]
        contract: [u8; 32],
    },
    #[error("capability violation: {capability} not granted ({detail})")]
    Capability {
        capability: Capability,
        detail: String,
    },
    #[error("handle {handle}: {fault}")]
    Handle { handle: u32, fault: HandleFault },
    #[error("the storage deposit of flushed writes cannot be paid")]
    Deposit,
    /// Governance switched off an opcode class or host function this call reached (see
    /// `kills.rs`); `item` names it.
    #[error("killed by governance: {item}")]
    Killed { item: String },
    /// An engine-internal limit that the deterministic limits should have caught first. Seeing
    /// it is a bug in Keel's limits, reported rather than hidden.
    #[error("engine limit reached: {message}")]
    EngineLimit { message: String },
}

/// How a handle was misused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum HandleFault {
    #[error("no such handle in this call's table")]
    Invalid,
    #[error("the handle was moved to a callee")]
    Moved,
    #[error("the handle lacks the {0:#x} right")]
    MissingRight(u32),
    #[error("attenuation may only remove rights")]
    Amplify,
    #[error("the handle table is full")]
    TableFull,
}

/// A failure of the state backend behind [`crate::StateView`]. Not a trap: the block cannot be
/// executed deterministically, so execution stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state backend failed: {0}")]
pub struct StateError(pub String);

/// Why a call could not be attempted or completed on this node.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("module rejected: {0}")]
    Admission(#[from] AdmissionError),
    #[error("instrumentation failed: {0}")]
    Metering(#[from] MeteringError),
    #[error("engine {engine} could not compile the module: {message}")]
    Compile {
        engine: &'static str,
        message: String,
    },
    #[error("engine {engine} could not run the module: {message}")]
    Engine {
        engine: &'static str,
        message: String,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("gas schedule refused: {0}")]
    Schedule(#[from] crate::schedule::ScheduleError),
}
