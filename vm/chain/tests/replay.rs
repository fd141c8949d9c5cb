//! Replay of the fixture chain (`common/fixture.rs`) across every node-local axis: routine
//! engine (interpreter, JIT), signature verifier (single, batch with 1 or 2 workers) and a
//! replaying node restarted mid-way. Every axis must reproduce every state root, receipts root
//! and receipt; a tampered record must be reported at its height with a field diff.
//!
//! The batch verifier's verdicts are assumed deterministic here (valid signatures pass, the
//! fixture's one bad signature fails): random linear combinations reject a bad batch with
//! overwhelming probability and fall back to single checks.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/fixture.rs"]
mod fixture;

use common::*;
use keel_chain::blocks::BlockRecord;
use keel_chain::replay::{ReplayOptions, ReplayReport, replay};
use keel_chain::*;
use keel_crypto::{SignatureVerifier, SingleVerifier};
use keel_ebpf_bridge::Engine;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The fixture's state root after its last block. It changes only when consensus changes (a
/// new rule, an encoding, a genesis): then update it deliberately, in the same commit. The
/// genesis routines are pinned data (`vm/chain/genesis/`), so every machine gets this root.
const FIXTURE_ROOT: &str = "46c54167fef43b77c09abb3bdd0f85b2f0a18e1d4b285e52e8b483ed022c90dd";

/// The fixture chain, generated once per test process; the lock serializes opening it.
fn fixture() -> &'static Mutex<tempfile::TempDir> {
    static FIXTURE: OnceLock<Mutex<tempfile::TempDir>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let chain = fixture::generate(dir.path());
        assert_eq!(chain.head().unwrap().0, fixture::FIXTURE_BLOCKS);
        Mutex::new(dir)
    })
}

/// Makes a fresh verifier (again after a restart).
type MakeVerifier<'a> = &'a dyn Fn() -> Box<dyn SignatureVerifier>;

fn batch_verifier(workers: usize) -> Box<dyn SignatureVerifier> {
    let topology = keel_offload::Topology::discover();
    let config = keel_offload::PoolConfig {
        max_workers: Some(workers),
        pin: false,
        ..keel_offload::PoolConfig::default()
    };
    let backend = keel_offload::CpuBackend::new(&topology, &config).unwrap();
    Box::new(keel_offload::BatchVerifier::new(backend))
}

fn run(
    data: &Path,
    engine: Engine,
    verifier: MakeVerifier<'_>,
    restart_after: Option<u64>,
) -> ReplayReport {
    let recorded = Chain::open(data, Box::new(SingleVerifier)).unwrap();
    let work = tempfile::tempdir().unwrap();
    replay(
        &recorded,
        work.path(),
        ReplayOptions {
            engine,
            from: 1,
            to: None,
            restart_after,
            verifier,
            progress: &mut |_, _| {},
        },
    )
    .unwrap()
}

#[test]
fn the_fixture_replays_identically_on_every_engine_verifier_worker_count_and_restart() {
    let dir = fixture().lock().unwrap_or_else(|p| p.into_inner());
    let head = Chain::open(dir.path(), Box::new(SingleVerifier))
        .unwrap()
        .head()
        .unwrap();
    let single = || -> Box<dyn SignatureVerifier> { Box::new(SingleVerifier) };
    let batch1 = || batch_verifier(1);
    let batch2 = || batch_verifier(2);
    let half = Some(head.0 / 2);
    let axes: [(&str, Engine, MakeVerifier<'_>, Option<u64>); 4] = [
        ("interp/single/fresh", Engine::Interpreter, &single, None),
        ("jit/batch-1/fresh", Engine::Jit, &batch1, None),
        (
            "interp/batch-2/restarted",
            Engine::Interpreter,
            &batch2,
            half,
        ),
        ("jit/single/restarted", Engine::Jit, &single, half),
    ];
    for (name, engine, verifier, restart) in axes {
        let report = run(dir.path(), engine, verifier, restart);
        assert_eq!(report.mismatch, None, "{name}");
        assert_eq!(report.blocks, head.0, "{name}");
        assert_eq!(report.final_root, head.1, "{name}");
    }
    assert_eq!(hex::encode(head.1), FIXTURE_ROOT, "the pinned fixture root");
}

#[test]
fn a_tampered_receipt_is_reported_at_its_height_with_the_differing_field() {
    let copy = tempfile::tempdir().unwrap();
    {
        let dir = fixture().lock().unwrap_or_else(|p| p.into_inner());
        std::fs::copy(
            dir.path().join(keel_state::DB_FILE_NAME),
            copy.path().join(keel_state::DB_FILE_NAME),
        )
        .unwrap();
    }
    let tampered_height = 3;
    {
        let chain = Chain::open(copy.path(), Box::new(SingleVerifier)).unwrap();
        let mut record = chain.block_record(tampered_height).unwrap().unwrap();
        record.result.receipts[1].gas_used[0] += 1;
        drop(chain);
        let db = keel_state::StateDb::open(copy.path()).unwrap();
        db.replace_block_aux(tampered_height, &record.to_bytes().unwrap())
            .unwrap();
    }
    let report = run(
        copy.path(),
        Engine::Interpreter,
        &|| Box::new(SingleVerifier),
        None,
    );
    let m = report.mismatch.expect("the tampered block is reported");
    assert_eq!(m.height, tampered_height);
    assert_eq!(report.blocks, tampered_height);
    assert!(
        m.diffs
            .iter()
            .any(|d| d.tx_index == Some(1) && d.field == "gas_used"),
        "{m:?}"
    );
}

#[test]
fn every_block_record_keeps_the_executed_block() {
    let dir = fixture().lock().unwrap_or_else(|p| p.into_inner());
    let chain = Chain::open(dir.path(), Box::new(SingleVerifier)).unwrap();
    assert!(chain.genesis().unwrap().is_some());
    let record: BlockRecord = chain.block_record(2).unwrap().unwrap();
    let block = record.block().unwrap().unwrap();
    assert_eq!(block.header.height, 2);
    assert_eq!(block.txs.len(), record.result.receipts.len());
    assert_eq!(
        block.txs.iter().map(SignedTx::hash).collect::<Vec<_>>(),
        record
            .result
            .receipts
            .iter()
            .map(|r| r.tx_hash)
            .collect::<Vec<_>>()
    );
}

/// How a transaction of [`badly_signed_chain`] is signed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Signing {
    Good,
    /// A valid signature, by another key.
    OtherKey,
    /// A valid signature of another transaction, by the right key.
    OtherMessage,
    /// 96 bytes that decode to no curve point.
    NotAPoint,
    /// The point at infinity (the identity signature).
    Infinity,
}

/// A small chain of blocks mixing good and badly signed transfers (every kind of bad
/// signature, at the first, last and middle positions), then a block of bad signatures only.
/// Kept apart from the main fixture so that fixture's pinned root does not move. Returns
/// each block's signings.
fn badly_signed_chain(dir: &Path) -> Vec<Vec<Signing>> {
    use Signing::*;
    let mut chain = new_chain(dir);
    let plan = [
        vec![
            Good,
            OtherKey,
            Good,
            OtherMessage,
            NotAPoint,
            Good,
            Infinity,
            Good,
        ],
        vec![OtherKey, Good, Good, Good, Good, Good, Good, NotAPoint],
        vec![Good; 6],
        vec![
            OtherKey,
            OtherMessage,
            NotAPoint,
            Infinity,
            OtherKey,
            OtherMessage,
        ],
    ];
    let mut nonces = [0u64; 4];
    for signings in &plan {
        let txs: Vec<SignedTx> = signings
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let from = (i % 4) as u32;
                // Only a good signature bumps the nonce: a rejected transaction changes nothing.
                let nonce = nonces[from as usize];
                let mut t = transfer(from, nonce, addr((from + 1) % 4), 1 + i as u128);
                match s {
                    Good => nonces[from as usize] += 1,
                    OtherKey => {
                        t.signature = key(from + 1).sign(&t.tx.signing_message()).to_bytes()
                    }
                    OtherMessage => {
                        t.signature = transfer(from, nonce + 1, addr(0), 7).signature;
                    }
                    NotAPoint => t.signature = [0x9f; 96],
                    Infinity => {
                        t.signature = [0; 96];
                        t.signature[0] = 0xc0;
                    }
                }
                t
            })
            .collect();
        let r = block(&mut chain, txs);
        for (rc, s) in r.receipts.iter().zip(signings) {
            let bad = matches!(
                rc.status,
                TxStatus::Rejected {
                    reason: RejectReason::BadSignature
                }
            );
            assert_eq!(bad, *s != Good, "{s:?}: {:?}", rc.status);
        }
    }
    plan.to_vec()
}

#[test]
fn blocks_with_badly_signed_transactions_stay_valid_and_replay_identically_on_every_axis() {
    let dir = tempfile::tempdir().unwrap();
    let plan = badly_signed_chain(dir.path());
    let head = Chain::open(dir.path(), Box::new(SingleVerifier))
        .unwrap()
        .head()
        .unwrap();
    assert_eq!(head.0, plan.len() as u64, "every block was committed");
    let single = || -> Box<dyn SignatureVerifier> { Box::new(SingleVerifier) };
    let batch1 = || batch_verifier(1);
    let batch2 = || batch_verifier(2);
    let axes: [(&str, Engine, MakeVerifier<'_>, Option<u64>); 4] = [
        ("interp/single/fresh", Engine::Interpreter, &single, None),
        ("jit/batch-1/fresh", Engine::Jit, &batch1, None),
        (
            "interp/batch-2/restarted",
            Engine::Interpreter,
            &batch2,
            Some(2),
        ),
        ("jit/single/restarted", Engine::Jit, &single, Some(1)),
    ];
    for (name, engine, verifier, restart) in axes {
        let report = run(dir.path(), engine, verifier, restart);
        assert_eq!(report.mismatch, None, "{name}");
        assert_eq!(report.blocks, head.0, "{name}");
        assert_eq!(report.final_root, head.1, "{name}");
    }
}
