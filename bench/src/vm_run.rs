//! A workload deployed on one Keel engine tier: calls go straight to the VM (the execution a
//! transaction pays gas for), each committed to an in-memory state before the next, as the
//! EVM peer commits per transaction.

use crate::workloads::{Address, Call, CheckError, Query, Workload};
use keel_vm::engine::choice::EngineChoice;
use keel_vm::{
    CallContext, CallRequest, GasLimits, GasVector, Prepared, StateError, StateView, Vm, VmConfig,
    VmError,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Where the benchmarked contract lives.
pub const CONTRACT: Address = [0xc7; 32];

/// Gas limits of every call: far above what any workload transaction needs.
const LIMITS: GasLimits = GasLimits {
    compute: 50_000_000,
    storage_bytes: 100_000,
    memory_pages: 64,
    bandwidth: 100_000,
};

#[derive(Debug, Error)]
pub enum RunError {
    #[error("vm: {0}")]
    Vm(#[from] VmError),
    #[error("{workload}: {entry} (call {index}) trapped: {trap}")]
    Trap {
        workload: &'static str,
        entry: &'static str,
        index: u32,
        trap: String,
    },
    #[error("{workload}: invariant: {source}")]
    Check {
        workload: &'static str,
        source: CheckError,
    },
}

type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// The contract's storage, shared between the runner (which commits writes) and the call
/// (which reads through [`StateView`]), so no copy is made per transaction.
#[derive(Clone, Default)]
struct SharedState(Arc<Mutex<Entries>>);

impl SharedState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateView for SharedState {
    fn storage_get(
        &mut self,
        contract: &Address,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        if contract != &CONTRACT {
            return Ok(None);
        }
        Ok(self.lock().get(key).cloned())
    }
}

/// One measured transaction.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Call plus commit of its writes.
    pub elapsed: Duration,
    pub gas: GasVector,
    pub output: Vec<u8>,
}

/// A workload's contract deployed on one tier, its setup committed.
pub struct Deployed {
    workload: &'static Workload,
    vm: Vm,
    prepared: Arc<Prepared>,
    state: SharedState,
    /// Height of the last committed call: queries run there (interest accrues to it).
    height: u64,
}

impl Deployed {
    /// Prepares the contract on `tier` (compiled before any timing) and commits its setup.
    pub fn new(workload: &'static Workload, tier: EngineChoice) -> Result<Self, RunError> {
        Self::on_vm(workload, Vm::with_choice(VmConfig::default(), tier, None)?)
    }

    /// Like [`Deployed::new`] on any VM (e.g. the fuel-metered baseline, [`crate::fuel`]).
    pub fn on_vm(workload: &'static Workload, vm: Vm) -> Result<Self, RunError> {
        let prepared = vm.prepare(workload.contract.wasm)?;
        let mut d = Deployed {
            workload,
            vm,
            prepared,
            state: SharedState::default(),
            height: 1,
        };
        for (index, call) in (0u32..).zip((workload.setup)()) {
            d.commit(&call, 1, index)?;
        }
        Ok(d)
    }

    /// Whether calls run on JIT-compiled code (the wasmtime tier) rather than wasmi.
    pub fn on_jit(&self) -> bool {
        self.prepared.on_jit()
    }

    fn request(call: &Call, height: u64) -> CallRequest {
        CallRequest {
            entry: call.entry.into(),
            input: call.input.clone(),
            context: CallContext {
                caller: call.caller,
                self_address: CONTRACT,
                block_height: height,
                block_timestamp: height,
            },
            limits: LIMITS,
        }
    }

    /// Runs `call` at block `height` and commits its writes; a trap is an error.
    fn commit(&mut self, call: &Call, height: u64, index: u32) -> Result<Sample, RunError> {
        let req = Self::request(call, height);
        let started = Instant::now();
        let out = self
            .vm
            .call_prepared(&self.prepared, req, Box::new(self.state.clone()))?;
        self.height = height;
        let output = out.result.map_err(|t| RunError::Trap {
            workload: self.workload.name,
            entry: call.entry,
            index,
            trap: t.to_string(),
        })?;
        {
            let mut s = self.state.lock();
            for (k, v) in out.writes {
                match v {
                    Some(v) => s.insert(k, v),
                    None => s.remove(&k),
                };
            }
        }
        Ok(Sample {
            elapsed: started.elapsed(),
            gas: out.gas_used,
            output,
        })
    }

    /// The workload's transaction `index`, at block `2 + index`.
    pub fn tx(&mut self, index: u32) -> Result<Sample, RunError> {
        let call = (self.workload.tx)(index);
        self.commit(&call, 2u64.saturating_add(u64::from(index)), index)
    }

    /// Checks the workload's invariant against the outputs of transactions `0..outputs.len()`.
    pub fn check(&mut self, outputs: &[Vec<u8>]) -> Result<(), RunError> {
        let workload = self.workload;
        (workload.check)(self, outputs).map_err(|source| RunError::Check {
            workload: workload.name,
            source,
        })
    }
}

impl Query for Deployed {
    fn query(&mut self, entry: &'static str, input: &[u8]) -> Result<Vec<u8>, CheckError> {
        let call = Call {
            caller: crate::workloads::player(0),
            entry,
            input: input.to_vec(),
        };
        let req = Self::request(&call, self.height);
        let out = self
            .vm
            .call_prepared(&self.prepared, req, Box::new(self.state.clone()))
            .map_err(|e| CheckError::Query {
                entry,
                reason: e.to_string(),
            })?;
        out.result.map_err(|t| CheckError::Query {
            entry,
            reason: t.to_string(),
        })
    }
}
