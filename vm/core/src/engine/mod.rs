//! Engine tiers behind one trait, so that a JIT tier can be added without touching callers.
//!
//! An engine receives an *instrumented* module (metering is already in the code, so every tier
//! charges the same gas) and runs one entry point with a [`HostState`]. Engines must map their
//! own traps onto [`Trap`] and must never let an engine-internal limit be reached before the
//! deterministic ones (stack budget, memory limit).

mod instance_pool;
pub mod wasmi_tier;

use crate::error::{StateError, Trap, VmError};
use crate::host::HostState;
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
    pub host: HostState,
}

/// An engine tier.
pub trait Engine: Send + Sync {
    /// Short stable name, part of the compilation-cache key.
    fn name(&self) -> &'static str;
    /// Compiles an instrumented module. Errors are node-level (the module was admitted).
    fn compile(&self, module: &InstrumentedModule) -> Result<Arc<dyn CompiledModule>, VmError>;
}

/// A module compiled by an [`Engine`], callable many times.
pub trait CompiledModule: Send + Sync {
    /// Runs one entry point on an instance that is fresh, or indistinguishable from fresh.
    fn invoke(&self, invocation: Invocation) -> Completion;
    /// Calls that ran on a reused instance (0 for a tier that does not reuse them).
    fn reused_instances(&self) -> u64 {
        0
    }
}
