//! The token's `transfer` under concolic exploration. Property checked on every explored run:
//! from a state where A holds 700 and B holds 300 of a 1000 supply, a `transfer` called by A
//! either traps and writes nothing, or leaves the sum of all balances ("b"||owner, u256 LE)
//! equal to 1000 and the supply entry ("s") untouched: no input creates (or destroys) value.

use keel_concolic::{Config, FindingKind, explore_observed};
use keel_vm::{CallContext, CallRequest, MemoryState, Vm, VmConfig};
use std::time::Duration;

const A: [u8; 32] = [1; 32];
const B: [u8; 32] = [2; 32];
const TOKEN_ADDRESS: [u8; 32] = [9; 32];

fn u256(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[..8].copy_from_slice(&v.to_le_bytes());
    w
}

fn ctx(caller: [u8; 32]) -> CallContext {
    CallContext {
        caller,
        self_address: TOKEN_ADDRESS,
        ..CallContext::default()
    }
}

/// Runs `entry` on the wasmi tier and applies its writes.
fn step(vm: &Vm, state: &mut MemoryState, caller: [u8; 32], entry: &str, input: Vec<u8>) {
    let request = CallRequest {
        entry: entry.into(),
        input,
        context: ctx(caller),
        limits: keel_concolic::limits(10_000_000),
    };
    let o = vm
        .call(keel_contracts::TOKEN.wasm, request, Box::new(state.clone()))
        .expect("call");
    assert!(o.result.is_ok(), "{entry}: {:?}", o.result);
    state.apply(&TOKEN_ADDRESS, &o.writes);
}

/// Sum of every balance entry, as 64-bit limbs (little-endian), so no sum can overflow.
fn total(entries: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) -> [u64; 5] {
    let mut sum = [0u64; 5];
    for (k, v) in entries {
        if k.first() != Some(&b'b') {
            continue;
        }
        let mut carry = 0u128;
        for (i, limb) in sum.iter_mut().enumerate() {
            let part = v
                .get(i * 8..i * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
            let s = u128::from(*limb) + u128::from(part) + carry;
            *limb = s as u64;
            carry = s >> 64;
        }
    }
    sum
}

#[test]
fn no_transfer_input_creates_or_destroys_value() {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let mut state = MemoryState::default();
    step(&vm, &mut state, A, "init", u256(1000).to_vec());
    step(
        &vm,
        &mut state,
        A,
        "transfer",
        [B.to_vec(), u256(300).to_vec()].concat(),
    );
    let balances = |s: &MemoryState| {
        total(
            s.entries
                .iter()
                .filter(|((c, _), _)| *c == TOKEN_ADDRESS)
                .map(|((_, k), v)| (k.clone(), v.clone())),
        )
    };
    let before = balances(&state);
    assert_eq!(before, [1000, 0, 0, 0, 0]);

    let cfg = Config {
        entry: "transfer".into(),
        max_runs: 48,
        time_budget: Duration::from_secs(60),
        seeds: vec![
            [B.to_vec(), u256(1).to_vec()].concat(),
            [A.to_vec(), u256(5).to_vec()].concat(),
        ],
        state: state.clone(),
        context: ctx(A),
        ..Config::default()
    };
    let mut succeeded = 0;
    let report = explore_observed(keel_contracts::TOKEN.wasm, &cfg, |run| {
        let o = run.outcome;
        if o.result.is_err() {
            assert!(o.writes.is_empty(), "a trapped transfer wrote state");
            return;
        }
        succeeded += 1;
        assert!(
            !o.writes.contains_key(b"s".as_slice()),
            "transfer changed the supply"
        );
        let mut after = state.clone();
        after.apply(&TOKEN_ADDRESS, &o.writes);
        assert_eq!(
            balances(&after),
            before,
            "input {} changed the total of balances",
            hex::encode(run.input)
        );
    })
    .expect("explore");
    println!("{report}");
    assert!(
        succeeded >= 3,
        "too few successful transfers explored:\n{report}"
    );
    // The solver reaches the overdraft through the modelled u256 compare, and the exact
    // length check through the symbolic input length.
    let aborts: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Abort)
        .map(|f| f.detail.as_str())
        .collect();
    assert!(
        aborts.iter().any(|m| m.contains("insufficient balance")),
        "{report}"
    );
    assert!(aborts.len() >= 2, "{report}");
}
