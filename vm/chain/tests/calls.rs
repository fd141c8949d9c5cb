//! Cross-contract calls, capabilities, re-entrancy, faults and their receipts.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "common/calls_wat.rs"]
mod calls_wat;
mod common;

use common::*;
use keel_chain::*;
use keel_vm::{FaultKind, Trap};

pub fn storage(chain: &Chain, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
    chain
        .get(&keel_state::keys::storage_key(contract, key))
        .unwrap()
}

/// Deploys `wat` modules from account 0 starting at `nonce`; returns their addresses.
pub fn deploy_all(chain: &mut Chain, nonce: u64, wats: &[String]) -> Vec<Address> {
    let txs: Vec<SignedTx> = wats
        .iter()
        .enumerate()
        .map(|(i, w)| deploy(0, nonce + i as u64, &wat::parse_str(w).unwrap()))
        .collect();
    let r = block(chain, txs);
    r.receipts
        .iter()
        .map(|rc| {
            assert!(
                matches!(rc.status, TxStatus::Success { .. }),
                "{:?}",
                rc.status
            );
            rc.contract.unwrap()
        })
        .collect()
}

fn status(r: &Receipt) -> Result<Vec<u8>, FailReason> {
    match &r.status {
        TxStatus::Success { return_data } => Ok(return_data.clone()),
        TxStatus::Failed { reason } => Err(reason.clone()),
        TxStatus::Rejected { reason } => panic!("rejected: {reason:?}"),
    }
}

fn fwd_args(target: &Address, compute: u64, script: &[u8]) -> Vec<u8> {
    let mut a = target.to_vec();
    a.extend_from_slice(&compute.to_le_bytes());
    a.extend_from_slice(script);
    a
}

#[test]
fn a_callee_returns_data_and_its_writes_commit_with_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [proxy, node] = deploy_all(&mut chain, 0, &[calls_wat::proxy(), calls_wat::node()])[..]
    else {
        panic!()
    };
    // node: write [7]=[9], return [42]
    let r = block(
        &mut chain,
        vec![call(
            0,
            2,
            proxy,
            "fwd",
            fwd_args(&node, u64::MAX, &[1, 7, 9, 5, 42]),
        )],
    );
    assert_eq!(status(&r.receipts[0]).unwrap(), vec![0, 42]);
    assert!(r.receipts[0].faults.is_empty());
    assert_eq!(storage(&chain, &node, &[7]), Some(vec![9]));
    assert_eq!(storage(&chain, &proxy, b"p"), Some(vec![1]));
}

#[test]
fn a_failing_callee_reverts_only_its_own_writes_and_is_recorded_as_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [proxy, node] = deploy_all(&mut chain, 0, &[calls_wat::proxy(), calls_wat::node()])[..]
    else {
        panic!()
    };
    let r = block(
        &mut chain,
        vec![call(
            0,
            2,
            proxy,
            "fwd",
            fwd_args(&node, u64::MAX, &[1, 7, 9, 4]),
        )],
    );
    assert_eq!(status(&r.receipts[0]).unwrap(), vec![1]);
    assert_eq!(storage(&chain, &node, &[7]), None);
    assert_eq!(storage(&chain, &proxy, b"p"), Some(vec![1]));
    let f = &r.receipts[0].faults;
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].contract, f[0].entry.as_str(), f[0].depth),
        (FaultKind::Abort, node, "run", 1)
    );
    assert!(f[0].location.is_some(), "host-call faults are located");
}

#[test]
fn a_failing_caller_reverts_the_writes_its_callees_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [proxy, node] = deploy_all(&mut chain, 0, &[calls_wat::proxy(), calls_wat::node()])[..]
    else {
        panic!()
    };
    let r = block(
        &mut chain,
        vec![call(
            0,
            2,
            proxy,
            "fwd_then_abort",
            fwd_args(&node, u64::MAX, &[1, 7, 9]),
        )],
    );
    assert!(matches!(
        status(&r.receipts[0]),
        Err(FailReason::Trap(Trap::Abort { .. }))
    ));
    assert_eq!(storage(&chain, &node, &[7]), None);
    assert_eq!(storage(&chain, &proxy, b"p"), None);
}

#[test]
fn gas_of_nested_calls_adds_up_exactly_in_every_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [proxy, b, c] = deploy_all(
        &mut chain,
        0,
        &[calls_wat::proxy(), calls_wat::node(), calls_wat::node()],
    )[..] else {
        panic!()
    };
    // B does real work (two writes); C only sets return data. Both inputs have the same length
    // and both end with one byte of return data, so the proxy's own work is identical.
    let work = [1, 1, 2, 1, 2, 3, 5, 7];
    let idle = [5, 0, 5, 0, 5, 0, 5, 7];
    let r = block(
        &mut chain,
        vec![
            call(0, 3, proxy, "fwd", fwd_args(&b, u64::MAX, &work)),
            call(0, 4, proxy, "fwd", fwd_args(&c, u64::MAX, &idle)),
            call(0, 5, b, "run", work.to_vec()),
            call(0, 6, c, "run", idle.to_vec()),
        ],
    );
    let g: Vec<[u64; 4]> = r.receipts.iter().map(|r| r.gas_used).collect();
    for d in 0..4 {
        // Proxy's own work is identical in both calls, so callee costs are the difference.
        assert_eq!(
            g[0][d] as i128 - g[1][d] as i128,
            g[2][d] as i128 - g[3][d] as i128,
            "dimension {d}: {g:?}"
        );
    }
    assert!(g[2][1] > g[3][1], "B writes storage, C does not");
}

#[test]
fn a_callee_out_of_gas_consumes_exactly_its_forwarded_compute() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [proxy, node] = deploy_all(&mut chain, 0, &[calls_wat::proxy(), calls_wat::node()])[..]
    else {
        panic!()
    };
    // The node traps on op 3 ... but first burns its budget: a cap below the call's upfront
    // cost traps immediately with OutOfGas, consuming the whole cap.
    let r = block(
        &mut chain,
        vec![
            call(0, 2, proxy, "fwd", fwd_args(&node, 500, &[1, 1, 1])),
            call(0, 3, proxy, "fwd", fwd_args(&node, 700, &[1, 1, 1])),
        ],
    );
    assert_eq!(status(&r.receipts[0]).unwrap(), vec![1]);
    assert_eq!(status(&r.receipts[1]).unwrap(), vec![1]);
    assert_eq!(r.receipts[0].faults[0].kind, FaultKind::OutOfGas);
    assert_eq!(r.receipts[1].gas_used[0] - r.receipts[0].gas_used[0], 200);
}

fn fund(chain: &mut Chain, nonce: u64, to: Address, amount: u128) {
    let r = block(chain, vec![transfer(0, nonce, to, amount)]);
    assert!(matches!(r.receipts[0].status, TxStatus::Success { .. }));
}

/// Deploys a vault and the attacker, funds the vault with 1000 and credits the attacker 100;
/// then runs the attack. Returns (chain dir, chain, vault, attacker, attack receipt).
fn attack(cei: bool, reentrant: bool) -> (tempfile::TempDir, Chain, Address, Address, Receipt) {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [vault, attacker] = deploy_all(
        &mut chain,
        0,
        &[calls_wat::vault(cei, reentrant), calls_wat::attacker()],
    )[..] else {
        panic!()
    };
    fund(&mut chain, 2, vault, 1000);
    let mut credit = attacker.to_vec();
    credit.extend_from_slice(&100u64.to_le_bytes());
    let r = block(&mut chain, vec![call(0, 3, vault, "credit", credit)]);
    assert!(status(&r.receipts[0]).is_ok());
    let r = block(
        &mut chain,
        vec![call(1, 0, attacker, "attack", vault.to_vec())],
    );
    let receipt = r.receipts[0].clone();
    (dir, chain, vault, attacker, receipt)
}

#[test]
fn the_classic_reentrancy_attack_is_stopped_when_the_victim_did_not_opt_in() {
    let (_dir, chain, vault, attacker, r) = attack(false, false);
    assert_eq!(balance(&chain, &attacker), 0);
    assert_eq!(balance(&chain, &vault), 1000);
    let kinds: Vec<_> = r.faults.iter().map(|f| (f.kind, f.contract)).collect();
    assert_eq!(
        kinds,
        vec![(FaultKind::Reentrancy, attacker), (FaultKind::Abort, vault)]
    );
    assert!(matches!(&r.faults[0].trap, Trap::Reentrancy { contract } if *contract == vault));
}

#[test]
fn opting_in_without_checks_effects_interactions_is_exploitable() {
    // Shows why re-entrancy is opt-in: the same vault drains four times over.
    let (_dir, chain, vault, attacker, r) = attack(false, true);
    assert!(r.faults.is_empty(), "{:?}", r.faults);
    assert_eq!(balance(&chain, &attacker), 400);
    assert_eq!(balance(&chain, &vault), 600);
}

#[test]
fn opting_in_with_checks_effects_interactions_is_safe() {
    let (_dir, chain, vault, attacker, r) = attack(true, true);
    assert!(r.faults.is_empty(), "{:?}", r.faults);
    assert_eq!(balance(&chain, &attacker), 100);
    assert_eq!(balance(&chain, &vault), 900);
    assert_eq!(storage(&chain, &vault, &attacker), Some(vec![0; 8]));
}

#[test]
fn the_call_depth_limit_is_a_typed_fault() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let [node] = deploy_all(&mut chain, 0, &[calls_wat::node()])[..] else {
        panic!()
    };
    // A script that calls itself 20 levels deep, writing [d] = [1] at each depth.
    let mut script = Vec::new();
    for d in (0..20u8).rev() {
        let mut outer = vec![1, d, 1, 2];
        outer.extend_from_slice(&node);
        outer.extend_from_slice(&(script.len() as u16).to_le_bytes());
        outer.extend_from_slice(&script);
        script = outer;
    }
    let r = block(&mut chain, vec![call(0, 1, node, "run", script)]);
    assert!(status(&r.receipts[0]).is_ok());
    let f = &r.receipts[0].faults;
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].kind, f[0].depth), (FaultKind::CallDepth, 16));
    // Frames 0..=16 ran (the 17th call trapped its caller at depth 16, whose writes revert).
    assert_eq!(storage(&chain, &node, &[15]), Some(vec![1]));
    assert_eq!(storage(&chain, &node, &[16]), None);
}
