//! The interpreter as a `keel_vm` engine tier, so a call goes through the real `Vm` facade
//! (admission, metering instrumentation, up-front charges, limits) and only the execution of
//! the instrumented module is ours. Each run's path condition is left in a [`TraceSlot`].

use crate::machine::{Machine, Stop, engine_limit};
use crate::module::Decoded;
use crate::trace::Trace;
use keel_vm::engine::{CompiledModule, Completion, Ending, Engine, Invocation};
use keel_vm::metering::InstrumentedModule;
use keel_vm::{Trap, VmError};
use std::sync::{Arc, Mutex};

const NAME: &str = "concolic";

/// Where the engine leaves the trace of the last run.
pub type TraceSlot = Arc<Mutex<Option<Trace>>>;

/// The concolic interpreter tier.
pub struct ConcolicEngine {
    symbolic: bool,
    slot: TraceSlot,
}

impl ConcolicEngine {
    /// A tier that tracks the input symbolically when `symbolic` (else it only runs concretely,
    /// for differential tests).
    pub fn new(symbolic: bool) -> ConcolicEngine {
        ConcolicEngine {
            symbolic,
            slot: Arc::default(),
        }
    }

    /// The slot every module compiled by this engine writes its last trace to.
    pub fn slot(&self) -> TraceSlot {
        Arc::clone(&self.slot)
    }
}

impl Engine for ConcolicEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compile(&self, module: &InstrumentedModule) -> Result<Arc<dyn CompiledModule>, VmError> {
        let decoded = Decoded::decode(&module.bytes).map_err(|e| VmError::Compile {
            engine: NAME,
            message: e.to_string(),
        })?;
        Ok(Arc::new(ConcolicModule {
            decoded,
            symbolic: self.symbolic,
            slot: Arc::clone(&self.slot),
        }))
    }
}

struct ConcolicModule {
    decoded: Decoded,
    symbolic: bool,
    slot: TraceSlot,
}

fn ending(stop: Stop) -> Ending {
    match stop {
        Stop::Trap(t) => Ending::Trapped(t),
        Stop::Fatal(e) => Ending::Fatal(e),
    }
}

impl CompiledModule for ConcolicModule {
    fn invoke(&self, inv: Invocation) -> Completion {
        let d = &self.decoded;
        let mut m = match Machine::instantiate(d, inv.host, inv.max_memory_pages, inv.metered) {
            Ok(m) => m,
            Err(failed) => {
                let (stop, host) = *failed;
                return Completion {
                    ending: ending(stop),
                    gas_left: 0,
                    memory_pages: 0,
                    memory_digest: None,
                    host,
                    fuel_used: None,
                };
            }
        };
        m.symbolic = self.symbolic;
        let ending = match start(&mut m, d, &inv.entry, inv.entry_frame, inv.gas, inv.metered) {
            Ok(()) => Ending::Returned,
            Err(stop) => ending(stop),
        };
        let gas_left = match &ending {
            Ending::Trapped(Trap::OutOfGas) => 0,
            _ if d.gas_global.is_some() && inv.metered => m.gas_left(),
            _ => 0,
        };
        let memory_digest = inv
            .digest_memory
            .then(|| d.memory.map(|_| *blake3::hash(&m.mem.bytes).as_bytes()))
            .flatten();
        let memory_pages = m.mem.pages();
        let trace = std::mem::take(&mut m.trace);
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(trace);
        Completion {
            ending,
            gas_left,
            memory_pages,
            memory_digest,
            host: m.host,
            fuel_used: None,
        }
    }
}

fn start(
    m: &mut Machine<'_>,
    d: &Decoded,
    entry: &str,
    entry_frame: u32,
    gas: u64,
    metered: bool,
) -> Result<(), Stop> {
    if metered {
        let (Some(_), Some(s)) = (d.gas_global, d.stack_global) else {
            return Err(Stop::Trap(engine_limit(
                "instrumented module lacks its metering globals",
            )));
        };
        m.set_gas(gas);
        if let Some(v) = m.globals.get_mut(s as usize) {
            *v = crate::numeric::Val::concrete(u64::from(entry_frame));
        }
    }
    let no_entry = || {
        Stop::Trap(Trap::NoSuchEntry {
            name: entry.to_string(),
        })
    };
    let index = *d.exports.get(entry).ok_or_else(no_entry)?;
    let ty = d.func_type(index).ok_or_else(no_entry)?;
    if !ty.params.is_empty() || !ty.results.is_empty() {
        return Err(no_entry());
    }
    m.run(index)
}
