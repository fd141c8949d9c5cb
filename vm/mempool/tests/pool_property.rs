//! Property tests of the mempool and the block packer over random operation sequences.

use keel_chain::{Address, Amount, SignedTx, Transaction, TxKind};
use keel_mempool::{AdmitError, BlockLimits, Mempool, PoolConfig};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A transaction with a fake signature: the pool never verifies (the daemon does, before).
fn tx(sender: u8, nonce: u64, fee: u64, gas: [u64; 4], pad: usize) -> SignedTx {
    SignedTx {
        tx: Transaction {
            chain_id: 1,
            sender: [sender; 48],
            nonce,
            gas_limits: gas,
            max_fee_per_unit: [2; 4],
            priority_fee: fee,
            kind: TxKind::Call {
                contract: [1; 32],
                call: keel_chain::CallData {
                    entry: "f".into(),
                    args: vec![0; pad],
                },
                value: Amount::ZERO,
            },
        },
        signature: [sender; 96],
    }
}

fn sender_addr(sender: u8) -> Address {
    keel_chain::address_of(&[sender; 48])
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        sender: u8,
        nonce: u64,
        fee: u64,
        gas: [u64; 4],
        pad: usize,
    },
    Expire(u64),
    Commit(u8, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..6, 0u64..8, 0u64..50, prop::array::uniform4(0u64..400), 0usize..300)
            .prop_map(|(sender, nonce, fee, gas, pad)| Op::Insert { sender, nonce, fee, gas, pad }),
        1 => (0u64..50).prop_map(Op::Expire),
        1 => (0u8..6, 0u64..4).prop_map(|(s, n)| Op::Commit(s, n)),
    ]
}

fn small_config() -> PoolConfig {
    PoolConfig {
        max_txs: 12,
        max_bytes: 3_000,
        max_tx_bytes: 600,
        max_per_sender: 5,
        max_nonce_gap: 4,
        min_bump_percent: 10,
        ttl_ms: 30,
    }
}

/// Runs the ops; account nonces advance only through `Commit`.
fn run(ops: &[Op]) -> (Mempool, BTreeMap<Address, u64>) {
    let mut pool = Mempool::new(small_config());
    let mut nonces: BTreeMap<Address, u64> = BTreeMap::new();
    let mut now = 0u64;
    for op in ops {
        now += 1;
        match op {
            Op::Insert {
                sender,
                nonce,
                fee,
                gas,
                pad,
            } => {
                let account = *nonces.get(&sender_addr(*sender)).unwrap_or(&0);
                let before = pool.stats();
                let t = tx(*sender, account + nonce, *fee, *gas, *pad);
                match pool.insert(t.clone(), account, now) {
                    Ok(a) => {
                        assert_eq!(a.hash, t.hash());
                        assert!(pool.contains(&a.hash));
                        for e in &a.evicted {
                            assert!(!pool.contains(e));
                        }
                    }
                    Err(_) => assert_eq!(pool.stats(), before, "a refusal changes nothing"),
                }
            }
            Op::Expire(dt) => {
                now += dt;
                for h in pool.expire(now) {
                    assert!(!pool.contains(&h));
                }
            }
            Op::Commit(sender, by) => {
                let n = nonces.entry(sender_addr(*sender)).or_insert(0);
                *n += by;
                pool.prune_sender(&sender_addr(*sender), *n);
            }
        }
        pool.check_invariants().expect("invariants");
    }
    (pool, nonces)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_pool_stays_within_every_bound_and_consistent(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops);
    }

    #[test]
    fn a_built_block_respects_every_limit_nonce_order_and_prices(
        ops in prop::collection::vec(op(), 1..80),
        caps in prop::array::uniform4(100u64..2_000),
        max_txs in 1usize..10,
        prices in prop::array::uniform4(1u64..4),
    ) {
        let (pool, nonces) = run(&ops);
        let next = |a: &Address| *nonces.get(a).unwrap_or(&0);
        let limits = BlockLimits { gas: caps, max_txs };
        let block = pool.build(&limits, &prices, next);
        prop_assert!(block.txs.len() <= max_txs);
        let mut sum = [0u64; 4];
        let mut expected: BTreeMap<Address, u64> = BTreeMap::new();
        for t in &block.txs {
            for d in 0..4 {
                sum[d] += t.tx.gas_limits[d];
                prop_assert!(t.tx.max_fee_per_unit[d] >= prices[d]);
            }
            let s = t.tx.sender_address();
            let want = expected.entry(s).or_insert_with(|| next(&s));
            prop_assert_eq!(t.tx.nonce, *want, "nonce order without gaps");
            *want += 1;
        }
        for d in 0..4 {
            prop_assert!(sum[d] <= caps[d]);
        }
        prop_assert_eq!(sum, block.gas);
        // Deterministic: the same pool builds the same block.
        prop_assert_eq!(pool.build(&limits, &prices, next), block);
    }

    #[test]
    fn the_block_does_not_depend_on_arrival_order(
        txs in prop::collection::vec((0u8..5, 0u64..4, 0u64..30, prop::array::uniform4(0u64..300)), 1..25),
        seed in any::<u64>(),
    ) {
        // Big enough that nothing is evicted: the pool then holds the same set either way.
        let config = PoolConfig { max_txs: 1000, max_bytes: 1 << 20, ..small_config() };
        let items: Vec<SignedTx> = txs.iter().map(|(s, n, f, g)| tx(*s, *n, *f, *g, 0)).collect();
        let mut shuffled = items.clone();
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let fill = |list: &[SignedTx]| {
            let mut p = Mempool::new(config.clone());
            // Only the first (sender, nonce) of the list is kept, so both pools hold one set:
            // keep the highest fee per slot, as replacement would, by inserting sorted.
            let mut best: BTreeMap<([u8; 48], u64), SignedTx> = BTreeMap::new();
            for t in list {
                let k = (t.tx.sender, t.tx.nonce);
                let better = best.get(&k).is_none_or(|b| (t.tx.priority_fee, t.hash()) > (b.tx.priority_fee, b.hash()));
                if better { best.insert(k, t.clone()); }
            }
            for t in best.into_values() { let _ = p.insert(t, 0, 0); }
            p
        };
        let limits = BlockLimits { gas: [600, 600, 600, 600], max_txs: 8 };
        let a = fill(&items).build(&limits, &[1; 4], |_| 0);
        let b = fill(&shuffled).build(&limits, &[1; 4], |_| 0);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn a_replacement_needs_the_minimum_bump_and_then_takes_the_slot() {
    let mut pool = Mempool::new(small_config());
    let first = tx(1, 0, 100, [10; 4], 0);
    pool.insert(first.clone(), 0, 0).expect("admitted");
    let low = tx(1, 0, 109, [11; 4], 0);
    assert_eq!(
        pool.insert(low, 0, 0),
        Err(AdmitError::Underpriced {
            pending: 100,
            min: 110
        })
    );
    let high = tx(1, 0, 110, [11; 4], 0);
    let a = pool.insert(high.clone(), 0, 0).expect("replaces");
    assert_eq!(a.replaced, Some(first.hash()));
    assert!(!pool.contains(&first.hash()) && pool.contains(&high.hash()));
    assert_eq!(pool.stats().txs, 1);
    // A zero fee is replaced by a fee of at least 1.
    pool.insert(tx(2, 0, 0, [1; 4], 0), 0, 0).expect("admitted");
    assert_eq!(
        pool.insert(tx(2, 0, 0, [2; 4], 0), 0, 0),
        Err(AdmitError::Underpriced { pending: 0, min: 1 })
    );
}

#[test]
fn a_full_pool_evicts_the_lowest_paying_with_its_later_nonces_and_refuses_lower_bids() {
    let config = PoolConfig {
        max_txs: 3,
        ..small_config()
    };
    let mut pool = Mempool::new(config);
    let cheap0 = tx(1, 0, 1, [1; 4], 0);
    let cheap1 = tx(1, 1, 50, [1; 4], 0);
    let mid = tx(2, 0, 10, [1; 4], 0);
    for t in [&cheap0, &cheap1, &mid] {
        pool.insert(t.clone(), 0, 0).expect("room");
    }
    assert!(matches!(
        pool.insert(tx(3, 0, 1, [1; 4], 0), 0, 0),
        Err(AdmitError::PoolFull { lowest: 1 })
    ));
    let rich = tx(3, 0, 5, [1; 4], 0);
    let a = pool.insert(rich.clone(), 0, 0).expect("evicts");
    // The cheapest went, and its sender's nonce 1 with it (it could no longer execute).
    assert_eq!(a.evicted, vec![cheap0.hash(), cheap1.hash()]);
    assert_eq!(pool.stats().txs, 2);
    assert!(pool.contains(&mid.hash()) && pool.contains(&rich.hash()));
}

#[test]
fn nonces_out_of_window_are_refused_and_gaps_are_held_back() {
    let mut pool = Mempool::new(small_config());
    assert_eq!(
        pool.insert(tx(1, 2, 1, [1; 4], 0), 3, 0),
        Err(AdmitError::NonceTooLow {
            expected: 3,
            got: 2
        })
    );
    assert!(matches!(
        pool.insert(tx(1, 8, 1, [1; 4], 0), 3, 0),
        Err(AdmitError::NonceTooFar { .. })
    ));
    let later = pool
        .insert(tx(1, 5, 1, [1; 4], 0), 3, 0)
        .expect("in window");
    assert!(!later.ready, "nonces 3 and 4 are missing");
    let limits = BlockLimits {
        gas: [1_000; 4],
        max_txs: 10,
    };
    assert!(
        pool.build(&limits, &[1; 4], |_| 3).txs.is_empty(),
        "gap held back"
    );
    assert!(pool.insert(tx(1, 3, 1, [1; 4], 0), 3, 0).expect("ok").ready);
    let filled = pool.insert(tx(1, 4, 1, [1; 4], 0), 3, 0).expect("ok");
    assert!(filled.ready);
    let nonces: Vec<u64> = pool
        .build(&limits, &[1; 4], |_| 3)
        .txs
        .iter()
        .map(|t| t.tx.nonce)
        .collect();
    assert_eq!(nonces, vec![3, 4, 5]);
}

#[test]
fn transactions_expire_after_their_time_to_live() {
    let mut pool = Mempool::new(small_config());
    let old = tx(1, 0, 1, [1; 4], 0);
    let young = tx(2, 0, 1, [1; 4], 0);
    pool.insert(old.clone(), 0, 0).expect("ok");
    pool.insert(young.clone(), 0, 20).expect("ok");
    assert!(pool.expire(29).is_empty());
    assert_eq!(pool.expire(30), vec![old.hash()]);
    assert!(pool.contains(&young.hash()));
}

#[test]
fn the_packer_prefers_fee_per_scarcest_dimension_and_breaks_ties_by_hash() {
    let mut pool = Mempool::new(PoolConfig::default());
    // Same tip per compute unit; `storage_heavy` takes half the block's storage, so its value
    // per scarcest share is lower than `light`'s, which takes little of everything.
    let light = tx(1, 0, 10, [100, 10, 10, 100], 0);
    let storage_heavy = tx(2, 0, 10, [100, 500, 10, 100], 0);
    pool.insert(storage_heavy.clone(), 0, 0).expect("ok");
    pool.insert(light.clone(), 0, 0).expect("ok");
    let limits = BlockLimits {
        gas: [1_000, 1_000, 1_000, 1_000],
        max_txs: 1,
    };
    let block = pool.build(&limits, &[1; 4], |_| 0);
    assert_eq!(block.hashes, vec![light.hash()]);
    assert_eq!(block.left_out, 1);
    // Equal value and weight: the smaller hash goes first.
    let mut pool = Mempool::new(PoolConfig::default());
    let a = tx(3, 0, 10, [100, 10, 10, 100], 0);
    let b = tx(4, 0, 10, [100, 10, 10, 100], 0);
    pool.insert(a.clone(), 0, 0).expect("ok");
    pool.insert(b.clone(), 0, 0).expect("ok");
    let block = pool.build(
        &BlockLimits {
            max_txs: 2,
            ..limits
        },
        &[1; 4],
        |_| 0,
    );
    let mut want = vec![a.hash(), b.hash()];
    want.sort();
    assert_eq!(block.hashes, want);
}
