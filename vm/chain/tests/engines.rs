//! The routine engine is node-local and never changes a result: the same blocks with native
//! calls give identical receipts, gas and state roots on a JIT node, an interpreter node and a
//! node whose JIT compilation fails (every routine then falls back to the interpreter).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::*;
use keel_ebpf_bridge::{Engine, JitCompile};

/// Entry `run`: input = routine id (4 bytes LE) | routine input; returns 32 output bytes.
/// Entry `run1`: the same with a 1-byte output (Merkle verification).
const CALLER: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
  (import "keel" "native_call" (func $native (param i32 i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (func $run (param $out i32)
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (call $w (i32.const 0) (i32.const 4) (i32.const 4) (i32.const 8))
    (drop (call $native (i32.load (i32.const 0)) (i32.const 4) (i32.sub (call $size) (i32.const 4))
                        (i32.const 60000) (local.get $out)))
    (call $ret (i32.const 60000) (local.get $out)))
  (func (export "run") (call $run (i32.const 32)))
  (func (export "run1") (call $run (i32.const 1))))"#;

fn with_id(id: u32, data: &[u8]) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// A call with only `compute` gas: the native call runs out of gas part-way.
fn call_with_compute(
    from: u32,
    nonce: u64,
    contract: Address,
    args: Vec<u8>,
    compute: u64,
) -> SignedTx {
    let mut limits = LIMITS;
    limits[0] = compute;
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: key(from).public_key().to_bytes(),
        nonce,
        gas_limits: limits,
        max_fee_per_unit: PRICES_MAX,
        priority_fee: 2,
        kind: TxKind::Call {
            contract,
            call: CallData {
                entry: "run".into(),
                args,
            },
            value: Amount::ZERO,
        },
    }
    .sign(&key(from))
}

/// Blocks exercising every built-in routine: successes, a rejected input, a wrong output
/// length and out-of-gas inside a routine.
fn blocks(caller: Address) -> Vec<Vec<SignedTx>> {
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut modmul = vec![0u8; 64];
    modmul[0] = 3;
    modmul[32] = 5;
    let mut bad_modmul = vec![0xff; 64];
    bad_modmul[63] = 0xff;
    let mut merkle = [9u8; 32].to_vec();
    merkle.extend_from_slice(&[1u8; 32]);
    merkle.extend_from_slice(&1u32.to_le_bytes());
    merkle.extend_from_slice(&1u32.to_le_bytes());
    merkle.extend_from_slice(&[2u8; 32]);
    vec![
        vec![
            call(
                1,
                0,
                caller,
                "run",
                with_id(keel_ebpf_bridge::SHA256, &data),
            ),
            call(
                1,
                1,
                caller,
                "run",
                with_id(keel_ebpf_bridge::KECCAK256, &data),
            ),
            call(
                1,
                2,
                caller,
                "run1",
                with_id(keel_ebpf_bridge::MERKLE_SHA256, &merkle),
            ),
            call(
                2,
                0,
                caller,
                "run",
                with_id(keel_ebpf_bridge::MODMUL_BLS12_381_FR, &modmul),
            ),
        ],
        vec![
            call(
                2,
                1,
                caller,
                "run",
                with_id(keel_ebpf_bridge::MODMUL_BLS12_381_FR, &bad_modmul),
            ),
            call(
                2,
                2,
                caller,
                "run1",
                with_id(keel_ebpf_bridge::SHA256, &data),
            ),
            call_with_compute(
                3,
                0,
                caller,
                with_id(keel_ebpf_bridge::SHA256, &data),
                60_000,
            ),
            call(
                3,
                1,
                caller,
                "run",
                with_id(keel_ebpf_bridge::SHA256, b"abc"),
            ),
        ],
    ]
}

/// Runs the deploy and the blocks on a fresh node configured by `setup`.
fn run_node(setup: impl FnOnce(&mut Chain)) -> Vec<BlockResult> {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    setup(&mut chain);
    let code = wat::parse_str(CALLER).unwrap();
    let deployed = block(&mut chain, vec![deploy(0, 0, &code)]);
    let caller = deployed.receipts[0].contract.unwrap();
    let mut results = vec![deployed];
    for txs in blocks(caller) {
        results.push(block(&mut chain, txs));
    }
    results
}

#[test]
fn jit_interpreter_and_failed_jit_nodes_agree_on_receipts_gas_and_roots() {
    let jit = run_node(|c| c.set_routine_engine(Engine::Jit).unwrap());
    let interp = run_node(|c| c.set_routine_engine(Engine::Interpreter).unwrap());
    let no_jit = run_node(|c| c.set_routines(Engine::Jit, JitCompile::Refuse).unwrap());
    // The blocks do what they claim: successes and each kind of failure.
    let statuses: Vec<bool> = jit[1..]
        .iter()
        .flat_map(|r| r.receipts.iter())
        .map(|r| matches!(r.status, TxStatus::Success { .. }))
        .collect();
    assert_eq!(
        statuses,
        [true, true, true, true, false, false, false, true],
        "{jit:#?}"
    );
    assert!(
        jit[2].receipts[2].gas_used[0] == 60_000,
        "the out-of-gas call used its whole compute limit: {:?}",
        jit[2].receipts[2]
    );
    for (i, r) in jit.iter().enumerate() {
        assert_eq!(&interp[i], r, "interpreter node, block {i}");
        assert_eq!(
            &no_jit[i], r,
            "node whose JIT compilation failed, block {i}"
        );
    }
}

#[test]
fn a_chain_refuses_the_unmetered_kernel_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    assert!(matches!(
        chain.set_routine_engine(Engine::Kernel),
        Err(ChainError::RoutineEngine(_))
    ));
}
