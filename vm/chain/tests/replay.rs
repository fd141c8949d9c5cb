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
use keel_vm::engine::choice::EngineChoice;
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
    run_on(data, engine, EngineChoice::Wasmi, verifier, restart_after)
}

fn run_on(
    data: &Path,
    engine: Engine,
    vm_engine: EngineChoice,
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
            vm_engine,
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

/// The contract VM's engine tier is node-local too: the fixture replays to the pinned root with
/// every contract on wasmtime (compiled before its first call, artifacts cached across the
/// restart) and on the background tiering (wasmi until compiled).
#[test]
fn the_fixture_replays_identically_on_the_wasmtime_and_tiered_contract_engines() {
    let dir = fixture().lock().unwrap_or_else(|p| p.into_inner());
    let head = Chain::open(dir.path(), Box::new(SingleVerifier))
        .unwrap()
        .head()
        .unwrap();
    let single = || -> Box<dyn SignatureVerifier> { Box::new(SingleVerifier) };
    let half = Some(head.0 / 2);
    for (name, vm_engine, restart) in [
        ("wasmtime/restarted", EngineChoice::Wasmtime, half),
        ("tiered/fresh", EngineChoice::Tiered, None),
    ] {
        let report = run_on(dir.path(), Engine::Jit, vm_engine, &single, restart);
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
