//! `keel vm …` as an operator uses it: exit codes, one-line messages, JSON output.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::keel;

use std::path::PathBuf;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

const ADDER: &str = r#"(module
  (import "keel" "input_copy" (func $in (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1 1)
  (func (export "double")
    (call $in (i32.const 0) (i32.const 0) (i32.const 4))
    (i32.store (i32.const 0) (i32.mul (i32.load (i32.const 0)) (i32.const 2)))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "spin") (loop (br 0))))"#;

#[test]
fn exec_returns_zero_and_prints_the_result_and_gas() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "adder.wat", ADDER);
    let out = keel(&[
        "vm",
        "exec",
        f.to_str().unwrap(),
        "--call",
        "double",
        "--args-hex",
        "15000000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("result: 0x2a000000"), "{stdout}");
    assert!(stdout.contains("gas: compute="), "{stdout}");
}

#[test]
fn exec_exits_two_on_a_trap_including_out_of_gas() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "adder.wat", ADDER);
    let out = keel(&[
        "vm",
        "exec",
        f.to_str().unwrap(),
        "--call",
        "spin",
        "--gas",
        "100000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "trap");
    assert_eq!(v["trap"]["kind"], "out_of_gas");
    assert_eq!(v["gas"]["compute"], 100000);
}

#[test]
fn exec_exits_one_with_a_one_line_reason_when_the_module_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "float.wat",
        r#"(module (func (export "f") (drop (f64.const 1))))"#,
    );
    let out = keel(&["vm", "exec", f.to_str().unwrap(), "--call", "f"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("float instruction `F64Const`"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn exec_reports_unusable_input_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "adder.wat", ADDER);
    let bad_hex = keel(&[
        "vm",
        "exec",
        f.to_str().unwrap(),
        "--call",
        "double",
        "--args-hex",
        "zz",
    ]);
    assert_eq!(bad_hex.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_hex.stderr).contains("not valid hex"));
    let missing = keel(&["vm", "exec", "/nonexistent.wasm", "--call", "x"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn inspect_shows_entry_points_and_static_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "adder.wat", ADDER);
    let out = keel(&["vm", "inspect", f.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["admitted"], true);
    let exports = v["exports"].as_array().unwrap();
    let double = exports.iter().find(|e| e["name"] == "double").unwrap();
    assert_eq!(double["static_gas"]["verdict"], "bounded");
    let spin = exports.iter().find(|e| e["name"] == "spin").unwrap();
    assert_eq!(spin["static_gas"]["verdict"], "unbounded");
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["vm", "--help"],
        &["vm", "exec", "--help"],
        &["vm", "inspect", "--help"],
        &["bench", "vm", "--help"],
        &["demo", "--help"],
    ] {
        let out = keel(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn module_certify_and_check_round_trip_and_refuse_a_tampered_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("modmul.cert");
    let c = cert.to_str().unwrap();
    let out = keel(&[
        "module",
        "certify",
        "--builtin",
        "modmul_bls12_381_fr",
        "-o",
        c,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = keel(&["module", "check", "--builtin", "modmul_bls12_381_fr", c]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("certificate holds"));
    // A certificate for another program is refused with the reason.
    let out = keel(&["module", "check", "--builtin", "merkle_sha256", c]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("REFUSED"));
    // An unsafe object (reads in[in_len]) is refused with the instruction and the property.
    let obj = dir.path().join("oob_by_one.o");
    std::fs::write(
        &obj,
        keel_pcc::objects::corpus_object("oob_by_one").unwrap(),
    )
    .unwrap();
    let out = keel(&[
        "module",
        "certify",
        obj.to_str().unwrap(),
        "--input-max",
        "64",
        "--output-len",
        "1",
        "-o",
        dir.path().join("s").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pc ") && stdout.contains("out-of-bounds"),
        "{stdout}"
    );
}
