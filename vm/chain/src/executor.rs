//! Block execution: pre-validation, per-transaction forked contexts, fees and lazy rent.
//!
//! For each transaction, in block order:
//! 1. **Pre-validation** (a failure *rejects* the transaction: no state change, no fee):
//!    signature (batch-verified up front through the [`SignatureVerifier`]), chain id, nonce,
//!    `max_fee_per_unit ≥ base price` and intrinsic gas in every dimension, room in the block,
//!    and a balance covering the maximum gas cost plus the value sent.
//! 2. The nonce is bumped and the maximum gas cost escrowed, in the block context.
//! 3. The target contract's rent is settled (possibly evicting it), in the block context.
//! 4. The transaction runs in a **forked context**; failure reverts only that context.
//! 5. Gas used is charged at the block's base prices (burned) plus the priority fee on compute
//!    (to the proposer); the rest of the escrow is refunded.
//!
//! After the last transaction the fee market computes the next block's prices.
//!
//! This file holds the block: its first step (gates, governance activations), the signature
//! phase, the sequential loop and its last step. One transaction's steps are in `transaction`,
//! what each kind of transaction does in `tx_kinds`, rent settlement in `rent_settlement`; the
//! parallel executor (`parallel`) runs the same transaction steps.

use crate::config::ChainConfig;
use crate::fees::{Prices, next_prices};
use crate::governance::{self, Gov, GovEvent};
use crate::nested::{Shared, lock};
use crate::receipt::{BlockResult, Receipt};
use crate::routines::RoutineCache;
use crate::state_access::{Access, AccessError, ChainBase};
use crate::tx::{PerDimension, SenderKeys, SignedTx};
use crate::types::{Address, Amount, BlockContext};
use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::SignatureVerifier;
use keel_state::{Overlay, WriteSet};
use keel_vm::{Dimension, GasVector, Vm, VmError};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// A block: header and ordered transactions.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<SignedTx>,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockHeader {
    pub height: u64,
    /// State root the block executes on.
    #[serde(with = "crate::receipt::hex32")]
    pub parent_root: [u8; 32],
    pub timestamp: u64,
    pub proposer: Address,
    /// The proposer's key and VRF proof over (chain id, height, previous seed) (`beacon.rs`).
    #[serde(default)]
    pub vrf: crate::beacon::VrfEvidence,
    /// The VDF output for height `height − lag`, from height `lag + 1` on (`beacon.rs`).
    #[serde(default)]
    pub beacon: Option<crate::beacon::BeaconEvidence>,
}

impl BlockHeader {
    pub fn context(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            timestamp: self.timestamp,
            proposer: self.proposer,
        }
    }
}

/// Why a block could not be executed at all (node-level, not a transaction outcome).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("VM failure: {0}")]
    Vm(VmError),
    #[error("block has {got} transactions; the limit is {limit}")]
    TooManyTransactions { got: usize, limit: u32 },
    #[error("block {got} does not follow the current head (expected height {expected})")]
    WrongHeight { expected: u64, got: u64 },
    #[error("block builds on root {got}, but the current root is {expected}")]
    WrongParent { expected: String, got: String },
    #[error("audit log: {0}")]
    Audit(String),
    #[error("genesis: {0}")]
    Genesis(#[from] crate::genesis_routines::GenesisError),
    #[error(
        "feature gate {name} is at version {version}, which this keel binary does not implement: \
         upgrade keel before executing further blocks"
    )]
    UnsupportedFeature { name: String, version: u32 },
    #[error("block record cannot be encoded: {0}")]
    Record(String),
    #[error("state commit failed: {0}")]
    Commit(#[from] keel_state::StateError),
    #[error("routine engine: {0}")]
    RoutineEngine(String),
    /// A fee refund or priority fee would overflow an account's balance. Unreachable while the
    /// total supply fits a u256 (genesis checks it; no transaction mints): a broken state.
    #[error("crediting account {account} would overflow its balance")]
    BalanceOverflow { account: String },
    #[error("the chain is at the last representable height")]
    HeightExhausted,
    #[error("bad block header: {0}")]
    Header(#[from] crate::blocks::HeaderError),
    /// A block for `proposer` was asked for, but this node holds no key for it to make the
    /// header's VRF proof.
    #[error("this node holds no proposer key for {proposer}: it cannot make the block's VRF proof")]
    NoProposerKey { proposer: String },
    /// The VDF output a block must carry is not available (evaluation failed or timed out).
    #[error("randomness beacon: {0}")]
    Beacon(String),
}

/// Executes blocks with a VM and a signature verifier.
pub struct Executor<'a> {
    pub vm: &'a Vm,
    pub verifier: &'a dyn SignatureVerifier,
    /// Loaded native routines; which of them a block may call comes from its state.
    pub routines: &'a RoutineCache,
    /// Senders' validated public keys and addresses, kept across blocks (node-local: speed
    /// only).
    pub keys: &'a Mutex<SenderKeys>,
}

/// What the signature phase found out about one transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    /// Whether its signature verified.
    pub sig_ok: bool,
    /// Its sender's address ([`crate::Transaction::sender_address`]).
    pub sender: Address,
    /// Its hash and encoded size ([`SignedTx::hash_and_size`]), computed here, once.
    pub hash: [u8; 32],
    pub size: u64,
}

/// A block executed over an overlay, ready to commit.
pub struct Executed {
    pub result: BlockResult,
    pub writes: WriteSet,
    /// Where the time went (observability only; never part of any result).
    pub timings: BlockTimings,
}

/// Wall-clock time of the phases of one block, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BlockTimings {
    pub verify_signatures: std::time::Duration,
    pub execute: std::time::Duration,
    pub commit: std::time::Duration,
    /// State writes the block committed.
    pub writes: usize,
    /// The parallel executor's rollback log (zero for the sequential executor).
    pub exec: crate::parallel::ExecStats,
}

/// What every transaction of a block runs under.
pub(crate) struct TxCx<'b> {
    pub config: &'b Arc<ChainConfig>,
    pub prices: &'b Prices,
    pub ctx: BlockContext,
    pub tip: TipMode,
}

/// How the proposer's priority fee reaches its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TipMode {
    /// Read, add, write (the sequential reference).
    Credit,
    /// Returned as [`TxOutcome::tip`] unless the context already wrote the proposer's record:
    /// the parallel executor applies it as a commutative delta, so the tips of a block's
    /// transactions do not conflict with each other.
    Delta,
}

/// One executed transaction.
pub(crate) struct TxOutcome {
    pub receipt: Receipt,
    /// Governance events (their `tx_index` is set by the caller).
    pub gov: Vec<GovEvent>,
    /// Gas charged (capped at the limits): what the block's usage grows by.
    pub used: GasVector,
    /// The proposer's tip still to credit ([`TipMode::Delta`] only).
    pub tip: Option<Amount>,
}

/// The state of a block after its first step ([`Executor::begin_block`]).
pub(crate) struct BlockStart {
    pub governance: Vec<GovEvent>,
    pub config: Arc<ChainConfig>,
    pub prices: Prices,
}

/// Everything [`Executor::finish_block`] turns into the block's result.
pub(crate) struct BlockEnd {
    pub start: BlockStart,
    pub receipts: Vec<Receipt>,
    pub block_used: GasVector,
    pub timings: BlockTimings,
    /// When transaction execution started.
    pub started: std::time::Instant,
    /// The receipts' leaf hashes, when the executor hashed each receipt as it was made
    /// (`None`: hashed here).
    pub receipt_leaves: Option<Vec<[u8; 32]>>,
}

/// The first dimension (in [`Dimension::ALL`] order) in which a transaction with gas `limits`
/// does not fit a block that has used `used`: the transaction is then rejected as block-full
/// (unless an earlier check of that dimension's loop rejects it first).
pub(crate) fn block_full(
    used: &GasVector,
    limits: &PerDimension,
    config: &ChainConfig,
) -> Option<Dimension> {
    Dimension::ALL
        .into_iter()
        .zip(limits.iter().zip(config.fees.limits.iter()))
        .find(|(d, (limit, block))| used.get(*d).saturating_add(**limit) > **block)
        .map(|(d, _)| d)
}

pub(crate) fn dims(g: &GasVector) -> PerDimension {
    [g.compute, g.storage_bytes, g.memory_pages, g.bandwidth]
}

pub(crate) fn vector(p: &PerDimension) -> GasVector {
    GasVector {
        compute: p[0],
        storage_bytes: p[1],
        memory_pages: p[2],
        bandwidth: p[3],
    }
}

impl Executor<'_> {
    /// Executes `txs` on `base` under `header`. The returned writes, committed at
    /// `header.height`, give `result.state_root` (filled in by the caller that commits).
    pub fn execute<B: ChainBase>(
        &self,
        base: B,
        header: &BlockHeader,
        txs: &[SignedTx],
    ) -> Result<Executed, ChainError> {
        self.execute_observed(base, header, txs, &mut |_| {})
    }

    /// [`Executor::execute`], calling `before_tx(i)` before transaction `i` runs (the replay
    /// debugger arms its hook there). Same results.
    pub fn execute_observed<B: ChainBase>(
        &self,
        base: B,
        header: &BlockHeader,
        txs: &[SignedTx],
        before_tx: &mut dyn FnMut(usize),
    ) -> Result<Executed, ChainError> {
        let shared: Shared<B> = Arc::new(Mutex::new(Overlay::new(base)));
        let start = self.begin_block(&mut lock(&shared), header, txs.len())?;
        let started = std::time::Instant::now();
        let verdicts = self.verify_signatures(txs);
        let verify_signatures = started.elapsed();
        let started = std::time::Instant::now();
        let mut block_used = GasVector::default();
        let mut receipts = Vec::with_capacity(txs.len());
        let mut governance = start.governance;
        let cx = TxCx {
            config: &start.config,
            prices: &start.prices,
            ctx: header.context(),
            tip: TipMode::Credit,
        };
        for (i, (stx, checked)) in txs.iter().zip(verdicts).enumerate() {
            let full = block_full(&block_used, &stx.tx.gas_limits, &start.config);
            before_tx(i);
            let outcome = self.execute_tx(&shared, &cx, stx, checked, full)?;
            block_used = block_used.saturating_add(&outcome.used);
            governance.extend(outcome.gov.into_iter().map(|mut e| {
                e.tx_index = Some(i);
                e
            }));
            receipts.push(outcome.receipt);
        }
        let overlay = Arc::try_unwrap(shared)
            .map_err(|_| {
                ChainError::Vm(VmError::State(keel_vm::StateError(
                    "overlay still shared".into(),
                )))
            })?
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        let end = BlockEnd {
            start: BlockStart {
                governance,
                ..start
            },
            receipts,
            block_used,
            timings: BlockTimings {
                verify_signatures,
                ..BlockTimings::default()
            },
            started,
            receipt_leaves: None,
        };
        self.finish_block(overlay, header, end)
    }

    /// The block's first step, before any transaction: feature gates, governance activations
    /// (this block's kill set, gas schedule, admission profile and routines are set on the VM
    /// here and only here), then the config and prices the transactions run under.
    pub(crate) fn begin_block<B: ChainBase>(
        &self,
        o: &mut Overlay<B>,
        header: &BlockHeader,
        tx_count: usize,
    ) -> Result<BlockStart, ChainError> {
        let mut a = Access { overlay: o };
        // Gates are checked before and after the governance step: this node must not
        // apply a block (not even its activations) under rules it does not implement.
        if let Some((name, version)) = governance::unsupported_feature(&a)? {
            return Err(ChainError::UnsupportedFeature { name, version });
        }
        let governance = Gov { a: &mut a }.begin_block(self.vm, header.height)?;
        if let Some((name, version)) = governance::unsupported_feature(&a)? {
            return Err(ChainError::UnsupportedFeature { name, version });
        }
        let profile = governance::admission_profile(&a)?.map_err(|version| {
            ChainError::UnsupportedFeature {
                name: "isa.wasm".into(),
                version,
            }
        })?;
        if *self.vm.profile() != profile {
            self.vm.set_profile(profile);
        }
        self.vm.set_kills(governance::kills(&a)?.vm_kills());
        let schedule =
            governance::schedule(&a)?.unwrap_or_else(|| self.vm.config().schedule.clone());
        if *self.vm.schedule() != schedule {
            self.vm.set_schedule(schedule);
        }
        self.vm.set_native(Arc::new(self.routines.for_state(&a)?));
        let config = a.config()?;
        let prices = a.prices()?.unwrap_or(config.fees.min_prices);
        if tx_count > config.max_block_txs as usize {
            return Err(ChainError::TooManyTransactions {
                got: tx_count,
                limit: config.max_block_txs,
            });
        }
        Ok(BlockStart {
            governance,
            config: Arc::new(config),
            prices,
        })
    }

    /// The block's last step: the next prices, the block facts and the write set.
    pub(crate) fn finish_block<B: ChainBase>(
        &self,
        mut overlay: Overlay<B>,
        header: &BlockHeader,
        end: BlockEnd,
    ) -> Result<Executed, ChainError> {
        let BlockEnd {
            start,
            receipts,
            block_used,
            mut timings,
            started,
            receipt_leaves,
        } = end;
        let used = dims(&block_used);
        let next = next_prices(&start.prices, &used, &start.config.fees);
        Access {
            overlay: &mut overlay,
        }
        .put_prices(&next);
        crate::beacon::commit(
            &mut Access {
                overlay: &mut overlay,
            },
            &start.config,
            header,
        )?;
        let leaves = match receipt_leaves {
            Some(leaves) if leaves.len() == receipts.len() => leaves,
            Some(leaves) => {
                return Err(ChainError::Record(format!(
                    "{} receipt hashes for {} receipts",
                    leaves.len(),
                    receipts.len()
                )));
            }
            None => crate::receipts_root::leaf_hashes(&receipts),
        };
        let mut writes = overlay.into_writes()?;
        let receipts_root = crate::blocks::commit_block_facts(&mut writes, header, &leaves);
        timings.execute = started.elapsed();
        timings.writes = writes.len();
        Ok(Executed {
            timings,
            result: BlockResult {
                height: header.height,
                receipts,
                gas_used: used,
                state_root: [0; 32],
                receipts_root,
                prices: start.prices,
                next_prices: next,
                governance: start.governance,
            },
            writes,
        })
    }

    /// One verdict and the sender's address per transaction. The executing thread only looks
    /// up sender keys (and their addresses) and encodes messages; signatures are decoded by
    /// the verifier (on its workers).
    pub(crate) fn verify_signatures(&self, txs: &[SignedTx]) -> Vec<Checked> {
        let mut items = Vec::with_capacity(txs.len());
        let mut index = Vec::with_capacity(txs.len());
        let mut checked = Vec::with_capacity(txs.len());
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for (i, stx) in txs.iter().enumerate() {
            // Malformed keys are simply invalid (malformed signatures: the verifier's verdict).
            let (sender, hash, size) = match stx.signature_part(&mut keys) {
                Ok(part) => {
                    items.push(part.item);
                    index.push(i);
                    (part.sender, part.hash, part.size)
                }
                Err(_) => {
                    let (hash, size) = stx.hash_and_size();
                    (stx.tx.sender_address(), hash, size)
                }
            };
            checked.push(Checked {
                sig_ok: false,
                sender,
                hash,
                size,
            });
        }
        drop(keys);
        let verdicts = self.verifier.verify_encoded(&items);
        for (i, v) in index.into_iter().zip(verdicts) {
            if let Some(slot) = checked.get_mut(i) {
                slot.sig_ok = v.is_valid();
            }
        }
        checked
    }
}
