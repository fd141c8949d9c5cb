//! The VM's BLS host functions (blst underneath), with gas from the schedule.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_crypto::SecretKey;
use keel_vm::{CallRequest, GasSchedule, GasVector, HostFn, MemoryState, Vm, VmConfig};

/// Input layout: op(1) | n(1) | pks(n*48) | sig(96) | msg... ; returns the i32 verdict.
const BLS: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "bls_verify" (func $v (param i32 i32 i32 i32) (result i32)))
  (import "keel" "bls_aggregate_verify" (func $av (param i32 i32 i32 i32) (result i32)))
  (import "keel" "bls_fast_aggregate_verify" (func $fav (param i32 i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (func (export "run") (local $n i32) (local $pks i32) (local $sig i32) (local $msg i32) (local $len i32) (local $r i32)
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (local.set $n (i32.load8_u (i32.const 1)))
    (local.set $pks (i32.const 2))
    (local.set $sig (i32.add (i32.const 2) (i32.mul (local.get $n) (i32.const 48))))
    (local.set $msg (i32.add (local.get $sig) (i32.const 96)))
    (local.set $len (i32.sub (call $size) (local.get $msg)))
    (local.set $r
      (if (result i32) (i32.eqz (i32.load8_u (i32.const 0)))
        (then (call $v (local.get $pks) (local.get $msg) (local.get $len) (local.get $sig)))
        (else (if (result i32) (i32.eq (i32.load8_u (i32.const 0)) (i32.const 1))
          (then (call $av (local.get $n) (local.get $pks) (local.get $msg) (local.get $sig)))
          (else (call $fav (local.get $n) (local.get $pks) (local.get $msg) (local.get $len) (local.get $sig)))))))
    (i32.store (i32.const 60000) (local.get $r))
    (call $ret (i32.const 60000) (i32.const 4))))"#;

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i + 1; 32]).unwrap()
}

fn run(op: u8, keys: &[&SecretKey], sig: [u8; 96], msg: &[u8]) -> (i32, u64) {
    let mut input = vec![op, keys.len() as u8];
    for k in keys {
        input.extend_from_slice(&k.public_key().to_bytes());
    }
    input.extend_from_slice(&sig);
    input.extend_from_slice(msg);
    let vm = Vm::new(VmConfig::default()).unwrap();
    let req = CallRequest {
        entry: "run".into(),
        input,
        limits: GasVector {
            compute: 100_000_000,
            storage_bytes: 0,
            memory_pages: 1,
            bandwidth: 1 << 16,
        },
        ..CallRequest::default()
    };
    let out = vm
        .call(
            &wat::parse_str(BLS).unwrap(),
            req,
            Box::new(MemoryState::default()),
        )
        .unwrap();
    let r = out.result.unwrap();
    (
        i32::from_le_bytes(r.try_into().unwrap()),
        out.gas_used.compute,
    )
}

#[test]
fn bls_verify_accepts_valid_and_rejects_wrong_or_malformed_signatures() {
    let k = key(0);
    let sig = k.sign(b"hello").to_bytes();
    let (ok, gas) = run(0, &[&k], sig, b"hello");
    assert_eq!(ok, 1);
    assert!(
        gas >= GasSchedule::v1().host_cost(HostFn::BlsVerify, 5),
        "gas {gas} below the schedule"
    );
    assert_eq!(run(0, &[&k], sig, b"hellO").0, 0);
    assert_eq!(run(0, &[&key(1)], sig, b"hello").0, 0);
    assert_eq!(run(0, &[&k], [0xff; 96], b"hello").0, 0);
}

#[test]
fn fast_aggregate_verify_checks_many_keys_on_one_message() {
    let keys: Vec<SecretKey> = (0..4).map(key).collect();
    let sigs: Vec<_> = keys.iter().map(|k| k.sign(b"block 7")).collect();
    let agg = keel_crypto::aggregate_signatures(&sigs).unwrap().to_bytes();
    let refs: Vec<&SecretKey> = keys.iter().collect();
    assert_eq!(run(2, &refs, agg, b"block 7").0, 1);
    assert_eq!(run(2, &refs[..3], agg, b"block 7").0, 0);
}

#[test]
fn aggregate_verify_checks_distinct_messages() {
    let keys: Vec<SecretKey> = (0..3).map(key).collect();
    let msgs: Vec<[u8; 32]> = (0..3u8).map(|i| [i; 32]).collect();
    let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let agg = keel_crypto::aggregate_signatures(&sigs).unwrap().to_bytes();
    let refs: Vec<&SecretKey> = keys.iter().collect();
    let flat: Vec<u8> = msgs.concat();
    let (ok, gas) = run(1, &refs, agg, &flat);
    assert_eq!(ok, 1);
    // Per-key charging: three keys cost more than one.
    assert!(gas >= GasSchedule::v1().host_cost(HostFn::BlsAggregateVerify, 3 * 48));
    let mut swapped = flat.clone();
    swapped.swap(0, 32);
    assert_eq!(run(1, &refs, agg, &swapped).0, 0);
}
