//! `keel prove` as an operator uses it: a checked project, the lemma listing, exit codes.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::keel;

const GUARDED: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (memory 1 1)
  (@custom "keel.preconditions" "quot(x: u32, d: u32): d != 0\n")
  (func $twice (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "size2")
    (i32.store (i32.const 0) (call $twice (call $size)))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "spin") (loop (br 0)))
  (func (export "sum4") (local $i i32) (local $acc i32)
    (local.set $i (i32.const 0))
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
    (i32.store (i32.const 0) (local.get $acc))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "quot")
    (call $copy (i32.const 0) (i32.const 0) (i32.const 8))
    (i32.store (i32.const 16) (i32.div_u (i32.load (i32.const 0)) (i32.load (i32.const 4))))
    (call $ret (i32.const 16) (i32.const 4))))"#;

#[test]
fn prove_check_writes_a_project_coqc_accepts_and_lists_every_lemma() {
    if !keel_formal::coqc::available() {
        println!("SKIPPED[tool]: coqc missing (keel prove --check; ./x setup installs coq)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("guarded.wat");
    std::fs::write(&src, GUARDED).unwrap();
    let out_dir = dir.path().join("proof");
    let out = keel(&[
        "prove",
        src.to_str().unwrap(),
        "--export",
        "size2",
        "--export",
        "spin",
        "--export",
        "sum4",
        "--export",
        "quot",
        "--out",
        out_dir.to_str().unwrap(),
        "--check",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout.contains("proved    size2_gas_bound"), "{stdout}");
    assert!(stdout.contains("n/a       spin_gas_bound"), "{stdout}");
    assert!(stdout.contains("proved    spin_capabilities"), "{stdout}");
    // A counted loop from a constant start: proved by symbolic execution, not admitted.
    assert!(stdout.contains("proved    sum4_gas_bound"), "{stdout}");
    // Its precondition excludes the division trap: found and checked by coqc.
    assert!(stdout.contains("proved    quot_no_trap"), "{stdout}");
    assert!(!stdout.contains("ADMITTED"), "{stdout}");
    assert!(stdout.contains("coqc: checked"), "{stdout}");
    for f in ["_CoqProject", "Contract.v", "Audit.v", "Keel/Semantics.v"] {
        assert!(out_dir.join(f).exists(), "{f} missing");
    }
}

#[test]
fn prove_names_an_unknown_export_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("guarded.wat");
    std::fs::write(&src, GUARDED).unwrap();
    let out = keel(&[
        "prove",
        src.to_str().unwrap(),
        "--export",
        "nosuch",
        "--out",
        dir.path().join("p").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no exported function named `nosuch`"));
}
