//! The wasmtime glue of the host ABI: store data, the linker of every `keel` and `keel_meter`
//! import, and the mapping of wasmtime errors onto Keel traps. The host functions themselves
//! are engine-independent ([`crate::host`]); each is linked by one `host_fn!` line, and
//! `tests::every_abi_function_is_linked` fails if one of [`crate::abi::HOST_FUNCTIONS`] is
//! missing here.

use super::Ending;
use crate::abi::{HOST_MODULE, HostFn, METER_MODULE};
use crate::error::{Trap, WasmTrap};
use crate::host::{HostFault, HostState};
use crate::intrinsics;
use wasmtime::{Caller, Global, Linker, Memory, StoreLimits, Val};

/// Store data: the engine-independent host state plus the handles the glue needs.
pub(crate) struct Data {
    host: HostState,
    /// `keel$gas`, mirrored to [`HostState::gas`] around every host call (metered calls only).
    pub(super) gas: Option<Global>,
    /// `keel$site`: offset of the host call in progress, read when a host function faults.
    pub(super) site: Option<Global>,
    pub(super) memory: Option<Memory>,
    pub(super) limits: StoreLimits,
}

impl Data {
    pub(super) fn new(limits: StoreLimits, host: HostState) -> Self {
        Data {
            host,
            gas: None,
            site: None,
            memory: None,
            limits,
        }
    }

    pub(super) fn into_host(self) -> HostState {
        self.host
    }
}

/// A host function failure carried through wasmtime as an error.
#[derive(Debug)]
struct HostErr(HostFault);

impl std::fmt::Display for HostErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            HostFault::Trap(t) => write!(f, "{t}"),
            HostFault::State(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for HostErr {}

fn host_error(fault: HostFault) -> wasmtime::Error {
    wasmtime::Error::new(HostErr(fault))
}

/// How a call ended, from the error wasmtime returned: a host fault as the host reported it,
/// a wasm trap as the same [`WasmTrap`] wasmi reports, anything else an engine limit (a bug in
/// Keel's limits, never reached while they hold).
pub(super) fn map_error(e: wasmtime::Error) -> Ending {
    if let Some(HostErr(fault)) = e.downcast_ref::<HostErr>() {
        return match fault {
            HostFault::Trap(t) => Ending::Trapped(t.clone()),
            HostFault::State(s) => Ending::Fatal(s.clone()),
        };
    }
    use wasmtime::Trap as T;
    let trap = match e.downcast_ref::<T>() {
        Some(T::UnreachableCodeReached) => WasmTrap::Unreachable,
        Some(T::MemoryOutOfBounds) => WasmTrap::MemoryOutOfBounds,
        Some(T::TableOutOfBounds) => WasmTrap::TableOutOfBounds,
        Some(T::IndirectCallToNull) => WasmTrap::IndirectCallToNull,
        Some(T::IntegerDivisionByZero) => WasmTrap::IntegerDivisionByZero,
        Some(T::IntegerOverflow) => WasmTrap::IntegerOverflow,
        Some(T::BadSignature) => WasmTrap::BadSignature,
        _ => {
            return Ending::Trapped(Trap::EngineLimit {
                message: format!("{e:#}"),
            });
        }
    };
    Ending::Trapped(Trap::Wasm { trap })
}

/// Records where a metering helper trapped, and the trap.
fn helper_trap(caller: &mut Caller<'_, Data>, offset: i32, trap: Trap) -> wasmtime::Error {
    caller.data_mut().host.calls.fault_offset = Some(offset as u32);
    host_error(HostFault::Trap(trap))
}

/// Runs `f` on the host state and memory, mirroring the gas global around it.
fn with_host<R>(
    caller: &mut Caller<'_, Data>,
    f: impl FnOnce(&mut HostState, &mut [u8]) -> Result<R, HostFault>,
) -> wasmtime::Result<R> {
    let gas_global = caller.data().gas;
    let memory = caller.data().memory;
    if let Some(g) = gas_global
        && let Some(v) = g.get(&mut *caller).i64()
    {
        caller.data_mut().host.gas = u64::try_from(v).unwrap_or(0);
    }
    let result = match memory {
        Some(m) => {
            let (mem, data) = m.data_and_store_mut(&mut *caller);
            f(&mut data.host, mem)
        }
        None => f(&mut caller.data_mut().host, &mut []),
    };
    if let Some(g) = gas_global {
        let left = i64::try_from(caller.data().host.gas).unwrap_or(i64::MAX);
        g.set(&mut *caller, Val::I64(left))?;
    }
    if result.is_err()
        && let Some(site) = caller.data().site
        && let Some(offset) = site.get(&mut *caller).i32()
    {
        caller.data_mut().host.calls.fault_offset = Some(offset as u32);
    }
    result.map_err(host_error)
}

/// Links one host function: `host_fn!(linker, HostFn, |host, memory, args…| -> ret { body })`.
macro_rules! host_fn {
    ($linker:ident, $f:expr, |$h:ident, $m:ident $(, $a:ident)*| -> $ret:ty $body:block) => {
        $linker.func_wrap(
            HOST_MODULE,
            $f.name(),
            move |mut caller: Caller<'_, Data>, $($a: i32),*| -> wasmtime::Result<$ret> {
                with_host(&mut caller, |$h: &mut HostState, $m: &mut [u8]| $body)
            },
        )?;
    };
}

/// The metering helpers the instrumentation imports; they receive the input-module offset of
/// the failing block or call site.
fn link_meter(l: &mut Linker<Data>) -> wasmtime::Result<()> {
    l.func_wrap(
        METER_MODULE,
        "out_of_gas",
        |mut caller: Caller<'_, Data>, offset: i32| -> wasmtime::Result<()> {
            Err(helper_trap(&mut caller, offset, Trap::OutOfGas))
        },
    )?;
    l.func_wrap(
        METER_MODULE,
        "stack_overflow",
        |mut caller: Caller<'_, Data>, offset: i32| -> wasmtime::Result<()> {
            Err(helper_trap(&mut caller, offset, Trap::StackOverflow))
        },
    )?;
    l.func_wrap(
        METER_MODULE,
        "killed",
        |mut caller: Caller<'_, Data>, offset: i32, code: i32| -> wasmtime::Result<()> {
            let item = crate::kills::Killed::from_code(code)
                .map_or_else(|| format!("unknown item {code}"), |k| k.to_string());
            Err(helper_trap(&mut caller, offset, Trap::Killed { item }))
        },
    )?;
    Ok(())
}

/// The linker of every import an instrumented module may have.
pub(super) fn build_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<Data>> {
    let mut l = Linker::<Data>::new(engine);
    link_meter(&mut l)?;
    link_basic(&mut l)?;
    link_intrinsics(&mut l)?;
    link_crypto_and_calls(&mut l)?;
    Ok(l)
}

/// Input, output, storage, events and the call context.
fn link_basic(l: &mut Linker<Data>) -> wasmtime::Result<()> {
    use HostFn as F;
    host_fn!(l, F::InputSize, |h, m| -> i32 { h.input_size(m) });
    host_fn!(l, F::InputCopy, |h, m, d, o, n| -> () {
        h.input_copy(m, d, o, n)
    });
    host_fn!(l, F::ReturnData, |h, m, p, n| -> () {
        h.return_data(m, p, n)
    });
    host_fn!(l, F::StorageRead, |h, m, k, kl, v, vc| -> i32 {
        h.storage_read(m, k, kl, v, vc)
    });
    host_fn!(l, F::StorageWrite, |h, m, k, kl, v, vl| -> () {
        h.storage_write(m, k, kl, v, vl)
    });
    host_fn!(l, F::StorageRemove, |h, m, k, kl| -> i32 {
        h.storage_remove(m, k, kl)
    });
    host_fn!(l, F::EmitEvent, |h, m, t, tl, d, dl| -> () {
        h.emit_event(m, t, tl, d, dl)
    });
    host_fn!(l, F::Caller, |h, m, d| -> () { h.caller(m, d) });
    host_fn!(l, F::SelfAddress, |h, m, d| -> () { h.self_address(m, d) });
    host_fn!(l, F::BlockHeight, |h, m| -> i64 { h.block_height(m) });
    host_fn!(l, F::BlockTimestamp, |h, m| -> i64 { h.block_timestamp(m) });
    host_fn!(l, F::GasLeft, |h, m| -> i64 { h.gas_left(m) });
    host_fn!(l, F::Abort, |h, m, p, n| -> () { h.abort(m, p, n) });
    Ok(())
}

/// The u256 and fixed-point intrinsics.
fn link_intrinsics(l: &mut Linker<Data>) -> wasmtime::Result<()> {
    use HostFn as F;
    for f in [
        F::U256Add,
        F::U256Sub,
        F::U256Mul,
        F::U256Div,
        F::U256Mod,
        F::U256Exp,
    ] {
        host_fn!(l, f, |h, m, a, b, o| -> i32 {
            h.intrinsic(m, f, [a, b], o, intrinsics::u256_binary(f))
        });
    }
    for f in [F::U256AddMod, F::U256MulMod] {
        host_fn!(l, f, |h, m, a, b, n, o| -> i32 {
            h.intrinsic(m, f, [a, b, n], o, intrinsics::u256_ternary(f))
        });
    }
    host_fn!(l, F::U256Cmp, |h, m, a, b| -> i32 {
        h.compare(m, F::U256Cmp, a, b, intrinsics::u256_cmp)
    });
    host_fn!(l, F::U256Shl, |h, m, a, s, o| -> () {
        h.shift(m, F::U256Shl, a, s, o, intrinsics::u256_shl)
    });
    host_fn!(l, F::U256Shr, |h, m, a, s, o| -> () {
        h.shift(m, F::U256Shr, a, s, o, intrinsics::u256_shr)
    });
    for f in [F::FxMul, F::FxDiv, F::FxPow] {
        host_fn!(l, f, |h, m, a, b, o| -> i32 {
            h.intrinsic(m, f, [a, b], o, intrinsics::fx_binary(f))
        });
    }
    for f in [F::FxSqrt, F::FxExp, F::FxLn] {
        host_fn!(l, f, |h, m, a, o| -> i32 {
            h.intrinsic(m, f, [a], o, intrinsics::fx_unary(f))
        });
    }
    Ok(())
}

/// Native routines, BLS, cross-contract calls and handles.
fn link_crypto_and_calls(l: &mut Linker<Data>) -> wasmtime::Result<()> {
    use HostFn as F;
    host_fn!(l, F::NativeCall, |h, m, r, i, il, o, ol| -> i32 {
        h.native_call(m, r, i, il, o, ol)
    });
    host_fn!(l, F::BlsVerify, |h, m, pk, msg, ml, sig| -> i32 {
        h.bls_verify(m, pk, msg, ml, sig)
    });
    host_fn!(l, F::BlsAggregateVerify, |h, m, n, pks, msgs, sig| -> i32 {
        h.bls_aggregate_verify(m, n, pks, msgs, sig)
    });
    host_fn!(l, F::BlsFastAggregateVerify, |h,
                                            m,
                                            n,
                                            pks,
                                            msg,
                                            ml,
                                            sig|
     -> i32 {
        h.bls_fast_aggregate_verify(m, n, pks, msg, ml, sig)
    });
    host_fn!(l, F::Call, |h, m, hd, e, el, i, il, v, g, p, pl| -> i32 {
        h.call(m, hd, e, el, i, il, v, g, p, pl)
    });
    host_fn!(l, F::ReturnDataSize, |h, m| -> i32 {
        h.return_data_size(m)
    });
    host_fn!(l, F::ReturnDataCopy, |h, m, d, o, n| -> () {
        h.return_data_copy(m, d, o, n)
    });
    host_fn!(l, F::HandleForContract, |h, m, a| -> i32 {
        h.handle_for_contract(m, a)
    });
    host_fn!(l, F::HandleAttenuate, |h, m, hd, r| -> () {
        h.handle_attenuate(m, hd, r)
    });
    host_fn!(l, F::HandleInfo, |h, m, hd, o| -> i32 {
        h.handle_info(m, hd, o)
    });
    host_fn!(l, F::HandleCount, |h, m| -> i32 { h.handle_count(m) });
    host_fn!(l, F::Poseidon, |h, m, c, i, n, o| -> i32 {
        h.poseidon(m, c, i, n, o)
    });
    host_fn!(l, F::Groth16Verify, |h, m, c, vk, vl, p, i, n| -> i32 {
        h.groth16_verify(m, c, vk, vl, p, i, n)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{HOST_FUNCTIONS, Ty};

    /// A module importing every function of the ABI table with its exact signature.
    fn import_everything() -> Vec<u8> {
        use wasm_encoder::{EntityType, ImportSection, Module, TypeSection, ValType};
        let mut types = TypeSection::new();
        let mut imports = ImportSection::new();
        let conv = |t: &Ty| match t {
            Ty::I32 => ValType::I32,
            Ty::I64 => ValType::I64,
        };
        for (i, spec) in HOST_FUNCTIONS.iter().enumerate() {
            types
                .ty()
                .function(spec.params.iter().map(conv), spec.results.iter().map(conv));
            let index = u32::try_from(i).expect("a small table");
            imports.import(HOST_MODULE, spec.name, EntityType::Function(index));
        }
        let mut m = Module::new();
        m.section(&types).section(&imports);
        m.finish()
    }

    /// A new entry of the ABI table that this linker lacks (or links with another signature)
    /// fails here, not on the first contract that imports it.
    #[test]
    fn every_abi_function_is_linked() {
        let engine = wasmtime::Engine::new(&super::super::wasmtime_tier::config())
            .expect("the deterministic config is valid");
        let linker = build_linker(&engine).expect("the linker builds");
        let module = wasmtime::Module::new(&engine, import_everything()).expect("compiles");
        if let Err(e) = linker.instantiate_pre(&module) {
            panic!("a keel import is not linked on wasmtime: {e:#}");
        }
    }
}
