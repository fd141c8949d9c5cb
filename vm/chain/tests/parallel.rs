//! The parallel executor gives exactly the sequential executor's results: random blocks of every
//! transaction kind (transfers, contract and cross-contract calls, traps, out-of-gas,
//! governance, rent with eviction, rejected transactions, full blocks) at conflict rates from
//! 0 % to 100 %, on 1, 2, 4 and 8 threads: same receipts (events, faults, gas), same block
//! result (receipts root, governance, prices), same audit lines, same state afterwards (hence
//! the same state root), same errors.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "common/calls_wat.rs"]
mod calls_wat;
mod common;

use common::*;
use keel_chain::audit::AuditLog;
use keel_chain::governance::{Action, GovTx};
use keel_chain::routines::RoutineCache;
use keel_chain::*;
use keel_crypto::{KeyCache, SignatureVerifier, Verdict, VerifyItem};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock};

type Base = BTreeMap<Vec<u8>, Vec<u8>>;

/// Signatures are checked by the executor's own code path either way; the tests need them
/// valid and fast.
struct AllValid;

impl SignatureVerifier for AllValid {
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        vec![Verdict::Valid; items.len()]
    }
}

/// Funded senders: demo accounts 0..4 (validators) and 4..SENDERS funded at setup.
const SENDERS: u32 = 12;
/// Compute limit of a block: a few transactions' limits, so room is decided at commit.
const BLOCK_COMPUTE: u64 = 400_000_000;

struct World {
    base: Base,
    nodes: Vec<Address>,
    counter: Address,
    token: Address,
    /// Next nonce of each sender after setup.
    nonces: Vec<u64>,
}

fn config() -> ChainConfig {
    let mut c = ChainConfig::demo();
    c.rent.rate_num = 1; // 1 token per byte per block: contracts run out within ~10 blocks
    c.rent.rate_den = 1;
    c.rent.deposit_per_byte = 10;
    c.rent.rebate_percent = 50;
    c.fees.limits[0] = BLOCK_COMPUTE;
    c
}

fn exec_on(
    base: &Base,
    height: u64,
    txs: &[SignedTx],
    mode: ExecMode,
) -> Result<(BlockResult, Base), String> {
    exec_stats_on(base, height, txs, mode).map(|(result, after, _)| (result, after))
}

/// [`exec_on`], with the block's rollback log.
fn exec_stats_on(
    base: &Base,
    height: u64,
    txs: &[SignedTx],
    mode: ExecMode,
) -> Result<(BlockResult, Base, keel_chain::ExecStats), String> {
    let vm = node_tier_vm(keel_vm::VmConfig::default());
    let routines = RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter).unwrap();
    let keys = Mutex::new(KeyCache::default());
    let exec = Executor {
        vm: &vm,
        verifier: &AllValid,
        routines: &routines,
        keys: &keys,
    };
    let header = BlockHeader {
        height,
        parent_root: [0; 32],
        timestamp: height,
        proposer: *PROPOSER,
        vrf: Default::default(),
        beacon: None,
    };
    let done = exec
        .execute_with(mode, base.clone(), &header, txs)
        .map_err(|e| e.to_string())?;
    let mut after = base.clone();
    for (k, v) in done.writes {
        match v {
            Some(v) => after.insert(k, v),
            None => after.remove(&k),
        };
    }
    Ok((done.result, after, done.timings.exec))
}

fn amount32(v: u128) -> Vec<u8> {
    let mut a = [0u8; 32];
    a[..16].copy_from_slice(&v.to_le_bytes());
    a.to_vec()
}

/// `n` increments of the one counter, from three senders in turn (each with its own nonces).
fn hot_counter_block(w: &World, n: u32) -> Vec<SignedTx> {
    (0..n)
        .map(|i| call(1 + i % 3, u64::from(i / 3), w.counter, "increment", vec![]))
        .collect()
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let genesis = genesis_with(config());
        let mut base: Base = genesis_writes(&genesis)
            .unwrap()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let node = wat::parse_str(calls_wat::node()).unwrap();
        let mut txs: Vec<SignedTx> = (0..3).map(|n| deploy(0, n, &node)).collect();
        txs.push(deploy(0, 3, keel_contracts::COUNTER.wasm));
        txs.push(tx(
            0,
            4,
            TxKind::Deploy {
                code: keel_contracts::TOKEN.wasm.to_vec(),
                constructor: Some(CallData {
                    entry: "init".into(),
                    args: amount32(1_000_000),
                }),
            },
        ));
        for (i, s) in (4..SENDERS).enumerate() {
            txs.push(transfer(0, 5 + i as u64, addr(s), 10u128.pow(24)));
        }
        // The counter gets storage, so it owes rent (and is evicted at a late height).
        let counter = keel_chain::contract_address(&addr(0), 3);
        txs.push(call(0, txs.len() as u64, counter, "increment", vec![]));
        let (r, after) = exec_on(&base, 1, &txs, ExecMode::Sequential).unwrap();
        for (i, rc) in r.receipts.iter().enumerate() {
            assert!(
                matches!(rc.status, TxStatus::Success { .. }),
                "setup {i}: {:?}",
                rc.status
            );
        }
        base = after;
        let contracts: Vec<Address> = r.receipts.iter().filter_map(|rc| rc.contract).collect();
        let mut nonces = vec![0u64; SENDERS as usize];
        nonces[0] = txs.len() as u64;
        World {
            base,
            nodes: contracts[..3].to_vec(),
            counter: contracts[3],
            token: contracts[4],
            nonces,
        }
    })
}

/// One generated transaction: what it does, and whether it touches the hot records.
#[derive(Debug, Clone)]
enum Kind {
    Transfer { amount: u128 },
    Increment,
    Token { amount: u128 },
    Script { node: usize, ops: Vec<(u8, u8, u8)> },
    OutOfGas,
    Propose,
    Vote,
    BadNonce,
    HugeLimit,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => prop_oneof![Just(1u128), Just(10u128.pow(37))].prop_map(|amount| Kind::Transfer { amount }),
        2 => Just(Kind::Increment),
        3 => prop_oneof![Just(1u128), Just(10u128.pow(7))].prop_map(|amount| Kind::Token { amount }),
        3 => (0usize..3, prop::collection::vec((0u8..4, 0u8..4, any::<u8>()), 1..4))
            .prop_map(|(node, ops)| Kind::Script { node, ops }),
        1 => Just(Kind::OutOfGas),
        1 => Just(Kind::Propose),
        1 => Just(Kind::Vote),
        1 => Just(Kind::BadNonce),
        1 => Just(Kind::HugeLimit),
    ]
}

/// Script ops: (0, k, v) write, (1, target, k) call `target` writing k, (2, _, _) trap,
/// (3, _, _) call `target` that traps.
fn script(w: &World, hot: bool, ops: &[(u8, u8, u8)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (op, a, b)) in ops.iter().enumerate() {
        let k = if hot { 0 } else { a.wrapping_add(i as u8) };
        match op % 4 {
            0 => out.extend_from_slice(&[1, k, *b]),
            1 | 3 => {
                let inner: Vec<u8> = if op % 4 == 1 {
                    vec![1, *b % 8, *a]
                } else {
                    vec![3]
                };
                out.push(2);
                out.extend_from_slice(&w.nodes[usize::from(*a) % 3]);
                out.extend_from_slice(&(inner.len() as u16).to_le_bytes());
                out.extend_from_slice(&inner);
            }
            _ => {
                if *b < 40 {
                    out.push(3);
                }
            }
        }
    }
    out
}

fn build(w: &World, kinds: &[(Kind, bool, u8)]) -> Vec<SignedTx> {
    let mut nonces = w.nonces.clone();
    let mut out = Vec::new();
    for (i, (k, hot, who)) in kinds.iter().enumerate() {
        // Hot transactions share one sender and one target; cold ones spread out.
        let from = if *hot { 1 } else { u32::from(*who) % SENDERS };
        let n = &mut nonces[from as usize];
        let cold = {
            let mut a = [0xc0; 32];
            a[28..].copy_from_slice(&(i as u32).to_be_bytes());
            a
        };
        let stx = match k {
            Kind::Transfer { amount } => {
                transfer(from, *n, if *hot { addr(2) } else { cold }, *amount)
            }
            Kind::Increment => {
                let c = if *hot { w.counter } else { w.nodes[i % 3] };
                let (entry, args) = if *hot {
                    ("increment", vec![])
                } else {
                    ("run", vec![1, 9, i as u8])
                };
                call(from, *n, c, entry, args)
            }
            Kind::Token { amount } => {
                // Only account 0 holds tokens; others fail in the contract.
                let from = if *hot { 0 } else { from };
                let n2 = &mut nonces[from as usize];
                let mut args = if *hot {
                    addr(3).to_vec()
                } else {
                    cold.to_vec()
                };
                args.extend_from_slice(&amount32(*amount));
                let t = call(from, *n2, w.token, "transfer", args);
                *n2 += 1;
                out.push(t);
                continue;
            }
            Kind::Script { node, ops } => {
                let target = if *hot { w.nodes[0] } else { w.nodes[*node] };
                call(from, *n, target, "run", script(w, *hot, ops))
            }
            Kind::OutOfGas => {
                let mut t = Transaction {
                    chain_id: ChainConfig::demo().chain_id,
                    sender: key(from).public_key().to_bytes(),
                    nonce: *n,
                    gas_limits: [5_400, 100_000, 64, 100_000],
                    max_fee_per_unit: PRICES_MAX,
                    priority_fee: 3,
                    kind: TxKind::Call {
                        contract: w.counter,
                        call: CallData {
                            entry: "increment".into(),
                            args: vec![],
                        },
                        value: Amount::ZERO,
                    },
                };
                t.gas_limits[0] = 5_400;
                t.sign(&key(from))
            }
            Kind::Propose | Kind::Vote => {
                let from = from % 4; // validators
                let n2 = &mut nonces[from as usize];
                let g = match k {
                    Kind::Propose => GovTx::Propose {
                        action: Action::SetFeeParams {
                            fees: keel_chain::fees::FeeParams::demo(),
                        },
                        activation_height: 1_000,
                    },
                    _ => GovTx::Vote {
                        proposal: 0,
                        approve: true,
                    },
                };
                let t = Transaction {
                    chain_id: ChainConfig::demo().chain_id,
                    sender: key(from).public_key().to_bytes(),
                    nonce: *n2,
                    gas_limits: [500_000_000, 100_000, 64, 8_000_000],
                    max_fee_per_unit: PRICES_MAX,
                    priority_fee: 0,
                    kind: TxKind::Governance(g),
                }
                .sign(&key(from));
                *n2 += 1;
                out.push(t);
                continue;
            }
            Kind::BadNonce => transfer(from, *n + 7, cold, 1),
            Kind::HugeLimit => {
                let mut t = Transaction {
                    chain_id: ChainConfig::demo().chain_id,
                    sender: key(from).public_key().to_bytes(),
                    nonce: *n,
                    gas_limits: LIMITS,
                    max_fee_per_unit: PRICES_MAX,
                    priority_fee: 1,
                    kind: TxKind::Transfer {
                        to: cold,
                        amount: Amount::from_u128(5),
                    },
                };
                t.gas_limits[0] = BLOCK_COMPUTE - 1_000_000;
                t.sign(&key(from))
            }
        };
        if !matches!(k, Kind::BadNonce) {
            *n += 1;
        }
        out.push(stx);
    }
    out
}

fn audit_lines(r: &BlockResult) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(dir.path(), 1 << 20, 2).unwrap();
    log.record_block(r).unwrap();
    drop(log);
    let mut all = String::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        all.push_str(&std::fs::read_to_string(f).unwrap());
    }
    all
}

fn assert_same(base: &Base, height: u64, txs: &[SignedTx]) -> Result<(), TestCaseError> {
    let reference = exec_on(base, height, txs, ExecMode::Sequential);
    for threads in [1usize, 2, 4, 8] {
        let mode = ExecMode::Parallel(NonZeroUsize::new(threads).unwrap());
        let got = exec_on(base, height, txs, mode);
        match (&reference, &got) {
            (Ok((want, want_state)), Ok((have, have_state))) => {
                for (i, (a, b)) in want.receipts.iter().zip(&have.receipts).enumerate() {
                    prop_assert_eq!(a, b, "receipt {} on {} threads", i, threads);
                }
                prop_assert_eq!(want, have, "block result on {} threads", threads);
                prop_assert!(
                    want_state == have_state,
                    "state after the block on {} threads",
                    threads
                );
                prop_assert_eq!(audit_lines(want), audit_lines(have));
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(
                false,
                "sequential {:?} vs {} threads {:?}",
                a.as_ref().err(),
                threads,
                b.as_ref().err()
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    /// `conflict` is the percentage of transactions that touch the hot records (one sender,
    /// one recipient, one counter, one storage slot).
    #[test]
    fn parallel_execution_equals_sequential_at_every_conflict_rate_and_thread_count(
        conflict in prop_oneof![Just(0u8), Just(100u8), 0u8..=100],
        txs in prop::collection::vec((kind(), 0u8..100, any::<u8>()), 1..28),
        late in any::<bool>(),
    ) {
        let w = world();
        let kinds: Vec<(Kind, bool, u8)> =
            txs.into_iter().map(|(k, roll, who)| (k, roll < conflict, who)).collect();
        let block = build(w, &kinds);
        // Late: every contract's rent ran out, so the first call to each evicts it.
        let height = if late { 60 } else { 2 };
        assert_same(&w.base, height, &block)?;
    }
}

#[test]
fn an_empty_block_and_a_block_of_one_are_the_same_in_parallel() {
    let w = world();
    assert_same(&w.base, 2, &[]).unwrap();
    assert_same(&w.base, 2, &[call(1, 0, w.counter, "increment", vec![])]).unwrap();
}

#[test]
fn a_hot_counter_block_conflicts_yet_commits_the_sequential_result() {
    let w = world();
    assert_same(&w.base, 2, &hot_counter_block(w, 24)).unwrap();
}

/// A long block in which every transaction increments the same counter: once aborts come in a
/// row (or one finds the speculation window at one transaction), speculation stops for the
/// rest of the block and the committer runs the rest in order, unpublished. Whether (and
/// where) that happens depends on timing, so the block is run until it does; every run must
/// equal the sequential result.
#[test]
fn dense_conflicts_stop_speculation_and_the_rest_commits_the_sequential_result() {
    let w = world();
    let txs = hot_counter_block(w, 240);
    let (want, want_state) = exec_on(&w.base, 2, &txs, ExecMode::Sequential).unwrap();
    let mut stopped = Vec::new();
    for attempt in 0..40 {
        let threads = [2usize, 4, 8][attempt % 3];
        let mode = ExecMode::from_threads(threads);
        let (have, have_state, stats) = exec_stats_on(&w.base, 2, &txs, mode).unwrap();
        assert_eq!(want, have, "block result on {threads} threads");
        assert!(want_state == have_state, "state on {threads} threads");
        if let Some(at) = stats.speculation_stopped_at {
            // Four in a row at the least, or the eight halvings to the floor and one more.
            assert!(
                stats.aborts() >= 4,
                "stopped after {} aborts",
                stats.aborts()
            );
            assert!(at < 240, "stopped at {at}");
            stopped.push((threads, at));
            if stopped.len() >= 3 {
                break;
            }
        }
    }
    assert!(
        !stopped.is_empty(),
        "speculation never stopped on a fully conflicting block"
    );
}

#[test]
fn eviction_in_a_parallel_block_lists_storage_only_on_the_committed_prefix() {
    let w = world();
    // Every call to the counter at height 60 finds it out of rent: the first evicts it
    // (listing its storage), the others fail on the evicted contract.
    let txs: Vec<SignedTx> = (0..8)
        .map(|i| call(4 + i, 0, w.counter, "increment", vec![]))
        .collect();
    assert_same(&w.base, 60, &txs).unwrap();
    let (r, _) = exec_on(&w.base, 60, &txs, ExecMode::from_threads(2)).unwrap();
    assert!(
        r.receipts.iter().skip(1).all(|rc| matches!(
            rc.status,
            TxStatus::Failed {
                reason: FailReason::Evicted
            }
        )),
        "{:?}",
        r.receipts
    );
}
