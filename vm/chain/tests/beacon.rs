//! The randomness beacon on chain: every committed block carries the proposer's VRF proof and,
//! from height lag + 1, the VDF output of height − lag; wrong evidence refuses the block.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::beacon::{BeaconEvidence, VrfEvidence, seed_key};
use keel_chain::blocks::HeaderError;
use keel_chain::*;

fn chain_with_blocks(dir: &std::path::Path, n: u64) -> Chain {
    let mut chain = new_chain(dir);
    for _ in 0..n {
        block(&mut chain, vec![]);
    }
    chain
}

fn next(chain: &Chain) -> BlockHeader {
    let (h, _) = chain.head().unwrap();
    chain.next_header(1_700_000_000 + h, *PROPOSER).unwrap()
}

fn refused(chain: &Chain, header: BlockHeader) -> HeaderError {
    match chain.execute_block(&Block {
        header,
        txs: vec![],
    }) {
        Err(ChainError::Header(e)) => e,
        other => panic!("expected a header error, got {other:?}"),
    }
}

#[test]
fn each_height_becomes_final_lag_blocks_later_with_the_value_of_its_vdf_output() {
    let dir = tempfile::tempdir().unwrap();
    let lag = ChainConfig::demo().beacon.lag;
    let chain = chain_with_blocks(dir.path(), lag + 3);
    let params = ChainConfig::demo().beacon.vdf().unwrap();
    for h in 1..=lag + 3 {
        let record = chain.block_record(h).unwrap().unwrap();
        let header = record.block().unwrap().unwrap().header;
        match header.beacon {
            None => assert!(h <= lag, "block {h} must carry a beacon"),
            Some(ev) => {
                assert_eq!(ev.height, h - lag);
                // Consensus stored exactly H(y) of the carried, verifying output.
                assert_eq!(chain.beacon_value(ev.height).unwrap(), Some(ev.value()));
                let _ = &params;
            }
        }
    }
    // Final: heights 1..=3; not yet: lag + 1 onwards (their blocks are still to come).
    for p in 1..=3 {
        assert!(chain.beacon_value(p).unwrap().is_some(), "height {p}");
    }
    assert_eq!(chain.beacon_value(4).unwrap(), None);
    assert_eq!(chain.beacon_value(0).unwrap(), None);
    // Consumed seeds are deleted; the ones still due are kept.
    assert_eq!(chain.get(&seed_key(1)).unwrap(), None);
    assert!(chain.get(&seed_key(lag + 3)).unwrap().is_some());
}

#[test]
fn a_tampered_reused_or_foreign_vrf_proof_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = chain_with_blocks(dir.path(), 1);
    let good = next(&chain);

    let mut tampered = good.clone();
    tampered.vrf.proof[10] ^= 1;
    assert!(matches!(refused(&chain, tampered), HeaderError::BadVrf(_)));

    // Block 1's proof again (a reused value): proofs are unique per (height, seed).
    let mut reused = good.clone();
    reused.vrf = chain
        .block_record(1)
        .unwrap()
        .unwrap()
        .block()
        .unwrap()
        .unwrap()
        .header
        .vrf;
    assert!(matches!(refused(&chain, reused), HeaderError::BadVrf(_)));

    // Another validator's valid proof, under the proposer's name.
    let config = chain.config().unwrap();
    let (h, _) = chain.head().unwrap();
    let mut foreign = good.clone();
    foreign.vrf = VrfEvidence::prove(
        &key(1),
        config.chain_id,
        h + 1,
        chain.beacon_seed(h).unwrap(),
    );
    assert_eq!(refused(&chain, foreign), HeaderError::VrfKeyNotProposer);

    // The proposer's key with a proof from another key.
    let mut mixed = good.clone();
    mixed.vrf.proof = VrfEvidence::prove(
        &key(1),
        config.chain_id,
        h + 1,
        chain.beacon_seed(h).unwrap(),
    )
    .proof;
    assert!(matches!(
        refused(&chain, mixed),
        HeaderError::BadVrf(keel_beacon::VrfError::Invalid)
    ));

    // No proof at all (a simulation header).
    let mut none = good.clone();
    none.vrf = VrfEvidence::none();
    assert_eq!(refused(&chain, none), HeaderError::VrfKeyNotProposer);

    chain
        .execute_block(&Block {
            header: good,
            txs: vec![],
        })
        .unwrap();
}

#[test]
fn the_beacon_must_be_carried_exactly_when_due_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let lag = ChainConfig::demo().beacon.lag;
    let chain = chain_with_blocks(dir.path(), lag);
    let good = next(&chain);
    let ev = good.beacon.clone().unwrap();

    let mut missing = good.clone();
    missing.beacon = None;
    assert_eq!(
        refused(&chain, missing),
        HeaderError::BeaconSchedule {
            due: Some(1),
            got: None
        }
    );
    let mut early = good.clone();
    early.beacon = Some(BeaconEvidence {
        height: 2,
        ..ev.clone()
    });
    assert!(matches!(
        refused(&chain, early),
        HeaderError::BeaconSchedule { .. }
    ));

    let mut wrong = good.clone();
    let mut out = ev.output.clone();
    out[255] ^= 2;
    wrong.beacon = Some(BeaconEvidence {
        output: out,
        ..ev.clone()
    });
    assert!(matches!(refused(&chain, wrong), HeaderError::BadVdf(_)));

    let mut short = good.clone();
    short.beacon = Some(BeaconEvidence {
        proof: vec![1; 17],
        ..ev.clone()
    });
    assert!(matches!(
        refused(&chain, short),
        HeaderError::BadVdf(keel_beacon::VdfError::Length { got: 17, .. })
    ));
    chain
        .execute_block(&Block {
            header: good,
            txs: vec![],
        })
        .unwrap();
}

#[test]
fn a_beacon_before_its_height_is_due_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lag = ChainConfig::demo().beacon.lag;
    let donor = chain_with_blocks(dir.path(), lag + 1);
    let ev = donor
        .block_record(lag + 1)
        .unwrap()
        .unwrap()
        .block()
        .unwrap()
        .unwrap()
        .header
        .beacon
        .unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let chain = chain_with_blocks(dir2.path(), 0);
    let mut header = next(&chain);
    header.beacon = Some(ev);
    assert_eq!(
        refused(&chain, header),
        HeaderError::BeaconSchedule {
            due: None,
            got: Some(1)
        }
    );
}

#[test]
fn a_node_without_the_proposers_key_cannot_build_its_block() {
    let dir = tempfile::tempdir().unwrap();
    let chain = new_chain(dir.path());
    assert!(matches!(
        chain.next_header(1, addr(3)),
        Err(ChainError::NoProposerKey { .. })
    ));
}
