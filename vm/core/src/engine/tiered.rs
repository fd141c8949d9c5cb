//! Tiering: wasmi always, wasmtime when its code is ready. A node-local performance choice
//! that can never change a result: both tiers run the same instrumented module (same gas, same
//! traps, same offsets), and every way the JIT can fail — unavailable on this platform, module
//! over the compile budget, compilation or linking error, artifact refused — leaves the
//! contract on wasmi, which computes the same result.
//!
//! Compile budget (JIT bombs, see `compile_budget.rs`): a module over [`CompileBudget`]'s
//! static bounds (code size, function count, body size, locals × control blocks) is never
//! compiled; a compilation that takes longer than its time bound is discarded (Cranelift
//! cannot be interrupted, so the time bound bounds what is *used*; the static bounds are what
//! bound the work and memory). Deploy gas already charges code size
//! (`GasSchedule::code_cost`), which covers compilation linearly in size.
//!
//! In [`JitMode::Background`] compilation runs on one `keel-jit` thread, off the execution
//! thread: calls run on wasmi until the module is ready. [`JitMode::Eager`] compiles on the
//! calling thread before the first call (benchmarks, replays that must exercise wasmtime).

use super::artifact_cache::{ArtifactCache, ArtifactKey, CacheError, FileRunner};
use super::compile_budget::CompileBudget;
use super::wasmi_tier::WasmiEngine;
use super::wasmtime_tier::WasmtimeEngine;
use super::{CompiledModule, Completion, Engine, Invocation, JitStats, ModuleKey};
use crate::error::VmError;
use crate::metering::InstrumentedModule;
use crate::profile::Profile;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const NAME: &str = "tiered";

/// When the JIT tier compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitMode {
    /// On the calling thread, before the module is first run.
    Eager,
    /// On the background compile thread; wasmi runs the module meanwhile.
    Background,
}

/// Configuration of the tiered engine.
#[derive(Debug, Clone)]
pub struct TierConfig {
    pub mode: JitMode,
    /// Data directory whose `vm-cache/` keeps compiled artifacts; `None` keeps none.
    pub data_dir: Option<PathBuf>,
    /// What the JIT may compile; modules over it stay on wasmi.
    pub budget: CompileBudget,
}

impl TierConfig {
    /// `mode` with the default [`CompileBudget`].
    pub fn new(mode: JitMode, data_dir: Option<PathBuf>) -> Self {
        TierConfig {
            mode,
            data_dir,
            budget: CompileBudget::default(),
        }
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    compiled: AtomicU64,
    compile_micros: AtomicU64,
    over_budget: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
}

/// The JIT half: wasmtime, its artifact cache and what the key needs.
struct Jit {
    engine: WasmtimeEngine,
    cache: Option<ArtifactCache>,
    engine_hash: [u8; 32],
    cpu_features: String,
    budget: Duration,
    counters: Counters,
}

/// wasmi plus, where available, wasmtime.
pub struct TieredEngine {
    wasmi: WasmiEngine,
    jit: Option<Arc<Jit>>,
    config: TierConfig,
    queue: Mutex<Option<Sender<Job>>>,
}

struct Job {
    jit: Arc<Jit>,
    key: ArtifactKey,
    bytes: Vec<u8>,
    data_chunks: Option<u64>,
    slot: Arc<OnceLock<Arc<dyn CompiledModule>>>,
}

impl TieredEngine {
    /// The tiers for `profile`. wasmtime failing to start is logged and leaves wasmi alone;
    /// an unusable cache directory is an error (the operator asked for it).
    pub fn new(profile: &Profile, reuse: bool, config: TierConfig) -> Result<Self, VmError> {
        let wasmi = WasmiEngine::new(profile, reuse)?;
        let jit = match WasmtimeEngine::new().map(|e| e.with_reuse(reuse)) {
            Ok(engine) => Some(Arc::new(Jit::new(engine, &config)?)),
            Err(e) => {
                tracing::warn!(error = %e, "wasmtime unavailable; contracts run on wasmi");
                None
            }
        };
        Ok(TieredEngine {
            wasmi,
            jit,
            config,
            queue: Mutex::new(None),
        })
    }

    /// Whether the JIT tier is available on this node.
    pub fn jit_available(&self) -> bool {
        self.jit.is_some()
    }

    fn submit(&self, job: Job) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_none() {
            let (tx, rx) = channel::<Job>();
            let spawned = std::thread::Builder::new()
                .name("keel-jit".into())
                .spawn(move || {
                    for job in rx {
                        job.run();
                    }
                });
            match spawned {
                Ok(_) => *q = Some(tx),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the JIT compile thread; staying on wasmi");
                    return;
                }
            }
        }
        if let Some(tx) = q.as_ref()
            && tx.send(job).is_err()
        {
            *q = None;
        }
    }
}

impl Jit {
    fn new(engine: WasmtimeEngine, config: &TierConfig) -> Result<Self, VmError> {
        let cache = match &config.data_dir {
            Some(dir) => Some(ArtifactCache::open(dir).map_err(cache_error)?),
            None => None,
        };
        let engine_hash = engine_hash(engine.wasmtime());
        Ok(Jit {
            engine,
            cache,
            engine_hash,
            cpu_features: cpu_features(),
            budget: config.budget.time,
            counters: Counters::default(),
        })
    }

    fn key(&self, module: &InstrumentedModule, id: &ModuleKey) -> ArtifactKey {
        ArtifactKey {
            code_hash: id.code_hash,
            schedule_version: id.schedule_version,
            profile_version: id.profile_version,
            kill_digest: id.kill_digest,
            instrumented_hash: *blake3::hash(&module.bytes).as_bytes(),
            wasmtime_version: WASMTIME_VERSION,
            engine_hash: self.engine_hash,
            cpu_features: self.cpu_features.clone(),
        }
    }

    /// The cached artifact for `key`, verified, deserialized and linked (`data_chunks`: see
    /// [`WasmtimeEngine::link`]).
    fn load(&self, key: &ArtifactKey, data_chunks: Option<u64>) -> Option<Arc<dyn CompiledModule>> {
        let bytes = self.cache.as_ref()?.load(key)?;
        // SAFETY: the cache returned these bytes only after verifying their MAC under this
        // node's secret, so they are an artifact this node serialized for this exact key.
        let loaded = unsafe { self.engine.load_artifact(&bytes) }
            .and_then(|m| self.engine.link(&m, data_chunks));
        match loaded {
            Ok(c) => Some(c),
            Err(e) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cached artifact does not load; recompiling");
                None
            }
        }
    }

    /// Compiles, stores and links; `None` (stay on wasmi) on failure or over budget.
    fn compile(
        &self,
        key: &ArtifactKey,
        bytes: &[u8],
        data_chunks: Option<u64>,
    ) -> Option<Arc<dyn CompiledModule>> {
        let started = Instant::now();
        let compiled = self.engine.compile_bytes(bytes);
        let took = started.elapsed();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.counters
            .compile_micros
            .fetch_add(micros, Ordering::Relaxed);
        let module = match compiled {
            Ok(m) => m,
            Err(e) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "JIT compilation failed; the module stays on wasmi");
                return None;
            }
        };
        if took > self.budget {
            self.counters.over_budget.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(?took, budget = ?self.budget, "JIT compilation over budget; the module stays on wasmi");
            return None;
        }
        self.counters.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some(cache) = &self.cache {
            let stored = module
                .serialize()
                .map_err(|e| e.to_string())
                .and_then(|b| cache.store(key, b).map_err(|e| e.to_string()));
            if let Err(e) = stored {
                tracing::warn!(error = %e, "cannot store a compiled artifact");
            }
        }
        match self.engine.link(&module, data_chunks) {
            Ok(c) => Some(c),
            Err(e) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "JIT module does not link; the module stays on wasmi");
                None
            }
        }
    }
}

impl Job {
    fn run(self) {
        if let Some(c) = self.jit.compile(&self.key, &self.bytes, self.data_chunks) {
            let _ = self.slot.set(c);
        }
    }
}

fn cache_error(e: CacheError) -> VmError {
    VmError::Engine {
        engine: NAME,
        message: e.to_string(),
    }
}

/// The wasmtime crate version this node links (`Cargo.toml` pins it exactly).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// BLAKE3 of wasmtime's compatibility hash: Cranelift settings, target ISA and its flags, and
/// the tunables (memory reservation, guards, stack limit) an artifact depends on.
fn engine_hash(engine: &wasmtime::Engine) -> [u8; 32] {
    struct B3(blake3::Hasher);
    impl std::hash::Hasher for B3 {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut h = B3(blake3::Hasher::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    *h.0.finalize().as_bytes()
}

/// The host CPU features Cranelift may generate code for, as a stable string.
pub fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = vec!["x86_64"];
        macro_rules! detect {
            ($($feat:tt),*) => { $( if std::is_x86_feature_detected!($feat) { f.push($feat); } )* };
        }
        detect!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "avx",
            "avx2",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
            "avx512f",
            "avx512vl",
            "avx512dq",
            "avx512bitalg",
            "avx512vbmi",
            "cmpxchg16b"
        );
        f.join(",")
    }
    #[cfg(target_arch = "aarch64")]
    {
        let mut f = vec!["aarch64"];
        macro_rules! detect {
            ($($feat:tt),*) => { $( if std::arch::is_aarch64_feature_detected!($feat) { f.push($feat); } )* };
        }
        detect!("lse", "paca", "fp16");
        f.join(",")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        std::env::consts::ARCH.to_string()
    }
}

impl Engine for TieredEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compile(&self, module: &InstrumentedModule) -> Result<Arc<dyn CompiledModule>, VmError> {
        // Without the identity of the code the artifact cache cannot be keyed: wasmi only.
        self.wasmi.compile(module)
    }

    fn compile_keyed(
        &self,
        module: &InstrumentedModule,
        id: &ModuleKey,
    ) -> Result<Arc<dyn CompiledModule>, VmError> {
        let wasmi = self.wasmi.compile(module)?;
        let Some(jit) = &self.jit else {
            return Ok(wasmi);
        };
        let slot: Arc<OnceLock<Arc<dyn CompiledModule>>> = Arc::new(OnceLock::new());
        let tiered = Arc::new(TieredModule {
            wasmi,
            jit: Arc::clone(&slot),
        });
        if let Err(reason) = self.config.budget.check(&module.bytes) {
            jit.counters.over_budget.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, "module over the JIT's compile budget; it stays on wasmi");
            return Ok(tiered);
        }
        let key = jit.key(module, id);
        if let Some(c) = jit.load(&key, module.data_chunks) {
            jit.counters.hits.fetch_add(1, Ordering::Relaxed);
            let _ = slot.set(c);
            return Ok(tiered);
        }
        jit.counters.misses.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            jit: Arc::clone(jit),
            key,
            bytes: module.bytes.clone(),
            data_chunks: module.data_chunks,
            slot,
        };
        match self.config.mode {
            JitMode::Eager => job.run(),
            JitMode::Background => self.submit(job),
        }
        Ok(tiered)
    }

    fn set_cache_runner(&self, runner: FileRunner) {
        if let Some(cache) = self.jit.as_ref().and_then(|j| j.cache.as_ref()) {
            cache.set_runner(runner);
        }
    }

    fn jit_stats(&self) -> Option<JitStats> {
        let c = &self.jit.as_ref()?.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Some(JitStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            compiled: get(&c.compiled),
            compile_micros: get(&c.compile_micros),
            over_budget: get(&c.over_budget),
            failed: get(&c.failed),
            refused: get(&c.refused),
        })
    }
}

/// A module on wasmi until (and unless) its wasmtime code is ready.
struct TieredModule {
    wasmi: Arc<dyn CompiledModule>,
    jit: Arc<OnceLock<Arc<dyn CompiledModule>>>,
}

impl CompiledModule for TieredModule {
    fn invoke(&self, invocation: Invocation) -> Completion {
        match self.jit.get() {
            Some(jit) => jit.invoke(invocation),
            None => self.wasmi.invoke(invocation),
        }
    }

    fn reused_instances(&self) -> u64 {
        let jit = self.jit.get().map_or(0, |j| j.reused_instances());
        self.wasmi.reused_instances().saturating_add(jit)
    }

    fn on_jit(&self) -> bool {
        self.jit.get().is_some()
    }
}
