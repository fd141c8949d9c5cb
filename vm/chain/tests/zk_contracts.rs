//! The zero-knowledge contracts on chain: Poseidon Merkle membership and a Groth16-verified
//! private ballot, with the circuit, keys and proof made by circom/snarkjs (vm/zk/vectors).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::*;
use keel_zk::{Curve, poseidon};

struct Ballot {
    vk: Vec<u8>,
    proof: Vec<u8>,
    inputs: Vec<[u8; 32]>,
    leaves: Vec<[u8; 32]>,
    root: [u8; 32],
}

fn word(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn ballot() -> Ballot {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../zk/vectors/groth16_bn254.json")).unwrap();
    let strs = |x: &serde_json::Value| -> Vec<[u8; 32]> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|s| word(s.as_str().unwrap()))
            .collect()
    };
    Ballot {
        vk: hex::decode(v["vk"].as_str().unwrap()).unwrap(),
        proof: hex::decode(v["proof"].as_str().unwrap()).unwrap(),
        inputs: strs(&v["inputs"]),
        leaves: strs(&v["voters"]["leaves"]),
        root: word(v["voters"]["root"].as_str().unwrap()),
    }
}

fn ok(rc: &Receipt) -> Vec<u8> {
    match &rc.status {
        TxStatus::Success { return_data } => return_data.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

fn aborted(rc: &Receipt, needle: &str) {
    let text = format!("{:?}", rc.status);
    assert!(
        text.contains(needle),
        "expected an abort with {needle:?}, got {text}"
    );
}

fn membership(leaf: [u8; 32], index: u32, siblings: &[[u8; 32]]) -> Vec<u8> {
    let mut v = leaf.to_vec();
    v.extend_from_slice(&index.to_le_bytes());
    v.extend_from_slice(&(siblings.len() as u32).to_le_bytes());
    for s in siblings {
        v.extend_from_slice(s);
    }
    v
}

#[test]
fn the_merkle_contract_proves_membership_against_a_circomlibjs_tree() {
    let b = ballot();
    let h = |l: [u8; 32], r: [u8; 32]| poseidon(Curve::Bn254, &[l, r]).unwrap();
    let left = h(b.leaves[0], b.leaves[1]);
    let right = h(b.leaves[2], b.leaves[3]);
    // The root circomlibjs computed is the one Keel's Poseidon computes.
    assert_eq!(h(left, right), b.root);

    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let r = block(&mut chain, vec![deploy(0, 0, keel_contracts::MERKLE.wasm)]);
    let merkle = r.receipts[0].contract.unwrap();
    let mut txs = vec![call(0, 1, merkle, "set_root", b.root.to_vec())];
    let mut nonce = 0;
    let mut ask = |args: Vec<u8>| {
        nonce += 1;
        call(1, nonce - 1, merkle, "is_member", args)
    };
    for (i, leaf) in b.leaves.iter().enumerate() {
        let sibling = b.leaves[i ^ 1];
        let upper = if i < 2 { right } else { left };
        txs.push(ask(membership(*leaf, i as u32, &[sibling, upper])));
    }
    // A leaf at the wrong position, and a leaf that is not in the tree.
    txs.push(ask(membership(b.leaves[0], 1, &[b.leaves[1], right])));
    txs.push(ask(membership([7; 32], 0, &[b.leaves[1], right])));
    // A non-canonical sibling aborts instead of being reduced.
    txs.push(ask(membership(b.leaves[0], 0, &[[0xff; 32], right])));
    let r = block(&mut chain, txs);
    ok(&r.receipts[0]);
    for rc in &r.receipts[1..5] {
        assert_eq!(ok(rc), vec![1]);
    }
    assert_eq!(ok(&r.receipts[5]), vec![0]);
    assert_eq!(ok(&r.receipts[6]), vec![0]);
    aborted(&r.receipts[7], "not a canonical field element");
}

fn cast_args(proof: &[u8], vote: [u8; 32], nullifier: [u8; 32]) -> Vec<u8> {
    let mut v = proof.to_vec();
    v.extend_from_slice(&vote);
    v.extend_from_slice(&nullifier);
    v
}

#[test]
fn the_private_vote_counts_a_snarkjs_proof_once_and_refuses_forgeries() {
    let b = ballot();
    let (root, election, vote, nullifier) = (b.inputs[0], b.inputs[1], b.inputs[2], b.inputs[3]);
    assert_eq!(root, b.root);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let r = block(&mut chain, vec![deploy(0, 0, keel_contracts::VOTE.wasm)]);
    let contract = r.receipts[0].contract.unwrap();
    let mut setup = (b.vk.len() as u32).to_le_bytes().to_vec();
    setup.extend_from_slice(&b.vk);
    setup.extend_from_slice(&root);
    setup.extend_from_slice(&election);

    let mut flipped = vote;
    flipped[31] ^= 1;
    let mut bad_proof = b.proof.clone();
    bad_proof[..64].copy_from_slice(&b.proof[192..]); // C in place of A: valid point, wrong proof
    // One transaction per block: each may use a Groth16 verification's worth of gas, and a
    // block's compute limit is a one-second budget.
    let txs = vec![
        call(0, 1, contract, "setup", setup.clone()),
        // Forgeries first: another vote under the same proof, a tampered proof.
        call(
            1,
            0,
            contract,
            "cast",
            cast_args(&b.proof, flipped, nullifier),
        ),
        call(
            1,
            1,
            contract,
            "cast",
            cast_args(&bad_proof, vote, nullifier),
        ),
        call(2, 0, contract, "cast", cast_args(&b.proof, vote, nullifier)),
        // The same ballot again: the nullifier is spent.
        call(3, 0, contract, "cast", cast_args(&b.proof, vote, nullifier)),
        call(0, 2, contract, "setup", setup),
        call(1, 2, contract, "tally", vec![]),
    ];
    let receipts: Vec<Receipt> = txs
        .into_iter()
        .map(|tx| block(&mut chain, vec![tx]).receipts.remove(0))
        .collect();
    ok(&receipts[0]);
    aborted(&receipts[1], "proof does not verify");
    aborted(&receipts[2], "proof does not verify");
    ok(&receipts[3]);
    aborted(&receipts[4], "nullifier already used");
    aborted(&receipts[5], "already set up");
    let tally = ok(&receipts[6]);
    assert_eq!(u64::from_le_bytes(tally[..8].try_into().unwrap()), 0, "no");
    assert_eq!(u64::from_le_bytes(tally[8..].try_into().unwrap()), 1, "yes");
    // The verification was paid for: at least the schedule's Groth16 price.
    let price = keel_vm::GasSchedule::v1().host_cost(keel_vm::HostFn::Groth16Verify, 4 * 32);
    assert!(receipts[3].gas_used[0] >= price);
}
