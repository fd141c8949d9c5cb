//! Host imports with the gas threaded through their signatures (`metering/gas_threading.rs`)
//! behave exactly like the gas-global protocol: the same module, once with every host import
//! only called directly (threaded) and once with every import also exported (which keeps the
//! global protocol), gives the same outcome on both tiers at every compute limit, including
//! limits that run out inside a host function, host faults and their sites.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::engine::choice::EngineChoice;
use keel_vm::{CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Vm, VmConfig};

/// `{X0}`..`{X3}` are each either the dummy function (index 4) or the import of the same
/// index: one byte either way, so code offsets (and fault sites) are identical in both forms.
const TEMPLATE: &str = r#"(module
  (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
  (import "keel" "gas_left" (func $gas (result i64)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "storage_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (func $dummy)
  (export "x0" (func {X0}))
  (export "x1" (func {X1}))
  (export "x2" (func {X2}))
  (export "x3" (func {X3}))
  ;; Writes n keys with growing values, reads one back, returns [gas_left, read length].
  (func (export "work") (local $i i32)
    (loop $l
      (i32.store8 (i32.const 0) (local.get $i))
      (call $w (i32.const 0) (i32.const 1) (i32.const 100) (i32.mul (local.get $i) (i32.const 40)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 12))))
    (i32.store (i32.const 1008)
      (call $r (i32.const 0) (i32.const 1) (i32.const 2000) (i32.const 600)))
    (i64.store (i32.const 1000) (call $gas))
    (call $ret (i32.const 1000) (i32.const 12)))
  ;; A host fault after some gas was spent: the value pointer is out of bounds.
  (func (export "fault")
    (call $w (i32.const 0) (i32.const 1) (i32.const 100) (i32.const 8))
    (call $w (i32.const 0) (i32.const 1) (i32.const 70000) (i32.const 8))))"#;

fn module(threaded: bool) -> Vec<u8> {
    let mut wat = TEMPLATE.to_string();
    for i in 0..4 {
        let target = if threaded {
            "4".to_string()
        } else {
            i.to_string()
        };
        wat = wat.replace(&format!("{{X{i}}}"), &target);
    }
    wat::parse_str(wat).unwrap()
}

/// The import modules of the instrumented form of `code`.
fn instrumented_import_modules(code: &[u8]) -> Vec<String> {
    let profile = keel_vm::Profile::V1;
    let admitted = keel_vm::admit(code, &profile).unwrap();
    let inst =
        keel_vm::metering::instrument(&admitted, &keel_vm::GasSchedule::v1(), &profile).unwrap();
    let mut out = Vec::new();
    for p in wasmparser::Parser::new(0).parse_all(&inst.bytes) {
        if let wasmparser::Payload::ImportSection(r) = p.unwrap() {
            for imp in r.into_imports() {
                out.push(imp.unwrap().module.to_string());
            }
        }
    }
    out
}

fn call(vm: &Vm, code: &[u8], entry: &str, compute: u64) -> CallOutcome {
    let req = CallRequest {
        entry: entry.into(),
        input: Vec::new(),
        context: CallContext {
            caller: [7; 32],
            self_address: [9; 32],
            block_height: 10,
            block_timestamp: 1_700_000_000,
        },
        limits: GasVector {
            compute,
            storage_bytes: 100_000,
            memory_pages: 4,
            bandwidth: 100_000,
        },
    };
    vm.call(code, req, Box::new(MemoryState::default()))
        .unwrap()
}

fn summary(out: &CallOutcome) -> String {
    let faults: Vec<String> = out
        .faults
        .iter()
        .map(|f| format!("{:?} {:?} {:?}", f.kind, f.trap, f.location))
        .collect();
    format!(
        "{:?} gas={:?} writes={:?} faults={faults:?}",
        out.result, out.gas_used, out.writes
    )
}

#[test]
fn directly_called_imports_are_threaded_and_others_are_not() {
    let threaded = instrumented_import_modules(&module(true));
    let global = instrumented_import_modules(&module(false));
    assert_eq!(&threaded[..4], ["keel$gas"; 4]);
    assert_eq!(&global[..4], ["keel"; 4]);
    assert_eq!(&threaded[4..], &global[4..], "the helpers are unchanged");
}

#[test]
fn threaded_and_global_protocols_agree_at_every_limit_on_both_tiers() {
    let (threaded, global) = (module(true), module(false));
    for choice in [EngineChoice::Wasmi, EngineChoice::Wasmtime] {
        let vm = Vm::with_choice(VmConfig::default(), choice, None).unwrap();
        let full = call(&vm, &threaded, "work", 10_000_000);
        assert!(full.result.is_ok(), "{choice:?}: {}", summary(&full));
        let needed = full.gas_used.compute;
        assert!(needed > 1000, "the workload charges host gas");
        // Every limit up to completion: out of gas in code and inside each host function.
        let step = (needed / 400).max(1);
        let mut limit = 0;
        while limit <= needed.saturating_add(step) {
            for entry in ["work", "fault"] {
                let a = call(&vm, &threaded, entry, limit);
                let b = call(&vm, &global, entry, limit);
                assert_eq!(
                    summary(&a),
                    summary(&b),
                    "{choice:?} {entry} at compute limit {limit}"
                );
            }
            limit = limit.saturating_add(step);
        }
        let fault = call(&vm, &threaded, "fault", 10_000_000);
        assert!(
            fault.result.is_err() && !fault.faults.is_empty(),
            "{choice:?}: the host fault is reported: {}",
            summary(&fault)
        );
    }
}
