//! What each kind of transaction does inside its forked context (step 4 of `executor.rs`):
//! native transfers, deployments, contract calls, governance and restores of evicted storage.
//! Every function returns the run's outcome; a `ChainError` is a node failure, not a result.

use crate::config::ChainConfig;
use crate::executor::{ChainError, Executor};
use crate::governance::{self, Gov, GovTx};
use crate::nested::{ChainEnv, Shared, StorageReader, apply_writes, lock};
use crate::receipt::FailReason;
use crate::rent;
use crate::state_access::{Access, ChainBase};
use crate::transaction::TxRun;
use crate::tx::{CallData, Transaction, TxKind};
use crate::types::{Address, Amount, BlockContext, contract_address};
use keel_vm::{CallContext, CallRequest, Dimension, Fault, FaultKind, GasVector, Trap, VmError};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Arc;

/// What running a transaction's kind reads: the block context and the transaction.
pub(crate) struct KindCx<'k, B> {
    pub shared: &'k Shared<B>,
    pub config: &'k Arc<ChainConfig>,
    pub ctx: &'k BlockContext,
    pub tx: &'k Transaction,
    pub sender: &'k Address,
    pub limits: GasVector,
}

/// The code a contract call runs: already compiled (a compile-cache hit), or its bytes.
enum Code<'c> {
    Prepared(Arc<keel_vm::Prepared>),
    Bytes(Cow<'c, [u8]>),
}

impl Executor<'_> {
    /// Runs the transaction's kind, starting from `used` (the intrinsic gas, plus an
    /// eviction's deletions when its rent settlement evicted the target).
    pub(crate) fn run_kind<B: ChainBase>(
        &self,
        k: &KindCx<'_, B>,
        used: GasVector,
    ) -> Result<TxRun, ChainError> {
        match &k.tx.kind {
            TxKind::Transfer { to, amount } => transfer(k, used, to, *amount),
            TxKind::Deploy { code, constructor } => {
                self.deploy(k, used, code, constructor.as_ref())
            }
            TxKind::Call {
                contract,
                call,
                value,
            } => self.call(k, used, contract, call, *value),
            TxKind::Governance(g) => self.governance(k, used, g),
            TxKind::Restore { contract, entries } => restore(k, used, contract, entries),
        }
    }

    fn deploy<B: ChainBase>(
        &self,
        k: &KindCx<'_, B>,
        mut used: GasVector,
        code: &[u8],
        constructor: Option<&CallData>,
    ) -> Result<TxRun, ChainError> {
        let config = k.config;
        used.compute = used.compute.saturating_add(
            config
                .data_compute_per_byte
                .saturating_mul(code.len() as u64),
        );
        used.storage_bytes = used
            .storage_bytes
            .saturating_add(code.len() as u64)
            .saturating_add(config.account_bytes);
        let address = contract_address(k.sender, k.tx.nonce);
        if let Err(e) = self.vm.prepare_for_deploy(code) {
            return Ok(TxRun::failed(FailReason::Admission(e.to_string()), used));
        }
        let hash: [u8; 32] = Sha256::digest(code).into();
        {
            let mut o = lock(k.shared);
            let mut a = Access { overlay: &mut o };
            if a.account(&address)?
                .is_some_and(|acc| acc.code_hash.is_some())
            {
                return Ok(TxRun::failed(FailReason::ContractExists, used));
            }
            if a.code(&hash)?.is_none() {
                a.put_code(&hash, code);
            }
            let mut acc = a.account_or_default(&address)?;
            acc.code_hash = Some(hash);
            acc.rent_paid_through = k.ctx.height;
            a.put_account(&address, &acc);
        }
        let mut run = match constructor {
            Some(call) => {
                let code = Code::Bytes(Cow::Borrowed(code));
                self.call_contract(k, &address, code, call, used)?
            }
            None => TxRun::done(used),
        };
        run.contract = Some(address);
        Ok(run)
    }

    fn call<B: ChainBase>(
        &self,
        k: &KindCx<'_, B>,
        used: GasVector,
        contract: &Address,
        call: &CallData,
        value: Amount,
    ) -> Result<TxRun, ChainError> {
        let code = {
            let mut o = lock(k.shared);
            let mut a = Access { overlay: &mut o };
            let Some(acc) = a.account(contract)? else {
                return Ok(TxRun::failed(FailReason::NoContract, used));
            };
            if acc.evicted.is_some() {
                return Ok(TxRun::failed(FailReason::Evicted, used));
            }
            let Some(hash) = acc.code_hash else {
                return Ok(TxRun::failed(FailReason::NoContract, used));
            };
            // Code records are content-addressed, written before any account names their
            // hash and never deleted: a module cached under the hash is this account's code,
            // so a hit skips reading (copying) and hashing it.
            let code = match self.vm.cached(&hash) {
                Some(prepared) => Code::Prepared(prepared),
                None => match a.code(&hash)? {
                    Some(code) => Code::Bytes(Cow::Owned(code)),
                    None => return Ok(TxRun::failed(FailReason::NoContract, used)),
                },
            };
            // A call without value changes neither balance: skip decoding and rewriting both
            // unchanged records (the usual case, e.g. a token transfer).
            if value != Amount::ZERO
                && let Err(reason) = move_value(&mut a, k.sender, contract, value)?
            {
                return Ok(TxRun::failed(reason, used));
            }
            code
        };
        self.call_contract(k, contract, code, call, used)
    }

    fn governance<B: ChainBase>(
        &self,
        k: &KindCx<'_, B>,
        mut used: GasVector,
        g: &GovTx,
    ) -> Result<TxRun, ChainError> {
        let mut o = lock(k.shared);
        let mut a = Access { overlay: &mut o };
        let params = governance::params(&a)?;
        used.compute = used
            .compute
            .saturating_add(Gov::<B>::compute_cost(&params, g));
        if used.compute > k.limits.compute {
            let reason = FailReason::GasLimit {
                dimension: Dimension::Compute,
            };
            return Ok(TxRun::failed(reason, used));
        }
        let result = Gov { a: &mut a }.apply_tx(self.vm, k.ctx.height, k.sender, g, 0)?;
        Ok(match result {
            Ok(event) => TxRun {
                gov: vec![event],
                ..TxRun::done(used)
            },
            Err(reason) => TxRun::failed(FailReason::Governance(reason), used),
        })
    }

    /// Runs `call` on `contract` with the gas left, then applies the writes nested calls did
    /// not flush, with their storage deposits and rebates.
    fn call_contract<B: ChainBase>(
        &self,
        k: &KindCx<'_, B>,
        contract: &Address,
        code: Code<'_>,
        call: &CallData,
        used: GasVector,
    ) -> Result<TxRun, ChainError> {
        let request = CallRequest {
            entry: call.entry.clone(),
            input: call.args.clone(),
            context: CallContext {
                caller: *k.sender,
                self_address: *contract,
                block_height: k.ctx.height,
                block_timestamp: k.ctx.timestamp,
            },
            limits: k.limits.saturating_sub(&used),
        };
        let reader = StorageReader {
            shared: Arc::clone(k.shared),
        };
        let env = Arc::new(ChainEnv {
            shared: Arc::clone(k.shared),
            config: Arc::clone(k.config),
            payer: *k.sender,
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
                return Ok(TxRun::failed(FailReason::Admission(e.to_string()), used));
            }
            Err(e) => return Err(ChainError::Vm(e)),
        };
        let used = used.saturating_add(&out.gas_used);
        let mut faults = out.faults;
        let data = match out.result {
            Ok(data) => data,
            Err(trap) => {
                return Ok(TxRun {
                    faults,
                    ..TxRun::failed(FailReason::Trap(trap), used)
                });
            }
        };
        let mut o = lock(k.shared);
        let mut a = Access { overlay: &mut o };
        if apply_writes(&mut a, k.config, k.sender, contract, out.writes)?.is_err() {
            faults.push(Fault {
                kind: FaultKind::Deposit,
                trap: Trap::Deposit,
                contract: *contract,
                entry: call.entry.clone(),
                depth: 0,
                location: None,
            });
            return Ok(TxRun {
                faults,
                ..TxRun::failed(FailReason::InsufficientFunds, used)
            });
        }
        Ok(TxRun {
            status: Ok(data),
            events: out.events,
            faults,
            ..TxRun::done(used)
        })
    }
}

fn transfer<B: ChainBase>(
    k: &KindCx<'_, B>,
    mut used: GasVector,
    to: &Address,
    amount: Amount,
) -> Result<TxRun, ChainError> {
    used.compute = used.compute.saturating_add(k.config.transfer_compute);
    let mut o = lock(k.shared);
    let mut a = Access { overlay: &mut o };
    Ok(match move_value(&mut a, k.sender, to, amount)? {
        Ok(existed) => {
            if !existed {
                used.storage_bytes = used.storage_bytes.saturating_add(k.config.account_bytes);
            }
            TxRun::done(used)
        }
        // A balance that overflows belongs to an existing account (a new one starts at zero
        // and an amount fits a u256), so no failure owes the new account's bytes.
        Err(reason) => TxRun::failed(reason, used),
    })
}

/// Moves `value` from `sender` to `to` (created if absent). Returns whether `to` existed, or
/// why nothing could be moved (the forked context is reverted with the failed transaction,
/// so nothing half-moved stays).
fn move_value<B: ChainBase>(
    a: &mut Access<'_, B>,
    sender: &Address,
    to: &Address,
    value: Amount,
) -> Result<Result<bool, FailReason>, ChainError> {
    let mut from = a.account_or_default(sender)?;
    let Some(left) = from.balance.checked_sub(value) else {
        return Ok(Err(FailReason::InsufficientFunds));
    };
    from.balance = left;
    a.put_account(sender, &from);
    let existing = a.account(to)?;
    let existed = existing.is_some();
    let mut dest = existing.unwrap_or_default();
    // Never a dropped credit: the transaction fails (the debit above is reverted).
    let Some(credited) = dest.balance.checked_add(value) else {
        return Ok(Err(FailReason::BalanceOverflow));
    };
    dest.balance = credited;
    a.put_account(to, &dest);
    Ok(Ok(existed))
}

fn restore<B: ChainBase>(
    k: &KindCx<'_, B>,
    mut used: GasVector,
    contract: &Address,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> Result<TxRun, ChainError> {
    let config = k.config;
    let bytes = entries.iter().fold(0u64, |n, (key, v)| {
        n.saturating_add(key.len() as u64)
            .saturating_add(v.len() as u64)
    });
    used.compute = used
        .compute
        .saturating_add(config.data_compute_per_byte.saturating_mul(bytes));
    used.storage_bytes = used.storage_bytes.saturating_add(bytes);
    let mut o = lock(k.shared);
    let mut a = Access { overlay: &mut o };
    let Some(mut acc) = a.account(contract)? else {
        return Ok(TxRun::failed(FailReason::NoContract, used));
    };
    let Some(commitment) = acc.evicted else {
        return Ok(TxRun::failed(FailReason::NotEvicted, used));
    };
    if rent::commitment(entries) != commitment {
        return Ok(TxRun::failed(FailReason::BadRestoreProof, used));
    }
    let deposit = rent::deposit_for(&config.rent, bytes);
    let mut from = a.account_or_default(k.sender)?;
    let Some(left) = from.balance.checked_sub(deposit) else {
        return Ok(TxRun::failed(FailReason::InsufficientFunds, used));
    };
    from.balance = left;
    a.put_account(k.sender, &from);
    for (key, v) in entries {
        a.write_storage(contract, key, Some(v.clone()));
    }
    acc.evicted = None;
    acc.storage_bytes = bytes;
    acc.storage_entries = entries.len() as u64;
    acc.rent_balance = deposit;
    acc.rent_paid_through = k.ctx.height;
    a.put_account(contract, &acc);
    let total = a.total_storage()?.saturating_add(bytes);
    a.put_total_storage(total);
    Ok(TxRun::done(used))
}
