//! One transaction of a block, in the steps `executor.rs` documents: pre-validation with the
//! nonce bump and gas escrow, the target contract's rent, the run in a forked context, fees.
//! Each step is one function; [`Executor::execute_tx`] only sequences them.

use crate::executor::{ChainError, Checked, Executor, TipMode, TxCx, TxOutcome, dims, vector};
use crate::fees::Prices;
use crate::nested::{Shared, lock};
use crate::receipt::{FailReason, Receipt, RejectReason, TxStatus};
use crate::rent_settlement::{RentSettlement, settle_rent};
use crate::state_access::{Access, ChainBase};
use crate::tx::{PerDimension, SignedTx, TxKind};
use crate::tx_kinds::KindCx;
use crate::types::{Address, Amount};
use keel_vm::{Dimension, Event, Fault, GasVector};

/// What running a transaction's kind produced, before the limits are enforced and fees paid.
pub(crate) struct TxRun {
    /// Governance events of a governance transaction (kept only if it succeeds).
    pub gov: Vec<crate::governance::GovEvent>,
    pub status: Result<Vec<u8>, FailReason>,
    pub used: GasVector,
    pub events: Vec<Event>,
    pub contract: Option<Address>,
    pub faults: Vec<Fault>,
}

impl TxRun {
    /// A run that succeeded with no return data, events or faults.
    pub(crate) fn done(used: GasVector) -> TxRun {
        TxRun {
            gov: Vec::new(),
            status: Ok(Vec::new()),
            used,
            events: Vec::new(),
            contract: None,
            faults: Vec::new(),
        }
    }

    /// A run that failed for `reason` having used `used`.
    pub(crate) fn failed(reason: FailReason, used: GasVector) -> TxRun {
        TxRun {
            status: Err(reason),
            ..TxRun::done(used)
        }
    }
}

/// What every step reads about the transaction.
struct TxFacts<'t> {
    stx: &'t SignedTx,
    /// The hash of its canonical encoding (`SignedTx::hash`).
    hash: [u8; 32],
    sender: Address,
    /// Charged before it does anything: base compute and its encoded size as bandwidth.
    intrinsic: GasVector,
    limits: GasVector,
}

impl<'t> TxFacts<'t> {
    /// `checked`: the sender's address, the hash and the encoded size, as the signature phase
    /// found them.
    fn of(stx: &'t SignedTx, checked: &Checked, tx_base_compute: u64) -> TxFacts<'t> {
        TxFacts {
            stx,
            hash: checked.hash,
            sender: checked.sender,
            intrinsic: GasVector {
                compute: tx_base_compute,
                bandwidth: checked.size,
                ..GasVector::default()
            },
            limits: vector(&stx.tx.gas_limits),
        }
    }
}

impl Executor<'_> {
    /// Executes one transaction in the block context `shared`, as its signature phase
    /// `checked` it. `full` is the first dimension in which the block has no room for the
    /// transaction's limits (see `executor::block_full`).
    pub(crate) fn execute_tx<B: ChainBase>(
        &self,
        shared: &Shared<B>,
        cx: &TxCx<'_>,
        stx: &SignedTx,
        checked: Checked,
        full: Option<Dimension>,
    ) -> Result<TxOutcome, ChainError> {
        let facts = TxFacts::of(stx, &checked, cx.config.tx_base_compute);
        let escrow = match escrow(shared, cx, &facts, checked.sig_ok, full)? {
            Ok(escrow) => escrow,
            Err(reason) => return Ok(rejected(facts.hash, reason)),
        };
        let rent = settle_target_rent(shared, cx, &facts)?;
        let run = self.run_forked(shared, cx, &facts, rent)?;
        let (fee, tip) = pay_fees(shared, cx, &facts, escrow, &run.used)?;
        let (status, events, gov) = match run.status {
            Ok(return_data) => (TxStatus::Success { return_data }, run.events, run.gov),
            Err(reason) => (TxStatus::Failed { reason }, Vec::new(), Vec::new()),
        };
        let receipt = Receipt {
            tx_hash: facts.hash,
            status,
            gas_used: dims(&run.used),
            fee,
            contract: run.contract,
            events,
            faults: run.faults,
        };
        Ok(TxOutcome {
            receipt,
            gov,
            used: run.used,
            tip,
        })
    }

    /// Step 4: the transaction in a forked context, committed if it succeeded within its
    /// limits and reverted otherwise. The run's gas is capped at the limits.
    fn run_forked<B: ChainBase>(
        &self,
        shared: &Shared<B>,
        cx: &TxCx<'_>,
        f: &TxFacts<'_>,
        rent: RentSettlement,
    ) -> Result<TxRun, ChainError> {
        let k = KindCx {
            shared,
            config: cx.config,
            ctx: &cx.ctx,
            tx: &f.stx.tx,
            sender: &f.sender,
            limits: f.limits,
        };
        lock(shared).fork();
        let mut run = match rent {
            RentSettlement::Paid => self.run_kind(&k, f.intrinsic)?,
            RentSettlement::Evicted { compute } => {
                let mut start = f.intrinsic;
                start.compute = start.compute.saturating_add(compute); // <= limits.compute
                self.run_kind(&k, start)?
            }
            // Nothing was deleted; the transaction pays its whole compute limit (capped below).
            RentSettlement::EvictionUnaffordable { compute } => TxRun::failed(
                FailReason::GasLimit {
                    dimension: Dimension::Compute,
                },
                GasVector {
                    compute: f.intrinsic.compute.saturating_add(compute),
                    ..f.intrinsic
                },
            ),
        };
        if run.status.is_ok()
            && let Some(d) = run.used.exceeds(&f.limits)
        {
            run.status = Err(FailReason::GasLimit { dimension: d });
        }
        for d in Dimension::ALL {
            *run.used.get_mut(d) = run.used.get(d).min(f.limits.get(d));
        }
        let mut o = lock(shared);
        if run.status.is_ok() {
            o.commit_child()?
        } else {
            o.revert_child()?
        }
        Ok(run)
    }
}

/// A rejected transaction's outcome: no state change, no fee.
fn rejected(tx_hash: [u8; 32], reason: RejectReason) -> TxOutcome {
    TxOutcome {
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
    }
}

/// Steps 1 and 2: pre-validation, then the nonce bumped and the maximum gas cost escrowed, in
/// the block context. Returns the escrow, or why the transaction is rejected (nothing changed).
fn escrow<B: ChainBase>(
    shared: &Shared<B>,
    cx: &TxCx<'_>,
    f: &TxFacts<'_>,
    sig_ok: bool,
    full: Option<Dimension>,
) -> Result<Result<Amount, RejectReason>, ChainError> {
    let tx = &f.stx.tx;
    let mut o = lock(shared);
    let mut a = Access { overlay: &mut o };
    if !sig_ok {
        return Ok(Err(RejectReason::BadSignature));
    }
    if tx.chain_id != cx.config.chain_id {
        return Ok(Err(RejectReason::WrongChain {
            expected: cx.config.chain_id,
            got: tx.chain_id,
        }));
    }
    let mut account = a.account_or_default(&f.sender)?;
    if tx.nonce != account.nonce {
        return Ok(Err(RejectReason::WrongNonce {
            expected: account.nonce,
            got: tx.nonce,
        }));
    }
    if let Some(reason) = dimension_reject(cx.prices, f, full) {
        return Ok(Err(reason));
    }
    let Some(gas_escrow) = gas_cost(&tx.gas_limits, cx.prices, tx.priority_fee) else {
        return Ok(Err(RejectReason::FeeOverflow));
    };
    let value = match &tx.kind {
        TxKind::Transfer { amount, .. } => *amount,
        TxKind::Call { value, .. } => *value,
        _ => Amount::ZERO,
    };
    let needed = gas_escrow.checked_add(value);
    if needed.is_none_or(|n| account.balance.to_u256() < n.to_u256()) {
        return Ok(Err(RejectReason::InsufficientBalance));
    }
    let Some(next_nonce) = account.nonce.checked_add(1) else {
        return Ok(Err(RejectReason::NonceExhausted));
    };
    account.nonce = next_nonce;
    // Covered by the balance check above.
    account.balance = account.balance.saturating_sub(gas_escrow);
    a.put_account(&f.sender, &account);
    Ok(Ok(gas_escrow))
}

/// The first per-dimension reason to reject, dimension by dimension in [`Dimension::ALL`]
/// order: a fee cap under the block's price, a limit under the intrinsic gas, no room left.
fn dimension_reject(
    prices: &Prices,
    f: &TxFacts<'_>,
    full: Option<Dimension>,
) -> Option<RejectReason> {
    let caps = f.stx.tx.max_fee_per_unit.iter().zip(prices.iter());
    for (d, (cap, price)) in Dimension::ALL.into_iter().zip(caps) {
        if cap < price {
            return Some(RejectReason::FeeTooLow { dimension: d });
        }
        if f.limits.get(d) < f.intrinsic.get(d) {
            return Some(RejectReason::GasLimitTooLow { dimension: d });
        }
        if full == Some(d) {
            return Some(RejectReason::BlockFull { dimension: d });
        }
    }
    None
}

/// Step 3: the rent of the contract a call touches, in the block context (an eviction
/// persists even if the transaction then fails; the transaction pays for its deletions).
fn settle_target_rent<B: ChainBase>(
    shared: &Shared<B>,
    cx: &TxCx<'_>,
    f: &TxFacts<'_>,
) -> Result<RentSettlement, ChainError> {
    let TxKind::Call { contract, .. } = &f.stx.tx.kind else {
        return Ok(RentSettlement::Paid);
    };
    let mut o = lock(shared);
    Ok(settle_rent(
        &mut Access { overlay: &mut o },
        cx.config,
        cx.ctx.height,
        contract,
        f.limits.compute.saturating_sub(f.intrinsic.compute),
    )?)
}

/// Step 5: the fee for the gas used (never more than the escrow), the rest of the escrow
/// refunded, and the proposer's priority fee: credited here, or returned to be applied as a
/// delta ([`TipMode::Delta`], when this context has not written the proposer's record).
/// Returns the fee and the tip still to credit.
fn pay_fees<B: ChainBase>(
    shared: &Shared<B>,
    cx: &TxCx<'_>,
    f: &TxFacts<'_>,
    escrow: Amount,
    used: &GasVector,
) -> Result<(Amount, Option<Amount>), ChainError> {
    let tx = &f.stx.tx;
    let fee = gas_cost(&dims(used), cx.prices, tx.priority_fee)
        .unwrap_or(escrow)
        .min(escrow);
    // u64 × u64 always fits a u128.
    let tip =
        Amount::from_u128(u128::from(used.compute).saturating_mul(u128::from(tx.priority_fee)));
    let tip = tip.min(fee);
    let mut o = lock(shared);
    let mut a = Access { overlay: &mut o };
    credit(&mut a, &f.sender, escrow.saturating_sub(fee))?;
    let in_place = match cx.tip {
        TipMode::Credit => true,
        TipMode::Delta => a
            .overlay
            .has_pending(&keel_state::keys::account_key_array(&cx.ctx.proposer)),
    };
    if in_place {
        credit(&mut a, &cx.ctx.proposer, tip)?;
        Ok((fee, None))
    } else {
        Ok((fee, Some(tip)))
    }
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
