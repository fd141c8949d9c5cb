//! A chain on disk: the state database, the VM and the signature verifier, with
//! `execute_block` committing atomically (one redb write transaction per block).

use crate::audit::{AuditLog, audit_dir};
use crate::beacon::{BeaconEvidence, VrfEvidence};
use crate::blocks::{
    BlockRecord, GenesisRecord, check_block_header, check_header, parent_timestamp,
};
use crate::config::ChainConfig;
use crate::executor::{Block, BlockHeader, BlockTimings, ChainError, Executor};
use crate::genesis::Genesis;
use crate::genesis_routines::GenesisError;
use crate::governance::Gov;
use crate::parallel::ExecMode;
use crate::receipt::BlockResult;
use crate::routines::RoutineCache;
use crate::state_access::{Access, AccessError};
use crate::tx::{SenderKeys, SignedTx};
use crate::types::{Account, Address};
use keel_beacon::BeaconWorker;
use keel_crypto::{SecretKey, SignatureVerifier};
use keel_ebpf_bridge::{Engine, JitCompile};
use keel_state::{Overlay, StateDb, StateProof};
use keel_vm::engine::choice::EngineChoice;
use keel_vm::{Vm, VmConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// A value, its proof, and the height and root it proves against.
pub type Proven = (Option<Vec<u8>>, StateProof, u64, [u8; 32]);

/// How long [`Chain::next_header`] waits for a due VDF output.
pub const BEACON_WAIT: Duration = Duration::from_secs(600);

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./keel-data";

/// Environment variable choosing the routine engine of a node opened or created here:
/// `interp` or `jit` (the default). Node-local; every engine gives the same results.
pub const ROUTINE_ENGINE_ENV: &str = "KEEL_ROUTINE_ENGINE";

/// Reads (`head`, `get`, `prove`, `simulate`…) take `&self` and run on a snapshot of the
/// last committed version, so they never wait for a block being executed: the state is
/// versioned and a committed version never changes. `Chain` is `Sync`; share it between
/// threads and commit from any of them (commits are serialized inside).
pub struct Chain {
    db: StateDb,
    vm: Vm,
    verifier: Box<dyn SignatureVerifier>,
    /// Native routines loaded from the state (governance decides which run).
    routines: RoutineCache,
    /// Held for a whole `execute_block`: one writer at a time, readers never take it.
    writer: Mutex<Writer>,
    /// Validated sender keys, so the signature phase decodes each sender's key once.
    keys: Mutex<SenderKeys>,
    /// Which executor runs blocks (node-local; every mode gives the same results).
    exec: ExecMode,
    /// Proposer keys this node builds blocks for (their VRF proofs), by address.
    proposer_keys: BTreeMap<Address, SecretKey>,
    /// The background VDF evaluator, started with the first block built or committed.
    beacon: OnceLock<Result<BeaconWorker, String>>,
}

/// What only the (single) writer touches.
struct Writer {
    last_timings: BlockTimings,
    /// Append-only fault log (`<data>/audit/audit.log*`), written after each commit.
    audit: AuditLog,
}

/// Audit log rotation: files of at most 16 MiB, 8 kept.
const AUDIT_MAX_BYTES: u64 = 16 * 1024 * 1024;
const AUDIT_KEEP: usize = 8;

impl Chain {
    /// Opens an initialized chain in `dir`.
    pub fn open(
        dir: impl AsRef<Path>,
        verifier: Box<dyn SignatureVerifier>,
    ) -> Result<Chain, ChainError> {
        let routines = node_routines()?;
        let tier = node_tier()?;
        let db = StateDb::open(dir.as_ref())?;
        let audit = open_audit(dir.as_ref())?;
        let vm = node_vm(tier, dir.as_ref())?;
        Ok(Chain {
            db,
            vm,
            verifier,
            routines,
            writer: Mutex::new(Writer {
                last_timings: BlockTimings::default(),
                audit,
            }),
            keys: Mutex::new(SenderKeys::default()),
            exec: ExecMode::node_default(),
            proposer_keys: BTreeMap::new(),
            beacon: OnceLock::new(),
        })
    }

    /// Creates the chain in `dir` and commits the genesis state as block 0. Refuses a
    /// directory that already holds a database.
    pub fn init(
        dir: impl AsRef<Path>,
        genesis: &Genesis,
        verifier: Box<dyn SignatureVerifier>,
    ) -> Result<Chain, ChainError> {
        let routines = node_routines()?;
        let tier = node_tier()?;
        // Balances never overflow on credit if the supply fits a u256: no transaction mints.
        genesis
            .total_supply()
            .ok_or(ChainError::Genesis(GenesisError::SupplyOverflow))?;
        let db = StateDb::create(dir.as_ref())?;
        let audit = open_audit(dir.as_ref())?;
        let writes = genesis_writes(genesis)?;
        // The genesis is kept with block 0, so the chain can be re-created (`keel replay`).
        let record = GenesisRecord {
            height: 0,
            genesis: genesis.clone(),
        }
        .to_bytes()
        .map_err(|e| ChainError::Record(e.to_string()))?;
        db.commit_block_with_aux(0, writes, &record)?;
        let vm = node_vm(tier, dir.as_ref())?;
        Ok(Chain {
            db,
            vm,
            verifier,
            routines,
            writer: Mutex::new(Writer {
                last_timings: BlockTimings::default(),
                audit,
            }),
            keys: Mutex::new(SenderKeys::default()),
            exec: ExecMode::node_default(),
            proposer_keys: BTreeMap::new(),
            beacon: OnceLock::new(),
        })
    }

    /// Runs the audit log's rotation through `runner` (a thread allowed to open files, when
    /// the writing threads are sandboxed).
    pub fn set_file_runner(&mut self, runner: crate::audit::FileRunner) {
        self.writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .audit
            .set_runner(runner);
    }

    /// Phase timings of the last executed block.
    pub fn last_timings(&self) -> BlockTimings {
        self.writer().last_timings
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // A panic mid-block leaves nothing half-written (the commit is one transaction).
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs native routines on `engine`. The engine is node-local but never changes a result:
    /// the interpreter (the reference) and the JIT give the same outputs and gas, and where the
    /// JIT is unavailable routines fall back to the interpreter. Which routines run is decided
    /// by governance in the state. Errors: `RoutineEngine` for the unmetered `Kernel`.
    pub fn set_routine_engine(&mut self, engine: Engine) -> Result<(), ChainError> {
        self.set_routines(engine, JitCompile::Attempt)
    }

    /// Runs blocks with the executor `mode` names: the sequential reference or the parallel
    /// executor on n workers. Node-local: the results are identical.
    pub fn set_exec_mode(&mut self, mode: ExecMode) {
        self.exec = mode;
    }

    /// The executor this node runs blocks with.
    pub fn exec_mode(&self) -> ExecMode {
        self.exec
    }

    /// Runs contracts on the engine tier `choice`, keeping JIT artifacts in
    /// `data_dir/vm-cache`. Like the routine engine, node-local and never a cause of a
    /// different result: every tier runs the same instrumented code, and the JIT falls back to
    /// wasmi wherever it cannot compile.
    pub fn set_vm_engine(
        &mut self,
        choice: EngineChoice,
        data_dir: Option<&Path>,
    ) -> Result<(), ChainError> {
        self.vm = Vm::with_choice(VmConfig::default(), choice, data_dir).map_err(ChainError::Vm)?;
        Ok(())
    }

    /// The engine this node asks for when it runs native routines.
    pub fn routine_engine(&self) -> Engine {
        self.routines.engine()
    }

    /// [`Chain::set_routine_engine`], compiling routines for the JIT only if `jit` says so:
    /// [`JitCompile::Refuse`] makes this node behave as one where JIT compilation fails.
    pub fn set_routines(&mut self, engine: Engine, jit: JitCompile) -> Result<(), ChainError> {
        self.routines = RoutineCache::with_jit(engine, jit)
            .map_err(|e| ChainError::RoutineEngine(e.to_string()))?;
        Ok(())
    }

    /// A typed read of the head state (governance status, routine registry…).
    pub fn read<T>(
        &self,
        f: impl FnOnce(
            &Access<'_, keel_state::StateView>,
        ) -> Result<T, crate::state_access::AccessError>,
    ) -> Result<T, ChainError> {
        let mut o = Overlay::new(self.db.view()?);
        Ok(f(&Access { overlay: &mut o })?)
    }

    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// Height and state root of the last committed block.
    pub fn head(&self) -> Result<(u64, [u8; 32]), ChainError> {
        let v = self.db.latest_version()?.unwrap_or(0);
        Ok((v, self.db.root(v)?.0))
    }

    pub fn config(&self) -> Result<ChainConfig, ChainError> {
        let mut o = Overlay::new(self.db.view()?);
        Ok(Access { overlay: &mut o }.config()?)
    }

    pub fn account(&self, addr: &Address) -> Result<Option<Account>, ChainError> {
        let mut o = Overlay::new(self.db.view()?);
        Ok(Access { overlay: &mut o }.account(addr)?)
    }

    /// Lets this node build blocks for the validator whose key `key` is: [`Chain::next_header`]
    /// signs their VRF proofs with it. Node-local (a key changes who can propose, not results).
    pub fn add_proposer_key(&mut self, key: SecretKey) {
        let address = crate::types::address_of(&key.public_key().to_bytes());
        self.proposer_keys.insert(address, key);
    }

    /// The addresses this node holds proposer keys for.
    pub fn proposer_addresses(&self) -> Vec<Address> {
        self.proposer_keys.keys().copied().collect()
    }

    /// A header for the next block on the current head, proposed by `proposer`: its VRF proof
    /// (made with the key [`Chain::add_proposer_key`] gave) and, when due, the VDF output from
    /// the background evaluator. Waits for that output at most [`BEACON_WAIT`] (it was queued
    /// when its seed was committed, `lag` blocks earlier, so it is normally ready).
    ///
    /// Errors: `NoProposerKey` without the proposer's key; `Beacon` if the VDF output cannot be
    /// had in time.
    pub fn next_header(
        &self,
        timestamp: u64,
        proposer: Address,
    ) -> Result<BlockHeader, ChainError> {
        let key = self
            .proposer_keys
            .get(&proposer)
            .ok_or_else(|| ChainError::NoProposerKey {
                proposer: hex::encode(proposer),
            })?;
        let (h, root) = self.head()?;
        let height = next_height(h)?;
        let config = self.config()?;
        let prev_seed = self.beacon_seed(h)?;
        Ok(BlockHeader {
            height,
            parent_root: root,
            timestamp,
            proposer,
            vrf: VrfEvidence::prove(key, config.chain_id, height, prev_seed),
            beacon: self.due_beacon(&config, height)?,
        })
    }

    /// seed`height` in the head state. Errors: `Beacon` if it is no longer (or not yet) kept.
    pub fn beacon_seed(&self, height: u64) -> Result<[u8; 32], ChainError> {
        let config = self.config()?;
        self.read(|a| crate::beacon::seed_at(a, &config, height))?
            .ok_or_else(|| ChainError::Beacon(format!("no seed for height {height} in the state")))
    }

    /// The final beacon value of `height` in the head state, if any.
    pub fn beacon_value(&self, height: u64) -> Result<Option<[u8; 32]>, ChainError> {
        self.read(|a| crate::beacon::final_value(a, height))
    }

    /// The VDF evidence block `height` must carry (none before `lag + 1`).
    fn due_beacon(
        &self,
        config: &ChainConfig,
        height: u64,
    ) -> Result<Option<BeaconEvidence>, ChainError> {
        let Some(p) = config.beacon.due_at(height) else {
            return Ok(None);
        };
        let seed = self.beacon_seed(p.saturating_sub(1))?;
        let worker = self.beacon_worker(config)?;
        let out = worker
            .wait(seed, BEACON_WAIT)
            .ok_or_else(|| {
                ChainError::Beacon(format!("the VDF output for height {p} is not ready"))
            })?
            .map_err(|e| ChainError::Beacon(e.to_string()))?;
        Ok(Some(BeaconEvidence {
            height: p,
            output: out.output,
            proof: out.proof,
        }))
    }

    /// The background VDF evaluator (started on first use with the chain's parameters).
    fn beacon_worker(&self, config: &ChainConfig) -> Result<&BeaconWorker, ChainError> {
        self.beacon
            .get_or_init(|| {
                let params = config.beacon.vdf().map_err(|e| e.to_string())?;
                BeaconWorker::start(params).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| ChainError::Beacon(e.clone()))
    }

    /// Queues the VDF of the newest seed, so that it is ready when its block is due. Only for
    /// nodes that propose; a failure is logged (the builder waits or reports it later).
    fn prefetch_beacon(&self, height: u64) {
        if self.proposer_keys.is_empty() {
            return;
        }
        let queued = self.config().and_then(|config| {
            let seed = self.beacon_seed(height)?;
            Ok(self.beacon_worker(&config)?.request(seed))
        });
        if let Err(e) = queued {
            tracing::warn!(height, "cannot queue the VDF evaluation: {e}");
        }
    }

    /// The head block's timestamp (0 at genesis): the next block's must be greater.
    pub fn head_timestamp(&self) -> Result<u64, ChainError> {
        let mut o = Overlay::new(self.db.view()?);
        Ok(parent_timestamp(&Access { overlay: &mut o })?)
    }

    /// A header for node-local tools that build blocks themselves (CLI commands, benchmarks,
    /// simulations): the head's timestamp + 1 and the first validator as proposer. Never a
    /// clock: the timestamp follows the chain, not the machine.
    ///
    /// The proposer is the first validator this node holds a key for (the header is then
    /// complete and commits); without one, the first validator with no VRF proof, which serves
    /// only for [`Chain::simulate`].
    pub fn next_local_header(&self) -> Result<BlockHeader, ChainError> {
        let validators = self.read(crate::governance::validators)?;
        let timestamp = self.head_timestamp()?.saturating_add(1);
        if let Some(v) = validators
            .iter()
            .find(|v| self.proposer_keys.contains_key(&v.address))
        {
            return self.next_header(timestamp, v.address);
        }
        let (h, root) = self.head()?;
        Ok(BlockHeader {
            height: next_height(h)?,
            parent_root: root,
            timestamp,
            proposer: validators.first().map_or([0; 32], |v| v.address),
            vrf: VrfEvidence::none(),
            beacon: None,
        })
    }

    /// Executes `block` on the head and commits it atomically with its receipts. Concurrent
    /// calls run one after the other; reads meanwhile see the previous head.
    pub fn execute_block(&self, block: &Block) -> Result<BlockResult, ChainError> {
        let mut writer = self.writer();
        let (height, root) = self.head()?;
        if block.header.height != next_height(height)? {
            return Err(ChainError::WrongHeight {
                expected: next_height(height)?,
                got: block.header.height,
            });
        }
        if block.header.parent_root != root {
            return Err(ChainError::WrongParent {
                expected: hex::encode(root),
                got: hex::encode(block.header.parent_root),
            });
        }
        {
            let mut o = Overlay::new(self.db.view()?);
            check_block_header(&Access { overlay: &mut o }, &block.header)??;
        }
        let exec = self.executor();
        let mut executed =
            exec.execute_with(self.exec, self.db.view()?, &block.header, &block.txs)?;
        // The block itself is stored with its result, in the same transaction as its state.
        let record = BlockRecord::new(block, &executed.result)
            .to_bytes()
            .map_err(|e| ChainError::Record(e.to_string()))?;
        let started = std::time::Instant::now();
        let new_root =
            self.db
                .commit_block_with_aux(block.header.height, executed.writes, &record)?;
        executed.timings.commit = started.elapsed();
        writer.last_timings = executed.timings;
        executed.result.state_root = new_root.0;
        // The block is durable; its faults go to the audit trail. A failing audit write is
        // reported, not fatal: the block itself is committed.
        if let Err(e) = writer.audit.record_block(&executed.result) {
            tracing::error!(
                height = block.header.height,
                "cannot write the audit log: {e}"
            );
        }

        drop(writer);
        self.prefetch_beacon(block.header.height);
        // The stored record carries the root too, so `block_result` returns exactly this.
        Ok(executed.result)
    }

    /// The executor over this chain's VM, verifier, routines and key cache.
    fn executor(&self) -> Executor<'_> {
        Executor {
            vm: &self.vm,
            verifier: self.verifier.as_ref(),
            routines: &self.routines,
            keys: &self.keys,
        }
    }

    /// Executes transactions on the head without committing (simulation).
    pub fn simulate(
        &self,
        header: &BlockHeader,
        txs: &[SignedTx],
    ) -> Result<BlockResult, ChainError> {
        self.check_header(header)?;
        let exec = self.executor();
        Ok(exec
            .execute_with(self.exec, self.db.view()?, header, txs)?
            .result)
    }

    /// Runs contracts on `vm` from now on: the replay debugger's VM
    /// ([`Vm::for_debugging`]), which charges exactly as a node's.
    pub fn set_vm(&mut self, vm: Vm) {
        self.vm = vm;
    }

    /// [`Chain::simulate`] on the sequential reference executor, calling `before_tx(i)` before
    /// transaction `i` runs (see [`Executor::execute_observed`]). Nothing is committed.
    pub fn simulate_observed(
        &self,
        header: &BlockHeader,
        txs: &[SignedTx],
        before_tx: &mut dyn FnMut(usize),
    ) -> Result<BlockResult, ChainError> {
        self.check_header(header)?;
        let exec = self.executor();
        Ok(exec
            .execute_observed(self.db.view()?, header, txs, before_tx)?
            .result)
    }

    /// Refuses a header whose timestamp does not follow the head's or whose proposer is not a
    /// validator (see `blocks.rs`).
    fn check_header(&self, header: &BlockHeader) -> Result<(), ChainError> {
        let mut o = Overlay::new(self.db.view()?);
        Ok(check_header(&Access { overlay: &mut o }, header)??)
    }

    /// The stored record of block `height ≥ 1`: the executed block and its result (the state
    /// root read from the tree). `None` for block 0 and for heights not committed.
    pub fn block_record(&self, height: u64) -> Result<Option<BlockRecord>, ChainError> {
        if height == 0 {
            return Ok(None);
        }
        let Some(aux) = self.db.block_aux(height)? else {
            return Ok(None);
        };
        let mut r = BlockRecord::from_bytes(&aux).map_err(AccessError::Decode)?;
        r.result.state_root = self.db.root(height)?.0;
        Ok(Some(r))
    }

    /// The stored result of block `height` (its state root read from the tree).
    pub fn block_result(&self, height: u64) -> Result<Option<BlockResult>, ChainError> {
        Ok(self.block_record(height)?.map(|r| r.result))
    }

    /// The genesis the chain was created from (`None` for chains created before it was kept).
    pub fn genesis(&self) -> Result<Option<Genesis>, ChainError> {
        let Some(aux) = self.db.block_aux(0)? else {
            return Ok(None);
        };
        Ok(Some(
            GenesisRecord::from_bytes(&aux)
                .map_err(AccessError::Decode)?
                .genesis,
        ))
    }

    /// The state root of a committed block.
    pub fn root_at(&self, height: u64) -> Result<[u8; 32], ChainError> {
        Ok(self.db.root(height)?.0)
    }

    /// A raw state value at the head.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        Ok(self.db.get(key)?)
    }

    /// A raw state value as of block `height` (its committed state). Errors: an unknown height.
    pub fn get_at(&self, key: &[u8], height: u64) -> Result<Option<Vec<u8>>, ChainError> {
        Ok(self.db.get_at(key, height)?)
    }

    /// A value and its proof against the head root.
    pub fn prove(&self, key: &[u8]) -> Result<Proven, ChainError> {
        let (h, root) = self.head()?;
        let (v, p) = self.db.prove(key, h)?;
        Ok((v, p, h, root))
    }
}

impl ChainError {
    /// True when the disk failed under the state store (e.g. ENOSPC while committing): the
    /// committed data is intact, but the chain must be reopened before it commits again.
    pub fn is_store_io(&self) -> bool {
        match self {
            ChainError::Commit(e) | ChainError::Access(AccessError::State(e)) => e.is_io(),
            _ => false,
        }
    }
}

// Shared between the server's workers: reads run concurrently with a commit.
const _: () = {
    const fn sync<T: Send + Sync>() {}
    sync::<Chain>();
};

/// The height after `h`. Errors: `HeightExhausted` at `u64::MAX` (never a wrap to block 0).
fn next_height(h: u64) -> Result<u64, ChainError> {
    h.checked_add(1).ok_or(ChainError::HeightExhausted)
}

/// The routines of a node: on the engine [`ROUTINE_ENGINE_ENV`] names, the JIT by default.
fn node_routines() -> Result<RoutineCache, ChainError> {
    let engine = match std::env::var(ROUTINE_ENGINE_ENV) {
        Err(std::env::VarError::NotPresent) => Engine::Jit,
        Ok(name) => name
            .parse()
            .map_err(|e| ChainError::RoutineEngine(format!("{ROUTINE_ENGINE_ENV}: {e}")))?,
        Err(e) => {
            return Err(ChainError::RoutineEngine(format!(
                "{ROUTINE_ENGINE_ENV}: {e}"
            )));
        }
    };
    RoutineCache::new(engine).map_err(|e| ChainError::RoutineEngine(e.to_string()))
}

fn open_audit(dir: &Path) -> Result<AuditLog, ChainError> {
    AuditLog::open(&audit_dir(dir), AUDIT_MAX_BYTES, AUDIT_KEEP)
        .map_err(|e| ChainError::Audit(e.to_string()))
}

/// The state writes of block 0 for `genesis`: chain config, prices, governance (validators,
/// parameters, routines) and funded accounts. [`Chain::init`] commits exactly these; in-memory
/// executions (benchmarks, tests) start from them too.
pub fn genesis_writes(genesis: &Genesis) -> Result<keel_state::WriteSet, ChainError> {
    let mut overlay = Overlay::new(std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new());
    {
        let mut a = Access {
            overlay: &mut overlay,
        };
        a.overlay.set(
            crate::state_access::config_key(),
            crate::tx::encode(&genesis.config),
        );
        a.put_prices(&genesis.config.fees.min_prices);
        Gov { a: &mut a }
            .genesis(&genesis.validators, &genesis.governance, &genesis.routines)
            .map_err(ChainError::Genesis)?;
        for (addr, balance) in &genesis.accounts {
            a.put_account(
                addr,
                &Account {
                    balance: *balance,
                    ..Account::default()
                },
            );
        }
    }
    Ok(overlay.into_writes()?)
}

/// The engine tier `KEEL_VM_ENGINE` names (tiered when unset: wasmi until a module's JIT
/// compilation is ready), checked before anything is opened or created.
fn node_tier() -> Result<EngineChoice, ChainError> {
    EngineChoice::from_env().map_err(ChainError::Vm)
}

/// The contract VM of a node with data in `dir`, on engine tier `choice`.
fn node_vm(choice: EngineChoice, dir: &Path) -> Result<Vm, ChainError> {
    let data_dir = (choice != EngineChoice::Wasmi).then_some(dir);
    Vm::with_choice(VmConfig::default(), choice, data_dir).map_err(ChainError::Vm)
}
