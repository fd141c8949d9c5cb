//! Transactions, blocks and fees on a real database.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::blocks::HeaderError;
use keel_chain::receipts_root::{receipts_root, receipts_root_key};
use keel_chain::*;

#[test]
fn a_transfer_moves_value_bumps_the_nonce_and_pays_exactly_its_gas() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let before = balance(&chain, &addr(0));
    let r = block(&mut chain, vec![transfer(0, 0, addr(1), 1234)]);
    let rc = &r.receipts[0];
    assert!(
        matches!(rc.status, TxStatus::Success { .. }),
        "{:?}",
        rc.status
    );
    // fee = Σ used × price + compute × priority fee
    let expected_fee: u128 = rc
        .gas_used
        .iter()
        .zip(r.prices.iter())
        .map(|(u, p)| u128::from(*u) * u128::from(*p))
        .sum::<u128>()
        + u128::from(rc.gas_used[0]) * 2;
    assert_eq!(rc.fee, Amount::from_u128(expected_fee));
    assert_eq!(balance(&chain, &addr(0)), before - 1234 - expected_fee);
    assert_eq!(balance(&chain, &addr(1)), 10u128.pow(30) + 1234);
    assert_eq!(balance(&chain, &PROPOSER), u128::from(rc.gas_used[0]) * 2);
    assert_eq!(chain.account(&addr(0)).unwrap().unwrap().nonce, 1);
    // Bandwidth counts the encoded transaction.
    assert_eq!(
        rc.gas_used[3],
        encode(&transfer(0, 0, addr(1), 1234)).len() as u64
    );
}

#[test]
fn invalid_transactions_are_rejected_with_typed_reasons_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let (_, root_before) = chain.head().unwrap();
    let mut bad_sig = transfer(0, 0, addr(1), 1);
    bad_sig.signature = key(1).sign(&bad_sig.tx.signing_message()).to_bytes();
    let mut wrong_chain = transfer(0, 0, addr(1), 1).tx;
    wrong_chain.chain_id = 7;
    let mut low_fee = transfer(0, 0, addr(1), 1).tx;
    low_fee.max_fee_per_unit = [0, 1000, 1000, 1000];
    let mut low_gas = transfer(0, 0, addr(1), 1).tx;
    low_gas.gas_limits[0] = 10;
    let too_much = transfer(2, 0, addr(1), 10u128.pow(30));
    let r = block(
        &mut chain,
        vec![
            bad_sig,
            wrong_chain.sign(&key(0)),
            transfer(0, 5, addr(1), 1),
            low_fee.sign(&key(0)),
            low_gas.sign(&key(0)),
            too_much,
        ],
    );
    let reasons: Vec<_> = r
        .receipts
        .iter()
        .map(|rc| match &rc.status {
            TxStatus::Rejected { reason } => reason.clone(),
            other => panic!("expected a rejection, got {other:?}"),
        })
        .collect();
    assert_eq!(reasons[0], RejectReason::BadSignature);
    assert!(matches!(
        reasons[1],
        RejectReason::WrongChain { got: 7, .. }
    ));
    assert_eq!(
        reasons[2],
        RejectReason::WrongNonce {
            expected: 0,
            got: 5
        }
    );
    assert!(matches!(
        reasons[3],
        RejectReason::FeeTooLow {
            dimension: keel_vm::Dimension::Compute
        }
    ));
    assert!(matches!(
        reasons[4],
        RejectReason::GasLimitTooLow {
            dimension: keel_vm::Dimension::Compute
        }
    ));
    assert_eq!(reasons[5], RejectReason::InsufficientBalance);
    for rc in &r.receipts {
        assert_eq!(rc.fee, Amount::ZERO);
        assert_eq!(rc.gas_used, [0; 4]);
    }
    // Only the price record changes (no usage lowers prices to their floor, already there).
    assert_eq!(chain.account(&addr(0)).unwrap().unwrap().nonce, 0);
    assert_eq!(balance(&chain, &addr(0)), 10u128.pow(30));
    let _ = root_before;
}

#[test]
fn a_deployed_counter_keeps_its_storage_and_a_failed_call_reverts_but_pays() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let r = block(&mut chain, vec![deploy(0, 0, keel_contracts::COUNTER.wasm)]);
    let counter = r.receipts[0].contract.expect("deploy returns the address");
    assert_eq!(counter, contract_address(&addr(0), 0));
    let r = block(
        &mut chain,
        vec![
            call(1, 0, counter, "increment", vec![]),
            call(1, 1, counter, "increment", vec![]),
        ],
    );
    let TxStatus::Success { return_data } = &r.receipts[1].status else {
        panic!("{:?}", r.receipts[1].status)
    };
    assert_eq!(return_data, &2u64.to_le_bytes());
    assert_eq!(r.receipts[1].events.len(), 1);
    let acc = chain.account(&counter).unwrap().unwrap();
    assert_eq!(acc.storage_bytes, 5 + 8);
    // The deposit for the 13 bytes went from the caller into the contract's rent balance.
    assert_eq!(acc.rent_balance, Amount::from_u128(13 * 1_000));

    // A call that traps: gas paid, nonce bumped, storage unchanged.
    let before = balance(&chain, &addr(1));
    let r = block(
        &mut chain,
        vec![call(1, 2, counter, "no_such_entry", vec![])],
    );
    assert!(matches!(
        r.receipts[0].status,
        TxStatus::Failed {
            reason: FailReason::Trap(keel_vm::Trap::NoSuchEntry { .. })
        }
    ));
    assert!(r.receipts[0].fee > Amount::ZERO);
    assert_eq!(
        balance(&chain, &addr(1)),
        before - u128::try_from(r.receipts[0].fee.to_u256()).unwrap()
    );
    assert_eq!(chain.account(&addr(1)).unwrap().unwrap().nonce, 3);
    let r = block(&mut chain, vec![call(1, 3, counter, "get", vec![])]);
    let TxStatus::Success { return_data } = &r.receipts[0].status else {
        panic!()
    };
    assert_eq!(return_data, &2u64.to_le_bytes());
}

#[test]
fn deploying_code_outside_the_profile_fails_with_the_admission_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let floaty = wat::parse_str(r#"(module (func (export "f") (drop (f32.const 1))))"#).unwrap();
    let r = block(&mut chain, vec![deploy(0, 0, &floaty)]);
    assert!(
        matches!(&r.receipts[0].status, TxStatus::Failed { reason: FailReason::Admission(m) } if m.contains("float"))
    );
    assert!(
        chain
            .account(&contract_address(&addr(0), 0))
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_token_contract_runs_on_chain_with_u256_balances() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let r = block(&mut chain, vec![deploy(0, 0, keel_contracts::TOKEN.wasm)]);
    let token = r.receipts[0].contract.unwrap();
    let supply = [0xffu8; 32];
    let mut transfer_args = addr(2).to_vec();
    let mut amount = [0u8; 32];
    amount[0] = 77;
    transfer_args.extend_from_slice(&amount);
    let r = block(
        &mut chain,
        vec![
            call(0, 1, token, "init", supply.to_vec()),
            call(0, 2, token, "transfer", transfer_args),
            call(3, 0, token, "balance_of", addr(2).to_vec()),
        ],
    );
    for rc in &r.receipts {
        assert!(
            matches!(rc.status, TxStatus::Success { .. }),
            "{:?}",
            rc.status
        );
    }
    let TxStatus::Success { return_data } = &r.receipts[2].status else {
        panic!()
    };
    assert_eq!(return_data, &amount.to_vec());
}

#[test]
fn blocks_must_follow_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let chain = new_chain(dir.path());
    let mut header = chain.next_header(1, *PROPOSER).unwrap();
    header.height += 1;
    assert!(matches!(
        chain.execute_block(&Block {
            header: header.clone(),
            txs: vec![]
        }),
        Err(ChainError::WrongHeight { .. })
    ));
    header.height -= 1;
    header.parent_root = [1; 32];
    assert!(matches!(
        chain.execute_block(&Block {
            header,
            txs: vec![]
        }),
        Err(ChainError::WrongParent { .. })
    ));
}

#[test]
fn sustained_storage_heavy_blocks_raise_only_the_storage_price() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ChainConfig::demo();
    config.fees.targets = [u64::MAX / 4, 100, 1_000, u64::MAX / 4];
    config.fees.eta_num = [1, 1, 1, 1];
    config.fees.eta_den = 1;
    let mut chain = Chain::init(
        dir.path(),
        &genesis_with(config),
        Box::new(keel_crypto::SingleVerifier),
    )
    .unwrap();
    let mut prices = Vec::new();
    for n in 0..4u64 {
        // Each transfer to a fresh address creates an account: 128 storage bytes > target 100.
        let r = block(&mut chain, vec![transfer(0, n, [n as u8 + 1; 32], 1)]);
        assert!(matches!(r.receipts[0].status, TxStatus::Success { .. }));
        prices.push(r.next_prices);
    }
    for w in prices.windows(2) {
        assert!(w[1][1] > w[0][1], "storage price must rise: {prices:?}");
        assert_eq!(w[1][0], w[0][0], "compute price must not move: {prices:?}");
        assert_eq!(
            w[1][3], w[0][3],
            "bandwidth price must not move: {prices:?}"
        );
    }
    // Memory usage (0 pages) is under its target: that price stays at its floor.
    assert!(prices.iter().all(|p| p[2] == 1));
}

#[test]
fn results_are_stored_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let r = block(&mut chain, vec![transfer(0, 0, addr(1), 5)]);
    drop(chain);
    let chain = Chain::open(dir.path(), Box::new(keel_crypto::SingleVerifier)).unwrap();
    assert_eq!(chain.head().unwrap(), (1, r.state_root));
    assert_eq!(chain.block_result(1).unwrap().unwrap(), r);
}

#[test]
fn a_block_whose_timestamp_does_not_increase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = new_chain(dir.path());
    let header = chain.next_header(100, *PROPOSER).unwrap();
    chain
        .execute_block(&Block {
            header,
            txs: vec![],
        })
        .unwrap();
    for stale in [100, 99] {
        let header = chain.next_header(stale, *PROPOSER).unwrap();
        let refused = chain.execute_block(&Block {
            header,
            txs: vec![],
        });
        assert!(
            matches!(
                refused,
                Err(ChainError::Header(HeaderError::StaleTimestamp { parent: 100, got }))
                    if got == stale
            ),
            "{refused:?}"
        );
    }
    assert_eq!(chain.head().unwrap().0, 1);
    let header = chain.next_header(101, *PROPOSER).unwrap();
    chain
        .execute_block(&Block {
            header,
            txs: vec![],
        })
        .unwrap();
}

#[test]
fn a_block_from_a_proposer_outside_the_validator_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    for stranger in [[0u8; 32], [0x11; 32]] {
        let mut header = chain.next_header(1, *PROPOSER).unwrap();
        header.proposer = stranger;
        assert!(matches!(
            chain.simulate(&header, &[]),
            Err(ChainError::Header(HeaderError::UnknownProposer { .. }))
        ));
        assert!(matches!(
            chain.execute_block(&Block { header, txs: vec![] }),
            Err(ChainError::Header(HeaderError::UnknownProposer { proposer })) if proposer == stranger
        ));
    }
    // Any validator may propose (with its key for the VRF proof).
    chain.add_proposer_key(key(2));
    let header = chain.next_header(1, addr(2)).unwrap();
    chain
        .execute_block(&Block {
            header,
            txs: vec![],
        })
        .unwrap();
}

#[test]
fn the_state_root_commits_to_each_blocks_receipts_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let r = block(
        &mut chain,
        vec![transfer(0, 0, addr(1), 5), transfer(0, 9, addr(1), 5)],
    );
    assert_eq!(r.receipts_root, receipts_root(&r.receipts));
    let key = receipts_root_key(r.height);
    let (value, proof, _, root) = chain.prove(&key).unwrap();
    assert_eq!(value, Some(r.receipts_root.to_vec()));
    assert_eq!(root, r.state_root);
    assert!(
        keel_state::verify_proof(keel_state::RootHash(root), &key, value.as_deref(), &proof)
            .is_ok()
    );
    // A receipts-only difference (same writes) changes the state root.
    let dir2 = tempfile::tempdir().unwrap();
    let mut other = new_chain(dir2.path());
    let r2 = block(
        &mut other,
        vec![transfer(0, 0, addr(1), 5), transfer(0, 8, addr(1), 5)],
    );
    assert_ne!(r2.receipts_root, r.receipts_root);
    assert_ne!(r2.state_root, r.state_root);
}
