//! Engine tiers behind one trait, so that a JIT tier can be added without touching callers.
//!
//! An engine receives an *instrumented* module (metering is already in the code, so every tier
//! charges the same gas) and runs one entry point with a [`HostState`]. Engines must map their
//! own traps onto [`Trap`] and must never let an engine-internal limit be reached before the
//! deterministic ones (stack budget, memory limit).

pub mod artifact_cache;
pub mod choice;
pub mod compile_budget;
mod entry_funcs;
mod host_call;
pub mod host_dispatch;
mod host_table;
mod instance_pool;
pub mod tiered;
mod wasmi_debug;
pub mod wasmi_tier;
mod wasmtime_host;
pub mod wasmtime_tier;

use crate::error::{StateError, Trap, VmError};
use crate::host::{HostFault, HostState};
use crate::metering::InstrumentedModule;
use std::sync::Arc;

/// What an engine is asked to run.
pub struct Invocation {
    /// Export to call; must be a `() -> ()` function.
    pub entry: String,
    /// Stack slots the entry frame occupies (charged by the host before the call).
    pub entry_frame: u32,
    /// Compute gas available to wasm code.
    pub gas: u64,
    /// Largest memory the instance may grow to, in pages.
    pub max_memory_pages: u64,
    /// Whether metering globals are live (false only for unmetered baselines).
    pub metered: bool,
    /// Whether to return a digest of the final memory (differential tests).
    pub digest_memory: bool,
    pub host: HostState,
}

/// How an invocation ended. `Fatal` means the node could not finish the call (state backend
/// failure), as opposed to a deterministic trap.
pub enum Ending {
    Returned,
    Trapped(Trap),
    Fatal(StateError),
}

/// What an engine hands back.
pub struct Completion {
    pub ending: Ending,
    /// Compute gas left in the `keel$gas` global (0 after running out).
    pub gas_left: u64,
    /// Final (= peak, memory never shrinks) memory size in pages.
    pub memory_pages: u64,
    /// BLAKE3 of the final memory, when [`Invocation::digest_memory`] asked for it.
    pub memory_digest: Option<[u8; 32]>,
    pub host: HostState,
    /// Fuel burnt, on an engine that meters with the engine's own fuel instead of Keel's gas
    /// (the wasm-chains benchmark baseline, [`wasmtime_tier::FuelMetering`]); `None` otherwise.
    pub fuel_used: Option<u64>,
}

/// What an instrumented module was built from: the identity a persistent compiled-code cache
/// is keyed by (with the engine's own version, flags and CPU features).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleKey {
    /// SHA-256 of the contract code.
    pub code_hash: [u8; 32],
    pub schedule_version: u32,
    pub profile_version: u32,
    pub kill_digest: u64,
}

/// Counters of a JIT tier (see `tiered.rs`), for metrics and `keel vm cache stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JitStats {
    /// Modules whose compiled artifact was loaded from the cache.
    pub hits: u64,
    /// Modules that had to be compiled.
    pub misses: u64,
    /// Compilations that succeeded within budget.
    pub compiled: u64,
    /// Total time spent compiling, in microseconds.
    pub compile_micros: u64,
    /// Modules left on the interpreter for size or compile time.
    pub over_budget: u64,
    /// Compilations or links that failed (the module stays on the interpreter).
    pub failed: u64,
    /// Cached artifacts that verified but did not load.
    pub refused: u64,
}

/// An engine tier.
pub trait Engine: Send + Sync {
    /// Short stable name, part of the compilation-cache key.
    fn name(&self) -> &'static str;
    /// Compiles an instrumented module. Errors are node-level (the module was admitted).
    fn compile(&self, module: &InstrumentedModule) -> Result<Arc<dyn CompiledModule>, VmError>;
    /// [`Engine::compile`] knowing what the module was built from (for persistent caches).
    fn compile_keyed(
        &self,
        module: &InstrumentedModule,
        _key: &ModuleKey,
    ) -> Result<Arc<dyn CompiledModule>, VmError> {
        self.compile(module)
    }
    /// JIT counters, for an engine that has a JIT tier.
    fn jit_stats(&self) -> Option<JitStats> {
        None
    }
    /// Where a persistent artifact cache does its file work (ignored by engines without one).
    fn set_cache_runner(&self, _runner: artifact_cache::FileRunner) {}
}

/// A module compiled by an [`Engine`], callable many times.
pub trait CompiledModule: Send + Sync {
    /// Runs one entry point on an instance that is fresh, or indistinguishable from fresh.
    fn invoke(&self, invocation: Invocation) -> Completion;
    /// Calls that ran on a reused instance (0 for a tier that does not reuse them).
    fn reused_instances(&self) -> u64 {
        0
    }
    /// Whether calls now run on JIT-compiled code.
    fn on_jit(&self) -> bool {
        false
    }
}

/// A host function failure carried through an engine's error type (each tier wraps it in its
/// own and downcasts it back).
#[derive(Debug)]
pub(crate) struct HostErr(pub(crate) HostFault);

impl std::fmt::Display for HostErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            HostFault::Trap(t) => write!(f, "{t}"),
            HostFault::State(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for HostErr {}
