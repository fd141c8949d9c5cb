//! The "WASM-based chains" baseline of `keel bench peers`: Keel's contracts on wasmtime metered
//! the way wasm chains meter, with wasmtime's own fuel instead of Keel's gas.
//!
//! The module is the admitted contract without Keel's metering pass (the VM's unmetered
//! rewrite: every function body operator for operator as compiled, no gas or stack charges),
//! compiled by the same pinned wasmtime as Keel's JIT tier with `consume_fuel` on and the
//! default operator costs: one fuel per wasm operator, none for `nop`, `drop`, `block`, `loop`,
//! `end`, `else`, `return`, `unreachable`, and one per function entered. The Keel host functions are the VM's own (the
//! same in-memory state and commit per transaction as the Keel rows); each host call first
//! takes the fixed [`HOST_CALL_FUEL`], as CosmWasm and NEAR price host calls apart from wasm
//! operators. The per-transaction fuel is the row's gas, so the gas-accuracy comparison shows
//! how well "one unit per operator plus a flat host-call price" tracks time next to Keel's
//! schedule and the EVM's.

use crate::peers::{Measured, summarise};
use crate::vm_run::{Deployed, RunError};
use crate::workloads::Workload;
use keel_vm::engine::wasmtime_tier::{FuelMetering, WasmtimeEngine};
use keel_vm::{Vm, VmConfig};

/// Fuel taken before every host call, whatever it does: NEAR's base charge for a host call
/// (`wasm_base`, 264,768,111 gas) over its price of one wasm operator (`wasm_regular_op_cost`,
/// 822,756 gas), both from nearcore's `core/parameters/res/runtime_configs/parameters.yaml`,
/// is 321.8. Taken as is rather than tuned to this machine: the row measures how a flat
/// per-call price tracks time, not how well it could be fitted.
pub const HOST_CALL_FUEL: u64 = 320;

/// The report name of the baseline.
pub const SYSTEM: &str = "wasmtime-fuel";

/// An unmetered VM on the fuel-metered wasmtime engine: calls report fuel as compute gas.
pub fn vm() -> Result<Vm, RunError> {
    let engine = WasmtimeEngine::with_fuel(FuelMetering {
        host_call_fuel: HOST_CALL_FUEL,
    })?;
    let config = VmConfig {
        metering: false,
        ..VmConfig::default()
    };
    Ok(Vm::with_engine(config, Box::new(engine)))
}

/// `w`'s contract deployed on the baseline, its setup committed.
pub fn deploy(w: &'static Workload) -> Result<Deployed, RunError> {
    Deployed::on_vm(w, vm()?)
}

/// `w` on the baseline: warm-up, `txs` measured transactions, then the workload's invariant
/// (a wrong result fails the row). The gas of the report is fuel per transaction.
pub fn measure(w: &'static Workload, txs: u32, warmup: u32) -> Result<Measured, RunError> {
    let mut d = deploy(w)?;
    let mut outputs = Vec::with_capacity(warmup.saturating_add(txs) as usize);
    for i in 0..warmup {
        outputs.push(d.tx(i)?.output);
    }
    let mut micros = Vec::with_capacity(txs as usize);
    let mut fuel = 0f64;
    for i in warmup..warmup.saturating_add(txs) {
        let s = d.tx(i)?;
        micros.push(s.elapsed.as_secs_f64() * 1e6);
        fuel += s.gas.compute as f64;
        outputs.push(s.output);
    }
    d.check(&outputs)?;
    Ok(summarise(micros, fuel, txs))
}
