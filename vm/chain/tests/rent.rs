//! State rent on chain: deposits, lazy charging, eviction with a commitment, restore, rebates.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::*;

fn rent_config() -> ChainConfig {
    let mut c = ChainConfig::demo();
    c.rent.rate_num = 1; // 1 token per byte per block
    c.rent.rate_den = 1;
    c.rent.deposit_per_byte = 10; // 10 blocks of rent per byte
    c.rent.rebate_percent = 50;
    c
}

fn setup() -> (tempfile::TempDir, Chain, Address) {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::init(
        dir.path(),
        &genesis_with(rent_config()),
        Box::new(keel_crypto::SingleVerifier),
    )
    .unwrap();
    let r = block(&mut chain, vec![deploy(0, 0, keel_contracts::COUNTER.wasm)]);
    let counter = r.receipts[0].contract.unwrap();
    let r = block(&mut chain, vec![call(1, 0, counter, "increment", vec![])]);
    assert!(matches!(r.receipts[0].status, TxStatus::Success { .. }));
    (dir, chain, counter)
}

#[test]
fn rent_is_charged_lazily_from_the_deposit_when_the_contract_is_touched() {
    let (_d, mut chain, counter) = setup();
    let acc = chain.account(&counter).unwrap().unwrap();
    assert_eq!(
        (acc.storage_bytes, acc.rent_balance),
        (13, Amount::from_u128(130))
    );
    let paid_through = acc.rent_paid_through;
    for _ in 0..3 {
        block(&mut chain, vec![]);
    }
    // Untouched: nothing charged yet.
    assert_eq!(
        chain.account(&counter).unwrap().unwrap().rent_balance,
        Amount::from_u128(130)
    );
    let r = block(&mut chain, vec![call(1, 1, counter, "get", vec![])]);
    let acc = chain.account(&counter).unwrap().unwrap();
    let blocks = r.height - paid_through;
    assert_eq!(
        acc.rent_balance,
        Amount::from_u128(130 - 13 * u128::from(blocks))
    );
    assert_eq!(acc.rent_paid_through, r.height);
}

#[test]
fn an_exhausted_contract_is_evicted_then_restored_with_its_exact_data() {
    let (_d, mut chain, counter) = setup();
    let entries = vec![(b"count".to_vec(), 1u64.to_le_bytes().to_vec())];
    for _ in 0..12 {
        block(&mut chain, vec![]);
    }
    let r = block(&mut chain, vec![call(1, 1, counter, "get", vec![])]);
    assert!(matches!(
        r.receipts[0].status,
        TxStatus::Failed {
            reason: FailReason::Evicted
        }
    ));
    let acc = chain.account(&counter).unwrap().unwrap();
    assert_eq!(acc.evicted, Some(keel_chain::rent::commitment(&entries)));
    // The data left the live tree.
    let key = keel_state::keys::storage_key(&counter, b"count");
    assert_eq!(chain.get(&key).unwrap(), None);

    // Wrong data does not restore.
    let wrong = vec![(b"count".to_vec(), 9u64.to_le_bytes().to_vec())];
    let r = block(
        &mut chain,
        vec![tx(
            2,
            0,
            TxKind::Restore {
                contract: counter,
                entries: wrong,
            },
        )],
    );
    assert!(matches!(
        r.receipts[0].status,
        TxStatus::Failed {
            reason: FailReason::BadRestoreProof
        }
    ));

    let r = block(
        &mut chain,
        vec![tx(
            2,
            1,
            TxKind::Restore {
                contract: counter,
                entries,
            },
        )],
    );
    assert!(
        matches!(r.receipts[0].status, TxStatus::Success { .. }),
        "{:?}",
        r.receipts[0].status
    );
    let r = block(&mut chain, vec![call(1, 2, counter, "increment", vec![])]);
    let TxStatus::Success { return_data } = &r.receipts[0].status else {
        panic!("{:?}", r.receipts[0].status)
    };
    assert_eq!(return_data, &2u64.to_le_bytes());
}

#[test]
fn deleting_storage_rebates_part_of_the_deposit() {
    let (_d, mut chain, counter) = setup();
    let before = balance(&chain, &addr(3));
    let r = block(&mut chain, vec![call(3, 0, counter, "reset", vec![])]);
    assert!(matches!(r.receipts[0].status, TxStatus::Success { .. }));
    let fee = u128::try_from(r.receipts[0].fee.to_u256()).unwrap();
    // 13 bytes × 10 deposit × 50 % = 65 back to whoever deleted them.
    assert_eq!(balance(&chain, &addr(3)), before - fee + 65);
    let acc = chain.account(&counter).unwrap().unwrap();
    assert_eq!(acc.storage_bytes, 0);
}

/// A call to `counter`'s `get` with only `compute` gas.
fn get_with_compute(from: u32, nonce: u64, counter: Address, compute: u64) -> SignedTx {
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
            contract: counter,
            call: CallData {
                entry: "get".into(),
                args: vec![],
            },
            value: Amount::ZERO,
        },
    }
    .sign(&key(from))
}

#[test]
fn the_transaction_that_triggers_an_eviction_pays_for_every_entry_deleted() {
    let (_d, mut chain, counter) = setup();
    let c = rent_config();
    assert_eq!(chain.account(&counter).unwrap().unwrap().storage_entries, 1);
    for _ in 0..12 {
        block(&mut chain, vec![]);
    }
    let r = block(&mut chain, vec![call(1, 1, counter, "get", vec![])]);
    assert!(matches!(
        r.receipts[0].status,
        TxStatus::Failed {
            reason: FailReason::Evicted
        }
    ));
    // Intrinsic gas plus one entry's deletion.
    assert_eq!(
        r.receipts[0].gas_used[0],
        c.tx_base_compute + c.rent.evict_compute_per_entry
    );
    assert_eq!(chain.account(&counter).unwrap().unwrap().storage_entries, 0);
    // Calling the already evicted contract deletes nothing and pays nothing extra.
    let r = block(&mut chain, vec![call(1, 2, counter, "get", vec![])]);
    assert_eq!(r.receipts[0].gas_used[0], c.tx_base_compute);
}

#[test]
fn an_eviction_the_transaction_cannot_pay_for_deletes_nothing_and_costs_its_compute_limit() {
    let (_d, mut chain, counter) = setup();
    let c = rent_config();
    for _ in 0..12 {
        block(&mut chain, vec![]);
    }
    let short = c.tx_base_compute + c.rent.evict_compute_per_entry - 1;
    let r = block(&mut chain, vec![get_with_compute(1, 1, counter, short)]);
    assert!(
        matches!(
            r.receipts[0].status,
            TxStatus::Failed {
                reason: FailReason::GasLimit { .. }
            }
        ),
        "{:?}",
        r.receipts[0]
    );
    assert_eq!(r.receipts[0].gas_used[0], short);
    let acc = chain.account(&counter).unwrap().unwrap();
    assert_eq!((acc.evicted, acc.storage_entries), (None, 1));
    let key = keel_state::keys::storage_key(&counter, b"count");
    assert!(chain.get(&key).unwrap().is_some());
    // With the gas for it, the next call evicts.
    let r = block(&mut chain, vec![get_with_compute(1, 2, counter, short + 1)]);
    assert!(matches!(
        r.receipts[0].status,
        TxStatus::Failed {
            reason: FailReason::Evicted
        }
    ));
    assert!(chain.account(&counter).unwrap().unwrap().evicted.is_some());
}
