//! `keel.native_call`: contracts hand hot routines to the eBPF bridge.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::native::BridgeRoutines;
use keel_ebpf_bridge::{Engine, Registry};
use keel_vm::{CallRequest, GasVector, MemoryState, Trap, Vm, VmConfig};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Entry `hash`: sha256 of the input through routine `id` (first 4 input bytes), rest hashed.
/// Entry `write_then_call`: writes storage, then calls the routine (to show the revert).
const CALLER: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
  (import "keel" "native_call" (func $native (param i32 i32 i32 i32 i32) (result i32)))
  (memory 2 2)
  (func $run (param $out_len i32)
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (drop (call $native (i32.load (i32.const 0)) (i32.const 4) (i32.sub (call $size) (i32.const 4))
                        (i32.const 60000) (local.get $out_len)))
    (call $ret (i32.const 60000) (local.get $out_len)))
  (func (export "hash") (call $run (i32.const 32)))
  (func (export "hash_bad_out") (call $run (i32.const 31)))
  (func (export "hash_oob") (drop (call $native (i32.const 1) (i32.const 131000) (i32.const 100) (i32.const 0) (i32.const 32))))
  (func (export "write_then_call")
    (call $w (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
    (call $run (i32.const 32))))"#;

/// The contract tier `KEEL_VM_ENGINE` names (tiered when unset): CI runs these tests once more
/// per tier.
fn node_tier() -> keel_vm::engine::choice::EngineChoice {
    keel_vm::engine::choice::EngineChoice::from_env().unwrap()
}

fn vm(engine: Engine, fixtures: bool) -> Vm {
    let mut reg = Registry::builtin().unwrap();
    if fixtures {
        reg.register_fault_fixtures().unwrap();
    }
    let vm = Vm::with_choice(VmConfig::default(), node_tier(), None).unwrap();
    vm.set_native(Arc::new(BridgeRoutines::new(Arc::new(reg), engine)));
    vm
}

fn call(vm: &Vm, entry: &str, routine: u32, data: &[u8]) -> keel_vm::CallOutcome {
    let code = wat::parse_str(CALLER).unwrap();
    let mut input = routine.to_le_bytes().to_vec();
    input.extend_from_slice(data);
    let req = CallRequest {
        entry: entry.into(),
        input,
        limits: GasVector {
            compute: 50_000_000,
            storage_bytes: 1000,
            memory_pages: 4,
            bandwidth: 1 << 20,
        },
        ..CallRequest::default()
    };
    vm.call(&code, req, Box::new(MemoryState::default()))
        .unwrap()
}

#[test]
fn native_sha256_matches_the_reference_with_identical_gas_on_interpreter_and_jit() {
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 13) as u8).collect();
    let interp = call(
        &vm(Engine::Interpreter, false),
        "hash",
        keel_ebpf_bridge::SHA256,
        &data,
    );
    let jit = call(
        &vm(Engine::Jit, false),
        "hash",
        keel_ebpf_bridge::SHA256,
        &data,
    );
    assert_eq!(
        interp.result.clone().unwrap(),
        Sha256::digest(&data).to_vec()
    );
    assert_eq!(jit.result, interp.result);
    assert_eq!(jit.gas_used, interp.gas_used);
    // The routine's instructions are charged: at least its own gas, which dwarfs the
    // contract's few ops.
    let routine = Registry::builtin()
        .unwrap()
        .run(
            keel_ebpf_bridge::SHA256,
            &data,
            32,
            Engine::Interpreter,
            u64::MAX,
        )
        .unwrap();
    assert!(routine.gas > 10_000, "{routine:?}");
    assert!(
        interp.gas_used.compute >= routine.gas,
        "{:?} < {}",
        interp.gas_used,
        routine.gas
    );
}

#[test]
fn bad_native_calls_trap_without_panicking_and_revert_the_call() {
    let v = vm(Engine::Jit, true);
    let unknown = call(&v, "hash", 999, b"x");
    assert!(
        matches!(
            unknown.result,
            Err(Trap::Native {
                routine: 999,
                code: 1,
                ..
            })
        ),
        "{:?}",
        unknown.result
    );
    let wrong_out = call(&v, "hash_bad_out", keel_ebpf_bridge::SHA256, b"x");
    assert!(
        matches!(wrong_out.result, Err(Trap::Native { code: 5, .. })),
        "{:?}",
        wrong_out.result
    );
    let oob = call(&v, "hash_oob", 0, b"");
    assert!(
        matches!(oob.result, Err(Trap::HostOutOfBounds { .. })),
        "{:?}",
        oob.result
    );
    // A routine that never stops exhausts its budget: a trap, and the earlier write is gone.
    let spin = call(&v, "write_then_call", keel_ebpf_bridge::FAULT_SPIN, &[0; 8]);
    assert!(
        matches!(spin.result, Err(Trap::Native { .. }) | Err(Trap::OutOfGas)),
        "{:?}",
        spin.result
    );
    assert!(spin.writes.is_empty());
    let fault = call(&v, "write_then_call", keel_ebpf_bridge::FAULT_OOB, &[0; 8]);
    assert!(
        matches!(fault.result, Err(Trap::Native { .. })),
        "{:?}",
        fault.result
    );
    assert!(fault.writes.is_empty());
    // The same failures give the same gas on the interpreter.
    let spin_interp = call(
        &vm(Engine::Interpreter, true),
        "write_then_call",
        keel_ebpf_bridge::FAULT_SPIN,
        &[0; 8],
    );
    assert_eq!(spin_interp.gas_used, spin.gas_used);
}

#[test]
fn a_routine_missing_from_the_registry_traps_as_unknown() {
    let v = Vm::with_choice(VmConfig::default(), node_tier(), None).unwrap();
    v.set_native(Arc::new(BridgeRoutines::new(
        Arc::new(Registry::new()),
        Engine::Jit,
    )));
    let out = call(&v, "hash", keel_ebpf_bridge::SHA256, b"abc");
    assert!(
        matches!(out.result, Err(Trap::Native { code: 1, .. })),
        "{:?}",
        out.result
    );
}
