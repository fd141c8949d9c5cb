//! Fault records: where and why a call frame trapped, for receipts and the audit log.
//!
//! Locations are byte offsets into the contract's **input** module (the deployed code), so they
//! match `wasm-objdump` of the deployed bytes whatever the engine tier:
//! * out of gas: the first operator of the metering block whose charge failed (exact; the
//!   block is charged when entered, so the fault points at the block, not a later operator);
//! * stack overflow: the `call`/`call_indirect` whose frame did not fit (exact);
//! * faults raised inside a host function (out-of-bounds pointer, abort, capability, handle,
//!   re-entrancy, depth, native, limit, host-charged out of gas): the `call` of the host import
//!   (exact, recorded through the `keel$site` global);
//! * WebAssembly traps (`unreachable`, division by zero, memory bounds…): no offset; wasmi does
//!   not report one. The function is then unknown too.
//!
//! The function index is derived from the offset (the body that contains it), in the module's
//! function index space (imports first).

use crate::error::Trap;
use crate::gas::GasVector;
use crate::host::Address;
use serde::{Deserialize, Serialize};

/// The class of a fault, as operators filter the audit log by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    OutOfGas,
    StackOverflow,
    LimitExceeded,
    Reentrancy,
    CallDepth,
    CapabilityViolation,
    HandleMisuse,
    HostOutOfBounds,
    Abort,
    Native,
    Wasm,
    Deposit,
    NoSuchEntry,
    EngineLimit,
    Killed,
}

impl FaultKind {
    /// The kind of a trap.
    pub fn of(trap: &Trap) -> FaultKind {
        match trap {
            Trap::OutOfGas => FaultKind::OutOfGas,
            Trap::StackOverflow => FaultKind::StackOverflow,
            Trap::LimitExceeded { .. } => FaultKind::LimitExceeded,
            Trap::Abort { .. } => FaultKind::Abort,
            Trap::HostOutOfBounds { .. } => FaultKind::HostOutOfBounds,
            Trap::Native { .. } => FaultKind::Native,
            Trap::NoSuchEntry { .. } => FaultKind::NoSuchEntry,
            Trap::Wasm { .. } => FaultKind::Wasm,
            Trap::CallDepth { .. } => FaultKind::CallDepth,
            Trap::Reentrancy { .. } => FaultKind::Reentrancy,
            Trap::Capability { .. } => FaultKind::CapabilityViolation,
            Trap::Handle { .. } => FaultKind::HandleMisuse,
            Trap::Deposit => FaultKind::Deposit,
            Trap::EngineLimit { .. } => FaultKind::EngineLimit,
            Trap::Killed { .. } => FaultKind::Killed,
        }
    }
}

/// Where in the input module a fault happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultLocation {
    /// Function index (imports first) of the body containing `offset`.
    pub func: u32,
    /// Byte offset in the deployed module.
    pub offset: u32,
}

/// One trapped frame. A transaction may record several: a callee's trap is a fault even when
/// its caller handles the failure status and succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub trap: Trap,
    #[serde(with = "hex32")]
    pub contract: Address,
    /// The export that was called.
    pub entry: String,
    /// 0 for the transaction's own call, 1 for its callees, …
    pub depth: u32,
    pub location: Option<FaultLocation>,
}

/// One nested call, in the order calls started (pre-order), for gas audits and debugging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub depth: u32,
    #[serde(with = "hex32")]
    pub caller: Address,
    #[serde(with = "hex32")]
    pub callee: Address,
    pub entry: String,
    /// Everything the callee consumed, its own callees included.
    pub gas_used: GasVector,
    pub success: bool,
}

/// Serde helper: a 32-byte array as a hex string.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}
