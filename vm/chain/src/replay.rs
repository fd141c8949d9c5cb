//! Replay: re-execute a recorded chain from its genesis in a fresh database and compare every
//! block's state root, receipts root and receipts with the recorded ones, stopping at the first
//! difference. `keel replay` is the command-line face; CI runs it across every node-local axis
//! (routine engine, verifier mode, worker count, executor threads, restart) to show none of them changes a result.

use crate::blocks::BlockRecord;
use crate::chain::Chain;
use crate::executor::ChainError;
use crate::receipt::{BlockResult, Receipt};
use crate::receipts_root::{encode_receipt, receipts_root, status_codes};
use keel_crypto::SignatureVerifier;
use keel_ebpf_bridge::Engine;
use keel_vm::engine::choice::EngineChoice;
use serde::Serialize;
use std::path::Path;

/// What to replay and how. Node-local settings only: none of them may change a result.
pub struct ReplayOptions<'a> {
    /// Engine of the native routines (interpreter or JIT).
    pub engine: Engine,
    /// Engine tier of the contract VM (wasmi, wasmtime, tiered). Node-local like `engine`.
    pub vm_engine: EngineChoice,
    /// First block whose receipts are compared. Blocks below it are re-executed too (the
    /// fresh database has no other way to reach their state) and only their roots checked.
    pub from: u64,
    /// Last block to replay (default: the recorded head).
    pub to: Option<u64>,
    /// Close and reopen the replaying chain after this block, as a restarted node would.
    pub restart_after: Option<u64>,
    /// Makes the signature verifier (called again on a restart).
    pub verifier: &'a dyn Fn() -> Box<dyn SignatureVerifier>,
    /// The executor: the sequential reference or the parallel one on n threads.
    pub exec: crate::parallel::ExecMode,
    /// Called after each block with `(height, last)`, for progress output.
    pub progress: &'a mut dyn FnMut(u64, u64),
}

/// Why a replay could not run (not a difference: see [`Mismatch`]).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("the recorded chain has no genesis record; it was created before blocks were kept")]
    NoGenesis,
    #[error("block {0} has no record of its transactions; it cannot be re-executed")]
    NoBlock(u64),
    #[error("block record {height}: {message}")]
    BadRecord { height: u64, message: String },
    #[error("replay range {from}..={to} is outside the recorded chain (head {head})")]
    Range { from: u64, to: u64, head: u64 },
}

/// The outcome of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub from: u64,
    pub to: u64,
    /// Blocks re-executed (from 1).
    pub blocks: u64,
    pub transactions: u64,
    /// State root after the last block replayed.
    #[serde(with = "crate::receipt::hex32")]
    pub final_root: [u8; 32],
    /// The first difference, if any.
    pub mismatch: Option<Mismatch>,
}

/// The first block whose replay differs from its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub height: u64,
    /// `[recorded, replayed]`, hex; equal when only receipts differ.
    pub state_root: [String; 2],
    pub receipts_root: [String; 2],
    /// Field-level differences, first by transaction then by field.
    pub diffs: Vec<Diff>,
}

/// One differing field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// The transaction's index in the block (`None` for block-level fields).
    pub tx_index: Option<usize>,
    pub field: String,
    pub recorded: String,
    pub replayed: String,
}

/// Replays the chain recorded in `recorded` into `work_dir` (which must not hold a database).
pub fn replay(
    recorded: &Chain,
    work_dir: &Path,
    opts: ReplayOptions<'_>,
) -> Result<ReplayReport, ReplayError> {
    let genesis = recorded.genesis()?.ok_or(ReplayError::NoGenesis)?;
    let (head, _) = recorded.head()?;
    let to = opts.to.unwrap_or(head);
    if to > head || opts.from > to.max(1) {
        return Err(ReplayError::Range {
            from: opts.from,
            to,
            head,
        });
    }
    let mut chain = Chain::init(work_dir, &genesis, (opts.verifier)())?;
    chain.set_routine_engine(opts.engine)?;
    chain.set_exec_mode(opts.exec);
    chain.set_vm_engine(opts.vm_engine, Some(work_dir))?;
    let mut report = ReplayReport {
        from: opts.from,
        to,
        blocks: 0,
        transactions: 0,
        final_root: chain.head()?.1,
        mismatch: None,
    };
    let genesis_root = recorded.root_at(0)?;
    if report.final_root != genesis_root {
        report.mismatch = Some(root_mismatch(0, genesis_root, report.final_root));
        return Ok(report);
    }
    for height in 1..=to {
        let record = recorded
            .block_record(height)?
            .ok_or(ReplayError::NoBlock(height))?;
        let block = record
            .block()
            .map_err(|e| ReplayError::BadRecord {
                height,
                message: e.to_string(),
            })?
            .ok_or(ReplayError::NoBlock(height))?;
        let replayed = match chain.execute_block(&block) {
            Ok(r) => r,
            Err(e) => {
                report.mismatch = Some(refused(&record, &e));
                return Ok(report);
            }
        };
        report.blocks = height;
        report.transactions = report.transactions.saturating_add(block.txs.len() as u64);
        report.final_root = replayed.state_root;
        if let Some(m) = compare(&record, &replayed, height >= opts.from) {
            report.mismatch = Some(m);
            return Ok(report);
        }
        (opts.progress)(height, to);
        if opts.restart_after == Some(height) {
            drop(chain);
            chain = Chain::open(work_dir, (opts.verifier)())?;
            chain.set_routine_engine(opts.engine)?;
            chain.set_exec_mode(opts.exec);
            chain.set_vm_engine(opts.vm_engine, Some(work_dir))?;
        }
    }
    Ok(report)
}

/// Differences between a record and its replay; receipts are compared when `receipts`.
fn compare(record: &BlockRecord, replayed: &BlockResult, receipts: bool) -> Option<Mismatch> {
    let rec = &record.result;
    let mut diffs = Vec::new();
    // A record whose receipts no longer hash to its own root was altered after the fact.
    let rehashed = receipts_root(&rec.receipts);
    if receipts && rehashed != rec.receipts_root {
        diffs.push(block_diff(
            "recorded receipts vs recorded receipts_root",
            hex::encode(rec.receipts_root),
            hex::encode(rehashed),
        ));
    }
    if receipts {
        receipt_diffs(&rec.receipts, &replayed.receipts, &mut diffs);
        // Governance events by kind, proposal and transaction (their detail is a message).
        let gov = |r: &BlockResult| -> Vec<String> {
            r.governance
                .iter()
                .map(|e| format!("{:?} {} {:?}", e.kind, e.proposal, e.tx_index))
                .collect()
        };
        if gov(rec) != gov(replayed) {
            diffs.push(block_diff(
                "governance",
                format!("{:?}", gov(rec)),
                format!("{:?}", gov(replayed)),
            ));
        }
        for (field, a, b) in [
            ("gas_used", &rec.gas_used, &replayed.gas_used),
            ("prices", &rec.prices, &replayed.prices),
            ("next_prices", &rec.next_prices, &replayed.next_prices),
        ] {
            if a != b {
                diffs.push(block_diff(field, format!("{a:?}"), format!("{b:?}")));
            }
        }
    }
    let roots_equal =
        rec.state_root == replayed.state_root && rec.receipts_root == replayed.receipts_root;
    if roots_equal && diffs.is_empty() {
        return None;
    }
    Some(Mismatch {
        height: rec.height,
        state_root: [
            hex::encode(rec.state_root),
            hex::encode(replayed.state_root),
        ],
        receipts_root: [
            hex::encode(rec.receipts_root),
            hex::encode(replayed.receipts_root),
        ],
        diffs,
    })
}

fn receipt_diffs(recorded: &[Receipt], replayed: &[Receipt], diffs: &mut Vec<Diff>) {
    if recorded.len() != replayed.len() {
        diffs.push(block_diff(
            "receipt count",
            recorded.len().to_string(),
            replayed.len().to_string(),
        ));
    }
    for (i, (a, b)) in recorded.iter().zip(replayed).enumerate() {
        if encode_receipt(a) == encode_receipt(b) {
            continue;
        }
        let mut field = |name: &str, x: String, y: String| {
            if x != y {
                diffs.push(Diff {
                    tx_index: Some(i),
                    field: name.into(),
                    recorded: x,
                    replayed: y,
                });
            }
        };
        field("tx_hash", hex::encode(a.tx_hash), hex::encode(b.tx_hash));
        field(
            "status",
            format!("{:?} {:?}", status_codes(&a.status), a.status),
            format!("{:?} {:?}", status_codes(&b.status), b.status),
        );
        field(
            "gas_used",
            format!("{:?}", a.gas_used),
            format!("{:?}", b.gas_used),
        );
        field("fee", a.fee.to_string(), b.fee.to_string());
        field(
            "contract",
            format!("{:?}", a.contract.map(hex::encode)),
            format!("{:?}", b.contract.map(hex::encode)),
        );
        field(
            "events",
            format!("{:?}", a.events),
            format!("{:?}", b.events),
        );
        field(
            "faults",
            format!("{:?}", a.faults),
            format!("{:?}", b.faults),
        );
    }
}

fn block_diff(field: &str, recorded: String, replayed: String) -> Diff {
    Diff {
        tx_index: None,
        field: field.into(),
        recorded,
        replayed,
    }
}

fn root_mismatch(height: u64, recorded: [u8; 32], replayed: [u8; 32]) -> Mismatch {
    Mismatch {
        height,
        state_root: [hex::encode(recorded), hex::encode(replayed)],
        receipts_root: [String::new(), String::new()],
        diffs: Vec::new(),
    }
}

/// A recorded block the replaying chain refuses to execute.
fn refused(record: &BlockRecord, e: &ChainError) -> Mismatch {
    let mut m = root_mismatch(record.result.height, record.result.state_root, [0; 32]);
    m.diffs.push(block_diff(
        "execution",
        "executed".into(),
        format!("refused: {e}"),
    ));
    m
}
