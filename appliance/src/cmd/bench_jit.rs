//! The JIT tier's one-off costs for `keel bench vm`: Cranelift compilation, loading a cached
//! artifact (reading the file and checking its MAC, then deserialization and linking) and
//! instantiation.

use keel_vm::engine::artifact_cache::{ArtifactCache, ArtifactKey};
use keel_vm::engine::tiered::{WASMTIME_VERSION, cpu_features};
use keel_vm::engine::wasmtime_tier::WasmtimeEngine;
use keel_vm::engine::{CompiledModule, Invocation};
use keel_vm::{CallState, GasSchedule, GasVector, MemoryState, Profile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Best-of-three timings of each phase.
pub struct Phases {
    pub compile: Duration,
    /// The whole load: read, MAC check, deserialization and linking.
    pub cached_load: Duration,
    /// Its first part: reading the artifact file and checking its MAC.
    pub cached_read: Duration,
    pub instantiate: Duration,
}

/// Times the phases for `code` on a fresh engine and a temporary cache.
pub fn phases(code: &[u8]) -> anyhow::Result<Phases> {
    let profile = Profile::V1;
    let schedule = GasSchedule::v1();
    let module = keel_vm::admit(code, &profile)?;
    let inst = keel_vm::metering::instrument(&module, &schedule, &profile)?;
    let engine = WasmtimeEngine::new()?;
    let dir = tempfile::tempdir()?;
    let cache = ArtifactCache::open(dir.path())?;
    let key = ArtifactKey {
        code_hash: [0; 32],
        schedule_version: schedule.version,
        profile_version: profile.version,
        kill_digest: 0,
        instrumented_hash: *blake3::hash(&inst.bytes).as_bytes(),
        wasmtime_version: WASMTIME_VERSION,
        engine_hash: [0; 32],
        cpu_features: cpu_features(),
    };
    // One schedule for every call, as a node shares its schedule: building it is not
    // instantiation.
    let shared = Arc::new(schedule.clone());
    let mut p = Phases {
        compile: Duration::MAX,
        cached_load: Duration::MAX,
        cached_read: Duration::MAX,
        instantiate: Duration::MAX,
    };
    for _ in 0..3 {
        let t = Instant::now();
        let compiled = engine.compile_bytes(&inst.bytes)?;
        p.compile = p.compile.min(t.elapsed());
        cache.store(
            &key,
            compiled.serialize().map_err(|e| anyhow::anyhow!("{e:#}"))?,
        )?;
        let t = Instant::now();
        let bytes = cache
            .load(&key)
            .ok_or_else(|| anyhow::anyhow!("the artifact just stored does not load"))?;
        p.cached_read = p.cached_read.min(t.elapsed());
        // SAFETY: these bytes were serialized by this engine just above and verified by the
        // cache's MAC.
        let linked = engine.link(&unsafe { engine.load_artifact(&bytes) }?, inst.data_chunks)?;
        p.cached_load = p.cached_load.min(t.elapsed());
        let t = Instant::now();
        empty_call(&linked, &shared);
        p.instantiate = p.instantiate.min(t.elapsed());
    }
    Ok(p)
}

/// Instantiates `module` and asks for an entry it does not have: the whole instantiation and
/// nothing of the contract's own work.
fn empty_call(module: &Arc<dyn CompiledModule>, schedule: &Arc<GasSchedule>) {
    let host = keel_vm::host::HostState {
        context: keel_vm::CallContext::default(),
        input: Vec::new(),
        return_data: Vec::new(),
        state: Box::new(MemoryState::default()),
        writes: BTreeMap::new(),
        events: Vec::new(),
        used: GasVector::default(),
        limits: GasVector::default(),
        gas: 0,
        schedule: Arc::clone(schedule),
        metered: true,
        native: None,
        calls: CallState::default(),
        memory_written: Default::default(),
    };
    module.invoke(Invocation {
        entry: "keel$no-such-entry".into(),
        entry_frame: 0,
        gas: 0,
        max_memory_pages: 256,
        metered: true,
        digest_memory: false,
        host,
    });
}
