// The executor's fast paths (compile cache looked up by the account's code hash, validated-key
// cache) against the reference path (no compile cache, every key decoded), on blocks of token
// transfers run through the VM: receipts, gas and state writes must be identical.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "common/calls_wat.rs"]
mod calls_wat;
mod common;

use common::*;
use keel_chain::routines::RoutineCache;
use keel_chain::*;
use keel_crypto::{KeyCache, SingleVerifier};
use keel_vm::{Vm, VmConfig};
use std::collections::BTreeMap;
use std::sync::Mutex;

type Base = BTreeMap<Vec<u8>, Vec<u8>>;

/// One executor configuration and the state it has reached.
struct Node {
    vm: Vm,
    keys: Mutex<keel_chain::SenderKeys>,
    routines: RoutineCache,
    state: Base,
}

impl Node {
    fn new(cache_capacity: usize, key_capacity: usize) -> Node {
        let mut state = Base::new();
        for (k, v) in genesis_writes(&test_genesis()).unwrap() {
            if let Some(v) = v {
                state.insert(k, v);
            }
        }
        Node {
            vm: node_tier_vm(VmConfig {
                cache_capacity,
                ..VmConfig::default()
            }),
            keys: Mutex::new(keel_chain::SenderKeys::new(key_capacity)),
            routines: RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter).unwrap(),
            state,
        }
    }

    fn execute(&mut self, height: u64, txs: &[SignedTx]) -> (BlockResult, keel_state::WriteSet) {
        let exec = Executor {
            vm: &self.vm,
            verifier: &SingleVerifier,
            routines: &self.routines,
            keys: &self.keys,
        };
        let header = BlockHeader {
            height,
            parent_root: [0; 32],
            timestamp: 1_700_000_000 + height,
            proposer: *PROPOSER,
            vrf: Default::default(),
            beacon: None,
        };
        let done = exec.execute(self.state.clone(), &header, txs).unwrap();
        for (k, v) in &done.writes {
            match v {
                Some(v) => self.state.insert(k.clone(), v.clone()),
                None => self.state.remove(k),
            };
        }
        (done.result, done.writes)
    }
}

fn amount(v: u8) -> [u8; 32] {
    let mut a = [0u8; 32];
    a[0] = v;
    a
}

fn token_transfer(from: u32, nonce: u64, token: Address, to: Address, v: u8) -> SignedTx {
    let mut args = to.to_vec();
    args.extend_from_slice(&amount(v));
    call(from, nonce, token, "transfer", args)
}

/// A transaction whose sender key is not a valid G1 point (its signature cannot verify).
fn bad_key_tx(nonce: u64) -> SignedTx {
    let mut t = transfer(1, nonce, addr(2), 1);
    t.tx.sender[47] ^= 1;
    t
}

/// Transactions of sender 2 whose signatures do not verify: one that does not even decode (the
/// compression flag cleared) and one that decodes to another point (a flipped sign bit).
fn bad_signature_txs(nonce: u64) -> [SignedTx; 2] {
    let mut undecodable = transfer(2, nonce, addr(1), 1);
    undecodable.signature[0] &= 0x7f;
    let mut wrong_point = transfer(2, nonce, addr(1), 1);
    wrong_point.signature[0] ^= 0x20;
    [undecodable, wrong_point]
}

#[test]
fn token_blocks_give_identical_results_with_and_without_the_fast_paths() {
    let mut fast = Node::new(256, KeyCache::DEFAULT_CAPACITY);
    // A key cache of one entry per generation turns over on every new sender.
    let mut tiny = Node::new(1, 1);
    let mut reference = Node::new(0, 0);
    let token = contract_address(&addr(0), 0);
    let deploy = tx(
        0,
        0,
        TxKind::Deploy {
            code: keel_contracts::TOKEN.wasm.to_vec(),
            constructor: Some(CallData {
                entry: "init".into(),
                args: amount(200).to_vec(),
            }),
        },
    );
    let blocks: Vec<Vec<SignedTx>> = vec![
        vec![deploy],
        vec![
            token_transfer(0, 1, token, addr(1), 50),
            token_transfer(0, 2, token, addr(2), 50),
            token_transfer(0, 3, token, addr(3), 50),
            bad_key_tx(0),
            bad_signature_txs(0)[0].clone(),
            bad_signature_txs(0)[1].clone(),
        ],
        vec![
            token_transfer(1, 0, token, addr(2), 20),
            token_transfer(2, 0, token, addr(3), 70),
            // More than sender 3 holds: the contract aborts, the fee is still charged.
            token_transfer(3, 0, token, addr(0), 250),
            token_transfer(3, 1, token, addr(0), 120),
            call(1, 1, token, "balance_of", addr(3).to_vec()),
            bad_key_tx(1),
        ],
    ];
    for (i, txs) in blocks.iter().enumerate() {
        let height = i as u64 + 1;
        let want = reference.execute(height, txs);
        assert_eq!(fast.execute(height, txs), want, "block {height}");
        assert_eq!(tiny.execute(height, txs), want, "block {height}");
    }
    let (block2, _) = reference.execute(9, &bad_signature_txs(0));
    for r in &block2.receipts {
        assert!(
            matches!(
                r.status,
                TxStatus::Rejected {
                    reason: RejectReason::BadSignature
                }
            ),
            "{:?}",
            r.status
        );
    }
    // The fast paths were taken, the reference path never.
    assert!(
        fast.vm.cache_stats().hits >= 5,
        "{:?}",
        fast.vm.cache_stats()
    );
    assert!(fast.keys.lock().unwrap().stats().hits >= 5);
    assert_eq!(reference.vm.cache_stats().hits, 0);
    assert_eq!(reference.keys.lock().unwrap().stats().hits, 0);
    // And the token did what it says: 120 went back to 0, the too-large transfer failed.
    let (result, _) = reference.execute(4, &[call(2, 1, token, "balance_of", addr(0).to_vec())]);
    let TxStatus::Success { return_data } = &result.receipts[0].status else {
        panic!("{:?}", result.receipts[0].status);
    };
    assert_eq!(return_data, &amount(170).to_vec());
}

/// `proxy.fwd` arguments: call `node` with all gas and `script`.
fn forward(node: &Address, script: &[u8]) -> Vec<u8> {
    let mut a = node.to_vec();
    a.extend_from_slice(&u64::MAX.to_le_bytes());
    a.extend_from_slice(script);
    a
}

#[test]
fn nested_calls_found_by_code_hash_give_identical_results() {
    let mut fast = Node::new(256, KeyCache::DEFAULT_CAPACITY);
    let mut tiny = Node::new(1, 1);
    let mut reference = Node::new(0, 0);
    let proxy = contract_address(&addr(0), 0);
    let node = contract_address(&addr(0), 1);
    let code = |w: String| wat::parse_str(w).unwrap();
    let blocks: Vec<Vec<SignedTx>> = vec![
        vec![
            deploy(0, 0, &code(calls_wat::proxy())),
            deploy(0, 1, &code(calls_wat::node())),
        ],
        vec![
            // node writes [7] = [9] and returns [42]; then it traps; then a missing callee.
            call(0, 2, proxy, "fwd", forward(&node, &[1, 7, 9, 5, 42])),
            call(0, 3, proxy, "fwd", forward(&node, &[1, 8, 1, 3])),
            call(0, 4, proxy, "fwd", forward(&addr(77), &[5, 1])),
            call(1, 0, proxy, "fwd", forward(&node, &[5, 7])),
        ],
        vec![
            call(1, 1, proxy, "fwd_then_abort", forward(&node, &[1, 9, 9])),
            call(0, 5, proxy, "fwd", forward(&proxy, &[])),
        ],
    ];
    for (i, txs) in blocks.iter().enumerate() {
        let height = i as u64 + 1;
        let want = reference.execute(height, txs);
        assert_eq!(fast.execute(height, txs), want, "block {height}");
        assert_eq!(tiny.execute(height, txs), want, "block {height}");
    }
    // Every call after the deployments found its module, nested callees included: 6
    // transactions, 4 of them reaching `node`, one re-entering `proxy`.
    let hits = fast.vm.cache_stats().hits;
    assert!(hits >= 10, "{:?}", fast.vm.cache_stats());
    assert_eq!(reference.vm.cache_stats().hits, 0);
    let (result, _) = reference.execute(4, &[call(1, 2, node, "run", vec![5, 3])]);
    assert!(
        matches!(&result.receipts[0].status, TxStatus::Success { return_data } if return_data == &[3]),
        "{:?}",
        result.receipts[0].status
    );
}
