//! The VM facade: admit → instrument → compile (cached) → run, with multi-dimensional gas.

use crate::admission::{self, AdmittedModule};
use crate::analysis::{self, GasBound};
use crate::calls::{CallState, ContractEnv, NestedRunner};
use crate::debug::{DebugHook, FrameStart};
use crate::engine::wasmi_tier::WasmiEngine;
use crate::engine::{CompiledModule, Ending, Engine, Invocation, JitStats, ModuleKey};
use crate::error::{Trap, VmError};
use crate::fault::{CallRecord, Fault, FaultKind, FaultLocation};
use crate::gas::{Dimension, GasLimits, GasUsed, GasVector};
use crate::host::{CallContext, Event, HostState, NativeRoutines, StateView};
use crate::kills::KillSet;
use crate::metering;
use crate::profile::Profile;
use crate::schedule::GasSchedule;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// Configuration of a [`Vm`]. Defaults: profile v1, schedule v1, a 256-module cache, metering
/// on, instances reused.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub profile: Profile,
    pub schedule: GasSchedule,
    /// Compiled modules kept (least recently used evicted). 0 disables the cache.
    pub cache_capacity: usize,
    /// Only `false` for the unmetered benchmark baselines; transactions always run metered.
    /// Unmetered calls report 0 compute gas, or the fuel burnt on a fuel-metered engine
    /// ([`crate::engine::wasmtime_tier::FuelMetering`]).
    pub metering: bool,
    /// Keep instances of cached modules for later calls, reset to their just-instantiated
    /// state (node-local: never changes a result). `false` instantiates for every call: the
    /// reference path the reuse is tested against.
    pub reuse_instances: bool,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            profile: Profile::V1,
            schedule: GasSchedule::v1(),
            cache_capacity: 256,
            metering: true,
            reuse_instances: true,
        }
    }
}

/// A module ready to run: admitted, instrumented and compiled.
pub struct Prepared {
    pub module: Arc<AdmittedModule>,
    /// Entry points (`() -> ()` exports) and their static frame sizes.
    pub entries: BTreeMap<String, u32>,
    compiled: Arc<dyn CompiledModule>,
}

impl Prepared {
    /// Calls of this module that ran on a reused instance (see [`VmConfig::reuse_instances`]).
    pub fn reused_instances(&self) -> u64 {
        self.compiled.reused_instances()
    }

    /// Whether calls of this module now run on JIT-compiled code (node-local, never a
    /// difference in results).
    pub fn on_jit(&self) -> bool {
        self.compiled.on_jit()
    }
}

/// One call.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    pub entry: String,
    pub input: Vec<u8>,
    pub context: CallContext,
    pub limits: GasLimits,
}

/// The result of a call that could be attempted. Deterministic given the code, request and
/// state.
pub struct CallOutcome {
    /// Return data on success, or why it trapped.
    pub result: Result<Vec<u8>, Trap>,
    pub gas_used: GasUsed,
    /// Events (empty if the call trapped).
    pub events: Vec<Event>,
    /// Storage writes of the called contract not yet flushed by a nested call (empty if the
    /// call trapped). Writes made before a nested call were flushed into the chain then.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The state view, handed back.
    pub state: Box<dyn StateView>,
    /// Every trapped frame of this call tree, in the order the traps happened (this call's own
    /// trap, if any, last).
    pub faults: Vec<Fault>,
    /// Every nested call, pre-order.
    pub trace: Vec<CallRecord>,
}

/// Code hash, schedule version, profile version, kill-set digest.
type CacheKey = ([u8; 32], u32, u32, u64);

#[derive(Default)]
struct CacheInner {
    entries: BTreeMap<CacheKey, (Arc<Prepared>, u64)>,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// Counters of the compilation cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

/// The deterministic VM. Cheap to share: nested calls reach it through an `Arc`.
pub struct Vm {
    inner: Arc<VmInner>,
}

struct VmInner {
    config: VmConfig,
    native: RwLock<Option<Arc<dyn NativeRoutines>>>,
    /// What governance has switched off; compiled into modules (see `kills.rs`).
    kills: RwLock<Arc<KillSet>>,
    /// The gas schedule in force; governance may replace it between blocks (see
    /// [`Vm::set_schedule`]). Its version is part of the compilation-cache key.
    schedule: RwLock<Arc<GasSchedule>>,
    /// The admission profile in force; governance selects it per block by version (see
    /// [`Vm::set_profile`]). Its version is part of the compilation-cache key.
    profile: RwLock<Arc<Profile>>,
    engine: Box<dyn Engine>,
    cache: Mutex<CacheInner>,
    /// The replay debugger's hook; `None` on every node (see `debug.rs`).
    debug: Option<Arc<dyn DebugHook>>,
}

impl Vm {
    /// A VM on the wasmi interpreter tier. Errors: `Schedule` if the configured gas schedule
    /// prices some work at 0 ([`GasSchedule::validate`]).
    pub fn new(config: VmConfig) -> Result<Vm, VmError> {
        config.schedule.validate()?;
        let engine = Box::new(WasmiEngine::new(&config.profile, config.reuse_instances)?);
        Ok(Vm::with_engine(config, engine))
    }

    /// A VM on the engine tier `choice` (JIT artifacts cached under `data_dir`). Errors as
    /// [`Vm::new`], or an unusable cache directory.
    pub fn with_choice(
        config: VmConfig,
        choice: crate::engine::choice::EngineChoice,
        data_dir: Option<&std::path::Path>,
    ) -> Result<Vm, VmError> {
        config.schedule.validate()?;
        let engine = choice.build(&config.profile, config.reuse_instances, data_dir)?;
        Ok(Vm::with_engine(config, engine))
    }

    /// A VM for the replay debugger: modules are built with
    /// [`metering::instrument_for_debugging`] and run on wasmi, reporting every metering
    /// block, host call and contract frame to `hook`. Gas, writes, return data and traps are
    /// those of [`Vm::new`]'s VM. Never used by a node. Errors as [`Vm::new`].
    pub fn for_debugging(config: VmConfig, hook: Arc<dyn DebugHook>) -> Result<Vm, VmError> {
        config.schedule.validate()?;
        let engine = WasmiEngine::for_debugging(&config.profile, Arc::clone(&hook))?;
        let mut vm = Vm::with_engine(config, Box::new(engine));
        if let Some(inner) = Arc::get_mut(&mut vm.inner) {
            inner.debug = Some(hook);
        }
        Ok(vm)
    }

    /// A VM on any engine tier.
    pub fn with_engine(config: VmConfig, engine: Box<dyn Engine>) -> Vm {
        Vm {
            inner: Arc::new(VmInner {
                native: RwLock::new(None),
                kills: RwLock::new(Arc::new(KillSet::default())),
                schedule: RwLock::new(Arc::new(config.schedule.clone())),
                profile: RwLock::new(Arc::new(config.profile.clone())),
                config,
                engine,
                cache: Mutex::new(CacheInner::default()),
                debug: None,
            }),
        }
    }

    /// Gives contracts `keel.native_call` access to these (activated) routines. The chain sets
    /// them before each block, from the routines governance activated in its state.
    pub fn set_native(&self, native: Arc<dyn NativeRoutines>) {
        *self.inner.native.write().unwrap_or_else(|p| p.into_inner()) = Some(native);
    }

    /// Sets the opcode classes and host functions killed by governance, for the calls that
    /// follow: modules are compiled with the killed items replaced by a `Killed` trap.
    pub fn set_kills(&self, kills: KillSet) {
        *self.inner.kills.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(kills);
    }

    /// Replaces the gas schedule for the calls that follow. Schedules are identified by their
    /// version (the cache key), so a different schedule must carry a different version.
    pub fn set_schedule(&self, schedule: GasSchedule) {
        *self
            .inner
            .schedule
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(schedule);
    }

    /// The gas schedule in force.
    pub fn schedule(&self) -> Arc<GasSchedule> {
        self.inner.schedule()
    }

    /// Replaces the admission profile for the admissions and calls that follow (a chain sets
    /// the version its state selects at each height, so old blocks replay under old rules).
    /// The engine's own stack limits sit above every profile of [`Profile::SUPPORTED`].
    pub fn set_profile(&self, profile: Profile) {
        *self
            .inner
            .profile
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(profile);
    }

    /// The admission profile in force.
    pub fn profile(&self) -> Arc<Profile> {
        self.inner.profile()
    }

    /// The current kill set.
    pub fn kills(&self) -> Arc<KillSet> {
        Arc::clone(&self.inner.kills.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Prepares `code` for deployment: like [`Vm::prepare`], and additionally refuses a module
    /// that uses an item of the current kill set (already deployed code keeps running and traps
    /// only when it reaches the item).
    pub fn prepare_for_deploy(&self, code: &[u8]) -> Result<Arc<Prepared>, VmError> {
        let prepared = self.prepare(code)?;
        if let Some((item, offset)) = self.kills().first_use(&prepared.module) {
            return Err(VmError::Admission(
                crate::admission::AdmissionError::Killed {
                    item: item.to_string(),
                    offset,
                },
            ));
        }
        Ok(prepared)
    }

    pub fn config(&self) -> &VmConfig {
        &self.inner.config
    }

    /// Cache counters, for tests and metrics.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache_stats()
    }

    /// The JIT tier's counters, if this VM's engine has one.
    pub fn jit_stats(&self) -> Option<JitStats> {
        self.inner.engine.jit_stats()
    }

    /// Runs the compiled-artifact cache's file work (if this VM's engine keeps one) through
    /// `runner`: a sandboxed daemon's workers may not open files themselves.
    pub fn set_cache_runner(&self, runner: crate::engine::artifact_cache::FileRunner) {
        self.inner.engine.set_cache_runner(runner);
    }

    /// Name of this VM's engine tier.
    pub fn engine_name(&self) -> &'static str {
        self.inner.engine.name()
    }

    /// Admits, instruments and compiles `code`, or returns the cached result (keyed by code
    /// hash, schedule version and profile version).
    pub fn prepare(&self, code: &[u8]) -> Result<Arc<Prepared>, VmError> {
        self.inner.prepare(code)
    }

    /// The module cached for the code whose SHA-256 is `code_hash` under the current schedule,
    /// profile and kill set, if any: what [`Vm::prepare`] of that code would return, without
    /// reading or hashing the code. A chain passes the hash an account stores (its code is
    /// content-addressed), so a call to a known contract never copies nor hashes its code.
    /// Counts a hit when found; a miss is counted by the [`Vm::prepare`] that follows it.
    pub fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<Prepared>> {
        self.inner.cached(code_hash)
    }

    /// Static gas bounds of every export of `code` (see [`analysis`]).
    pub fn static_bounds(&self, code: &[u8]) -> Result<BTreeMap<String, GasBound>, VmError> {
        let profile = self.inner.profile();
        let module = admission::admit(code, &profile)?;
        Ok(analysis::static_bounds(
            &module,
            &self.inner.schedule(),
            &profile,
        ))
    }

    /// Runs `request.entry` of `code` against `state`. Admission failures and state-backend
    /// failures are errors; everything the contract can cause is a [`Trap`] in the outcome.
    /// Without a [`ContractEnv`], `keel.call` traps with a capability violation.
    pub fn call(
        &self,
        code: &[u8],
        request: CallRequest,
        state: Box<dyn StateView>,
    ) -> Result<CallOutcome, VmError> {
        let prepared = self.prepare(code)?;
        self.call_prepared(&prepared, request, state)
    }

    /// Like [`Vm::call`] for an already prepared module.
    pub fn call_prepared(
        &self,
        prepared: &Prepared,
        request: CallRequest,
        state: Box<dyn StateView>,
    ) -> Result<CallOutcome, VmError> {
        let calls = self.top_frame(prepared, &request, None);
        self.inner.run(prepared, request, state, calls)
    }

    /// Like [`Vm::call`], with cross-contract calls going through `env` (the chain). The
    /// outcome's `writes` are those not yet flushed through `env`; the caller applies them.
    pub fn call_with_env(
        &self,
        code: &[u8],
        request: CallRequest,
        state: Box<dyn StateView>,
        env: Arc<dyn ContractEnv>,
    ) -> Result<CallOutcome, VmError> {
        let prepared = self.prepare(code)?;
        let calls = self.top_frame(&prepared, &request, Some(env));
        self.inner.run(&prepared, request, state, calls)
    }

    /// Like [`Vm::call_with_env`] for an already prepared module (see [`Vm::cached`]).
    pub fn call_prepared_with_env(
        &self,
        prepared: &Prepared,
        request: CallRequest,
        state: Box<dyn StateView>,
        env: Arc<dyn ContractEnv>,
    ) -> Result<CallOutcome, VmError> {
        let calls = self.top_frame(prepared, &request, Some(env));
        self.inner.run(prepared, request, state, calls)
    }

    fn top_frame(
        &self,
        prepared: &Prepared,
        request: &CallRequest,
        env: Option<Arc<dyn ContractEnv>>,
    ) -> CallState {
        let runner: Arc<dyn NestedRunner> = Arc::clone(&self.inner) as Arc<dyn NestedRunner>;
        CallState {
            env,
            runner: Some(runner),
            stack: vec![request.context.self_address],
            ..CallState::for_manifest(Arc::clone(&prepared.module.manifest))
        }
    }
}

impl NestedRunner for VmInner {
    fn prepare(&self, code: &[u8]) -> Result<Arc<Prepared>, VmError> {
        VmInner::prepare(self, code)
    }

    fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<Prepared>> {
        VmInner::cached(self, code_hash)
    }

    fn run(
        &self,
        prepared: &Prepared,
        request: CallRequest,
        state: Box<dyn StateView>,
        calls: CallState,
    ) -> Result<CallOutcome, VmError> {
        VmInner::run(self, prepared, request, state, calls)
    }
}

/// The function (imports first) whose body contains `offset`.
fn locate(prepared: &Prepared, offset: u32) -> Option<FaultLocation> {
    let m = &prepared.module;
    let i = m
        .functions
        .iter()
        .rposition(|f| f.body_offset <= offset as usize)?;
    Some(FaultLocation {
        // Function counts are bounded by admission's profile: far below u32::MAX.
        func: (m.imports.len() as u32).saturating_add(i as u32),
        offset,
    })
}

impl VmInner {
    fn schedule(&self) -> Arc<GasSchedule> {
        Arc::clone(&self.schedule.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn profile(&self) -> Arc<Profile> {
        Arc::clone(&self.profile.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn cache_stats(&self) -> CacheStats {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        CacheStats {
            hits: c.hits,
            misses: c.misses,
            entries: c.entries.len(),
        }
    }

    /// The cache key of the code hashed `hash` under the rules in force.
    fn cache_key(&self, hash: [u8; 32]) -> CacheKey {
        let kills = self.kills.read().unwrap_or_else(|p| p.into_inner());
        let schedule = self.schedule.read().unwrap_or_else(|p| p.into_inner());
        let profile = self.profile.read().unwrap_or_else(|p| p.into_inner());
        (hash, schedule.version, profile.version, kills.digest())
    }

    fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<Prepared>> {
        if self.config.cache_capacity == 0 {
            return None;
        }
        let key = self.cache_key(*code_hash);
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.tick = c.tick.saturating_add(1);
        let tick = c.tick;
        let (p, used) = c.entries.get_mut(&key)?;
        *used = tick;
        let p = Arc::clone(p);
        c.hits = c.hits.saturating_add(1);
        Some(p)
    }

    fn prepare(&self, code: &[u8]) -> Result<Arc<Prepared>, VmError> {
        use sha2::Digest;
        let hash: [u8; 32] = sha2::Sha256::digest(code).into();
        let kills = Arc::clone(&self.kills.read().unwrap_or_else(|p| p.into_inner()));
        let schedule = self.schedule();
        let profile = self.profile();
        let key = (hash, schedule.version, profile.version, kills.digest());
        if self.config.cache_capacity > 0 {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            c.tick = c.tick.saturating_add(1);
            let tick = c.tick;
            if let Some((p, used)) = c.entries.get_mut(&key) {
                *used = tick;
                let p = Arc::clone(p);
                c.hits = c.hits.saturating_add(1);
                return Ok(p);
            }
            c.misses = c.misses.saturating_add(1);
        }
        let module = admission::admit(code, &profile)?;
        let instrumented = if self.debug.is_some() {
            metering::instrument_for_debugging(&module, &schedule, &profile, &kills)?
        } else if self.config.metering {
            metering::instrument_with_kills(&module, &schedule, &profile, &kills)?
        } else {
            metering::rewrite_unmetered(&module, &schedule, &profile)?
        };
        let id = ModuleKey {
            code_hash: hash,
            schedule_version: schedule.version,
            profile_version: profile.version,
            kill_digest: kills.digest(),
        };
        let compiled = self.engine.compile_keyed(&instrumented, &id)?;
        let entries = instrumented
            .entry_frames
            .iter()
            .filter(|(name, _)| {
                module
                    .export(name)
                    .and_then(|e| module.func_sig(e.func_index))
                    .is_some_and(|s| s.is_entry())
            })
            .map(|(n, f)| (n.clone(), *f))
            .collect();
        let prepared = Arc::new(Prepared {
            module: Arc::new(module),
            entries,
            compiled,
        });
        if self.config.cache_capacity > 0 {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.entries.len() >= self.config.cache_capacity {
                let oldest = c
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    c.entries.remove(&k);
                }
            }
            let tick = c.tick;
            c.entries.insert(key, (Arc::clone(&prepared), tick));
        }
        Ok(prepared)
    }

    fn run(
        &self,
        prepared: &Prepared,
        request: CallRequest,
        state: Box<dyn StateView>,
        calls: CallState,
    ) -> Result<CallOutcome, VmError> {
        let Some(hook) = &self.debug else {
            return self.run_frame(prepared, request, state, calls);
        };
        hook.frame_start(&FrameStart {
            contract: request.context.self_address,
            entry: &request.entry,
            depth: calls.depth,
            module: &prepared.module,
            input: &request.input,
            limits: request.limits,
        });
        let outcome = self.run_frame(prepared, request, state, calls);
        hook.frame_end(outcome.as_ref());
        outcome
    }

    fn run_frame(
        &self,
        prepared: &Prepared,
        request: CallRequest,
        state: Box<dyn StateView>,
        calls: CallState,
    ) -> Result<CallOutcome, VmError> {
        let metered = self.config.metering;
        let limits = request.limits;
        let mut used = GasVector {
            bandwidth: request.input.len() as u64,
            ..GasVector::default()
        };
        let schedule = self.schedule();
        let upfront = schedule
            .call_base
            .saturating_add(schedule.code_cost(prepared.module.bytes.len()));
        let initial_pages = prepared.module.memory.map_or(0, |(i, _)| i);
        let contract = request.context.self_address;
        let entry = request.entry.clone();
        let depth = calls.depth;
        let fault = |trap: &Trap, location| Fault {
            kind: FaultKind::of(trap),
            trap: trap.clone(),
            contract,
            entry: entry.clone(),
            depth,
            location,
        };
        let early = |trap: Trap, used: GasVector, state| CallOutcome {
            faults: vec![fault(&trap, None)],
            result: Err(trap),
            gas_used: used,
            events: Vec::new(),
            writes: BTreeMap::new(),
            state,
            trace: Vec::new(),
        };
        if metered {
            if upfront > limits.compute {
                used.compute = limits.compute;
                return Ok(early(Trap::OutOfGas, used, state));
            }
            used.compute = upfront;
            if used.bandwidth > limits.bandwidth {
                let t = Trap::LimitExceeded {
                    dimension: Dimension::Bandwidth,
                };
                return Ok(early(t, used, state));
            }
            if initial_pages > limits.memory_pages {
                let t = Trap::LimitExceeded {
                    dimension: Dimension::MemoryPages,
                };
                return Ok(early(t, used, state));
            }
        }
        let Some(&entry_frame) = prepared.entries.get(&request.entry) else {
            let t = Trap::NoSuchEntry {
                name: request.entry,
            };
            return Ok(early(t, used, state));
        };
        let profile = self.profile();
        if metered && entry_frame > profile.max_stack_slots {
            return Ok(early(Trap::StackOverflow, used, state));
        }
        let declared_max = prepared.module.memory.and_then(|(_, m)| m);
        let mut max_pages = u64::from(profile.max_memory_pages);
        if let Some(m) = declared_max {
            max_pages = max_pages.min(m);
        }
        if metered {
            max_pages = max_pages.min(limits.memory_pages);
        }
        let gas = limits.compute.saturating_sub(upfront);
        let host = HostState {
            context: request.context,
            input: request.input,
            return_data: Vec::new(),
            state,
            writes: BTreeMap::new(),
            events: Vec::new(),
            used,
            limits,
            gas,
            schedule,
            metered,
            native: self
                .native
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            calls,
            memory_written: Default::default(),
        };
        let done = prepared.compiled.invoke(Invocation {
            entry: request.entry,
            entry_frame,
            gas,
            max_memory_pages: max_pages,
            metered,
            digest_memory: false,
            host,
        });
        let mut gas_used = done.host.used;
        // Unmetered: nothing, or the engine's own fuel on a fuel-metered engine.
        gas_used.compute = if metered {
            limits.compute.saturating_sub(done.gas_left)
        } else {
            done.fuel_used.unwrap_or(0)
        };
        // Nested frames' memories are alive at the same time as this one: pages add up.
        gas_used.memory_pages = done
            .memory_pages
            .saturating_add(done.host.used.memory_pages);
        let mut host = done.host;
        let mut faults = std::mem::take(&mut host.calls.faults);
        let trace = std::mem::take(&mut host.calls.trace);
        Ok(match done.ending {
            Ending::Returned => CallOutcome {
                result: Ok(host.return_data),
                gas_used,
                events: host.events,
                writes: host.writes,
                state: host.state,
                faults,
                trace,
            },
            Ending::Trapped(trap) => {
                let location = host
                    .calls
                    .fault_offset
                    .and_then(|offset| locate(prepared, offset));
                faults.push(fault(&trap, location));
                CallOutcome {
                    result: Err(trap),
                    gas_used,
                    events: Vec::new(),
                    writes: BTreeMap::new(),
                    state: host.state,
                    faults,
                    trace,
                }
            }
            Ending::Fatal(e) => return Err(VmError::State(e)),
        })
    }
}
