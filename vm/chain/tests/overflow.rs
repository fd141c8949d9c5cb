//! Arithmetic at the edges is a defined outcome, identical on every node: a credit that would
//! overflow a balance is never dropped, nonces and gas limits at their maximum never wrap, and
//! a genesis whose supply does not fit a u256 is refused.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::routines::RoutineCache;
use keel_chain::*;
use ruint::aliases::U256;
use std::collections::BTreeMap;

type Base = BTreeMap<Vec<u8>, Vec<u8>>;

fn rich(balance: U256) -> Account {
    Account {
        balance: Amount::from_u256(balance),
        ..Account::default()
    }
}

/// A state with the demo config and these accounts (no genesis checks: any balances).
fn state(accounts: &[(Address, Account)]) -> Base {
    let mut base = Base::new();
    base.insert(
        keel_chain::state_access::config_key(),
        encode(&ChainConfig::demo()),
    );
    for (a, acc) in accounts {
        base.insert(keel_state::keys::account_key(a), encode(acc));
    }
    base
}

/// Executes block 1 on `base`; returns the result and the state after it.
fn execute(base: Base, txs: &[SignedTx]) -> Result<(BlockResult, Base), ChainError> {
    let vm = node_tier_vm(keel_vm::VmConfig::default());
    let routines = RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter).unwrap();
    let exec = Executor {
        vm: &vm,
        verifier: &keel_crypto::SingleVerifier,
        routines: &routines,
        keys: &std::sync::Mutex::new(keel_crypto::KeyCache::default()),
    };
    let header = BlockHeader {
        height: 1,
        parent_root: [0; 32],
        timestamp: 0,
        proposer: *PROPOSER,
        vrf: Default::default(),
        beacon: None,
    };
    let executed = exec.execute(base.clone(), &header, txs)?;
    let mut after = base;
    for (k, v) in executed.writes {
        match v {
            Some(v) => after.insert(k, v),
            None => after.remove(&k),
        };
    }
    Ok((executed.result, after))
}

fn account(state: &Base, a: &Address) -> Account {
    state
        .get(&keel_state::keys::account_key(a))
        .map(|b| decode("account", b).unwrap())
        .unwrap_or_default()
}

#[test]
fn a_transfer_that_would_overflow_the_recipient_fails_and_moves_nothing() {
    let near_max = U256::MAX - U256::from(5u8);
    let base = state(&[
        (addr(0), rich(U256::from(10u128.pow(30)))),
        (addr(1), rich(near_max)),
    ]);
    let (r, after) = execute(base, &[transfer(0, 0, addr(1), 10)]).unwrap();
    assert!(
        matches!(
            r.receipts[0].status,
            TxStatus::Failed {
                reason: FailReason::BalanceOverflow
            }
        ),
        "{:?}",
        r.receipts[0]
    );
    assert_eq!(account(&after, &addr(1)).balance.to_u256(), near_max);
    // The sender paid the fee and nothing else: the debit was reverted with the transfer.
    let fee = r.receipts[0].fee.to_u256();
    assert_eq!(
        account(&after, &addr(0)).balance.to_u256(),
        U256::from(10u128.pow(30)) - fee
    );
    // Exactly up to the maximum still works.
    let base = state(&[
        (addr(0), rich(U256::from(10u128.pow(30)))),
        (addr(1), rich(near_max)),
    ]);
    let (r, after) = execute(base, &[transfer(0, 0, addr(1), 5)]).unwrap();
    assert!(matches!(r.receipts[0].status, TxStatus::Success { .. }));
    assert_eq!(account(&after, &addr(1)).balance.to_u256(), U256::MAX);
}

#[test]
fn a_priority_fee_that_would_overflow_the_proposer_stops_the_block_instead_of_vanishing() {
    let base = state(&[
        (addr(0), rich(U256::from(10u128.pow(30)))),
        (*PROPOSER, rich(U256::MAX)),
    ]);
    match execute(base, &[transfer(0, 0, addr(2), 1)]) {
        Err(ChainError::BalanceOverflow { account }) => {
            assert_eq!(account, hex::encode(*PROPOSER));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok((r, _)) => panic!("the tip was dropped: {:?}", r.receipts),
    }
}

#[test]
fn a_sender_at_the_last_nonce_is_rejected_without_wrapping() {
    let mut sender = rich(U256::from(10u128.pow(30)));
    sender.nonce = u64::MAX;
    let base = state(&[(addr(0), sender)]);
    let (r, after) = execute(base, &[transfer(0, u64::MAX, addr(1), 1)]).unwrap();
    assert!(
        matches!(
            r.receipts[0].status,
            TxStatus::Rejected {
                reason: RejectReason::NonceExhausted
            }
        ),
        "{:?}",
        r.receipts[0]
    );
    assert_eq!(account(&after, &addr(0)).nonce, u64::MAX);
}

#[test]
fn gas_limits_and_fees_at_u64_max_are_rejected_cleanly() {
    let base = state(&[(addr(0), rich(U256::MAX))]);
    let huge = |nonce, limits, priority_fee| {
        Transaction {
            chain_id: ChainConfig::demo().chain_id,
            sender: key(0).public_key().to_bytes(),
            nonce,
            gas_limits: limits,
            max_fee_per_unit: [u64::MAX; 4],
            priority_fee,
            kind: TxKind::Transfer {
                to: addr(1),
                amount: Amount::from_u128(1),
            },
        }
        .sign(&key(0))
    };
    let (r, _) = execute(
        base,
        &[huge(0, [u64::MAX; 4], u64::MAX), huge(0, LIMITS, u64::MAX)],
    )
    .unwrap();
    assert!(
        matches!(
            r.receipts[0].status,
            TxStatus::Rejected {
                reason: RejectReason::BlockFull { .. }
            }
        ),
        "{:?}",
        r.receipts[0]
    );
    // A u64::MAX priority fee on a fitting limit is affordable for a u256 balance: it runs.
    assert!(
        matches!(r.receipts[1].status, TxStatus::Success { .. }),
        "{:?}",
        r.receipts[1]
    );
}

#[test]
fn a_genesis_whose_balances_overflow_a_u256_is_refused() {
    let mut g = genesis_with(ChainConfig::demo());
    g.accounts = vec![
        (addr(0), Amount::from_u256(U256::MAX)),
        (addr(1), Amount::from_u128(1)),
    ];
    assert_eq!(g.total_supply(), None);
    let dir = tempfile::tempdir().unwrap();
    match Chain::init(dir.path(), &g, Box::new(keel_crypto::SingleVerifier)) {
        Err(ChainError::Genesis(keel_chain::genesis_routines::GenesisError::SupplyOverflow)) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a genesis with more than a u256 of supply was accepted"),
    }
}
