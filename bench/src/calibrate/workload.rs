//! A calibration workload: one contract call (after its setup calls) on a fresh in-memory
//! state, and how it is run on a VM.

use keel_vm::{Address, CallContext, CallRequest, GasLimits, MemoryState, Prepared, Vm, VmConfig};
use std::borrow::Cow;

/// The calling account of calibration's own workload calls.
pub const CALLER: Address = [0xca; 32];
/// The address every workload's contract runs at.
pub const CONTRACT: Address = [0xc0; 32];

/// What a workload measures: the macro contracts, one instruction class, or one host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Macro,
    Class,
    Host,
}

/// One entry point called by one account with one input.
#[derive(Debug, Clone)]
pub struct Call {
    pub caller: Address,
    pub entry: &'static str,
    pub input: Vec<u8>,
}

/// A workload: `setup` runs first (its writes form the state), then `call` is the one measured.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub kind: Kind,
    pub code: Cow<'static, [u8]>,
    pub setup: Vec<Call>,
    pub call: Call,
}

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("workload {name}: {source}")]
    Vm {
        name: String,
        #[source]
        source: keel_vm::VmError,
    },
    #[error("workload {name}: call {entry} trapped: {trap}")]
    Trapped {
        name: String,
        entry: &'static str,
        trap: String,
    },
}

/// Limits far above any workload's need: a workload never runs out of gas, so its path does
/// not depend on the schedule it is counted under.
fn limits() -> GasLimits {
    GasLimits {
        compute: u64::MAX / 4,
        storage_bytes: 1 << 24,
        memory_pages: 1 << 10,
        bandwidth: 1 << 24,
    }
}

fn request(call: &Call) -> CallRequest {
    CallRequest {
        entry: call.entry.into(),
        input: call.input.clone(),
        context: CallContext {
            caller: call.caller,
            self_address: CONTRACT,
            block_height: 2,
            block_timestamp: 2,
        },
        limits: limits(),
    }
}

/// A workload prepared on one VM, with the state its measured call starts from.
pub struct Ready {
    pub prepared: std::sync::Arc<Prepared>,
    pub state: MemoryState,
}

impl Workload {
    fn vm_err(&self, source: keel_vm::VmError) -> RunError {
        RunError::Vm {
            name: self.name.clone(),
            source,
        }
    }

    /// Prepares the code on `vm` and runs the setup calls.
    pub fn ready(&self, vm: &Vm) -> Result<Ready, RunError> {
        let prepared = vm.prepare(&self.code).map_err(|e| self.vm_err(e))?;
        let mut state = MemoryState::default();
        for call in &self.setup {
            let out = self.call_on(vm, &prepared, call, state)?;
            state = out.1;
        }
        Ok(Ready { prepared, state })
    }

    /// Runs the measured call once on a copy of `ready`'s state; returns its compute gas.
    pub fn measured(&self, vm: &Vm, ready: &Ready) -> Result<u64, RunError> {
        let (gas, _) = self.call_on(vm, &ready.prepared, &self.call, ready.state.clone())?;
        Ok(gas)
    }

    /// One call; returns its compute gas and the state with its writes applied.
    pub fn call_on(
        &self,
        vm: &Vm,
        prepared: &Prepared,
        call: &Call,
        state: MemoryState,
    ) -> Result<(u64, MemoryState), RunError> {
        let out = vm
            .call_prepared(prepared, request(call), Box::new(state.clone()))
            .map_err(|e| self.vm_err(e))?;
        if let Err(t) = out.result {
            return Err(RunError::Trapped {
                name: self.name.clone(),
                entry: call.entry,
                trap: t.to_string(),
            });
        }
        let mut state = state;
        state.apply(&CONTRACT, &out.writes);
        Ok((out.gas_used.compute, state))
    }

    /// The measured call on `state`, which it consumes; nothing is copied or applied (the
    /// timed path).
    pub fn timed_call(&self, vm: &Vm, ready: &Ready, state: MemoryState) -> Result<(), RunError> {
        let out = vm
            .call_prepared(&ready.prepared, request(&self.call), Box::new(state))
            .map_err(|e| self.vm_err(e))?;
        match out.result {
            Ok(_) => Ok(()),
            Err(t) => Err(RunError::Trapped {
                name: self.name.clone(),
                entry: self.call.entry,
                trap: t.to_string(),
            }),
        }
    }

    /// Compute gas of the measured call under `schedule` (a fresh VM: compiled modules are
    /// cached by schedule version, and the counting schedules share one).
    pub fn gas_under(&self, schedule: &keel_vm::GasSchedule) -> Result<u64, RunError> {
        let vm = Vm::new(VmConfig {
            schedule: schedule.clone(),
            cache_capacity: 4,
            ..VmConfig::default()
        })
        .map_err(|e| self.vm_err(e))?;
        let ready = self.ready(&vm)?;
        self.measured(&vm, &ready)
    }
}
