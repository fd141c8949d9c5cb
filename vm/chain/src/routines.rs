//! The native routines of a block, derived from the state: the version of each routine that
//! governance activated and that is in force, minus killed routines.
//!
//! Loading a routine (linking, sBPF verification, JIT compilation) is done once per object and
//! kept in a [`RoutineCache`] keyed by the object's hash and manifest, so consecutive blocks
//! reuse the compiled program; an old version stays loadable from the state for replay.

use crate::governance::{self, RoutineSpec};
use crate::state_access::{Access, AccessError, ChainBase};
use keel_ebpf_bridge::{BridgeError, Engine, JitCompile, Routine, RoutineId};
use keel_vm::{NativeError, NativeRoutines};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

type CacheKey = ([u8; 32], Vec<u8>);

/// Contracts' routines run metered on the interpreter or the JIT; the kernel engine is
/// unmetered (a cross-check backend), so a chain refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("routine engine {0} cannot run contracts' routines (use interp or jit)")]
pub struct UnsupportedEngine(pub Engine);

/// Loaded routines by object hash and encoded spec. Shared by every block of a chain.
pub struct RoutineCache {
    engine: Engine,
    jit: JitCompile,
    loaded: Mutex<BTreeMap<CacheKey, Arc<Result<Routine, String>>>>,
}

impl RoutineCache {
    /// Routines run on `engine`. The engine is node-local, but the result is consensus: the
    /// interpreter (the reference) and the JIT give identical outputs and gas, and a routine
    /// whose JIT is unavailable runs on the interpreter. `Kernel` is unmetered: refused.
    pub fn new(engine: Engine) -> Result<Self, UnsupportedEngine> {
        Self::with_jit(engine, JitCompile::Attempt)
    }

    /// [`RoutineCache::new`], compiling routines for the JIT only if `jit` says so
    /// ([`JitCompile::Refuse`] behaves as a node where every JIT compilation fails).
    pub fn with_jit(engine: Engine, jit: JitCompile) -> Result<Self, UnsupportedEngine> {
        if engine == Engine::Kernel {
            return Err(UnsupportedEngine(engine));
        }
        Ok(RoutineCache {
            engine,
            jit,
            loaded: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    fn load(
        &self,
        spec: &RoutineSpec,
        hash: [u8; 32],
        object: &[u8],
    ) -> Arc<Result<Routine, String>> {
        let key = (hash, crate::tx::encode(spec));
        let mut m = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = m.get(&key) {
            return Arc::clone(r);
        }
        let r = Arc::new(spec.manifest().and_then(|man| {
            Routine::from_objects_with_jit(man, object, None, self.jit).map_err(|e| e.to_string())
        }));
        m.insert(key, Arc::clone(&r));
        r
    }

    /// The routines in force in the state `a` (after the block's governance step).
    pub fn for_state<B: ChainBase>(&self, a: &Access<'_, B>) -> Result<BlockRoutines, AccessError> {
        let killed = governance::kills(a)?.routines();
        let mut routines = BTreeMap::new();
        for id in governance::routine_ids(a)? {
            let h = governance::routine_history(a, id)?;
            let Some(v) = h.active() else { continue };
            let object = governance::blob(a, &v.object_hash)?.unwrap_or_default();
            routines.insert(id, self.load(&v.spec, v.object_hash, &object));
        }
        Ok(BlockRoutines {
            routines,
            killed,
            engine: self.engine,
        })
    }
}

/// The routines one block may call.
pub struct BlockRoutines {
    routines: BTreeMap<RoutineId, Arc<Result<Routine, String>>>,
    killed: BTreeSet<RoutineId>,
    engine: Engine,
}

impl BlockRoutines {
    /// Ids of the routines in force (killed ones included: they trap).
    pub fn ids(&self) -> Vec<RoutineId> {
        self.routines.keys().copied().collect()
    }

    fn get(&self, id: RoutineId) -> Result<&Routine, NativeError> {
        if self.killed.contains(&id) {
            return Err(NativeError {
                code: NativeError::KILLED,
                message: format!("routine {id}"),
            });
        }
        let Some(r) = self.routines.get(&id) else {
            return Err(bridge(BridgeError::UnknownRoutine(id)));
        };
        match r.as_ref() {
            Ok(r) => Ok(r),
            Err(reason) => Err(bridge(BridgeError::Load {
                routine: id,
                reason: reason.clone(),
            })),
        }
    }
}

/// A bridge error as the VM's native error (its stable status code and message).
pub(crate) fn bridge(e: BridgeError) -> NativeError {
    NativeError {
        code: e.status_code(),
        message: e.to_string(),
    }
}

/// The gas a call may use under manifest `m`, after checking it admits these sizes.
pub(crate) fn max_gas_of(
    m: &keel_ebpf_bridge::Manifest,
    in_len: usize,
    out_len: usize,
) -> Result<u64, NativeError> {
    let routine = m.id;
    if !m.input.admits(in_len) {
        return Err(bridge(BridgeError::InputSize {
            routine,
            len: in_len,
            rule: m.input.to_string(),
        }));
    }
    if out_len != m.output_len {
        return Err(bridge(BridgeError::OutputSize {
            routine,
            requested: out_len,
            expected: m.output_len,
        }));
    }
    Ok(m.cost.max_gas(in_len))
}

impl NativeRoutines for BlockRoutines {
    fn max_gas(&self, routine: u32, in_len: usize, out_len: usize) -> Result<u64, NativeError> {
        max_gas_of(self.get(routine)?.manifest(), in_len, out_len)
    }

    fn run(
        &self,
        routine: u32,
        input: &[u8],
        out_len: usize,
        budget: u64,
    ) -> Result<(Vec<u8>, u64), NativeError> {
        let r = self
            .get(routine)?
            .run(input, out_len, self.engine, budget)
            .map_err(bridge)?;
        Ok((r.output, r.gas))
    }
}
