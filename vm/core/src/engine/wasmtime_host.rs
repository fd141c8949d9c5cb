//! The wasmtime glue of the host ABI: store data, the linker of every `keel` and `keel_meter`
//! import, and the mapping of wasmtime errors onto Keel traps. The host functions themselves
//! are engine-independent ([`crate::host`]); each is linked by one `host_fn!` line, and
//! `tests::every_abi_function_is_linked` fails if one of [`crate::abi::HOST_FUNCTIONS`] is
//! missing here.

use super::Ending;
use super::host_call::{HostCaller, WithGas, with_host, with_host_gas};
use crate::abi::{HOST_GAS_MODULE, HOST_MODULE, METER_MODULE};
use crate::error::{Trap, WasmTrap};
use crate::host::{HostFault, HostState};
use wasmtime::{Caller, Global, Linker, Memory, StoreLimits, Val};

/// Store data: the engine-independent host state plus the handles the glue needs.
/// `host` is `Some` for the duration of a call (a kept instance's store outlives its calls).
pub(crate) struct Data {
    pub(super) host: Option<HostState>,
    /// `keel$gas` (metered calls only): mirrored to [`HostState::gas`] around a host call of
    /// the global protocol, written by a gas-threaded one only when it faults
    /// (`engine/host_call.rs`).
    pub(super) gas: Option<Global>,
    /// `keel$site`: offset of the host call in progress, read when a host function faults.
    pub(super) site: Option<Global>,
    pub(super) memory: Option<Memory>,
    pub(super) limits: StoreLimits,
    /// Fuel charged before each host call, on an engine that meters with wasmtime's fuel
    /// (see [`super::wasmtime_tier::FuelMetering`]); `None` on Keel's own tier.
    pub(super) host_call_fuel: Option<u64>,
}

impl Data {
    pub(super) fn new(limits: StoreLimits) -> Self {
        Data {
            host: None,
            gas: None,
            site: None,
            memory: None,
            limits,
            host_call_fuel: None,
        }
    }
}

/// The host state of the call in progress. Host functions only run inside a call, which always
/// has one; the error keeps that an engine fault rather than a panic.
fn host_mut(data: &mut Data) -> wasmtime::Result<&mut HostState> {
    data.host
        .as_mut()
        .ok_or_else(|| wasmtime::Error::msg("host function called outside a call"))
}

use super::HostErr;

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
        // Only reachable on a fuel-metered engine (the wasm-chains baseline).
        Some(T::OutOfFuel) => return Ending::Trapped(Trap::OutOfGas),
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
    match host_mut(caller.data_mut()) {
        Ok(host) => {
            host.calls.fault_offset = Some(offset as u32);
            host_error(HostFault::Trap(trap))
        }
        Err(e) => e,
    }
}

/// Takes the fixed per-call fuel of a fuel-metered engine; out of fuel is `OutOfGas`.
fn charge_host_call_fuel(caller: &mut Caller<'_, Data>) -> wasmtime::Result<()> {
    let Some(charge) = caller.data().host_call_fuel else {
        return Ok(());
    };
    let left = caller.get_fuel()?;
    match left.checked_sub(charge) {
        Some(rest) => caller.set_fuel(rest),
        None => {
            caller.set_fuel(0)?;
            Err(host_error(HostFault::Trap(Trap::OutOfGas)))
        }
    }
}

impl HostCaller for Caller<'_, Data> {
    type Error = wasmtime::Error;

    fn host(&mut self) -> wasmtime::Result<&mut HostState> {
        host_mut(self.data_mut())
    }

    fn with_memory<R>(
        &mut self,
        f: impl FnOnce(&mut HostState, &mut [u8]) -> Result<R, HostFault>,
    ) -> wasmtime::Result<Result<R, HostFault>> {
        Ok(match self.data().memory {
            Some(m) => {
                let (mem, data) = m.data_and_store_mut(&mut *self);
                f(host_mut(data)?, mem)
            }
            None => f(host_mut(self.data_mut())?, &mut []),
        })
    }

    fn gas_global(&mut self) -> Option<i64> {
        let g = self.data().gas?;
        g.get(&mut *self).i64()
    }

    fn set_gas_global(&mut self, gas: i64) -> wasmtime::Result<()> {
        match self.data().gas {
            Some(g) => g.set(&mut *self, Val::I64(gas)),
            None => Ok(()),
        }
    }

    fn site(&mut self) -> Option<i32> {
        let site = self.data().site?;
        site.get(&mut *self).i32()
    }

    fn fault(fault: HostFault) -> wasmtime::Error {
        host_error(fault)
    }
}

/// Links one host function: `host_fn!(linker, HostFn, |host, memory, args…| -> ret { body })`,
/// under [`HOST_MODULE`] with its ABI signature and under [`HOST_GAS_MODULE`] with the gas
/// threaded through it.
macro_rules! host_fn {
    ($linker:ident, $f:expr, |$h:ident, $m:ident $(, $a:ident)*| -> $ret:ty $body:block) => {
        $linker.func_wrap(
            HOST_MODULE,
            $f.name(),
            move |mut caller: Caller<'_, Data>, $($a: i32),*| -> wasmtime::Result<$ret> {
                charge_host_call_fuel(&mut caller)?;
                with_host(&mut caller, |$h: &mut HostState, $m: &mut [u8]| $body)
            },
        )?;
        $linker.func_wrap(
            HOST_GAS_MODULE,
            $f.name(),
            move |mut caller: Caller<'_, Data>, $($a: i32,)* gas: i64|
                -> wasmtime::Result<<$ret as WithGas>::Out> {
                with_host_gas(&mut caller, gas, |$h: &mut HostState, $m: &mut [u8]| $body)
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
    super::host_table::link_abi!(host_fn, l);
    Ok(l)
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
