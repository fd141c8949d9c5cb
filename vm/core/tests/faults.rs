//! Fault detection: one attack entry per fault kind, each located exactly in the input module;
//! capability checks at admission and at run time.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::{
    AdmissionError, CallRequest, Capability, FaultKind, GasVector, HandleFault, MemoryState, Trap,
    Vm, VmConfig, VmError,
};
use wasmparser::{Operator, Parser, Payload};

/// Manifest: storage, and calls to contract 0xab.. only.
const FAULTY: &str = r#"(module
  (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))
  (import "keel" "handle_for_contract" (func $handle (param i32) (result i32)))
  (import "keel" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (@custom "keel.manifest" "\01\01\05\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab")
  (memory 1 1)
  (data (i32.const 0) "\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab\ab")
  (data (i32.const 32) "\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd\cd")
  (data (i32.const 64) "\01")
  (func $rec (call $rec))
  (func (export "oog") (loop $l (br $l)))
  (func (export "overflow") (call $rec))
  (func (export "oob") (call $w (i32.const 70000) (i32.const 4) (i32.const 0) (i32.const 1)))
  (func (export "abort") (call $abort (i32.const 0) (i32.const 4)))
  (func (export "cap") (drop (call $handle (i32.const 32))))
  (func (export "handle")
    (drop (call $call (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                      (i32.const 200) (i32.const 300) (i32.const 0) (i32.const 0))))
  (func (export "value")
    (drop (call $call (call $handle (i32.const 0)) (i32.const 0) (i32.const 0) (i32.const 0)
                      (i32.const 0) (i32.const 64) (i32.const 300) (i32.const 0) (i32.const 0))))
  (func (export "no_chain")
    (drop (call $call (call $handle (i32.const 0)) (i32.const 0) (i32.const 0) (i32.const 0)
                      (i32.const 0) (i32.const 200) (i32.const 300) (i32.const 0) (i32.const 0)))))"#;

const FUNC_REC: u32 = 4; // 4 imports, then $rec
const SELF: [u8; 32] = [0x11; 32];

fn run(entry: &str) -> keel_vm::CallOutcome {
    let vm = Vm::new(VmConfig::default()).unwrap();
    let code = wat::parse_str(FAULTY).unwrap();
    let req = CallRequest {
        entry: entry.into(),
        limits: GasVector {
            compute: 2_000_000,
            storage_bytes: 1000,
            memory_pages: 4,
            bandwidth: 10_000,
        },
        context: keel_vm::CallContext {
            self_address: SELF,
            ..Default::default()
        },
        ..CallRequest::default()
    };
    vm.call(&code, req, Box::new(MemoryState::default()))
        .unwrap()
}

/// Offsets of the operators of defined function `index` (imports first), in module bytes.
fn ops_of(func: u32) -> Vec<(Operator<'static>, u32)> {
    let code: &'static [u8] = Box::leak(wat::parse_str(FAULTY).unwrap().into_boxed_slice());
    let mut body = 4;
    for p in Parser::new(0).parse_all(code) {
        if let Payload::CodeSectionEntry(b) = p.unwrap() {
            if body == func {
                let mut r = b.get_operators_reader().unwrap();
                let mut out = Vec::new();
                while !r.eof() {
                    let (op, off) = r.read_with_offset().unwrap();
                    out.push((op, off as u32));
                }
                return out;
            }
            body += 1;
        }
    }
    panic!("no function {func}")
}

/// Expects one fault of `kind` in defined function `func` at the first operator matching `at`.
fn check(entry: &str, func: u32, kind: FaultKind, at: impl Fn(&Operator<'_>) -> bool) -> Trap {
    let out = run(entry);
    let trap = out.result.clone().unwrap_err();
    assert_eq!(out.faults.len(), 1, "{:?}", out.faults);
    let f = &out.faults[0];
    assert_eq!(
        (f.kind, f.contract, f.entry.as_str(), f.depth),
        (kind, SELF, entry, 0)
    );
    let expected = ops_of(func).into_iter().find(|(op, _)| at(op)).unwrap().1;
    let loc = f.location.expect("located");
    assert_eq!((loc.func, loc.offset), (func, expected), "{entry}");
    trap
}

fn is_host_call(op: &Operator<'_>) -> bool {
    matches!(op, Operator::Call { function_index } if *function_index < 4)
}

#[test]
fn out_of_gas_points_at_the_metering_block_that_could_not_be_paid() {
    let t = check("oog", 5, FaultKind::OutOfGas, |op| {
        matches!(op, Operator::Br { .. })
    });
    assert_eq!(t, Trap::OutOfGas);
}

#[test]
fn stack_overflow_points_at_the_call_that_did_not_fit() {
    let t = check("overflow", FUNC_REC, FaultKind::StackOverflow, |op| {
        matches!(op, Operator::Call { .. })
    });
    assert_eq!(t, Trap::StackOverflow);
}

#[test]
fn an_out_of_bounds_host_pointer_points_at_the_host_call() {
    let t = check("oob", 7, FaultKind::HostOutOfBounds, is_host_call);
    assert!(matches!(t, Trap::HostOutOfBounds { ptr: 70000, .. }));
}

#[test]
fn an_explicit_abort_points_at_the_abort_call() {
    let t = check("abort", 8, FaultKind::Abort, is_host_call);
    assert!(matches!(t, Trap::Abort { .. }));
}

#[test]
fn a_handle_for_a_contract_outside_the_manifest_is_a_capability_violation() {
    let t = check("cap", 9, FaultKind::CapabilityViolation, is_host_call);
    assert!(matches!(
        t,
        Trap::Capability {
            capability: Capability::Calls,
            ..
        }
    ));
}

#[test]
fn a_forged_handle_index_is_a_handle_fault() {
    let t = check("handle", 10, FaultKind::HandleMisuse, is_host_call);
    assert_eq!(
        t,
        Trap::Handle {
            handle: 5,
            fault: HandleFault::Invalid
        }
    );
}

#[test]
fn sending_value_without_the_value_capability_traps() {
    let out = run("value");
    assert!(matches!(
        out.result,
        Err(Trap::Capability {
            capability: Capability::Value,
            ..
        })
    ));
}

#[test]
fn calls_without_a_chain_are_a_capability_violation_not_a_panic() {
    let out = run("no_chain");
    assert!(matches!(
        out.result,
        Err(Trap::Capability {
            capability: Capability::Calls,
            ..
        })
    ));
}

fn admit(wat: &str) -> Result<(), AdmissionError> {
    let vm = Vm::new(VmConfig::default()).unwrap();
    match vm.prepare(&wat::parse_str(wat).unwrap()) {
        Ok(_) => Ok(()),
        Err(VmError::Admission(e)) => Err(e),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn admission_rejects_imports_the_manifest_does_not_cover() {
    let storage_without_cap = r#"(module
      (import "keel" "storage_write" (func (param i32 i32 i32 i32)))
      (@custom "keel.manifest" "\01\02"))"#;
    assert_eq!(
        admit(storage_without_cap),
        Err(AdmissionError::CapabilityMissing {
            import: "storage_write".into(),
            capability: Capability::Storage
        })
    );
    let call_without_manifest = r#"(module
      (import "keel" "handle_for_contract" (func (param i32) (result i32))))"#;
    assert!(matches!(
        admit(call_without_manifest),
        Err(AdmissionError::CapabilityMissing {
            capability: Capability::Calls,
            ..
        })
    ));
    let native_not_listed = r#"(module
      (import "keel" "native_call" (func (param i32 i32 i32 i32 i32) (result i32)))
      (@custom "keel.manifest" "\01\01"))"#;
    assert!(admit(native_not_listed).is_err());
    let bad_manifest = r#"(module (@custom "keel.manifest" "\01\ee"))"#;
    assert!(matches!(
        admit(bad_manifest),
        Err(AdmissionError::Manifest(_))
    ));
    let two = r#"(module (@custom "keel.manifest" "\01") (@custom "keel.manifest" "\01"))"#;
    assert!(matches!(admit(two), Err(AdmissionError::Manifest(_))));
}

#[test]
fn modules_without_a_manifest_keep_the_documented_default() {
    let legacy = r#"(module
      (import "keel" "storage_write" (func (param i32 i32 i32 i32)))
      (import "keel" "emit_event" (func (param i32 i32 i32 i32)))
      (import "keel" "native_call" (func (param i32 i32 i32 i32 i32) (result i32)))
      (import "keel" "bls_verify" (func (param i32 i32 i32 i32) (result i32))))"#;
    assert_eq!(admit(legacy), Ok(()));
    for c in keel_contracts::all() {
        Vm::new(VmConfig::default())
            .unwrap()
            .prepare(c.wasm)
            .unwrap();
    }
}
