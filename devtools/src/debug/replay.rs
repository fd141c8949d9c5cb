//! Re-executing one transaction under the debugger, from the state before it.
//!
//! A recorded transaction (`--block H --tx I`): blocks 1..H-1 are re-executed from the kept
//! genesis into a scratch database (as `keel replay` does, each state root checked against the
//! record), then block H's transactions 0..=I are simulated on a VM built for debugging, the
//! session armed just before transaction I. A new transaction (`--tx-file`) is simulated on
//! the head. Nothing is committed to the recorded chain.

use super::session::Session;
use crate::error::DevError;
use keel_chain::{BlockHeader, Chain, Receipt, SignedTx};
use keel_crypto::SignatureVerifier;
use keel_vm::{Vm, VmConfig};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// What replaying the transaction gave.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    /// Height of the block the transaction ran in (the next block for `--tx-file`).
    pub block: u64,
    pub tx: usize,
    /// The receipt of the debugged run.
    pub receipt: Receipt,
    /// The receipt the chain recorded, for a recorded transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Receipt>,
}

impl Replayed {
    /// Whether the debugged run reproduced the recorded receipt (status, gas, fee, events,
    /// faults). `None` for a new transaction.
    pub fn matches_record(&self) -> Option<bool> {
        self.recorded.as_ref().map(|r| *r == self.receipt)
    }
}

fn chain_err(e: impl std::fmt::Display) -> DevError {
    DevError::Chain(e.to_string())
}

/// Replays transaction `tx` of block `block` of `recorded` with `session` as the hook.
/// `scratch` must be an empty directory (the re-executed chain lives there).
///
/// # Errors
/// [`DevError::Chain`] if the chain has no genesis or block record, a re-executed block's
/// root differs from the record, or `tx` is not in the block.
pub fn replay_recorded(
    recorded: &Chain,
    block: u64,
    tx: usize,
    scratch: &Path,
    verifier: &dyn Fn() -> Box<dyn SignatureVerifier>,
    session: &Arc<Session>,
) -> Result<Replayed, DevError> {
    let (head, _) = recorded.head().map_err(chain_err)?;
    if block == 0 || block > head {
        return Err(DevError::Chain(format!(
            "block {block} is not in the chain (blocks 1..={head} hold transactions)"
        )));
    }
    let genesis = recorded
        .genesis()
        .map_err(chain_err)?
        .ok_or_else(|| DevError::Chain("the chain kept no genesis record".into()))?;
    let mut chain = Chain::init(scratch, &genesis, verifier()).map_err(chain_err)?;
    for height in 1..block {
        let b = recorded_block(recorded, height)?.0;
        let result = chain.execute_block(&b).map_err(chain_err)?;
        let want = recorded.root_at(height).map_err(chain_err)?;
        if result.state_root != want {
            return Err(DevError::Chain(format!(
                "re-executed block {height} gives state root {} but the chain recorded {}",
                hex::encode(result.state_root),
                hex::encode(want)
            )));
        }
    }
    let (b, receipts) = recorded_block(recorded, block)?;
    let txs = b.txs.get(..=tx).ok_or_else(|| {
        DevError::Chain(format!(
            "block {block} has {} transactions; there is no transaction {tx}",
            b.txs.len()
        ))
    })?;
    let receipt = run(&mut chain, &b.header, txs, session)?;
    Ok(Replayed {
        block,
        tx,
        receipt,
        recorded: receipts.get(tx).cloned(),
    })
}

/// Simulates `stx` on the head of `chain` (a node's data directory opened by the caller) with
/// `session` as the hook.
///
/// # Errors
/// [`DevError::Chain`] if the chain cannot build the next header or execute the transaction.
pub fn replay_new(
    chain: &mut Chain,
    stx: SignedTx,
    session: &Arc<Session>,
) -> Result<Replayed, DevError> {
    let header = chain.next_local_header().map_err(chain_err)?;
    let receipt = run(chain, &header, &[stx], session)?;
    Ok(Replayed {
        block: header.height,
        tx: 0,
        receipt,
        recorded: None,
    })
}

/// Runs `txs` on the head under the debugging VM, arming `session` before the last one.
fn run(
    chain: &mut Chain,
    header: &BlockHeader,
    txs: &[SignedTx],
    session: &Arc<Session>,
) -> Result<Receipt, DevError> {
    let hook: Arc<dyn keel_vm::debug::DebugHook> = Arc::clone(session) as _;
    chain.set_vm(Vm::for_debugging(VmConfig::default(), hook)?);
    let target = txs.len().saturating_sub(1);
    let result = chain
        .simulate_observed(header, txs, &mut |i| {
            if i == target {
                session.arm();
            }
        })
        .map_err(chain_err)?;
    session.finish();
    result
        .receipts
        .get(target)
        .cloned()
        .ok_or_else(|| DevError::Chain("the simulated block has no receipt".into()))
}

fn recorded_block(
    chain: &Chain,
    height: u64,
) -> Result<(keel_chain::Block, Vec<Receipt>), DevError> {
    let record = chain
        .block_record(height)
        .map_err(chain_err)?
        .ok_or_else(|| DevError::Chain(format!("block {height} has no record")))?;
    let block = record.block().map_err(chain_err)?.ok_or_else(|| {
        DevError::Chain(format!(
            "block {height} was recorded without its transactions"
        ))
    })?;
    Ok((block, record.result.receipts))
}

/// Which transaction to debug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// Transaction `tx` of recorded block `block`.
    Recorded { block: u64, tx: usize },
    /// A signed transaction (hex of its canonical encoding, as `keel chain tx` writes it), run
    /// against the head.
    New { tx_hex: String },
}

/// Opens the chain in `data` and replays `which` with `session` as the hook (a recorded
/// transaction is re-executed in a scratch directory that is removed afterwards).
///
/// # Errors
/// As [`replay_recorded`] and [`replay_new`]; an unreadable chain or a transaction that does
/// not decode.
pub fn launch(data: &Path, which: &Which, session: &Arc<Session>) -> Result<Replayed, DevError> {
    use keel_crypto::SingleVerifier;
    let verifier = || -> Box<dyn SignatureVerifier> { Box::new(SingleVerifier) };
    let mut chain = Chain::open(data, verifier()).map_err(chain_err)?;
    match which {
        Which::Recorded { block, tx } => {
            let scratch = tempfile::tempdir().map_err(DevError::io(std::env::temp_dir()))?;
            replay_recorded(&chain, *block, *tx, scratch.path(), &verifier, session)
        }
        Which::New { tx_hex } => {
            let bytes = hex::decode(tx_hex.trim().trim_start_matches("0x"))
                .map_err(|e| DevError::Chain(format!("transaction is not hex: {e}")))?;
            let stx: SignedTx =
                keel_chain::decode("signed transaction", &bytes).map_err(chain_err)?;
            replay_new(&mut chain, stx, session)
        }
    }
}
