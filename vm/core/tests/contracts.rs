//! The example and benchmark contracts run on the VM and match their Rust references.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_contracts::reference;
use keel_vm::{CallContext, CallRequest, GasVector, MemoryState, Trap, Vm, VmConfig};

fn limits() -> GasVector {
    GasVector {
        compute: 5_000_000_000,
        storage_bytes: 1 << 20,
        memory_pages: 64,
        bandwidth: 1 << 20,
    }
}

fn call(
    vm: &Vm,
    code: &[u8],
    entry: &str,
    input: Vec<u8>,
    state: MemoryState,
) -> (Result<Vec<u8>, Trap>, GasVector, MemoryState) {
    let ctx = CallContext {
        caller: [7; 32],
        self_address: [9; 32],
        block_height: 10,
        block_timestamp: 1_700_000_000,
    };
    let req = CallRequest {
        entry: entry.into(),
        input,
        context: ctx.clone(),
        limits: limits(),
    };
    let out = vm
        .call(code, req, Box::new(state.clone()))
        .expect("admitted");
    let mut state = state;
    state.apply(&ctx.self_address, &out.writes);
    (out.result, out.gas_used, state)
}

#[test]
fn counter_increments_persist_through_the_write_set() {
    let vm = Vm::new(VmConfig::default()).unwrap();
    let code = keel_contracts::COUNTER.wasm;
    let (r, gas, s) = call(&vm, code, "increment", vec![], MemoryState::default());
    assert_eq!(r.unwrap(), 1u64.to_le_bytes());
    assert!(gas.compute > 0 && gas.storage_bytes > 0);
    let (r, _, s) = call(&vm, code, "increment", vec![], s);
    assert_eq!(r.unwrap(), 2u64.to_le_bytes());
    let (r, _, _) = call(&vm, code, "get", vec![], s);
    assert_eq!(r.unwrap(), 2u64.to_le_bytes());
}

#[test]
fn benchmark_kernels_compute_what_their_references_compute() {
    let vm = Vm::new(VmConfig::default()).unwrap();
    let (r, _, _) = call(
        &vm,
        keel_contracts::FIB.wasm,
        "fib",
        50u32.to_le_bytes().to_vec(),
        MemoryState::default(),
    );
    assert_eq!(r.unwrap(), reference::expected_fib(50).to_le_bytes());
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let (r, _, _) = call(
        &vm,
        keel_contracts::SHA256.wasm,
        "sha256",
        data.clone(),
        MemoryState::default(),
    );
    assert_eq!(r.unwrap(), reference::expected_sha256(&data));
    let (r, _, _) = call(
        &vm,
        keel_contracts::COREMARK.wasm,
        "coremark",
        5u32.to_le_bytes().to_vec(),
        MemoryState::default(),
    );
    assert_eq!(r.unwrap(), reference::expected_coremark(5).to_le_bytes());
}
