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

use crate::config::ChainConfig;
use crate::fees::{Prices, next_prices};
use crate::governance::{self, Gov, GovEvent};
use crate::nested::{ChainEnv, Shared, StorageReader, apply_writes, lock};
use crate::receipt::{BlockResult, FailReason, Receipt, RejectReason, TxStatus};
use crate::rent;
use crate::routines::RoutineCache;
use crate::state_access::{Access, AccessError, ChainBase};
use crate::tx::{CallData, PerDimension, SignedTx, TxKind, encode};
use crate::types::{Address, Amount, BlockContext, contract_address};
use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{KeyCache, SignatureVerifier};
use keel_state::{Overlay, WriteSet};
use keel_vm::{
    CallContext, CallRequest, Dimension, Event, Fault, FaultKind, GasVector, Trap, Vm, VmError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
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
    /// Senders' validated public keys, kept across blocks (node-local: speed only).
    pub keys: &'a Mutex<KeyCache>,
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
    pub config: &'b ChainConfig,
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
    pub config: ChainConfig,
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

struct TxRun {
    /// Governance events of a governance transaction (kept only if it succeeds).
    gov: Vec<GovEvent>,
    status: Result<Vec<u8>, FailReason>,
    used: GasVector,
    events: Vec<Event>,
    contract: Option<Address>,
    faults: Vec<Fault>,
}

fn dims(g: &GasVector) -> PerDimension {
    [g.compute, g.storage_bytes, g.memory_pages, g.bandwidth]
}

fn vector(p: &PerDimension) -> GasVector {
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
        for (i, (stx, sig_ok)) in txs.iter().zip(verdicts).enumerate() {
            let full = block_full(&block_used, &stx.tx.gas_limits, &start.config);
            before_tx(i);
            let outcome = self.execute_tx(&shared, &cx, stx, sig_ok, full)?;
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
            config,
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
        let mut writes = overlay.into_writes()?;
        let receipts_root = crate::blocks::commit_block_facts(&mut writes, header, &receipts);
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

    /// One verdict per transaction. The executing thread only looks up sender keys and
    /// encodes messages; signatures are decoded by the verifier (on its workers).
    pub(crate) fn verify_signatures(&self, txs: &[SignedTx]) -> Vec<bool> {
        let mut items = Vec::with_capacity(txs.len());
        let mut index = Vec::with_capacity(txs.len());
        let mut ok = vec![false; txs.len()];
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for (i, stx) in txs.iter().enumerate() {
            // Malformed keys are simply invalid (malformed signatures: the verifier's verdict).
            if let Ok(item) = stx.encoded_item(&mut keys) {
                items.push(item);
                index.push(i);
            }
        }
        drop(keys);
        let verdicts = self.verifier.verify_encoded(&items);
        for (i, v) in index.into_iter().zip(verdicts) {
            if let Some(slot) = ok.get_mut(i) {
                *slot = v.is_valid();
            }
        }
        ok
    }

    /// Executes one transaction in the block context `shared`. `full` is the first dimension in
    /// which the block has no room for the transaction's limits (see [`block_full`]).
    pub(crate) fn execute_tx<B: ChainBase>(
        &self,
        shared: &Shared<B>,
        cx: &TxCx<'_>,
        stx: &SignedTx,
        sig_ok: bool,
        full: Option<Dimension>,
    ) -> Result<TxOutcome, ChainError> {
        let TxCx {
            config,
            prices,
            ref ctx,
            tip: tip_mode,
        } = *cx;
        let tx = &stx.tx;
        // One encoding gives both the hash (`SignedTx::hash`) and the bandwidth charge.
        let encoded = encode(stx);
        let tx_hash: [u8; 32] = Sha256::digest(&encoded).into();
        let reject = |reason| TxOutcome {
            receipt: Receipt {
                tx_hash,
                status: TxStatus::Rejected { reason },
                gas_used: [0; 4],
                fee: Amount::ZERO,
                contract: None,
                events: Vec::new(),
                faults: Vec::new(),
            },
            gov: Vec::new(),
            used: GasVector::default(),
            tip: None,
        };
        let sender = tx.sender_address();
        let intrinsic = GasVector {
            compute: config.tx_base_compute,
            bandwidth: encoded.len() as u64,
            ..GasVector::default()
        };
        let limits = vector(&tx.gas_limits);
        // 1. Pre-validation.
        let escrow = {
            let mut o = lock(shared);
            let a = Access { overlay: &mut o };
            if !sig_ok {
                return Ok(reject(RejectReason::BadSignature));
            }
            if tx.chain_id != config.chain_id {
                return Ok(reject(RejectReason::WrongChain {
                    expected: config.chain_id,
                    got: tx.chain_id,
                }));
            }
            let account = a.account_or_default(&sender)?;
            if tx.nonce != account.nonce {
                return Ok(reject(RejectReason::WrongNonce {
                    expected: account.nonce,
                    got: tx.nonce,
                }));
            }
            for (i, d) in Dimension::ALL.into_iter().enumerate() {
                if tx.max_fee_per_unit[i] < prices[i] {
                    return Ok(reject(RejectReason::FeeTooLow { dimension: d }));
                }
                if limits.get(d) < intrinsic.get(d) {
                    return Ok(reject(RejectReason::GasLimitTooLow { dimension: d }));
                }
                if full == Some(d) {
                    return Ok(reject(RejectReason::BlockFull { dimension: d }));
                }
            }
            let Some(gas_escrow) = gas_cost(&tx.gas_limits, prices, tx.priority_fee) else {
                return Ok(reject(RejectReason::FeeOverflow));
            };
            let value = match &tx.kind {
                TxKind::Transfer { amount, .. } => *amount,
                TxKind::Call { value, .. } => *value,
                _ => Amount::ZERO,
            };
            let needed = gas_escrow.checked_add(value);
            if needed.is_none_or(|n| account.balance.to_u256() < n.to_u256()) {
                return Ok(reject(RejectReason::InsufficientBalance));
            }
            // 2. Nonce and escrow, in the block context.
            let Some(next_nonce) = account.nonce.checked_add(1) else {
                return Ok(reject(RejectReason::NonceExhausted));
            };
            let mut a = a;
            let mut account = account;
            account.nonce = next_nonce;
            // Covered by the balance check above.
            account.balance = account.balance.saturating_sub(gas_escrow);
            a.put_account(&sender, &account);
            gas_escrow
        };
        // 3. Rent of the touched contract, in the block context (eviction persists even if the
        //    transaction then fails). The transaction pays for the eviction's deletions.
        let mut rent = RentSettlement::Paid;
        if let TxKind::Call { contract, .. } = &tx.kind {
            let mut o = lock(shared);
            rent = settle_rent(
                &mut Access { overlay: &mut o },
                config,
                ctx.height,
                contract,
                limits.compute.saturating_sub(intrinsic.compute),
            )?;
        }
        // 4. The transaction itself, in a forked context.
        lock(shared).fork();
        let run = match rent {
            RentSettlement::Paid => {
                self.run_kind(shared, config, ctx, stx, &sender, intrinsic, limits)?
            }
            RentSettlement::Evicted { compute } => {
                let mut start = intrinsic;
                start.compute = start.compute.saturating_add(compute); // <= limits.compute
                self.run_kind(shared, config, ctx, stx, &sender, start, limits)?
            }
            // Nothing was deleted; the transaction pays its whole compute limit (capped below).
            RentSettlement::EvictionUnaffordable { compute } => TxRun {
                gov: Vec::new(),
                status: Err(FailReason::GasLimit {
                    dimension: Dimension::Compute,
                }),
                used: GasVector {
                    compute: intrinsic.compute.saturating_add(compute),
                    ..intrinsic
                },
                events: Vec::new(),
                contract: None,
                faults: Vec::new(),
            },
        };
        let mut used = run.used;
        let mut status = run.status;
        if status.is_ok()
            && let Some(d) = used.exceeds(&limits)
        {
            status = Err(FailReason::GasLimit { dimension: d });
        }
        for d in Dimension::ALL {
            *used.get_mut(d) = used.get(d).min(limits.get(d));
        }
        {
            let mut o = lock(shared);
            if status.is_ok() {
                o.commit_child()?
            } else {
                o.revert_child()?
            }
        }
        // 5. Fees: charge what was used, refund the rest of the escrow.
        let fee = gas_cost(&dims(&used), prices, tx.priority_fee)
            .unwrap_or(escrow)
            .min(escrow);
        // u64 × u64 always fits a u128.
        let tip =
            Amount::from_u128(u128::from(used.compute).saturating_mul(u128::from(tx.priority_fee)));
        let tip = tip.min(fee);
        let tip_delta = {
            let mut o = lock(shared);
            let mut a = Access { overlay: &mut o };
            credit(&mut a, &sender, escrow.saturating_sub(fee))?;
            // A context that already wrote the proposer's record credits it in place; otherwise
            // the parallel executor records the tip as a delta (see `parallel::memory`).
            let in_place = match tip_mode {
                TipMode::Credit => true,
                TipMode::Delta => a
                    .overlay
                    .changes()
                    .contains_key(&keel_state::keys::account_key(&ctx.proposer)),
            };
            if in_place {
                credit(&mut a, &ctx.proposer, tip)?;
                None
            } else {
                Some(tip)
            }
        };
        let (status, events, gov) = match status {
            Ok(return_data) => (TxStatus::Success { return_data }, run.events, run.gov),
            Err(reason) => (TxStatus::Failed { reason }, Vec::new(), Vec::new()),
        };
        let receipt = Receipt {
            tx_hash,
            status,
            gas_used: dims(&used),
            fee,
            contract: run.contract,
            events,
            faults: run.faults,
        };
        Ok(TxOutcome {
            receipt,
            gov,
            used,
            tip: tip_delta,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn run_kind<B: ChainBase>(
        &self,
        shared: &Shared<B>,
        config: &ChainConfig,
        ctx: &BlockContext,
        stx: &SignedTx,
        sender: &Address,
        intrinsic: GasVector,
        limits: GasVector,
    ) -> Result<TxRun, ChainError> {
        let tx = &stx.tx;
        let mut used = intrinsic;
        let fail = |reason, used| TxRun {
            gov: Vec::new(),
            status: Err(reason),
            used,
            events: Vec::new(),
            contract: None,
            faults: Vec::new(),
        };
        match &tx.kind {
            TxKind::Transfer { to, amount } => {
                used.compute = used.compute.saturating_add(config.transfer_compute);
                let mut o = lock(shared);
                let mut a = Access { overlay: &mut o };
                let mut from = a.account_or_default(sender)?;
                let Some(left) = from.balance.checked_sub(*amount) else {
                    return Ok(fail(FailReason::InsufficientFunds, used));
                };
                from.balance = left;
                a.put_account(sender, &from);
                let existing = a.account(to)?;
                if existing.is_none() {
                    used.storage_bytes = used.storage_bytes.saturating_add(config.account_bytes);
                }
                let mut dest = existing.unwrap_or_default();
                // Never a dropped credit: the transfer fails (the debit above is reverted).
                let Some(credited) = dest.balance.checked_add(*amount) else {
                    return Ok(fail(FailReason::BalanceOverflow, used));
                };
                dest.balance = credited;
                a.put_account(to, &dest);
                Ok(TxRun {
                    gov: Vec::new(),
                    status: Ok(Vec::new()),
                    used,
                    events: Vec::new(),
                    contract: None,
                    faults: Vec::new(),
                })
            }
            TxKind::Deploy { code, constructor } => {
                used.compute = used.compute.saturating_add(
                    config
                        .data_compute_per_byte
                        .saturating_mul(code.len() as u64),
                );
                used.storage_bytes = used
                    .storage_bytes
                    .saturating_add(code.len() as u64)
                    .saturating_add(config.account_bytes);
                let address = contract_address(sender, tx.nonce);
                if let Err(e) = self.vm.prepare_for_deploy(code) {
                    return Ok(fail(FailReason::Admission(e.to_string()), used));
                }
                let hash: [u8; 32] = Sha256::digest(code).into();
                {
                    let mut o = lock(shared);
                    let mut a = Access { overlay: &mut o };
                    if a.account(&address)?
                        .is_some_and(|acc| acc.code_hash.is_some())
                    {
                        return Ok(fail(FailReason::ContractExists, used));
                    }
                    if a.code(&hash)?.is_none() {
                        a.put_code(&hash, code);
                    }
                    let mut acc = a.account_or_default(&address)?;
                    acc.code_hash = Some(hash);
                    acc.rent_paid_through = ctx.height;
                    a.put_account(&address, &acc);
                }
                let mut run = match constructor {
                    Some(call) => self.call_contract(
                        shared,
                        config,
                        ctx,
                        sender,
                        &address,
                        Code::Bytes(Cow::Borrowed(code)),
                        call,
                        used,
                        limits,
                    )?,
                    None => TxRun {
                        gov: Vec::new(),
                        status: Ok(Vec::new()),
                        used,
                        events: Vec::new(),
                        contract: None,
                        faults: Vec::new(),
                    },
                };
                run.contract = Some(address);
                Ok(run)
            }
            TxKind::Call {
                contract,
                call,
                value,
            } => {
                let code = {
                    let mut o = lock(shared);
                    let mut a = Access { overlay: &mut o };
                    let Some(acc) = a.account(contract)? else {
                        return Ok(fail(FailReason::NoContract, used));
                    };
                    if acc.evicted.is_some() {
                        return Ok(fail(FailReason::Evicted, used));
                    }
                    let Some(hash) = acc.code_hash else {
                        return Ok(fail(FailReason::NoContract, used));
                    };
                    // Code records are content-addressed, written before any account names
                    // their hash and never deleted: a module cached under the hash is this
                    // account's code, so a hit skips reading (copying) and hashing it.
                    let code = match self.vm.cached(&hash) {
                        Some(prepared) => Code::Prepared(prepared),
                        None => match a.code(&hash)? {
                            Some(code) => Code::Bytes(Cow::Owned(code)),
                            None => return Ok(fail(FailReason::NoContract, used)),
                        },
                    };
                    // A call without value changes neither balance: skip decoding and
                    // rewriting both unchanged records (the usual case, e.g. a token transfer).
                    if *value != Amount::ZERO {
                        let mut from = a.account_or_default(sender)?;
                        let Some(left) = from.balance.checked_sub(*value) else {
                            return Ok(fail(FailReason::InsufficientFunds, used));
                        };
                        from.balance = left;
                        a.put_account(sender, &from);
                        let mut to = a.account_or_default(contract)?;
                        // Never a dropped credit: the call fails (the debit above is reverted).
                        let Some(credited) = to.balance.checked_add(*value) else {
                            return Ok(fail(FailReason::BalanceOverflow, used));
                        };
                        to.balance = credited;
                        a.put_account(contract, &to);
                    }
                    code
                };
                self.call_contract(
                    shared, config, ctx, sender, contract, code, call, used, limits,
                )
            }
            TxKind::Governance(g) => {
                let mut o = lock(shared);
                let mut a = Access { overlay: &mut o };
                let params = governance::params(&a)?;
                used.compute = used
                    .compute
                    .saturating_add(Gov::<B>::compute_cost(&params, g));
                if used.compute > limits.compute {
                    return Ok(fail(
                        FailReason::GasLimit {
                            dimension: Dimension::Compute,
                        },
                        used,
                    ));
                }
                let result = Gov { a: &mut a }.apply_tx(self.vm, ctx.height, sender, g, 0)?;
                Ok(match result {
                    Ok(event) => TxRun {
                        gov: vec![event],
                        status: Ok(Vec::new()),
                        used,
                        events: Vec::new(),
                        contract: None,
                        faults: Vec::new(),
                    },
                    Err(reason) => fail(FailReason::Governance(reason), used),
                })
            }
            TxKind::Restore { contract, entries } => {
                let bytes = entries.iter().fold(0u64, |n, (k, v)| {
                    n.saturating_add(k.len() as u64)
                        .saturating_add(v.len() as u64)
                });
                used.compute = used
                    .compute
                    .saturating_add(config.data_compute_per_byte.saturating_mul(bytes));
                used.storage_bytes = used.storage_bytes.saturating_add(bytes);
                let mut o = lock(shared);
                let mut a = Access { overlay: &mut o };
                let Some(mut acc) = a.account(contract)? else {
                    return Ok(fail(FailReason::NoContract, used));
                };
                let Some(commitment) = acc.evicted else {
                    return Ok(fail(FailReason::NotEvicted, used));
                };
                if rent::commitment(entries) != commitment {
                    return Ok(fail(FailReason::BadRestoreProof, used));
                }
                let deposit = rent::deposit_for(&config.rent, bytes);
                let mut from = a.account_or_default(sender)?;
                let Some(left) = from.balance.checked_sub(deposit) else {
                    return Ok(fail(FailReason::InsufficientFunds, used));
                };
                from.balance = left;
                a.put_account(sender, &from);
                for (k, v) in entries {
                    a.write_storage(contract, k, Some(v.clone()));
                }
                acc.evicted = None;
                acc.storage_bytes = bytes;
                acc.storage_entries = entries.len() as u64;
                acc.rent_balance = deposit;
                acc.rent_paid_through = ctx.height;
                a.put_account(contract, &acc);
                let total = a.total_storage()?.saturating_add(bytes);
                a.put_total_storage(total);
                Ok(TxRun {
                    gov: Vec::new(),
                    status: Ok(Vec::new()),
                    used,
                    events: Vec::new(),
                    contract: None,
                    faults: Vec::new(),
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call_contract<B: ChainBase>(
        &self,
        shared: &Shared<B>,
        config: &ChainConfig,
        ctx: &BlockContext,
        sender: &Address,
        contract: &Address,
        code: Code<'_>,
        call: &CallData,
        used: GasVector,
        limits: GasVector,
    ) -> Result<TxRun, ChainError> {
        let request = CallRequest {
            entry: call.entry.clone(),
            input: call.args.clone(),
            context: CallContext {
                caller: *sender,
                self_address: *contract,
                block_height: ctx.height,
                block_timestamp: ctx.timestamp,
            },
            limits: limits.saturating_sub(&used),
        };
        let reader = StorageReader {
            shared: Arc::clone(shared),
        };
        let env = Arc::new(ChainEnv {
            shared: Arc::clone(shared),
            config: Arc::new(config.clone()),
            payer: *sender,
        });
        let called = match code {
            Code::Prepared(p) => self
                .vm
                .call_prepared_with_env(&p, request, Box::new(reader), env),
            Code::Bytes(code) => self.vm.call_with_env(&code, request, Box::new(reader), env),
        };
        let out = match called {
            Ok(out) => out,
            Err(VmError::Admission(e)) => {
                return Ok(TxRun {
                    gov: Vec::new(),
                    status: Err(FailReason::Admission(e.to_string())),
                    used,
                    events: Vec::new(),
                    contract: None,
                    faults: Vec::new(),
                });
            }
            Err(e) => return Err(ChainError::Vm(e)),
        };
        let used = used.saturating_add(&out.gas_used);
        let mut faults = out.faults;
        let data = match out.result {
            Ok(data) => data,
            Err(trap) => {
                return Ok(TxRun {
                    gov: Vec::new(),
                    status: Err(FailReason::Trap(trap)),
                    used,
                    events: Vec::new(),
                    contract: None,
                    faults,
                });
            }
        };
        // Apply the writes not flushed by nested calls, with storage deposits and rebates.
        let mut o = lock(shared);
        let mut a = Access { overlay: &mut o };
        if apply_writes(&mut a, config, sender, contract, &out.writes)?.is_err() {
            faults.push(Fault {
                kind: FaultKind::Deposit,
                trap: Trap::Deposit,
                contract: *contract,
                entry: call.entry.clone(),
                depth: 0,
                location: None,
            });
            return Ok(TxRun {
                gov: Vec::new(),
                status: Err(FailReason::InsufficientFunds),
                used,
                events: Vec::new(),
                contract: None,
                faults,
            });
        }
        Ok(TxRun {
            gov: Vec::new(),
            status: Ok(data),
            used,
            events: out.events,
            contract: None,
            faults,
        })
    }
}

/// The code a contract call runs: already compiled (a compile-cache hit), or its bytes.
enum Code<'c> {
    Prepared(Arc<keel_vm::Prepared>),
    Bytes(Cow<'c, [u8]>),
}

/// Σ used_d × price_d + used_compute × priority, or `None` on overflow.
fn gas_cost(amounts: &PerDimension, prices: &Prices, priority: u64) -> Option<Amount> {
    let mut total: u128 = 0;
    for (u, p) in amounts.iter().zip(prices.iter()) {
        total = total.checked_add(u128::from(*u).checked_mul(u128::from(*p))?)?;
    }
    total = total.checked_add(u128::from(amounts[0]).checked_mul(u128::from(priority))?)?;
    Some(Amount::from_u128(total))
}

/// Credits `amount` to `account`. Errors: `BalanceOverflow` rather than a dropped credit.
pub(crate) fn credit<B: ChainBase>(
    a: &mut Access<'_, B>,
    account: &Address,
    amount: Amount,
) -> Result<(), ChainError> {
    let mut acc = a.account_or_default(account)?;
    acc.balance = acc
        .balance
        .checked_add(amount)
        .ok_or_else(|| ChainError::BalanceOverflow {
            account: hex::encode(account),
        })?;
    a.put_account(account, &acc);
    Ok(())
}

/// What settling a contract's rent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RentSettlement {
    /// Nothing was owed, or the rent balance paid it.
    Paid,
    /// The contract was evicted; the transaction is charged `compute` gas for the deletions.
    Evicted { compute: u64 },
    /// Eviction is due but costs `compute` gas, more than the transaction has left: nothing
    /// changed (a later transaction with enough gas evicts it).
    EvictionUnaffordable { compute: u64 },
}

/// Charges the rent a contract owes up to `height`; evicts it if its rent balance cannot pay
/// and the eviction's deletions fit `compute_left` (checked before anything is deleted).
pub fn settle_rent<B: ChainBase>(
    a: &mut Access<'_, B>,
    config: &ChainConfig,
    height: u64,
    contract: &Address,
    compute_left: u64,
) -> Result<RentSettlement, AccessError> {
    let Some(mut acc) = a.account(contract)? else {
        return Ok(RentSettlement::Paid);
    };
    let Some(blocks) = height.checked_sub(acc.rent_paid_through) else {
        return Ok(RentSettlement::Paid);
    };
    if acc.evicted.is_some() || acc.code_hash.is_none() || blocks == 0 {
        return Ok(RentSettlement::Paid);
    }
    let total = a.total_storage()?;
    let owed = rent::rent_owed(&config.rent, acc.storage_bytes, blocks, total);
    if let Some(left) = acc.rent_balance.checked_sub(owed) {
        acc.rent_balance = left;
        acc.rent_paid_through = height;
        a.put_account(contract, &acc);
        return Ok(RentSettlement::Paid);
    }
    let compute = rent::eviction_compute(&config.rent, acc.storage_entries);
    if compute > compute_left {
        return Ok(RentSettlement::EvictionUnaffordable { compute });
    }
    let entries = a.storage_entries(contract)?;
    acc.evicted = Some(rent::commitment(&entries));
    for (k, _) in &entries {
        a.write_storage(contract, k, None);
    }
    acc.rent_balance = Amount::ZERO;
    acc.rent_paid_through = height;
    acc.storage_entries = 0;
    a.put_account(contract, &acc);
    let total = total.saturating_sub(acc.storage_bytes);
    a.put_total_storage(total);
    tracing::info!(contract = %hex::encode(contract), bytes = acc.storage_bytes, "evicted for unpaid rent");
    Ok(RentSettlement::Evicted { compute })
}
