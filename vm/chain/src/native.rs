//! The eBPF bridge's registry as the VM's native routines, for tools and tests that run the VM
//! without a chain (`keel bridge`, `keel bench bridge`). A chain's routines come from its state,
//! as governance activated them (`routines.rs`).

use crate::routines::{bridge, max_gas_of};
use keel_ebpf_bridge::{BridgeError, Engine, Registry};
use keel_vm::{NativeError, NativeRoutines};
use std::sync::Arc;

/// Every routine of a registry, run on one engine. Interpreter and JIT give identical outputs
/// and gas (the bridge's differential tests; a JIT that is unavailable falls back to the
/// interpreter), so the engine is a node-local choice that never changes a result. `Kernel` is
/// unmetered: for cross-checks, never for a chain.
pub struct BridgeRoutines {
    registry: Arc<Registry>,
    engine: Engine,
}

impl BridgeRoutines {
    pub fn new(registry: Arc<Registry>, engine: Engine) -> Self {
        BridgeRoutines { registry, engine }
    }

    /// The built-in routines on the JIT.
    pub fn builtin() -> Result<Self, BridgeError> {
        Ok(BridgeRoutines::new(
            Arc::new(Registry::builtin()?),
            Engine::Jit,
        ))
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

impl NativeRoutines for BridgeRoutines {
    fn max_gas(&self, routine: u32, in_len: usize, out_len: usize) -> Result<u64, NativeError> {
        let r = self.registry.get(routine).map_err(bridge)?;
        max_gas_of(r.manifest(), in_len, out_len)
    }

    fn run(
        &self,
        routine: u32,
        input: &[u8],
        out_len: usize,
        budget: u64,
    ) -> Result<(Vec<u8>, u64), NativeError> {
        let r = self
            .registry
            .run(routine, input, out_len, self.engine, budget)
            .map_err(bridge)?;
        Ok((r.output, r.gas))
    }
}
