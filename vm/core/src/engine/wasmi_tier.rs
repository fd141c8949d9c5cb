//! The interpreter tier: wasmi.

use super::entry_funcs::EntryFuncs;
use super::host_call::{HostCaller, WithGas, with_host, with_host_gas};
use super::instance_pool::{InstancePool, Reusable, host_written};
use super::{CompiledModule, Completion, Ending, Engine, Invocation};
use crate::abi::{
    GAS_GLOBAL_EXPORT, HOST_GAS_MODULE, HOST_MODULE, METER_MODULE, SITE_GLOBAL_EXPORT,
    STACK_GLOBAL_EXPORT, WRITTEN_GLOBAL_EXPORT,
};
use crate::admission::FRAME_OVERHEAD_SLOTS;
use crate::error::{Trap, VmError, WasmTrap};
use crate::host::{HostFault, HostState};
use crate::metering::{InstrumentedModule, MEMORY_EXPORT};
use crate::profile::Profile;
use std::sync::Arc;
use wasmi::{
    Caller, Global, Instance, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
    TypedFunc, Val,
};

const NAME: &str = "wasmi";

/// Store data: the engine-independent host state plus the handles the wasmi glue needs.
/// `host` is `Some` for the duration of a call (a pooled instance's store outlives its calls).
pub(super) struct Data {
    pub(super) host: Option<HostState>,
    /// `keel$gas` (metered calls only): mirrored to [`HostState::gas`] around a host call of
    /// the global protocol, written by a gas-threaded one only when it faults
    /// (`engine/host_call.rs`).
    pub(super) gas: Option<Global>,
    /// `keel$site`: offset of the host call in progress, read when a host function faults.
    pub(super) site: Option<Global>,
    pub(super) memory: Option<Memory>,
    limits: StoreLimits,
}

/// The wasmi interpreter tier.
pub struct WasmiEngine {
    engine: wasmi::Engine,
    linker: Arc<Linker<Data>>,
    reuse: bool,
}

impl WasmiEngine {
    /// Creates the tier for `profile`. wasmi's own recursion and stack limits are set above
    /// what the profile's deterministic stack budget allows, so Keel's limit always trips first.
    /// With `reuse`, compiled modules keep instances for later calls (see `instance_pool.rs`);
    /// without, every call instantiates afresh (the reference path).
    pub fn new(profile: &Profile, reuse: bool) -> Result<Self, VmError> {
        let mut config = wasmi::Config::default();
        // Profile constants, far from overflow; saturating keeps wasmi's limits above Keel's.
        let frames = profile.max_stack_slots.checked_div(FRAME_OVERHEAD_SLOTS);
        let max_depth = (frames.unwrap_or(profile.max_stack_slots) as usize).saturating_add(16);
        let max_height = (profile.max_stack_slots as usize)
            .saturating_mul(64)
            .saturating_add(1 << 20);
        config
            .set_max_recursion_depth(max_depth)
            .set_max_stack_height(max_height)
            .floats(false)
            .wasm_multi_value(true)
            .wasm_sign_extension(true)
            .wasm_mutable_global(true)
            .wasm_bulk_memory(false)
            .wasm_reference_types(false)
            .wasm_tail_call(false)
            .wasm_multi_memory(false)
            .wasm_extended_const(false)
            .consume_fuel(false);
        let engine = wasmi::Engine::new(&config);
        let linker = build_linker(&engine).map_err(|e| VmError::Engine {
            engine: NAME,
            message: e.to_string(),
        })?;
        Ok(WasmiEngine {
            engine,
            linker: Arc::new(linker),
            reuse,
        })
    }

    /// The tier for the replay debugger: every call instantiates afresh and links the
    /// `keel_debug` hooks and host functions that report to `hook` (see `debug.rs`). Runs
    /// modules from [`crate::metering::instrument_for_debugging`]; never used by a node.
    pub fn for_debugging(
        profile: &Profile,
        hook: Arc<dyn crate::debug::DebugHook>,
    ) -> Result<Self, VmError> {
        let plain = WasmiEngine::new(profile, false)?;
        let linker =
            super::wasmi_debug::build_linker(&plain.engine, hook).map_err(|e| VmError::Engine {
                engine: NAME,
                message: e.to_string(),
            })?;
        Ok(WasmiEngine {
            linker: Arc::new(linker),
            ..plain
        })
    }
}

impl Engine for WasmiEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compile(&self, module: &InstrumentedModule) -> Result<Arc<dyn CompiledModule>, VmError> {
        let m = Module::new(&self.engine, &module.bytes).map_err(|e| VmError::Compile {
            engine: NAME,
            message: e.to_string(),
        })?;
        Ok(Arc::new(WasmiModule {
            engine: self.engine.clone(),
            linker: Arc::clone(&self.linker),
            module: m,
            pool: InstancePool::new(self.reuse, module.data_chunks),
        }))
    }
}

struct WasmiModule {
    engine: wasmi::Engine,
    linker: Arc<Linker<Data>>,
    module: Module,
    pool: InstancePool<Live>,
}

/// A live instance in its own store: the unit the pool keeps.
pub(super) struct Live {
    pub(super) store: Store<Data>,
    pub(super) instance: Instance,
    /// `keel$gas` and `keel$stack`, looked up once at instantiation (absent on unmetered
    /// modules).
    pub(super) metering: Option<(Global, Global)>,
    /// `keel$written` (absent on unmetered modules).
    pub(super) written: Option<Global>,
    pub(super) entries: EntryFuncs<TypedFunc<(), ()>>,
}

impl Reusable for Live {
    type Global = (Global, Val);

    fn memory(&self) -> Option<(u64, &[u8])> {
        let m = self.store.data().memory?;
        Some((m.size(&self.store), m.data(&self.store)))
    }

    fn memory_mut(&mut self) -> Option<(u64, &mut [u8])> {
        let m = self.store.data().memory?;
        let pages = m.size(&self.store);
        Some((pages, m.data_mut(&mut self.store)))
    }

    fn mutable_globals(&mut self) -> Vec<(Global, Val)> {
        let store = &self.store;
        self.instance
            .exports(store)
            .filter_map(|e| e.into_global())
            .filter(|g| g.ty(store).mutability().is_mut())
            .map(|g| (g, g.get(store)))
            .collect()
    }

    fn restore_global(&mut self, (g, v): &(Global, Val)) -> bool {
        g.set(&mut self.store, v.clone()).is_ok()
    }

    fn written(&mut self) -> Option<u64> {
        let bits = self.written?.get(&self.store).i64()?;
        Some(bits as u64) // a bit set, not a number
    }
}

fn store_limits(max_memory_pages: u64) -> StoreLimits {
    let max_bytes = usize::try_from(max_memory_pages.saturating_mul(65536)).unwrap_or(usize::MAX);
    StoreLimitsBuilder::new()
        .memory_size(max_bytes)
        .instances(1)
        .memories(1)
        .tables(1)
        .build()
}

impl WasmiModule {
    /// A fresh store and instance under `limits`; the error is how instantiation ended.
    fn instantiate(&self, limits: StoreLimits) -> Result<Live, Ending> {
        let data = Data {
            host: None,
            gas: None,
            site: None,
            memory: None,
            limits,
        };
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limits);
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .map_err(map_error)?;
        let memory = instance.get_memory(&store, MEMORY_EXPORT);
        store.data_mut().memory = memory;
        store.data_mut().site = instance.get_global(&store, SITE_GLOBAL_EXPORT);
        let written = instance.get_global(&store, WRITTEN_GLOBAL_EXPORT);
        let gas = instance.get_global(&store, GAS_GLOBAL_EXPORT);
        let stack = instance.get_global(&store, STACK_GLOBAL_EXPORT);
        Ok(Live {
            store,
            instance,
            metering: gas.zip(stack),
            written,
            entries: EntryFuncs::new(),
        })
    }
}

impl CompiledModule for WasmiModule {
    fn reused_instances(&self) -> u64 {
        self.pool.reused()
    }

    fn invoke(&self, inv: Invocation) -> Completion {
        let limits = store_limits(inv.max_memory_pages);
        let (mut live, snapshot) = match self.pool.take(inv.max_memory_pages) {
            Some((mut live, snapshot)) => {
                live.store.data_mut().limits = limits;
                (live, Some(snapshot))
            }
            None => match self.instantiate(limits) {
                Ok(mut live) => {
                    let snapshot = self.pool.snapshot(&mut live);
                    (live, snapshot)
                }
                Err(ending) => {
                    return Completion {
                        ending,
                        gas_left: 0,
                        memory_pages: 0,
                        memory_digest: None,
                        host: inv.host,
                        fuel_used: None,
                    };
                }
            },
        };
        live.store.data_mut().host = Some(inv.host);
        let ending = run(&mut live, &inv.entry, inv.entry_frame, inv.gas, inv.metered);
        let store = &mut live.store;
        let gas_left = store
            .data()
            .gas
            .and_then(|g| g.get(&*store).i64())
            .map_or(0, |g| u64::try_from(g).unwrap_or(0));
        let memory_pages = store.data().memory.map_or(0, |m| m.size(&*store));
        let memory_digest = inv
            .digest_memory
            .then(|| {
                store
                    .data()
                    .memory
                    .map(|m| *blake3::hash(m.data(&*store)).as_bytes())
            })
            .flatten();
        let gas_left = match &ending {
            Ending::Trapped(Trap::OutOfGas) => 0,
            _ => gas_left,
        };
        let host = store.data_mut().host.take();
        store.data_mut().gas = None;
        if let Some(snapshot) = snapshot {
            let written = host.as_ref().and_then(|h| host_written(&ending, h));
            self.pool.give_back(live, snapshot, written);
        }
        match host {
            Some(host) => Completion {
                ending,
                gas_left,
                memory_pages,
                memory_digest,
                host,
                fuel_used: None,
            },
            // Unreachable: the host state was put in above and only taken here.
            None => unreachable_host(),
        }
    }
}

#[cold]
fn unreachable_host() -> Completion {
    panic!("wasmi tier: the host state of a call disappeared")
}

fn run(live: &mut Live, entry: &str, entry_frame: u32, gas: u64, metered: bool) -> Ending {
    let Live {
        store,
        instance,
        metering,
        entries,
        ..
    } = live;
    if metered {
        let Some((g, s)) = *metering else {
            return Ending::Trapped(Trap::EngineLimit {
                message: "instrumented module lacks its metering globals".into(),
            });
        };
        let set = g
            .set(
                &mut *store,
                Val::I64(i64::try_from(gas).unwrap_or(i64::MAX)),
            )
            .and_then(|()| s.set(&mut *store, Val::I32(entry_frame as i32)));
        if let Err(e) = set {
            return Ending::Trapped(Trap::EngineLimit {
                message: e.to_string(),
            });
        }
        store.data_mut().gas = Some(g);
    }
    let lookup = || instance.get_typed_func::<(), ()>(&*store, entry).ok();
    let Some(func) = entries.get(entry, lookup) else {
        return Ending::Trapped(Trap::NoSuchEntry {
            name: entry.to_string(),
        });
    };
    match func.call(&mut *store, ()) {
        Ok(()) => Ending::Returned,
        Err(e) => map_error(e),
    }
}

use super::HostErr;

impl wasmi::errors::HostError for HostErr {}

fn map_error(e: wasmi::Error) -> Ending {
    if let Some(HostErr(fault)) = e.downcast_ref::<HostErr>() {
        return match fault {
            HostFault::Trap(t) => Ending::Trapped(t.clone()),
            HostFault::State(s) => Ending::Fatal(s.clone()),
        };
    }
    // An active element segment past its table's end is an instantiation error in wasmi but
    // the spec's (and wasmtime's) table-out-of-bounds trap; data segments already map.
    if let wasmi::errors::ErrorKind::Instantiation(
        wasmi::errors::InstantiationError::ElementSegmentDoesNotFit { .. },
    ) = e.kind()
    {
        return Ending::Trapped(Trap::Wasm {
            trap: WasmTrap::TableOutOfBounds,
        });
    }
    use wasmi::TrapCode as T;
    let trap = match e.as_trap_code() {
        Some(T::UnreachableCodeReached) => WasmTrap::Unreachable,
        Some(T::MemoryOutOfBounds) => WasmTrap::MemoryOutOfBounds,
        Some(T::TableOutOfBounds) => WasmTrap::TableOutOfBounds,
        Some(T::IndirectCallToNull) => WasmTrap::IndirectCallToNull,
        Some(T::IntegerDivisionByZero) => WasmTrap::IntegerDivisionByZero,
        Some(T::IntegerOverflow) => WasmTrap::IntegerOverflow,
        Some(T::BadSignature) => WasmTrap::BadSignature,
        _ => {
            return Ending::Trapped(Trap::EngineLimit {
                message: e.to_string(),
            });
        }
    };
    Ending::Trapped(Trap::Wasm { trap })
}

/// The host state of the call in progress. Host functions only run inside a call, which always
/// has one; the error keeps that an engine fault rather than a panic.
pub(super) fn host_mut(data: &mut Data) -> Result<&mut HostState, wasmi::Error> {
    data.host
        .as_mut()
        .ok_or_else(|| wasmi::Error::new("host function called outside a call"))
}

/// Records where a metering helper trapped.
fn set_fault_offset(caller: &mut Caller<'_, Data>, offset: i32) -> Result<(), wasmi::Error> {
    host_mut(caller.data_mut())?.calls.fault_offset = Some(offset as u32);
    Ok(())
}

impl HostCaller for Caller<'_, Data> {
    type Error = wasmi::Error;

    fn host(&mut self) -> Result<&mut HostState, wasmi::Error> {
        host_mut(self.data_mut())
    }

    fn with_memory<R>(
        &mut self,
        f: impl FnOnce(&mut HostState, &mut [u8]) -> Result<R, HostFault>,
    ) -> Result<Result<R, HostFault>, wasmi::Error> {
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
        g.get(&*self).i64()
    }

    fn set_gas_global(&mut self, gas: i64) -> Result<(), wasmi::Error> {
        match self.data().gas {
            Some(g) => g
                .set(&mut *self, Val::I64(gas))
                .map_err(|e| wasmi::Error::new(e.to_string())),
            None => Ok(()),
        }
    }

    fn site(&mut self) -> Option<i32> {
        let site = self.data().site?;
        site.get(&*self).i32()
    }

    fn fault(fault: HostFault) -> wasmi::Error {
        wasmi::Error::host(HostErr(fault))
    }
}

/// Links one host function under [`HOST_MODULE`] with its ABI signature and under
/// [`HOST_GAS_MODULE`] with the gas threaded through it.
macro_rules! host_fn {
    ($linker:ident, $f:expr, |$h:ident, $m:ident $(, $a:ident)*| -> $ret:ty $body:block) => {
        $linker.func_wrap(
            HOST_MODULE,
            $f.name(),
            move |mut caller: Caller<'_, Data>, $($a: i32),*| -> Result<$ret, wasmi::Error> {
                with_host(&mut caller, |$h: &mut HostState, $m: &mut [u8]| $body)
            },
        )?;
        $linker.func_wrap(
            HOST_GAS_MODULE,
            $f.name(),
            move |mut caller: Caller<'_, Data>, $($a: i32,)* gas: i64|
                -> Result<<$ret as WithGas>::Out, wasmi::Error> {
                with_host_gas(&mut caller, gas, |$h: &mut HostState, $m: &mut [u8]| $body)
            },
        )?;
    };
}

fn build_linker(engine: &wasmi::Engine) -> Result<Linker<Data>, wasmi::errors::LinkerError> {
    let mut l = Linker::<Data>::new(engine);
    link_meter(&mut l)?;
    super::host_table::link_abi!(host_fn, l);
    Ok(l)
}

/// The metering helpers (`keel_meter.*`), common to the node's and the debugger's linker.
pub(super) fn link_meter(l: &mut Linker<Data>) -> Result<(), wasmi::errors::LinkerError> {
    // The helpers receive the input-module offset of the failing block or call site.
    l.func_wrap(
        METER_MODULE,
        "out_of_gas",
        |mut caller: Caller<'_, Data>, offset: i32| -> Result<(), wasmi::Error> {
            set_fault_offset(&mut caller, offset)?;
            Err(wasmi::Error::host(HostErr(HostFault::Trap(Trap::OutOfGas))))
        },
    )?;
    l.func_wrap(
        METER_MODULE,
        "stack_overflow",
        |mut caller: Caller<'_, Data>, offset: i32| -> Result<(), wasmi::Error> {
            set_fault_offset(&mut caller, offset)?;
            Err(wasmi::Error::host(HostErr(HostFault::Trap(
                Trap::StackOverflow,
            ))))
        },
    )?;
    l.func_wrap(
        METER_MODULE,
        "killed",
        |mut caller: Caller<'_, Data>, offset: i32, code: i32| -> Result<(), wasmi::Error> {
            set_fault_offset(&mut caller, offset)?;
            let item = crate::kills::Killed::from_code(code)
                .map_or_else(|| format!("unknown item {code}"), |k| k.to_string());
            Err(wasmi::Error::host(HostErr(HostFault::Trap(Trap::Killed {
                item,
            }))))
        },
    )?;
    Ok(())
}
