//! Kill switches: a killed opcode class or host function is refused at deployment, and code
//! already deployed traps with `Killed` exactly when it reaches the item — at its offset, with
//! the same gas on every run — and runs unchanged otherwise.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::{
    AdmissionError, CallRequest, FaultKind, GasVector, HostFn, KillSet, Killed, MemoryState,
    OpcodeClass, Trap, Vm, VmConfig, VmError,
};
use wasmparser::{Operator, Parser, Payload};

const CODE: &str = r#"(module
  (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "divide")
    (global.set $g (i32.div_u (i32.const 100) (i32.const 7)))
    (i32.store (i32.const 0) (global.get $g))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "add")
    (i32.store (i32.const 0) (i32.add (i32.const 100) (i32.const 7)))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "divide_later")
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))
    (drop (i32.rem_u (local.get $i) (i32.const 3))))
  (func (export "write")
    (call $w (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))))"#;

fn request(entry: &str) -> CallRequest {
    CallRequest {
        entry: entry.into(),
        limits: GasVector {
            compute: 1_000_000,
            storage_bytes: 1000,
            memory_pages: 4,
            bandwidth: 10_000,
        },
        ..CallRequest::default()
    }
}

fn call(vm: &Vm, entry: &str) -> keel_vm::CallOutcome {
    let code = wat::parse_str(CODE).unwrap();
    vm.call(&code, request(entry), Box::new(MemoryState::default()))
        .unwrap()
}

fn kill(items: &[Killed]) -> KillSet {
    let mut k = KillSet::default();
    for i in items {
        k.insert(*i);
    }
    k
}

/// Byte offset of the first operator matching `pred` in the module.
fn offset_of(pred: impl Fn(&Operator<'_>) -> bool) -> u32 {
    let code = wat::parse_str(CODE).unwrap();
    for p in Parser::new(0).parse_all(&code) {
        if let Payload::CodeSectionEntry(b) = p.unwrap() {
            let mut r = b.get_operators_reader().unwrap();
            while !r.eof() {
                let (op, off) = r.read_with_offset().unwrap();
                if pred(&op) {
                    return off as u32;
                }
            }
        }
    }
    panic!("no such operator")
}

#[test]
fn killed_division_traps_where_reached_and_nowhere_else() {
    let vm = Vm::new(VmConfig::default()).unwrap();
    let before = call(&vm, "divide");
    assert_eq!(before.result.unwrap(), 14u32.to_le_bytes());
    let before_later = call(&vm, "divide_later");
    assert!(before_later.result.is_ok());

    vm.set_kills(kill(&[Killed::Opcode(OpcodeClass::Division)]));
    let out = call(&vm, "divide");
    assert_eq!(
        out.result.unwrap_err(),
        Trap::Killed {
            item: "opcode class division".into()
        }
    );
    let fault = out.faults.last().unwrap();
    assert_eq!(fault.kind, FaultKind::Killed);
    let div = offset_of(|op| matches!(op, Operator::I32DivU));
    assert_eq!(fault.location.unwrap().offset, div);
    // Code that does not reach the killed opcode runs exactly as before, same gas.
    let add = call(&vm, "add");
    assert_eq!(add.result.unwrap(), 107u32.to_le_bytes());
    // The loop runs to completion (gas is charged as before) and traps at the remainder.
    let later = call(&vm, "divide_later");
    assert!(matches!(later.result, Err(Trap::Killed { .. })));
    assert_eq!(
        later.faults.last().unwrap().location.unwrap().offset,
        offset_of(|op| matches!(op, Operator::I32RemU))
    );
    assert!(later.gas_used.compute <= before_later.gas_used.compute);
    assert!(later.gas_used.compute > before_later.gas_used.compute / 2);

    // Determinism: the same trap, location and gas on a second VM.
    let vm2 = Vm::new(VmConfig::default()).unwrap();
    vm2.set_kills(kill(&[Killed::Opcode(OpcodeClass::Division)]));
    let again = call(&vm2, "divide_later");
    assert_eq!(again.gas_used, later.gas_used);
    assert_eq!(again.faults, later.faults);

    // Lifting the kill restores the original behaviour (a different cache entry).
    vm.set_kills(KillSet::default());
    let after = call(&vm, "divide");
    assert_eq!(after.result.unwrap(), 14u32.to_le_bytes());
    assert_eq!(after.gas_used, before.gas_used);
}

#[test]
fn killed_host_function_traps_at_its_call_site() {
    let vm = Vm::new(VmConfig::default()).unwrap();
    vm.set_kills(kill(&[Killed::HostFn(HostFn::StorageWrite)]));
    let out = call(&vm, "write");
    assert_eq!(
        out.result.unwrap_err(),
        Trap::Killed {
            item: "host function keel.storage_write".into()
        }
    );
    assert_eq!(
        out.faults.last().unwrap().location.unwrap().offset,
        offset_of(|op| matches!(op, Operator::Call { function_index: 0 }))
    );
    assert!(out.writes.is_empty());
    // Entries that only use other host functions still work.
    assert_eq!(call(&vm, "add").result.unwrap(), 107u32.to_le_bytes());
}

#[test]
fn deployment_refuses_modules_that_use_a_killed_item() {
    let code = wat::parse_str(CODE).unwrap();
    let vm = Vm::new(VmConfig::default()).unwrap();
    assert!(vm.prepare_for_deploy(&code).is_ok());

    vm.set_kills(kill(&[Killed::Opcode(OpcodeClass::Division)]));
    match vm.prepare_for_deploy(&code) {
        Err(VmError::Admission(AdmissionError::Killed { item, offset })) => {
            assert_eq!(item, "opcode class division");
            assert_eq!(
                offset,
                Some(offset_of(|op| matches!(op, Operator::I32DivU)) as usize)
            );
        }
        other => panic!("expected a kill refusal, got {:?}", other.map(|_| ())),
    }

    vm.set_kills(kill(&[Killed::HostFn(HostFn::StorageWrite)]));
    match vm.prepare_for_deploy(&code) {
        Err(VmError::Admission(AdmissionError::Killed { item, offset })) => {
            assert_eq!(item, "host function keel.storage_write");
            assert_eq!(offset, None);
        }
        other => panic!("expected a kill refusal, got {:?}", other.map(|_| ())),
    }

    // An unrelated kill leaves the module deployable.
    vm.set_kills(kill(&[Killed::Opcode(OpcodeClass::MemoryGrow)]));
    assert!(vm.prepare_for_deploy(&code).is_ok());
}
