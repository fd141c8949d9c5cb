//! The replay fixture: a deterministic chain of 200+ blocks that exercises every transaction
//! kind (transfer, deploy, call, restore, governance), native calls through a contract,
//! governance (routine activation, kill, gas schedule change, contract upgrade), rent with
//! eviction and restore, and failing, out-of-gas and rejected transactions.
//!
//! Fixed keys (demo keys), fixed timestamps (`1_700_000_000 + height`) and a fixed proposer make
//! its final root a constant that later changes must reproduce (or bump on purpose).

use super::*;
use keel_chain::genesis_routines::GenesisRoutine;
use keel_chain::governance::{Action, GovTx, KillTarget, RoutineSpec};

/// Blocks in the fixture chain.
pub const FIXTURE_BLOCKS: u64 = 210;

/// `run` calls routine (input: id u32 LE ‖ routine input) and returns 32 output bytes;
/// `divide` divides (killed later by governance); `log` emits its input as an event;
/// `spin` loops until it runs out of gas; `trap` hits `unreachable`.
const WORKER: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "emit_event" (func $emit (param i32 i32 i32 i32)))
  (import "keel" "native_call" (func $native (param i32 i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (data (i32.const 50000) "log")
  (func (export "run")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (drop (call $native (i32.load (i32.const 0)) (i32.const 4) (i32.sub (call $size) (i32.const 4))
                        (i32.const 60000) (i32.const 32)))
    (call $ret (i32.const 60000) (i32.const 32)))
  (func (export "divide")
    (i32.store (i32.const 0) (i32.div_u (i32.const 100) (i32.const 7)))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "log")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (call $emit (i32.const 50000) (i32.const 3) (i32.const 0) (call $size)))
  (func (export "spin") (loop (br 0)))
  (func (export "trap") unreachable))"#;

const RETURNS_ONE: &str = r#"(module
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1 1) (data (i32.const 0) "\01")
  (func (export "get") (call $ret (i32.const 0) (i32.const 1))))"#;
const RETURNS_TWO: &str = r#"(module
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1 1) (data (i32.const 0) "\02")
  (func (export "get") (call $ret (i32.const 0) (i32.const 1))))"#;

const MODMUL: u32 = keel_ebpf_bridge::MODMUL_BLS12_381_FR;
/// The id governance activates a copy of modmul under.
const MODMUL_COPY: u32 = 102;

/// Rent that evicts the counter (13 bytes, 10 blocks of deposit) about 10 blocks after it was
/// last touched. The fee market is the fixture's own (the demo defaults of its first
/// version), so tuning the demo chain's limits does not move the pinned root.
fn fixture_config() -> ChainConfig {
    let mut c = ChainConfig::demo();
    c.fees = keel_chain::fees::FeeParams {
        targets: [2_000_000_000, 4_000_000, 50_000, 8_000_000],
        limits: [4_000_000_000, 8_000_000, 100_000, 16_000_000],
        min_prices: [1, 1, 1, 1],
        eta_num: [1, 1, 1, 1],
        eta_den: 10_000_000,
    };
    c.rent.rate_num = 1;
    c.rent.rate_den = 1;
    c.rent.deposit_per_byte = 10;
    c.rent.rebate_percent = 50;
    c
}

/// Builds blocks on a chain, tracking nonces.
pub struct Builder {
    pub chain: Chain,
    nonces: [u64; 4],
}

impl Builder {
    fn next(&mut self, from: u32) -> u64 {
        let n = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        n
    }

    fn block(&mut self, txs: Vec<SignedTx>) -> BlockResult {
        block(&mut self.chain, txs)
    }

    fn head(&self) -> u64 {
        self.chain.head().unwrap().0
    }

    fn send(&mut self, from: u32, kind: TxKind) -> SignedTx {
        let n = self.next(from);
        tx(from, n, kind)
    }

    fn call(&mut self, from: u32, contract: Address, entry: &str, args: Vec<u8>) -> SignedTx {
        let n = self.next(from);
        call(from, n, contract, entry, args)
    }

    fn gov(&mut self, from: u32, g: GovTx) -> SignedTx {
        let n = self.next(from);
        Transaction {
            chain_id: ChainConfig::demo().chain_id,
            sender: key(from).public_key().to_bytes(),
            nonce: n,
            gas_limits: [500_000_000, 100_000, 64, 8_000_000],
            max_fee_per_unit: PRICES_MAX,
            priority_fee: 0,
            kind: TxKind::Governance(g),
        }
        .sign(&key(from))
    }

    /// Proposes `actions` (validator 0) to activate at head + 3, validators 1-3 vote yes.
    fn pass(&mut self, actions: Vec<Action>) {
        let at = self.head() + 3;
        let proposals = actions
            .into_iter()
            .map(|action| {
                self.gov(
                    0,
                    GovTx::Propose {
                        action,
                        activation_height: at,
                    },
                )
            })
            .collect();
        let r = self.block(proposals);
        let ids: Vec<u64> = r.governance.iter().map(|e| e.proposal).collect();
        let proposals = ids.len();
        let mut votes = Vec::new();
        for id in ids {
            for v in 1..4 {
                votes.push(self.gov(
                    v,
                    GovTx::Vote {
                        proposal: id,
                        approve: true,
                    },
                ));
            }
        }
        self.block(votes);
        let mut activated = 0;
        while self.head() < at {
            let r = self.block(vec![]);
            activated += r
                .governance
                .iter()
                .filter(|e| e.kind == keel_chain::governance::GovEventKind::Activated)
                .count();
        }
        assert_eq!(activated, proposals, "every proposal activates");
    }
}

fn modmul_input(a: u64, b: u64, routine: u32) -> Vec<u8> {
    let mut v = routine.to_le_bytes().to_vec();
    let mut x = [0u8; 32];
    x[..8].copy_from_slice(&a.to_le_bytes());
    v.extend_from_slice(&x);
    x[..8].copy_from_slice(&b.to_le_bytes());
    v.extend_from_slice(&x);
    v
}

fn modmul_copy() -> Action {
    let g = GenesisRoutine::pinned()
        .expect("the pinned genesis routines load")
        .into_iter()
        .find(|r| r.spec.id == MODMUL)
        .expect("modmul is pinned and active at genesis");
    Action::ActivateRoutine {
        spec: RoutineSpec {
            id: MODMUL_COPY,
            name: "modmul_copy".into(),
            version: 1,
            ..g.spec
        },
        object: g.object,
        certificate: g.certificate,
    }
}

/// Creates the fixture chain in `dir` with the sequential reference executor and returns it
/// at its head.
pub fn generate(dir: &Path) -> Chain {
    let mut chain = Chain::init(
        dir,
        &genesis_with(fixture_config()),
        Box::new(keel_crypto::SingleVerifier),
    )
    .unwrap();
    chain.set_exec_mode(ExecMode::Sequential);
    let mut b = Builder {
        chain,
        nonces: [0; 4],
    };
    let worker_code = wat::parse_str(WORKER).unwrap();
    let v1 = wat::parse_str(RETURNS_ONE).unwrap();
    let v2 = wat::parse_str(RETURNS_TWO).unwrap();
    let deploys = vec![
        b.send(0, deploy_kind(&worker_code)),
        b.send(1, deploy_kind(keel_contracts::COUNTER.wasm)),
        b.send(2, deploy_kind(&v1)),
    ];
    let r = b.block(deploys);
    let [worker, counter, versioned] = [0, 1, 2].map(|i| r.receipts[i].contract.expect("deployed"));

    // Native calls through a contract, events, storage; failing, out-of-gas and rejected txs.
    let txs = vec![
        b.call(0, worker, "run", modmul_input(2, 3, MODMUL)),
        b.call(1, counter, "increment", vec![]),
        b.call(2, worker, "log", b"hello".to_vec()),
        b.call(3, worker, "trap", vec![]),
        b.call(3, [0x42; 32], "get", vec![]),
        tx(
            3,
            99,
            TxKind::Transfer {
                to: addr(0),
                amount: Amount::from_u128(1),
            },
        ),
        b.send(2, deploy_kind(b"\0asm not wasm")),
    ];
    let r = b.block(txs);
    assert!(
        matches!(r.receipts[0].status, TxStatus::Success { .. }),
        "native call"
    );
    assert_eq!(r.receipts[2].events.len(), 1, "event");
    assert!(fails(&r, 3, |f| matches!(f, FailReason::Trap(_))), "trap");
    assert!(
        fails(&r, 4, |f| *f == FailReason::NoContract),
        "no contract"
    );
    assert!(matches!(
        r.receipts[5].status,
        TxStatus::Rejected {
            reason: RejectReason::WrongNonce { .. }
        }
    ));
    assert!(
        fails(&r, 6, |f| matches!(f, FailReason::Admission(_))),
        "admission"
    );
    // A small compute limit: the loop runs out of gas quickly even in a debug build.
    let mut spin = b.call(0, worker, "spin", vec![]).tx;
    spin.gas_limits[0] = 300_000;
    let spin = spin.sign(&key(0));
    let mut bad_sig = b.call(1, worker, "divide", vec![]);
    bad_sig.signature = key(2).sign(&bad_sig.tx.signing_message()).to_bytes();
    b.nonces[1] -= 1; // rejected: the nonce is not used
    let r = b.block(vec![spin, bad_sig]);
    assert!(
        fails(&r, 0, |f| *f == FailReason::Trap(keel_vm::Trap::OutOfGas)),
        "out of gas"
    );
    assert!(matches!(
        r.receipts[1].status,
        TxStatus::Rejected {
            reason: RejectReason::BadSignature
        }
    ));

    // Governance: a routine activation, a kill, a gas schedule change and a contract upgrade.
    let mut schedule = keel_vm::GasSchedule::v1();
    schedule.version = 2;
    schedule.call_base *= 3;
    b.pass(vec![
        modmul_copy(),
        Action::Kill {
            target: KillTarget::Opcode("division".into()),
        },
        Action::SetGasSchedule {
            schedule_json: serde_json::to_vec(&schedule).unwrap(),
        },
        Action::UpgradeContract {
            contract: versioned,
            code: v2,
        },
    ]);
    let txs = vec![
        b.call(0, worker, "run", modmul_input(5, 7, MODMUL_COPY)),
        b.call(1, worker, "divide", vec![]),
        b.call(2, versioned, "get", vec![]),
    ];
    let r = b.block(txs);
    assert!(
        matches!(r.receipts[0].status, TxStatus::Success { .. }),
        "activated routine"
    );
    assert!(fails(&r, 1, |f| matches!(
        f,
        FailReason::Trap(keel_vm::Trap::Killed { .. })
    )));
    assert_eq!(
        r.receipts[2].status,
        TxStatus::Success {
            return_data: vec![2]
        },
        "upgraded contract"
    );

    // Rent: the counter is left alone until its deposit is gone, then evicted and restored.
    let evict_at = b.head() + 14;
    let mut i = 0u32;
    while b.head() < FIXTURE_BLOCKS {
        let h = b.head() + 1;
        let from = i % 4;
        i += 1;
        let mut txs = vec![b.send(
            from,
            TxKind::Transfer {
                to: addr((from + 1) % 4),
                amount: Amount::from_u128(u128::from(h)),
            },
        )];
        if h == evict_at {
            txs.push(b.call(2, counter, "get", vec![]));
        } else if h == evict_at + 1 {
            let entries = vec![(b"count".to_vec(), 1u64.to_le_bytes().to_vec())];
            txs.push(b.send(
                3,
                TxKind::Restore {
                    contract: counter,
                    entries,
                },
            ));
            txs.push(b.call(1, counter, "increment", vec![]));
        } else if h.is_multiple_of(5) {
            txs.push(b.call(2, worker, "log", h.to_le_bytes().to_vec()));
        } else if h.is_multiple_of(7) {
            txs.push(b.call(0, worker, "run", modmul_input(h, 3, MODMUL)));
        }
        let r = b.block(txs);
        if h == evict_at {
            assert!(fails(&r, 1, |f| *f == FailReason::Evicted), "eviction");
        } else if h == evict_at + 1 {
            assert!(
                matches!(r.receipts[1].status, TxStatus::Success { .. }),
                "restore"
            );
        }
    }
    b.chain
}

fn fails(r: &BlockResult, i: usize, why: impl Fn(&FailReason) -> bool) -> bool {
    matches!(&r.receipts[i].status, TxStatus::Failed { reason } if why(reason))
}

fn deploy_kind(code: &[u8]) -> TxKind {
    TxKind::Deploy {
        code: code.to_vec(),
        constructor: None,
    }
}
