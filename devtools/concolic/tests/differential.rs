//! The concolic interpreter's concrete side against the wasmi tier: the same calls through the
//! real `Vm` facade give the same return data or trap, gas vector, events and writes.

use keel_concolic::ConcolicEngine;
use keel_vm::{CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Vm, VmConfig};
use proptest::prelude::*;

fn limits() -> GasVector {
    GasVector {
        compute: 400_000,
        storage_bytes: 1 << 16,
        memory_pages: 64,
        bandwidth: 1 << 16,
    }
}

fn call(vm: &Vm, code: &[u8], entry: &str, input: &[u8], state: &MemoryState) -> CallOutcome {
    let request = CallRequest {
        entry: entry.to_string(),
        input: input.to_vec(),
        context: CallContext {
            caller: [7; 32],
            self_address: [9; 32],
            block_height: 3,
            block_timestamp: 1_700_000_000,
        },
        limits: limits(),
    };
    match vm.call(code, request, Box::new(state.clone())) {
        Ok(o) => o,
        Err(e) => panic!("{entry}: the call could not be attempted: {e}"),
    }
}

fn assert_same(what: &str, a: &CallOutcome, b: &CallOutcome) {
    assert_eq!(a.result, b.result, "{what}: result");
    assert_eq!(a.gas_used, b.gas_used, "{what}: gas");
    assert_eq!(a.events, b.events, "{what}: events");
    assert_eq!(a.writes, b.writes, "{what}: writes");
    let loc = |o: &CallOutcome| {
        o.faults
            .last()
            .and_then(|f| f.location.as_ref())
            .map(|l| l.offset)
    };
    assert_eq!(loc(a), loc(b), "{what}: fault location");
}

/// Interesting input lengths: what the example contracts expect (0, 4, 8, 32, 64, 96) and
/// others.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=130),
        (
            prop::sample::select(vec![0usize, 4, 8, 16, 32, 64, 96]),
            any::<u64>()
        )
            .prop_map(|(n, seed)| (0..n)
                .map(|i| (seed >> ((i % 8) * 8)) as u8 ^ (i as u8))
                .collect()),
    ]
}

/// Storage after `init` of the token with a supply, so its other entries run past the checks.
fn token_state(vm: &Vm) -> MemoryState {
    let code = keel_contracts::TOKEN.wasm;
    let mut state = MemoryState::default();
    let o = call(vm, code, "init", &[0xff; 32], &state);
    assert!(o.result.is_ok(), "token init: {:?}", o.result);
    state.apply(&[9; 32], &o.writes);
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn concolic_interpreter_agrees_with_wasmi_on_the_example_contracts(
        pick in any::<prop::sample::Index>(),
        entry in any::<prop::sample::Index>(),
        input in input(),
    ) {
        let wasmi = Vm::new(VmConfig { reuse_instances: false, ..VmConfig::default() })
            .expect("wasmi vm");
        let ours = Vm::with_engine(VmConfig::default(), Box::new(ConcolicEngine::new(true)));
        let c = pick.get(keel_contracts::all());
        let e = *entry.get(c.entries);
        let state = if c.name == "token" { token_state(&wasmi) } else { MemoryState::default() };
        let a = call(&wasmi, c.wasm, e, &input, &state);
        let b = call(&ours, c.wasm, e, &input, &state);
        assert_same(&format!("{}.{e}({})", c.name, hex::encode(&input)), &a, &b);
    }
}

#[test]
fn every_example_entry_agrees_with_wasmi_on_empty_and_typical_inputs() {
    let wasmi = Vm::new(VmConfig::default()).expect("wasmi vm");
    let ours = Vm::with_engine(VmConfig::default(), Box::new(ConcolicEngine::new(true)));
    for c in keel_contracts::all() {
        let state = if c.name == "token" {
            token_state(&wasmi)
        } else {
            MemoryState::default()
        };
        for e in c.entries {
            for input in [
                vec![],
                vec![5, 0, 0, 0],
                vec![1; 32],
                vec![2; 64],
                vec![3; 96],
            ] {
                let a = call(&wasmi, c.wasm, e, &input, &state);
                let b = call(&ours, c.wasm, e, &input, &state);
                assert_same(&format!("{}.{e}({})", c.name, hex::encode(&input)), &a, &b);
            }
        }
    }
}

#[test]
fn out_of_gas_is_charged_identically() {
    let wasmi = Vm::new(VmConfig::default()).expect("wasmi vm");
    let ours = Vm::with_engine(VmConfig::default(), Box::new(ConcolicEngine::new(true)));
    // fib(10^6) needs far more than the limit: both run out at the same block.
    let input = 1_000_000u32.to_le_bytes();
    let state = MemoryState::default();
    let a = call(&wasmi, keel_contracts::FIB.wasm, "fib", &input, &state);
    let b = call(&ours, keel_contracts::FIB.wasm, "fib", &input, &state);
    assert_eq!(a.result, Err(keel_vm::Trap::OutOfGas));
    assert_same("fib(10^6)", &a, &b);
}
