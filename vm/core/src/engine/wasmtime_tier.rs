//! The JIT tier: wasmtime with Cranelift, running the same instrumented module as wasmi, so gas,
//! traps and trap offsets are identical by construction (metering is in the code, not the
//! engine).
//!
//! Determinism settings (see [`config`]):
//! * exactly the admission profile's proposals (multi-value, sign extension, mutable globals);
//!   SIMD, relaxed SIMD, threads, bulk memory, reference types, tail calls, GC, exceptions,
//!   memory64, multi-memory, wide arithmetic, custom page sizes, stack switching and the
//!   component model are off; NaN canonicalization is on (floats are refused by admission, so
//!   it never applies);
//! * linear memory is a static reservation: [`MEMORY_RESERVATION`] bytes of virtual address
//!   space (4 GiB, every 32-bit address) plus a [`MEMORY_GUARD`] guard region, never moved, so
//!   Cranelift elides bounds checks for accesses whose static offset fits in the guard and an
//!   out-of-bounds access faults on an unmapped page, reported as the same
//!   `MemoryOutOfBounds` trap wasmi gives; data segments are copied in at instantiation (no
//!   copy-on-write memfd images: instantiation makes no syscall a sandboxed worker lacks);
//! * the native stack: wasmtime traps past [`MAX_WASM_STACK`] bytes of wasm frames, sized so
//!   that Keel's deterministic stack budget (value slots, charged by the instrumentation)
//!   always trips first, and every call runs with at least [`RED_ZONE`] bytes of native stack
//!   below it (a fresh segment is allocated when the thread has less).

use super::entry_funcs::EntryFuncs;
use super::instance_pool::{InstancePool, Reusable, host_written};
use super::wasmtime_host::{Data, build_linker, map_error};
use super::{CompiledModule, Completion, Ending, Invocation};
use crate::abi::{
    GAS_GLOBAL_EXPORT, SITE_GLOBAL_EXPORT, STACK_GLOBAL_EXPORT, WRITTEN_GLOBAL_EXPORT,
};
use crate::admission::FRAME_OVERHEAD_SLOTS;
use crate::error::{Trap, VmError};
use crate::metering::MEMORY_EXPORT;
use crate::profile::Profile;
use std::sync::Arc;
use wasmtime::{
    Config, Global, Instance, InstancePre, Linker, Module, OptLevel, Store, StoreLimits,
    StoreLimitsBuilder, TypedFunc, Val,
};

pub(super) const NAME: &str = "wasmtime";
/// Name of the fuel-metered engine ([`WasmtimeEngine::with_fuel`]).
const FUEL_NAME: &str = "wasmtime-fuel";

/// Metering the way wasm chains do it, for the `keel bench peers` baseline only: wasmtime's
/// own fuel (one unit per wasm operator, 0 for `nop`, `drop`, `block`, `loop`, `end`, `else`,
/// `return`, `unreachable`, and one per function entered) plus a fixed charge per host call. Meant for a [`crate::Vm`]
/// with `metering: false`, whose modules then carry the contract's operators unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuelMetering {
    /// Fuel taken before every `keel` host call, whatever the call does.
    pub host_call_fuel: u64,
}

/// Virtual address space reserved for each linear memory: all of a 32-bit memory, so it never
/// moves and needs no explicit bounds checks.
pub const MEMORY_RESERVATION: u64 = 1 << 32;
/// Unmapped guard region after the reservation: an access `base + index + offset` with
/// `offset` below this faults without an explicit check (larger offsets get one).
pub const MEMORY_GUARD: u64 = 32 << 20;
/// Native bytes allowed per Keel stack slot: a Cranelift frame spills at most every local and
/// operand (8 bytes each for the profile's i32/i64) plus return address, frame pointer and
/// callee-saved registers, which the two overhead slots of every frame (64 bytes) cover.
/// Twice that margin (eight times a spilled slot) keeps wasmtime's own limit far behind Keel's
/// (`the_deepest_recursion_the_profile_allows_hits_keels_stack_limit_on_both_tiers`), and the
/// whole limit (4 MiB for the v1 profile) plus [`RED_ZONE_HOST`] fits in a thread of
/// [`CALL_THREAD_STACK`] bytes, so calls on such a thread run on it without switching stacks.
const NATIVE_BYTES_PER_SLOT: usize = 2 * 32;
/// Native stack that must be free when a call starts: the wasm stack limit plus room for the
/// host functions (BLS verification, nested calls) that run below the deepest wasm frame.
pub const RED_ZONE_HOST: usize = 1 << 20;
/// Stack size for threads that execute contracts (the main thread's 8 MiB default): a call
/// needs [`max_wasm_stack_all`] plus [`RED_ZONE_HOST`] free (5 MiB for the v1 profile); with
/// less, it runs on a freshly mapped segment, which costs a map, a guard page and page faults
/// on every call. Nested calls past the first fall back to such segments.
pub const CALL_THREAD_STACK: usize = 8 << 20;

/// wasmtime's stack limit for `profile`: Keel's budget in bytes with a wide margin.
pub fn max_wasm_stack(profile: &Profile) -> usize {
    let slots = (profile.max_stack_slots as usize).saturating_add(FRAME_OVERHEAD_SLOTS as usize);
    slots.saturating_mul(NATIVE_BYTES_PER_SLOT)
}

/// Every supported profile's stack limit: the engine is shared by all of them.
pub fn max_wasm_stack_all() -> usize {
    Profile::SUPPORTED
        .iter()
        .map(max_wasm_stack)
        .max()
        .unwrap_or(0)
}

/// The deterministic wasmtime configuration (see the module documentation).
pub fn config() -> Config {
    let mut c = Config::new();
    c.cranelift_opt_level(OptLevel::Speed)
        .cranelift_nan_canonicalization(true)
        .wasm_multi_value(true)
        .wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_shared_everything_threads(false)
        .wasm_bulk_memory(false)
        .wasm_gc(false)
        .wasm_tail_call(false)
        .wasm_multi_memory(false)
        .wasm_extended_const(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_stack_switching(false)
        .wasm_branch_hinting(false)
        .wasm_backtrace_max_frames(None)
        .native_unwind_info(false)
        .debug_info(false)
        .consume_fuel(false)
        .epoch_interruption(false)
        .signals_based_traps(true)
        .memory_reservation(MEMORY_RESERVATION)
        .memory_guard_size(MEMORY_GUARD)
        .memory_reservation_for_growth(0)
        .memory_may_move(false)
        .guard_before_linear_memory(true)
        // Data segments are copied in at instantiation, as wasmi does, instead of mapped from a
        // memfd image: instantiation then needs no `memfd_create`, which a sandboxed worker may
        // not make (the call would end in an engine-limit trap where wasmi returns).
        .memory_init_cow(false)
        .max_wasm_stack(max_wasm_stack_all())
        // Unused (no async support is compiled in), but validated against the stack limit.
        .async_stack_size(max_wasm_stack_all().saturating_add(RED_ZONE_HOST));
    // Proposals whose setters exist only with cargo features this build leaves out (threads,
    // GC, reference types, component model): switched off by flag as well, in case a dependency enables them.
    use wasmtime::WasmFeatures as F;
    c.wasm_features(
        F::THREADS
            | F::REFERENCE_TYPES
            | F::FUNCTION_REFERENCES
            | F::EXCEPTIONS
            | F::LEGACY_EXCEPTIONS
            | F::COMPONENT_MODEL
            | F::MEMORY64
            | F::SATURATING_FLOAT_TO_INT,
        false,
    );
    // Sign extension and mutable globals are part of every wasmtime build and cannot be
    // switched off; the profile admits both.
    c
}

/// The wasmtime tier. Compiling is done by [`WasmtimeEngine::compile_bytes`] (or loaded from
/// the artifact cache by the tiering layer).
pub struct WasmtimeEngine {
    engine: wasmtime::Engine,
    linker: Arc<Linker<Data>>,
    fuel: Option<FuelMetering>,
    /// Whether compiled modules keep instances for later calls (`instance_pool.rs`).
    reuse: bool,
}

impl WasmtimeEngine {
    /// The tier with the deterministic [`config`], keeping instances for reuse. Fails where
    /// wasmtime cannot run (no Cranelift backend for this CPU, no virtual memory for the
    /// reservations): the caller then stays on wasmi.
    pub fn new() -> Result<Self, VmError> {
        Self::build(config(), None)
    }

    /// The same tier, keeping instances for later calls or (with `false`) instantiating every
    /// call afresh: the reference path the reuse is tested against.
    pub fn with_reuse(mut self, reuse: bool) -> Self {
        self.reuse = reuse;
        self
    }

    /// The tier with [`config`] plus wasmtime's fuel on ([`FuelMetering`]): never a node's
    /// engine. Each call starts with its compute budget as fuel and reports the fuel it
    /// burnt ([`super::Completion::fuel_used`]); running out is [`Trap::OutOfGas`].
    pub fn with_fuel(fuel: FuelMetering) -> Result<Self, VmError> {
        let mut c = config();
        c.consume_fuel(true);
        Self::build(c, Some(fuel))
    }

    fn build(config: Config, fuel: Option<FuelMetering>) -> Result<Self, VmError> {
        let engine = wasmtime::Engine::new(&config).map_err(|e| VmError::Engine {
            engine: NAME,
            message: format!("{e:#}"),
        })?;
        let linker = build_linker(&engine).map_err(|e| VmError::Engine {
            engine: NAME,
            message: format!("{e:#}"),
        })?;
        Ok(WasmtimeEngine {
            engine,
            linker: Arc::new(linker),
            fuel,
            reuse: true,
        })
    }

    /// The underlying wasmtime engine (its compatibility hash is part of the cache key).
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Compiles instrumented module bytes with Cranelift.
    pub fn compile_bytes(&self, bytes: &[u8]) -> Result<Module, VmError> {
        Module::new(&self.engine, bytes).map_err(|e| compile_error(&e))
    }

    /// Loads an artifact produced by [`Module::serialize`] on this engine.
    ///
    /// # Safety
    /// `bytes` must be an artifact this node serialized itself (the cache verifies its keyed
    /// MAC before calling this): wasmtime maps it as executable code.
    pub unsafe fn load_artifact(&self, bytes: &[u8]) -> Result<Module, VmError> {
        // SAFETY: the caller guarantees the bytes came from `Module::serialize` on this node.
        unsafe { Module::deserialize(&self.engine, bytes) }.map_err(|e| compile_error(&e))
    }

    /// Links `module` into a callable compiled module. `data_chunks` is the
    /// [`InstrumentedModule::data_chunks`](crate::metering::InstrumentedModule::data_chunks) of
    /// the module it was compiled from: keeping an instance reads only those memory chunks.
    pub fn link(
        &self,
        module: &Module,
        data_chunks: Option<u64>,
    ) -> Result<Arc<dyn CompiledModule>, VmError> {
        let pre = self
            .linker
            .instantiate_pre(module)
            .map_err(|e| compile_error(&e))?;
        Ok(Arc::new(WasmtimeModule {
            engine: self.engine.clone(),
            pre,
            fuel: self.fuel,
            pool: InstancePool::new(self.reuse, data_chunks),
        }))
    }

    /// Compiles and links in one step (tests, benchmarks).
    pub fn compile(
        &self,
        module: &crate::metering::InstrumentedModule,
    ) -> Result<Arc<dyn CompiledModule>, VmError> {
        self.link(&self.compile_bytes(&module.bytes)?, module.data_chunks)
    }
}

fn compile_error(e: &wasmtime::Error) -> VmError {
    VmError::Compile {
        engine: NAME,
        message: format!("{e:#}"),
    }
}

impl super::Engine for WasmtimeEngine {
    fn name(&self) -> &'static str {
        match self.fuel {
            Some(_) => FUEL_NAME,
            None => NAME,
        }
    }

    fn compile(
        &self,
        module: &crate::metering::InstrumentedModule,
    ) -> Result<Arc<dyn CompiledModule>, VmError> {
        WasmtimeEngine::compile(self, module)
    }
}

struct WasmtimeModule {
    engine: wasmtime::Engine,
    pre: InstancePre<Data>,
    fuel: Option<FuelMetering>,
    pool: InstancePool<Live>,
}

/// A live instance in its own store: the unit the pool keeps.
struct Live {
    store: Store<Data>,
    instance: Instance,
    /// `keel$gas` and `keel$stack`, looked up once at instantiation (absent on unmetered
    /// modules).
    metering: Option<(Global, Global)>,
    /// `keel$written` (absent on unmetered modules).
    written: Option<Global>,
    entries: EntryFuncs<TypedFunc<(), ()>>,
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
        let globals: Vec<Global> = self
            .instance
            .exports(&mut self.store)
            .filter_map(|e| e.into_global())
            .collect();
        let mut kept = Vec::with_capacity(globals.len());
        for g in globals {
            if g.ty(&self.store).mutability().is_var() {
                let v = g.get(&mut self.store);
                kept.push((g, v));
            }
        }
        kept
    }

    fn restore_global(&mut self, (g, v): &(Global, Val)) -> bool {
        g.set(&mut self.store, *v).is_ok()
    }

    fn written(&mut self) -> Option<u64> {
        let bits = self.written?.get(&mut self.store).i64()?;
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

impl CompiledModule for WasmtimeModule {
    fn invoke(&self, inv: Invocation) -> Completion {
        // A fresh segment only when this thread has less than a whole call's worth left.
        let red_zone = max_wasm_stack_all().saturating_add(RED_ZONE_HOST);
        stacker::maybe_grow(red_zone, red_zone.saturating_add(RED_ZONE_HOST), || {
            self.invoke_here(inv)
        })
    }

    fn reused_instances(&self) -> u64 {
        self.pool.reused()
    }
}

impl WasmtimeModule {
    /// On a fuel-metered engine: the call's compute budget as fuel, and the host-call charge.
    fn start_fuel(&self, store: &mut Store<Data>, budget: u64) -> wasmtime::Result<()> {
        let Some(fuel) = self.fuel else {
            return Ok(());
        };
        store.data_mut().host_call_fuel = Some(fuel.host_call_fuel);
        store.set_fuel(budget)
    }

    /// A fresh store and instance under `limits`; the error is how instantiation ended. On a
    /// fuel-metered engine instantiation gets the call's budget too (wasmtime may evaluate
    /// initializers under fuel); the call's own fuel is set afresh afterwards, so fresh and
    /// kept instances report the same fuel.
    fn instantiate(&self, limits: StoreLimits, budget: u64) -> Result<Live, Ending> {
        let mut store = Store::new(&self.engine, Data::new(limits));
        store.limiter(|d| &mut d.limits);
        self.start_fuel(&mut store, budget).map_err(map_error)?;
        let instance = self.pre.instantiate(&mut store).map_err(map_error)?;
        store.data_mut().memory = instance.get_memory(&mut store, MEMORY_EXPORT);
        store.data_mut().site = instance.get_global(&mut store, SITE_GLOBAL_EXPORT);
        let gas = instance.get_global(&mut store, GAS_GLOBAL_EXPORT);
        let stack = instance.get_global(&mut store, STACK_GLOBAL_EXPORT);
        let written = instance.get_global(&mut store, WRITTEN_GLOBAL_EXPORT);
        Ok(Live {
            store,
            instance,
            metering: gas.zip(stack),
            written,
            entries: EntryFuncs::new(),
        })
    }

    /// A kept instance (reset) or a fresh one, with its snapshot when it will be kept.
    fn live(&self, max_memory_pages: u64, budget: u64) -> Result<(Live, Option<Snapshot>), Ending> {
        let limits = store_limits(max_memory_pages);
        if let Some((mut live, snapshot)) = self.pool.take(max_memory_pages) {
            live.store.data_mut().limits = limits;
            return Ok((live, Some(snapshot)));
        }
        let mut live = self.instantiate(limits, budget)?;
        let snapshot = self.pool.snapshot(&mut live);
        Ok((live, snapshot))
    }

    fn invoke_here(&self, inv: Invocation) -> Completion {
        let (mut live, snapshot) = match self.live(inv.max_memory_pages, inv.gas) {
            Ok(kept) => kept,
            Err(ending) => {
                return Completion {
                    ending,
                    gas_left: 0,
                    memory_pages: 0,
                    memory_digest: None,
                    host: inv.host,
                    fuel_used: self.fuel.map(|_| 0),
                };
            }
        };
        live.store.data_mut().host = Some(inv.host);
        let ending = match self.start_fuel(&mut live.store, inv.gas) {
            Ok(()) => run(&mut live, &inv.entry, inv.entry_frame, inv.gas, inv.metered),
            Err(e) => map_error(e),
        };
        let completion = self.complete(&mut live, ending, inv.gas, inv.digest_memory);
        if let Some(snapshot) = snapshot {
            self.pool.give_back(
                live,
                snapshot,
                host_written(&completion.ending, &completion.host),
            );
        }
        completion
    }

    /// What the call left: gas, fuel, memory size and digest, and the host state (taken out
    /// of the store, which may be kept).
    fn complete(&self, live: &mut Live, ending: Ending, gas: u64, digest: bool) -> Completion {
        let store = &mut live.store;
        let gas_left = match (&ending, store.data().gas) {
            (Ending::Trapped(Trap::OutOfGas), _) | (_, None) => 0,
            (_, Some(g)) => g
                .get(&mut *store)
                .i64()
                .map_or(0, |v| u64::try_from(v).unwrap_or(0)),
        };
        let fuel_used = self
            .fuel
            .map(|_| gas.saturating_sub(store.get_fuel().unwrap_or(0)));
        let memory = store.data().memory;
        let memory_pages = memory.map_or(0, |m| m.size(&*store));
        let memory_digest = digest
            .then(|| memory.map(|m| *blake3::hash(m.data(&*store)).as_bytes()))
            .flatten();
        store.data_mut().gas = None;
        match store.data_mut().host.take() {
            Some(host) => Completion {
                ending,
                gas_left,
                memory_pages,
                memory_digest,
                host,
                fuel_used,
            },
            // Unreachable: the host state was put in by `invoke_here` and only taken here.
            None => unreachable_host(),
        }
    }
}

type Snapshot = super::instance_pool::Snapshot<(Global, Val)>;

#[cold]
fn unreachable_host() -> Completion {
    panic!("the host state of a wasmtime call was taken twice")
}

fn run(live: &mut Live, entry: &str, entry_frame: u32, gas: u64, metered: bool) -> Ending {
    let Live {
        store,
        instance,
        metering,
        entries,
        ..
    } = live;
    let store = &mut *store;
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
                message: format!("{e:#}"),
            });
        }
        store.data_mut().gas = Some(g);
    }
    let lookup = || instance.get_typed_func::<(), ()>(&mut *store, entry).ok();
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
