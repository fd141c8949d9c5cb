//! `keel.randomness`, end to end through admission, metering and both engine tiers: final
//! values come from the state view, every other height answers "not final" without a read.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::engine::choice::EngineChoice;
use keel_vm::host_randomness::RANDOMNESS_NOT_FINAL;
use keel_vm::{
    AdmissionError, CallContext, CallRequest, Capability, GasSchedule, GasVector, HostFn,
    StateError, StateView, Trap, Vm, VmConfig, VmError,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Input: height (u64 LE) and the output pointer (u32 LE). Returns status (4 bytes) ‖ the 32
/// bytes at 1024.
const RANDOMNESS: &str = r#"(module
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "randomness" (func $rand (param i32 i32 i32) (result i32)))
  (memory 1 1)
  (func (export "run")
    (call $copy (i32.const 0) (i32.const 0) (i32.const 12))
    (i32.store (i32.const 1020)
      (call $rand (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.load (i32.const 8))))
    (call $ret (i32.const 1020) (i32.const 36))))"#;

/// Beacon values by height, and the heights the VM asked for.
#[derive(Clone, Default)]
struct Beacons {
    values: BTreeMap<u64, [u8; 32]>,
    asked: Arc<Mutex<Vec<u64>>>,
}

impl StateView for Beacons {
    fn storage_get(&mut self, _: &[u8; 32], _: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
    fn beacon(&mut self, height: u64) -> Result<Option<[u8; 32]>, StateError> {
        self.asked.lock().unwrap().push(height);
        Ok(self.values.get(&height).copied())
    }
}

fn beacons() -> Beacons {
    let mut b = Beacons::default();
    b.values.insert(3, [0x33; 32]);
    b.values.insert(1 << 33, [0x44; 32]);
    b
}

fn request(height: u64, out: u32, block_height: u64) -> CallRequest {
    let mut input = height.to_le_bytes().to_vec();
    input.extend_from_slice(&out.to_le_bytes());
    CallRequest {
        entry: "run".into(),
        input,
        context: CallContext {
            block_height,
            ..CallContext::default()
        },
        limits: GasVector {
            compute: 1_000_000,
            storage_bytes: 0,
            memory_pages: 1,
            bandwidth: 1 << 10,
        },
    }
}

/// (status, the 32 bytes at 1024, compute gas) on `choice`; or the trap.
fn run(
    choice: EngineChoice,
    state: Beacons,
    req: CallRequest,
) -> Result<(i32, Vec<u8>, u64), Trap> {
    let vm = Vm::with_choice(VmConfig::default(), choice, None).unwrap();
    let out = vm
        .call(&wat::parse_str(RANDOMNESS).unwrap(), req, Box::new(state))
        .unwrap();
    let r = out.result?;
    Ok((
        i32::from_le_bytes(r[..4].try_into().unwrap()),
        r[4..].to_vec(),
        out.gas_used.compute,
    ))
}

const TIERS: [EngineChoice; 2] = [EngineChoice::Wasmi, EngineChoice::Wasmtime];

#[test]
fn a_final_height_reads_its_value_from_the_state_on_both_tiers() {
    for tier in TIERS {
        let (status, value, gas) = run(tier, beacons(), request(3, 1024, 10)).unwrap();
        assert_eq!((status, value), (0, vec![0x33; 32]), "{tier:?}");
        assert!(gas >= GasSchedule::v1().host_cost(HostFn::Randomness, 0));
        // A height above 2³² arrives whole (both halves of the argument pair are used).
        let (status, value, _) = run(tier, beacons(), request(1 << 33, 1024, 1 << 34)).unwrap();
        assert_eq!((status, value), (0, vec![0x44; 32]), "{tier:?}");
    }
}

#[test]
fn heights_that_are_not_final_answer_minus_one_and_write_nothing() {
    for tier in TIERS {
        let state = beacons();
        let asked = state.asked.clone();
        // Height 0, the current block, a future block: refused before any state read.
        for height in [0, 10, 11, u64::MAX] {
            let (status, value, _) = run(tier, state.clone(), request(height, 1024, 10)).unwrap();
            assert_eq!(status, RANDOMNESS_NOT_FINAL, "{tier:?} height {height}");
            assert_eq!(value, vec![0; 32]);
        }
        assert!(asked.lock().unwrap().is_empty());
        // A past height the state has no final value for (too recent for its VDF output).
        let (status, _, _) = run(tier, state, request(9, 1024, 10)).unwrap();
        assert_eq!(status, RANDOMNESS_NOT_FINAL);
        assert_eq!(*asked.lock().unwrap(), vec![9]);
    }
}

#[test]
fn gas_is_the_same_for_a_final_and_a_missing_value() {
    for tier in TIERS {
        let found = run(tier, beacons(), request(3, 1024, 10)).unwrap().2;
        let missing = run(tier, beacons(), request(4, 1024, 10)).unwrap().2;
        let refused = run(tier, beacons(), request(12, 1024, 10)).unwrap().2;
        assert_eq!(found, missing);
        assert_eq!(found, refused);
    }
}

#[test]
fn an_out_of_bounds_output_traps_even_for_a_height_that_is_not_final() {
    for tier in TIERS {
        for height in [3, 12] {
            match run(tier, beacons(), request(height, 65_530, 10)) {
                Err(Trap::HostOutOfBounds { func, .. }) => assert_eq!(func, HostFn::Randomness),
                other => panic!("{tier:?}: expected an out-of-bounds trap, got {other:?}"),
            }
        }
    }
}

#[test]
fn randomness_needs_the_crypto_capability() {
    let import = r#"(import "keel" "randomness" (func (param i32 i32 i32) (result i32)))"#;
    let vm = Vm::new(VmConfig::default()).unwrap();
    let denied = format!("(module {import} (@custom \"keel.manifest\" \"\\01\\01\"))");
    match vm.prepare(&wat::parse_str(&denied).unwrap()) {
        Err(VmError::Admission(AdmissionError::CapabilityMissing { capability, .. })) => {
            assert_eq!(capability, Capability::Crypto)
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("admitted without the crypto capability"),
    }
    let granted = format!("(module {import} (@custom \"keel.manifest\" \"\\01\\09\"))");
    assert!(vm.prepare(&wat::parse_str(&granted).unwrap()).is_ok());
}
