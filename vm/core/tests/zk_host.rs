//! The VM's zero-knowledge host functions (`poseidon`, `groth16_verify`), end to end through
//! admission, metering and the wasmi linker, against the keel-zk vectors.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::host_zk::{ZK_BAD_POINT, ZK_BAD_SIZE, ZK_NON_CANONICAL, ZK_UNKNOWN_CURVE};
use keel_vm::{
    AdmissionError, CallRequest, Capability, GasSchedule, GasVector, HostFn, MemoryState, Vm,
    VmConfig, VmError,
};

/// Input header (little-endian u32 fields): op, curve, n, a_ptr, a_len, b_ptr, c_ptr; then
/// data at the offsets the header names. Returns status (4 bytes) ‖ 32 bytes at 60000.
const ZK: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "poseidon" (func $pos (param i32 i32 i32 i32) (result i32)))
  (import "keel" "groth16_verify" (func $g16 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (func (export "run")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (i32.store (i32.const 59996)
      (if (result i32) (i32.eqz (i32.load (i32.const 0)))
        (then (call $pos (i32.load (i32.const 4)) (i32.load (i32.const 12))
                         (i32.load (i32.const 8)) (i32.const 60000)))
        (else (call $g16 (i32.load (i32.const 4)) (i32.load (i32.const 12)) (i32.load (i32.const 16))
                         (i32.load (i32.const 20)) (i32.load (i32.const 24)) (i32.load (i32.const 8))))))
    (call $ret (i32.const 59996) (i32.const 36))))"#;

const HEADER: usize = 28;

fn input(op: u32, curve: u32, n: u32, parts: [&[u8]; 3]) -> Vec<u8> {
    let mut ptrs = [0u32; 3];
    let mut data = Vec::new();
    for (p, bytes) in ptrs.iter_mut().zip(parts) {
        *p = (HEADER + data.len()) as u32;
        data.extend_from_slice(bytes);
    }
    let mut v = Vec::new();
    for w in [
        op,
        curve,
        n,
        ptrs[0],
        parts[0].len() as u32,
        ptrs[1],
        ptrs[2],
    ] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(&data);
    v
}

fn run(input: Vec<u8>) -> (i32, [u8; 32], u64) {
    let vm = Vm::new(VmConfig::default()).unwrap();
    let req = CallRequest {
        entry: "run".into(),
        input,
        limits: GasVector {
            compute: 200_000_000,
            storage_bytes: 0,
            memory_pages: 1,
            bandwidth: 1 << 16,
        },
        ..CallRequest::default()
    };
    let out = vm
        .call(
            &wat::parse_str(ZK).unwrap(),
            req,
            Box::new(MemoryState::default()),
        )
        .unwrap();
    let r = out.result.unwrap();
    (
        i32::from_le_bytes(r[..4].try_into().unwrap()),
        r[4..].try_into().unwrap(),
        out.gas_used.compute,
    )
}

fn word(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

#[test]
fn poseidon_hashes_circomlibjs_vectors_and_charges_by_width() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../zk/vectors/poseidon.json")).unwrap();
    for (curve, key) in [(0, "bn254"), (1, "bls12_381")] {
        for case in v[key].as_array().unwrap().iter().step_by(4) {
            let ins: Vec<u8> = case["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| word(s.as_str().unwrap()))
                .collect();
            let n = (ins.len() / 32) as u32;
            let (status, digest, gas) = run(input(0, curve, n, [&ins, &[], &[]]));
            assert_eq!(status, 0);
            assert_eq!(digest.to_vec(), word(case["output"].as_str().unwrap()));
            let t = u64::from(n) + 1;
            let host = GasSchedule::v1().host_cost(HostFn::Poseidon, 32 * t * t);
            assert!(gas >= host, "gas {gas} below the schedule's {host}");
        }
    }
}

#[test]
fn poseidon_answers_bad_arguments_with_statuses() {
    let one = [0u8; 32];
    assert_eq!(run(input(0, 2, 1, [&one, &[], &[]])).0, ZK_UNKNOWN_CURVE);
    assert_eq!(run(input(0, 0, 0, [&one, &[], &[]])).0, ZK_BAD_SIZE);
    let many = vec![0u8; 32 * 17];
    assert_eq!(run(input(0, 0, 17, [&many, &[], &[]])).0, ZK_BAD_SIZE);
    assert_eq!(
        run(input(0, 1, 1, [&[0xff; 32], &[], &[]])).0,
        ZK_NON_CANONICAL
    );
}

struct Proof {
    vk: Vec<u8>,
    proof: Vec<u8>,
    inputs: Vec<u8>,
    n: u32,
}

fn proof(file: &str) -> Proof {
    let v: serde_json::Value = serde_json::from_str(file).unwrap();
    let inputs: Vec<u8> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| word(s.as_str().unwrap()))
        .collect();
    Proof {
        vk: word(v["vk"].as_str().unwrap()),
        proof: word(v["proof"].as_str().unwrap()),
        n: (inputs.len() / 32) as u32,
        inputs,
    }
}

#[test]
fn groth16_verifies_snarkjs_proofs_and_rejects_tampering_in_the_vm() {
    let files = [
        include_str!("../../zk/vectors/groth16_bn254.json"),
        include_str!("../../zk/vectors/groth16_bls12_381.json"),
    ];
    for (curve, file) in files.into_iter().enumerate() {
        let p = proof(file);
        let curve = curve as u32;
        let (ok, _, gas) = run(input(1, curve, p.n, [&p.vk, &p.proof, &p.inputs]));
        assert_eq!(ok, 1, "curve {curve}");
        let host = GasSchedule::v1().host_cost(HostFn::Groth16Verify, 32 * u64::from(p.n));
        assert!(gas >= host);
        let mut wrong = p.inputs.clone();
        wrong[31] ^= 1;
        assert_eq!(run(input(1, curve, p.n, [&p.vk, &p.proof, &wrong])).0, 0);
        let mut off = p.proof.clone();
        off[10] ^= 0x10;
        let status = run(input(1, curve, p.n, [&p.vk, &off, &p.inputs])).0;
        assert!(status == ZK_BAD_POINT || status == 0, "status {status}");
        let short = &p.vk[..p.vk.len() - 1];
        assert_eq!(
            run(input(1, curve, p.n, [short, &p.proof, &p.inputs])).0,
            ZK_BAD_SIZE
        );
        let mut big = p.inputs.clone();
        big[..32].fill(0xff);
        assert_eq!(
            run(input(1, curve, p.n, [&p.vk, &p.proof, &big])).0,
            ZK_NON_CANONICAL
        );
    }
}

#[test]
fn gas_is_the_same_whether_the_prepared_key_is_cached_or_not() {
    let p = proof(include_str!("../../zk/vectors/groth16_bls12_381.json"));
    let a = run(input(1, 1, p.n, [&p.vk, &p.proof, &p.inputs]));
    let b = run(input(1, 1, p.n, [&p.vk, &p.proof, &p.inputs]));
    assert_eq!(a, b);
}

#[test]
fn zk_imports_need_the_crypto_capability() {
    for import in [
        r#"(import "keel" "poseidon" (func (param i32 i32 i32 i32) (result i32)))"#,
        r#"(import "keel" "groth16_verify" (func (param i32 i32 i32 i32 i32 i32) (result i32)))"#,
    ] {
        let wat = format!("(module {import} (@custom \"keel.manifest\" \"\\01\\01\"))");
        let vm = Vm::new(VmConfig::default()).unwrap();
        match vm.prepare(&wat::parse_str(&wat).unwrap()) {
            Err(VmError::Admission(AdmissionError::CapabilityMissing { capability, .. })) => {
                assert_eq!(capability, Capability::Crypto)
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("admitted without the crypto capability"),
        }
        let granted = format!("(module {import} (@custom \"keel.manifest\" \"\\01\\09\"))");
        assert!(vm.prepare(&wat::parse_str(&granted).unwrap()).is_ok());
    }
}
