// Nested calls look the callee's module up by the code hash its environment names: on a
// compile-cache hit the callee's code is neither read nor hashed, and every call gives what the
// code path (no hash, or no cache) gives.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::{
    Address, CallContext, CallOutcome, CallRequest, ContractEnv, GasVector, MemoryState,
    StateError, StateView, Trap, Vm, VmConfig, Writes,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const CALLER: Address = [0xca; 32];
const CALLEE: Address = [0xce; 32];
const MISSING: Address = [0x99; 32];

/// Entry `fwd`: calls `run` of the contract at input[0..32] with all gas; returns
/// [status] ++ the callee's return data. Manifest: calls to any contract.
const CALLER_WAT: &str = r#"
(module
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "keel" "return_data_size" (func $rd_size (result i32)))
  (import "keel" "return_data_copy" (func $rd_copy (param i32 i32 i32)))
  (import "keel" "handle_for_contract" (func $handle (param i32) (result i32)))
  (@custom "keel.manifest" "\01\04")
  (memory 1 1)
  (data (i32.const 0) "run")
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (func (export "fwd")
    (local $rd i32)
    (call $input_copy (i32.const 1024) (i32.const 0) (i32.const 32))
    (i32.store8 (i32.const 4096)
      (call $call (call $handle (i32.const 1024)) (i32.const 0) (i32.const 3)
                  (i32.const 0) (i32.const 0) (i32.const 32) (i32.const 64) (i32.const 0) (i32.const 0)))
    (local.set $rd (call $rd_size))
    (call $rd_copy (i32.const 4097) (i32.const 0) (local.get $rd))
    (call $return_data (i32.const 4096) (i32.add (local.get $rd) (i32.const 1)))))
"#;

/// Entry `run`: returns [42].
const CALLEE_WAT: &str = r#"
(module
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (memory 1 1)
  (data (i32.const 0) "\2a")
  (func (export "run") (call $return_data (i32.const 0) (i32.const 1))))
"#;

/// Contracts by address; counts reads of their code. `by_hash` says whether it names hashes.
struct Env {
    codes: BTreeMap<Address, Vec<u8>>,
    by_hash: bool,
    code_reads: AtomicUsize,
}

impl ContractEnv for Env {
    fn code(&self, contract: &Address) -> Result<Option<Vec<u8>>, StateError> {
        self.code_reads.fetch_add(1, Ordering::Relaxed);
        Ok(self.codes.get(contract).cloned())
    }

    fn code_hash(&self, contract: &Address) -> Result<Option<[u8; 32]>, StateError> {
        if !self.by_hash {
            return Ok(None);
        }
        Ok(self.codes.get(contract).map(|c| Sha256::digest(c).into()))
    }

    fn state_view(&self) -> Box<dyn StateView> {
        Box::new(MemoryState::default())
    }

    fn flush(&self, _: &Address, _: Writes) -> Result<Result<(), Trap>, StateError> {
        Ok(Ok(()))
    }

    fn enter(&self, _: &Address, _: &Address, _: &[u8; 32]) -> Result<bool, StateError> {
        Ok(true)
    }

    fn leave(&self, _: bool) -> Result<(), StateError> {
        Ok(())
    }
}

fn env(by_hash: bool) -> Arc<Env> {
    let codes = [
        (CALLER, wat::parse_str(CALLER_WAT).unwrap()),
        (CALLEE, wat::parse_str(CALLEE_WAT).unwrap()),
    ];
    Arc::new(Env {
        codes: codes.into_iter().collect(),
        by_hash,
        code_reads: AtomicUsize::new(0),
    })
}

fn forward(vm: &Vm, env: &Arc<Env>, target: &Address) -> CallOutcome {
    let request = CallRequest {
        entry: "fwd".into(),
        input: target.to_vec(),
        context: CallContext {
            caller: [1; 32],
            self_address: CALLER,
            block_height: 1,
            block_timestamp: 0,
        },
        limits: GasVector {
            compute: 10_000_000,
            storage_bytes: 1 << 20,
            memory_pages: 64,
            bandwidth: 1 << 20,
        },
    };
    let code = &env.codes[&CALLER];
    let e: Arc<dyn ContractEnv> = Arc::clone(env) as Arc<dyn ContractEnv>;
    vm.call_with_env(code, request, Box::new(MemoryState::default()), e)
        .unwrap()
}

fn vm(cache_capacity: usize) -> Vm {
    Vm::new(VmConfig {
        cache_capacity,
        ..VmConfig::default()
    })
    .unwrap()
}

#[test]
fn a_cached_callee_runs_without_its_code_being_read_and_gives_the_same_outcome() {
    let (fast, reference) = (vm(256), vm(0));
    let (hashed, plain) = (env(true), env(false));
    for (i, target) in [CALLEE, MISSING, CALLEE, CALLER, CALLEE].iter().enumerate() {
        let a = forward(&fast, &hashed, target);
        let b = forward(&reference, &plain, target);
        assert_eq!(a.result, b.result, "call {i}: result");
        assert_eq!(a.gas_used, b.gas_used, "call {i}: gas");
        assert_eq!(a.faults.len(), b.faults.len(), "call {i}: faults");
        assert_eq!(a.trace.len(), b.trace.len(), "call {i}: trace");
    }
    assert_eq!(forward(&fast, &hashed, &CALLEE).result.unwrap(), [0, 42]);
    // The first call to the callee compiled it from its code; the missing contract's code
    // was asked for (there is none). Every later call found the callee by its hash.
    assert_eq!(hashed.code_reads.load(Ordering::Relaxed), 2);
    assert_eq!(plain.code_reads.load(Ordering::Relaxed), 5);
}
