//! The fuel-metered wasmtime engine (the wasm-chains benchmark baseline): an unmetered VM on it
//! reports wasmtime's fuel as compute gas (one unit per operator and per function entered,
//! plus the fixed host-call charge), runs out of fuel as `OutOfGas`, and computes what Keel's
//! metered tiers compute.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::engine::wasmtime_tier::{FuelMetering, WasmtimeEngine};
use keel_vm::{CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Trap, Vm, VmConfig};

fn fuel_vm(host_call_fuel: u64) -> Vm {
    let engine = WasmtimeEngine::with_fuel(FuelMetering { host_call_fuel }).unwrap();
    let config = VmConfig {
        metering: false,
        ..VmConfig::default()
    };
    Vm::with_engine(config, Box::new(engine))
}

fn call(vm: &Vm, code: &[u8], entry: &str, input: &[u8], compute: u64) -> CallOutcome {
    let req = CallRequest {
        entry: entry.into(),
        input: input.to_vec(),
        context: CallContext {
            caller: [7; 32],
            self_address: [9; 32],
            block_height: 10,
            block_timestamp: 1_700_000_000,
        },
        limits: GasVector {
            compute,
            storage_bytes: 1 << 20,
            memory_pages: 64,
            bandwidth: 1 << 20,
        },
    };
    vm.call(code, req, Box::new(MemoryState::default()))
        .unwrap()
}

/// Two host calls (each result dropped) and `loops` iterations of a five-operator loop body
/// (`local.get`, `i32.const`, `i32.sub`, `local.tee`, `br_if`; `loop` and `end` are free).
fn module(loops: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (import "keel" "input_size" (func $size (result i32)))
            (memory 1)
            (func (export "run") (local i32)
                call $size
                drop
                call $size
                drop
                i32.const {loops}
                local.set 0
                (loop $l
                    local.get 0
                    i32.const 1
                    i32.sub
                    local.tee 0
                    br_if $l)))"#
    ))
    .unwrap()
}

/// Operators wasmtime charges 1 fuel each (2 calls, `i32.const`, `local.set`, 5 per
/// iteration; `drop` is free), 1 for entering the function, and the two host-call charges.
fn expected_fuel(loops: u64, host_call_fuel: u64) -> u64 {
    1 + 2 + 2 + 5 * loops + 2 * host_call_fuel
}

#[test]
fn fuel_is_one_per_operator_plus_the_host_call_charge() {
    for (loops, charge) in [(1, 0), (1, 320), (10, 320), (100, 7)] {
        let out = call(&fuel_vm(charge), &module(loops), "run", &[], 1_000_000);
        assert_eq!(out.result, Ok(Vec::new()));
        assert_eq!(
            out.gas_used.compute,
            expected_fuel(u64::from(loops), charge),
            "{loops} loops, {charge} fuel per host call"
        );
    }
}

#[test]
fn running_out_of_fuel_is_out_of_gas() {
    let code = module(1_000);
    let schedule = keel_vm::GasSchedule::v1();
    // The VM takes its up-front charge from the compute limit; the rest is the fuel.
    let upfront = schedule.call_base + schedule.code_cost(code.len());
    let vm = fuel_vm(320);
    let needed = expected_fuel(1_000, 320);
    let out = call(&vm, &code, "run", &[], upfront + needed);
    assert_eq!((out.result, out.gas_used.compute), (Ok(Vec::new()), needed));
    // Fuel is checked at loop headers: half the loop's fuel stops it.
    let out = call(&vm, &code, "run", &[], upfront + needed / 2);
    assert_eq!(out.result, Err(Trap::OutOfGas));
    // The host-call charge alone exhausts a budget smaller than it.
    let out = call(&vm, &code, "run", &[], upfront + 100);
    assert_eq!(out.result, Err(Trap::OutOfGas));
}

#[test]
fn the_fuel_engine_computes_what_the_metered_tier_computes() {
    let code = keel_contracts::COUNTER.wasm;
    let fuel = fuel_vm(320);
    let keel = Vm::new(VmConfig::default()).unwrap();
    let a = call(&fuel, code, "increment", &[], 50_000_000);
    let b = call(&keel, code, "increment", &[], 50_000_000);
    assert_eq!(a.result, b.result);
    assert_eq!(a.writes, b.writes);
    assert!(a.gas_used.compute > 0 && b.gas_used.compute > 0);
    assert_eq!(fuel.engine_name(), "wasmtime-fuel");
}
