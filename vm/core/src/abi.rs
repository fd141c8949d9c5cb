//! The host ABI v1: the `keel` import namespace, as a table.
//!
//! `contracts/include/keel.h` is the C view of this table and `vm/core/ABI.md` the normative
//! text. Admission accepts an import only if its module, name and exact signature appear here.

use serde::{Deserialize, Serialize};

/// The import module contracts use.
pub const HOST_MODULE: &str = "keel";
/// The import module under which a metered module imports the host functions it only calls
/// directly: each takes the caller's remaining compute gas as one more `i64` parameter and
/// returns what is left as one more `i64` result, so neither side touches the gas global on the
/// way (see the metering pass's `gas_threading.rs`). Added by the instrumentation only;
/// contracts may not import from it.
pub const HOST_GAS_MODULE: &str = "keel$gas";
/// The import module of the metering helpers the instrumentation adds. Contracts may not
/// import from it.
pub const METER_MODULE: &str = "keel_meter";
/// Prefix of the exports the instrumentation adds; contracts may not export names with it.
pub const RESERVED_EXPORT_PREFIX: &str = "keel$";
/// Export name of the remaining-compute-gas global added by instrumentation.
pub const GAS_GLOBAL_EXPORT: &str = "keel$gas";
/// Export name of the used-stack-slots global added by instrumentation.
pub const STACK_GLOBAL_EXPORT: &str = "keel$stack";
/// Export name of the host-call-site global: the instrumentation stores the input-module byte
/// offset of every call to a host import here just before the call, so a host-call fault can be
/// located exactly.
pub const SITE_GLOBAL_EXPORT: &str = "keel$site";
/// Export name of the written-chunks global added by instrumentation: bit `i` set means the
/// call's own code may have written bytes `i·4096 .. (i+1)·4096` of memory (see the metering
/// pass's `write_set.rs`). Exported by metered modules only.
pub const WRITTEN_GLOBAL_EXPORT: &str = "keel$written";
/// Prefix of the export names the instrumentation gives every global the module defines
/// (`keel$global0`, `keel$global1`, …), so an engine can reset a reused instance's globals to
/// their initial values. No gas or behaviour depends on them.
pub const DEFINED_GLOBAL_EXPORT_PREFIX: &str = "keel$global";

/// A value type in a host signature (the profile has no floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
}

/// Every host function of ABI v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostFn {
    InputSize,
    InputCopy,
    ReturnData,
    StorageRead,
    StorageWrite,
    StorageRemove,
    EmitEvent,
    Caller,
    SelfAddress,
    BlockHeight,
    BlockTimestamp,
    GasLeft,
    Abort,
    U256Add,
    U256Sub,
    U256Mul,
    U256Div,
    U256Mod,
    U256AddMod,
    U256MulMod,
    U256Exp,
    U256Cmp,
    U256Shl,
    U256Shr,
    FxMul,
    FxDiv,
    FxSqrt,
    FxExp,
    FxLn,
    FxPow,
    NativeCall,
    BlsVerify,
    BlsAggregateVerify,
    BlsFastAggregateVerify,
    Call,
    ReturnDataSize,
    ReturnDataCopy,
    HandleForContract,
    HandleAttenuate,
    HandleInfo,
    HandleCount,
    Poseidon,
    Groth16Verify,
    Randomness,
}

/// One row of the ABI table.
#[derive(Debug, Clone, Copy)]
pub struct HostFnSpec {
    pub func: HostFn,
    pub name: &'static str,
    pub params: &'static [Ty],
    pub results: &'static [Ty],
}

use Ty::{I32, I64};

const P0: &[Ty] = &[];
const P1: &[Ty] = &[I32];
const P2: &[Ty] = &[I32, I32];
const P3: &[Ty] = &[I32, I32, I32];
const P4: &[Ty] = &[I32, I32, I32, I32];
const P5: &[Ty] = &[I32, I32, I32, I32, I32];
const P6: &[Ty] = &[I32, I32, I32, I32, I32, I32];
const P9: &[Ty] = &[I32, I32, I32, I32, I32, I32, I32, I32, I32];
const R_I32: &[Ty] = &[I32];
const R_I64: &[Ty] = &[I64];

/// The ABI v1 table, in [`HostFn`] order.
pub const HOST_FUNCTIONS: &[HostFnSpec] = &[
    spec(HostFn::InputSize, "input_size", P0, R_I32),
    spec(HostFn::InputCopy, "input_copy", P3, P0),
    spec(HostFn::ReturnData, "return_data", P2, P0),
    spec(HostFn::StorageRead, "storage_read", P4, R_I32),
    spec(HostFn::StorageWrite, "storage_write", P4, P0),
    spec(HostFn::StorageRemove, "storage_remove", P2, R_I32),
    spec(HostFn::EmitEvent, "emit_event", P4, P0),
    spec(HostFn::Caller, "caller", P1, P0),
    spec(HostFn::SelfAddress, "self_address", P1, P0),
    spec(HostFn::BlockHeight, "block_height", P0, R_I64),
    spec(HostFn::BlockTimestamp, "block_timestamp", P0, R_I64),
    spec(HostFn::GasLeft, "gas_left", P0, R_I64),
    spec(HostFn::Abort, "abort", P2, P0),
    spec(HostFn::U256Add, "u256_add", P3, R_I32),
    spec(HostFn::U256Sub, "u256_sub", P3, R_I32),
    spec(HostFn::U256Mul, "u256_mul", P3, R_I32),
    spec(HostFn::U256Div, "u256_div", P3, R_I32),
    spec(HostFn::U256Mod, "u256_mod", P3, R_I32),
    spec(HostFn::U256AddMod, "u256_addmod", P4, R_I32),
    spec(HostFn::U256MulMod, "u256_mulmod", P4, R_I32),
    spec(HostFn::U256Exp, "u256_exp", P3, R_I32),
    spec(HostFn::U256Cmp, "u256_cmp", P2, R_I32),
    spec(HostFn::U256Shl, "u256_shl", P3, P0),
    spec(HostFn::U256Shr, "u256_shr", P3, P0),
    spec(HostFn::FxMul, "fx_mul", P3, R_I32),
    spec(HostFn::FxDiv, "fx_div", P3, R_I32),
    spec(HostFn::FxSqrt, "fx_sqrt", P2, R_I32),
    spec(HostFn::FxExp, "fx_exp", P2, R_I32),
    spec(HostFn::FxLn, "fx_ln", P2, R_I32),
    spec(HostFn::FxPow, "fx_pow", P3, R_I32),
    spec(HostFn::NativeCall, "native_call", P5, R_I32),
    spec(HostFn::BlsVerify, "bls_verify", P4, R_I32),
    spec(
        HostFn::BlsAggregateVerify,
        "bls_aggregate_verify",
        P4,
        R_I32,
    ),
    spec(
        HostFn::BlsFastAggregateVerify,
        "bls_fast_aggregate_verify",
        P5,
        R_I32,
    ),
    spec(HostFn::Call, "call", P9, R_I32),
    spec(HostFn::ReturnDataSize, "return_data_size", P0, R_I32),
    spec(HostFn::ReturnDataCopy, "return_data_copy", P3, P0),
    spec(HostFn::HandleForContract, "handle_for_contract", P1, R_I32),
    spec(HostFn::HandleAttenuate, "handle_attenuate", P2, P0),
    spec(HostFn::HandleInfo, "handle_info", P2, R_I32),
    spec(HostFn::HandleCount, "handle_count", P0, R_I32),
    spec(HostFn::Poseidon, "poseidon", P4, R_I32),
    spec(HostFn::Groth16Verify, "groth16_verify", P6, R_I32),
    spec(HostFn::Randomness, "randomness", P3, R_I32),
];

const fn spec(
    func: HostFn,
    name: &'static str,
    params: &'static [Ty],
    results: &'static [Ty],
) -> HostFnSpec {
    HostFnSpec {
        func,
        name,
        params,
        results,
    }
}

impl HostFn {
    /// The table row of this function.
    pub fn spec(self) -> &'static HostFnSpec {
        // The table is in enum order; a unit test asserts it.
        &HOST_FUNCTIONS[self as usize]
    }

    /// The import name inside [`HOST_MODULE`].
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Looks an import up by name.
    pub fn by_name(name: &str) -> Option<HostFn> {
        HOST_FUNCTIONS
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.func)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_in_enum_order_with_unique_names() {
        for (i, s) in HOST_FUNCTIONS.iter().enumerate() {
            assert_eq!(s.func as usize, i, "row {i} ({}) out of order", s.name);
            assert_eq!(HostFn::by_name(s.name), Some(s.func));
        }
    }

    #[test]
    fn every_name_in_the_c_header_is_in_the_table_and_back() {
        let header = include_str!("../../../contracts/include/keel.h");
        for s in HOST_FUNCTIONS {
            assert!(
                header.contains(&format!("KEEL_IMPORT(\"{}\")", s.name)),
                "{} missing from keel.h",
                s.name
            );
        }
        let count = header.matches("KEEL_IMPORT(\"").count();
        assert_eq!(count, HOST_FUNCTIONS.len());
    }
}
