//! One test per admission rule of the deterministic profile.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::{AdmissionError, Profile, admit};

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test WAT parses")
}

fn verdict(text: &str) -> Result<keel_vm::AdmittedModule, AdmissionError> {
    admit(&wasm(text), &Profile::V1)
}

fn rejected(text: &str) -> AdmissionError {
    verdict(text).expect_err("module must be rejected")
}

fn limit_name(e: &AdmissionError) -> &'static str {
    match e {
        AdmissionError::LimitExceeded { what, .. } => what,
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn an_integer_only_module_with_keel_imports_is_admitted() {
    let m = verdict(
        r#"(module
            (import "keel" "input_size" (func (result i32)))
            (memory 1 2)
            (func (export "run") (drop (call 0))))"#,
    )
    .unwrap();
    assert_eq!(m.imports.len(), 1);
    assert_eq!(m.exports[0].name, "run");
}

#[test]
fn float_instructions_are_rejected_with_function_and_offset() {
    let e = rejected(
        r#"(module
            (func (nop))
            (func (drop (i32.trunc_f32_s (f32.const 1.5)))))"#,
    );
    match e {
        AdmissionError::FloatInstruction { func, offset, op } => {
            assert_eq!(func, 1);
            assert!(offset > 0);
            assert_eq!(op, "F32Const");
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn float_types_in_signatures_locals_globals_and_blocks_are_rejected() {
    for text in [
        "(module (func (param f32)))",
        "(module (func (result f64) (unreachable)))",
        "(module (func (local f64)))",
        "(module (global f32 (f32.const 0)))",
        "(module (func (block (result f32) (unreachable))))",
    ] {
        assert!(
            matches!(
                rejected(text),
                AdmissionError::FloatType { .. } | AdmissionError::FloatInstruction { .. }
            ),
            "{text} must be rejected as a float"
        );
    }
}

#[test]
fn simd_is_rejected() {
    let e = rejected("(module (func (drop (v128.const i64x2 0 0))))");
    assert!(
        matches!(
            e,
            AdmissionError::Invalid { .. } | AdmissionError::Unsupported(_)
        ),
        "{e}"
    );
}

#[test]
fn threads_and_atomics_are_rejected() {
    let e = rejected("(module (memory 1 1 shared))");
    assert!(
        matches!(
            e,
            AdmissionError::Unsupported(_) | AdmissionError::Invalid { .. }
        ),
        "{e}"
    );
    let e = rejected("(module (memory 1 1) (func (drop (i32.atomic.load (i32.const 0)))))");
    assert!(matches!(e, AdmissionError::Invalid { .. }), "{e}");
}

#[test]
fn memory64_is_rejected() {
    let e = rejected("(module (memory i64 1))");
    assert!(
        matches!(
            e,
            AdmissionError::Unsupported(_) | AdmissionError::Invalid { .. }
        ),
        "{e}"
    );
}

#[test]
fn multiple_memories_are_rejected() {
    let e = rejected("(module (memory 1) (memory 1))");
    assert!(matches!(e, AdmissionError::Invalid { .. }), "{e}");
}

#[test]
fn bulk_memory_and_reference_types_are_rejected() {
    let e = rejected(
        "(module (memory 1) (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))))",
    );
    assert!(matches!(e, AdmissionError::Invalid { .. }), "{e}");
    let e = rejected("(module (func (drop (ref.null func))))");
    assert!(matches!(e, AdmissionError::Invalid { .. }), "{e}");
}

#[test]
fn unknown_imports_are_rejected() {
    let e = rejected(r#"(module (import "env" "clock" (func (result i64))))"#);
    assert!(matches!(e, AdmissionError::UnknownImport { .. }), "{e}");
    let e = rejected(r#"(module (import "keel" "no_such_function" (func)))"#);
    assert!(matches!(e, AdmissionError::UnknownImport { .. }), "{e}");
    // The metering helpers are the instrumentation's, not the contract's.
    let e = rejected(r#"(module (import "keel_meter" "out_of_gas" (func)))"#);
    assert!(matches!(e, AdmissionError::UnknownImport { .. }), "{e}");
}

#[test]
fn imports_with_the_wrong_signature_are_rejected() {
    let e = rejected(r#"(module (import "keel" "input_size" (func (result i64))))"#);
    match e {
        AdmissionError::ImportSignature {
            expected, found, ..
        } => {
            assert_eq!(expected, "() -> (i32)");
            assert_eq!(found, "() -> (i64)");
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn non_function_imports_are_rejected() {
    let e = rejected(r#"(module (import "keel" "memory" (memory 1)))"#);
    assert!(
        matches!(e, AdmissionError::ImportKind { kind: "memory", .. }),
        "{e}"
    );
    let e = rejected(r#"(module (import "keel" "g" (global i32)))"#);
    assert!(
        matches!(e, AdmissionError::ImportKind { kind: "global", .. }),
        "{e}"
    );
}

#[test]
fn reserved_export_names_are_rejected() {
    let e = rejected(r#"(module (func (export "keel$gas")))"#);
    assert!(matches!(e, AdmissionError::ReservedExport(_)), "{e}");
}

#[test]
fn start_functions_are_rejected() {
    let e = rejected("(module (func $s) (start $s))");
    assert_eq!(e, AdmissionError::StartFunction);
}

fn repeat(item: &str, n: usize) -> String {
    item.repeat(n)
}

#[test]
fn every_size_limit_of_the_profile_is_enforced_and_named() {
    let p = Profile::V1;
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "(module {})",
                repeat("(func)", p.max_functions as usize + 1)
            ),
            "functions",
        ),
        (
            format!(
                "(module (func {}))",
                repeat("(local i32)", p.max_locals_per_function as usize + 1)
            ),
            "locals in one function",
        ),
        (
            format!("(module (table {} funcref))", p.max_table_elements + 1),
            "table elements",
        ),
        (
            format!("(module (memory {}))", p.max_initial_memory_pages + 1),
            "initial memory pages",
        ),
        (
            format!("(module (memory 1 {}))", p.max_memory_pages + 1),
            "maximum memory pages",
        ),
        (
            format!(
                "(module (memory 1) {})",
                repeat(
                    "(data (i32.const 0) \"x\")",
                    p.max_data_segments as usize + 1
                )
            ),
            "data segments",
        ),
        (
            format!(
                "(module {})",
                repeat(
                    "(import \"keel\" \"input_size\" (func (result i32)))",
                    p.max_imports as usize + 1
                )
            ),
            "imports",
        ),
        (
            format!(
                "(module (func $f) {})",
                (0..=p.max_exports)
                    .map(|i| format!("(export \"e{i}\" (func $f))"))
                    .collect::<String>()
            ),
            "exports",
        ),
        (
            format!(
                "(module {})",
                repeat("(global i32 (i32.const 0))", p.max_globals as usize + 1)
            ),
            "globals",
        ),
        (
            format!(
                "(module {})",
                (0..=p.max_types)
                    .map(|i| format!(
                        "(type (func (param {})))",
                        repeat("i32 ", i as usize % 7 + 1)
                    ))
                    .collect::<String>()
            ),
            "types",
        ),
    ];
    for (text, what) in cases {
        let e = rejected(&text);
        assert_eq!(limit_name(&e), what, "{e}");
    }
}

#[test]
fn code_size_and_body_size_limits_are_enforced() {
    let small = Profile {
        max_code_bytes: 40,
        ..Profile::V1
    };
    let bytes = wasm("(module (func (nop) (nop) (nop)) (func (nop)) (func (nop)) (func (nop)))");
    assert!(bytes.len() > 40);
    let e = admit(&bytes, &small).unwrap_err();
    assert_eq!(limit_name(&e), "module size in bytes");
    let tiny_body = Profile {
        max_function_body_bytes: 4,
        ..Profile::V1
    };
    let e = admit(
        &wasm("(module (func (nop) (nop) (nop) (nop) (nop)))"),
        &tiny_body,
    )
    .unwrap_err();
    assert_eq!(limit_name(&e), "function body bytes");
}

#[test]
fn garbage_is_rejected_without_panicking() {
    for bytes in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0\x01",
        b"not wasm at all",
    ] {
        assert!(admit(bytes, &Profile::V1).is_err());
    }
}

#[test]
fn admission_records_frame_sizes_from_the_operand_stack() {
    let m = verdict(
        "(module (func (param i32) (local i64 i64)
            (drop (i32.add (i32.const 1) (i32.add (i32.const 2) (i32.const 3))))))",
    )
    .unwrap();
    let f = &m.functions[0];
    assert_eq!(f.locals, 3);
    assert_eq!(f.max_operand_height, 3);
    assert_eq!(
        f.frame_slots(),
        3 + 3 + keel_vm::admission::FRAME_OVERHEAD_SLOTS
    );
}

#[test]
fn the_vm_admits_under_the_profile_set_for_the_block_and_caches_per_profile_version() {
    let vm = keel_vm::Vm::new(keel_vm::VmConfig::default()).unwrap();
    let bytes = wasm("(module (func (nop) (nop) (nop)) (func (nop)) (func (nop)) (func (nop)))");
    assert!(vm.prepare(&bytes).is_ok());
    // A (hypothetical) stricter profile version: the same bytes, cached under v1, are refused.
    vm.set_profile(Profile {
        version: 99,
        max_code_bytes: 40,
        ..Profile::V1
    });
    assert_eq!(vm.profile().version, 99);
    match vm.prepare(&bytes) {
        Err(keel_vm::VmError::Admission(e)) => assert_eq!(limit_name(&e), "module size in bytes"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("admitted under the old profile's cache entry"),
    }
    vm.set_profile(Profile::V1);
    assert!(vm.prepare(&bytes).is_ok());
}
