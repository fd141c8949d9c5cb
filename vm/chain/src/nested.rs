//! The chain side of cross-contract calls: [`keel_vm::ContractEnv`] over the block's overlay.
//!
//! Every nested call runs in its own forked overlay context (`enter` forks, `leave` commits or
//! reverts), so a callee's failure undoes only its writes and its value transfer. Writes reach
//! the overlay through [`apply_writes`], which also takes the storage deposit (or pays the
//! rebate) from the transaction's sender, exactly as for the transaction's own call.
//! Rent is settled only for the transaction's target; a nested call sees a callee as it is
//! (an evicted callee is "no contract").

use crate::config::ChainConfig;
use crate::rent;
use crate::state_access::{Access, AccessError, ChainBase};
use crate::types::{Address, Amount};
use keel_state::Overlay;
use keel_vm::{ContractEnv, StateError, StateView, Trap, Writes};
use std::sync::{Arc, Mutex, MutexGuard};

/// The block's overlay, shared by the executor, the VM's storage reads and nested calls.
pub(crate) type Shared<B> = Arc<Mutex<Overlay<B>>>;

pub(crate) fn lock<B>(s: &Shared<B>) -> MutexGuard<'_, Overlay<B>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The VM's view of contract storage: reads through the block's overlay, innermost context.
pub(crate) struct StorageReader<B> {
    pub shared: Shared<B>,
}

impl<B: ChainBase> StateView for StorageReader<B> {
    fn storage_get(
        &mut self,
        contract: &Address,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        let mut o = lock(&self.shared);
        Access { overlay: &mut o }
            .storage(contract, key)
            .map_err(state_error)
    }

    /// The value `beacon.rs` stored once the height's VDF output was carried: the state holds
    /// final values only, so this is the whole finality rule on the chain side.
    fn beacon(&mut self, height: u64) -> Result<Option<[u8; 32]>, StateError> {
        let mut o = lock(&self.shared);
        crate::beacon::final_value(&Access { overlay: &mut o }, height).map_err(state_error)
    }
}

fn state_error(e: AccessError) -> StateError {
    StateError(e.to_string())
}

/// The deposit could not be paid (or a balance would overflow): nothing was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DepositUnpaid;

/// How a set of writes changes a contract's storage.
#[derive(Default)]
struct Growth {
    grown: u64,
    shrunk: u64,
    added: u64,
    removed: u64,
}

impl Growth {
    /// Whether the writes leave the storage's size and entry count as they were.
    fn is_none(&self) -> bool {
        self.grown == 0 && self.shrunk == 0 && self.added == 0 && self.removed == 0
    }
}

/// Applies `contract`'s writes in the current context, charging the storage deposit for
/// growth to `payer` and rebating shrinkage from the contract's rent balance. Checks that the
/// payer can pay, and that no counter or balance overflows, *before* writing anything.
pub(crate) fn apply_writes<B: ChainBase>(
    a: &mut Access<'_, B>,
    config: &ChainConfig,
    payer: &Address,
    contract: &Address,
    writes: Writes,
) -> Result<Result<(), DepositUnpaid>, AccessError> {
    let mut g = Growth::default();
    for (k, v) in &writes {
        let old = a.storage_len(contract, k)?;
        let size = |len: usize| (k.len() as u64).saturating_add(len as u64);
        let (old_len, new_len) = (old.map_or(0, size), v.as_ref().map_or(0, |v| size(v.len())));
        // Sums of in-memory lengths: far below u64::MAX, saturation is unreachable.
        g.grown = g.grown.saturating_add(new_len.saturating_sub(old_len));
        g.shrunk = g.shrunk.saturating_add(old_len.saturating_sub(new_len));
        match (old.is_some(), v.is_some()) {
            (false, true) => g.added = g.added.saturating_add(1),
            (true, false) => g.removed = g.removed.saturating_add(1),
            _ => {}
        }
    }
    if g.is_none() && a.records_pending(payer, contract) {
        // Same sizes, same entry count: no deposit, no rebate, no counter moves, so the
        // payer's, the contract's and the total's records would be written back unchanged.
        write_all(a, contract, writes);
        return Ok(Ok(()));
    }
    let acc = a.account_or_default(contract)?;
    let deposit = rent::deposit_for(&config.rent, g.grown);
    let rebate = rent::rebate_for(&config.rent, g.shrunk).min(acc.rent_balance);
    let mut from = a.account_or_default(payer)?;
    let Some(left) = from
        .balance
        .checked_add(rebate)
        .and_then(|b| b.checked_sub(deposit))
    else {
        return Ok(Err(DepositUnpaid));
    };
    // A credit that would overflow is refused before anything is written, like an unpaid
    // deposit (unreachable while the total supply fits a u256).
    let Some(rent_balance) = acc.rent_balance.saturating_sub(rebate).checked_add(deposit) else {
        return Ok(Err(DepositUnpaid));
    };
    write_all(a, contract, writes);
    from.balance = left;
    a.put_account(payer, &from);
    // Read again: the payer may be the contract itself, whose balance was just written (a
    // kept decoding, so no decode).
    let mut acc = a.account_or_default(contract)?;
    acc.rent_balance = rent_balance;
    // The counters track the storage itself, so they never leave 0..=u64::MAX: saturating.
    acc.storage_bytes = acc
        .storage_bytes
        .saturating_add(g.grown)
        .saturating_sub(g.shrunk);
    acc.storage_entries = acc
        .storage_entries
        .saturating_add(g.added)
        .saturating_sub(g.removed);
    a.put_account(contract, &acc);
    let total = a
        .total_storage()?
        .saturating_add(g.grown)
        .saturating_sub(g.shrunk);
    a.put_total_storage(total);
    Ok(Ok(()))
}

/// Writes every entry of `writes` into `contract`'s storage in the current context.
fn write_all<B: ChainBase>(a: &mut Access<'_, B>, contract: &Address, writes: Writes) {
    for (k, v) in writes {
        a.write_storage(contract, &k, v);
    }
}

/// [`ContractEnv`] for one transaction.
pub(crate) struct ChainEnv<B> {
    pub shared: Shared<B>,
    pub config: Arc<ChainConfig>,
    /// Pays storage deposits of every frame: the transaction's sender.
    pub payer: Address,
}

impl<B: ChainBase> ContractEnv for ChainEnv<B> {
    fn code(&self, contract: &Address) -> Result<Option<Vec<u8>>, StateError> {
        let Some(hash) = self.code_hash(contract)? else {
            return Ok(None);
        };
        let mut o = lock(&self.shared);
        Access { overlay: &mut o }.code(&hash).map_err(state_error)
    }

    /// The hash a live (not evicted) account names. Code records are content-addressed,
    /// written before any account names their hash and never deleted, so it is the hash of
    /// the code `code` returns (as for a transaction's own call, see the executor).
    fn code_hash(&self, contract: &Address) -> Result<Option<[u8; 32]>, StateError> {
        let mut o = lock(&self.shared);
        let a = Access { overlay: &mut o };
        let Some(acc) = a.account(contract).map_err(state_error)? else {
            return Ok(None);
        };
        if acc.evicted.is_some() {
            return Ok(None);
        }
        Ok(acc.code_hash)
    }

    fn state_view(&self) -> Box<dyn StateView> {
        Box::new(StorageReader {
            shared: Arc::clone(&self.shared),
        })
    }

    fn flush(&self, contract: &Address, writes: Writes) -> Result<Result<(), Trap>, StateError> {
        if writes.is_empty() {
            return Ok(Ok(()));
        }
        let mut o = lock(&self.shared);
        let mut a = Access { overlay: &mut o };
        let applied = apply_writes(&mut a, &self.config, &self.payer, contract, writes)
            .map_err(state_error)?;
        Ok(applied.map_err(|DepositUnpaid| Trap::Deposit))
    }

    fn enter(&self, from: &Address, to: &Address, value: &[u8; 32]) -> Result<bool, StateError> {
        let mut o = lock(&self.shared);
        o.fork();
        let value = Amount(*value);
        if value == Amount::ZERO {
            return Ok(true);
        }
        let mut a = Access { overlay: &mut o };
        let mut payer = a.account_or_default(from).map_err(state_error)?;
        let Some(left) = payer.balance.checked_sub(value) else {
            o.revert_child().map_err(|e| StateError(e.to_string()))?;
            return Ok(false);
        };
        payer.balance = left;
        a.put_account(from, &payer);
        let mut dest = a.account_or_default(to).map_err(state_error)?;
        // A credit that would overflow is never dropped: the value does not move at all.
        let Some(credited) = dest.balance.checked_add(value) else {
            o.revert_child().map_err(|e| StateError(e.to_string()))?;
            return Ok(false);
        };
        dest.balance = credited;
        a.put_account(to, &dest);
        Ok(true)
    }

    fn leave(&self, commit: bool) -> Result<(), StateError> {
        let mut o = lock(&self.shared);
        let r = if commit {
            o.commit_child()
        } else {
            o.revert_child()
        };
        r.map_err(|e| StateError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use crate::state_access::total_storage_key;
    use crate::types::Account;
    use keel_state::keys::{account_key, storage_key};
    use std::collections::BTreeMap;

    const PAYER: Address = [1; 32];
    const CONTRACT: Address = [2; 32];

    /// An overlay holding the payer, the contract (one 4-byte entry under key `k`) and, if
    /// `total`, the storage total: as pending writes if `pending`, else in its base.
    fn state(pending: bool, total: bool) -> Overlay<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut o = Overlay::new(BTreeMap::new());
        let mut a = Access { overlay: &mut o };
        let payer = Account {
            balance: Amount::from_u128(1_000_000),
            ..Account::default()
        };
        a.put_account(&PAYER, &payer);
        let contract = Account {
            code_hash: Some([9; 32]),
            storage_bytes: 5,
            storage_entries: 1,
            ..Account::default()
        };
        a.put_account(&CONTRACT, &contract);
        a.write_storage(&CONTRACT, b"k", Some(vec![0; 4]));
        if total {
            a.put_total_storage(5);
        }
        if pending {
            return o;
        }
        let base = o.into_writes().unwrap();
        Overlay::new(
            base.into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect(),
        )
    }

    /// What applying `writes` (key, value length) changed (keys whose value differs from the
    /// parent context's), and the records after.
    struct Applied {
        written: Vec<Vec<u8>>,
        payer: Account,
        contract: Account,
        total: u64,
    }

    fn apply(mut o: Overlay<BTreeMap<Vec<u8>, Vec<u8>>>, writes: &[(&[u8], usize)]) -> Applied {
        o.fork();
        let mut a = Access { overlay: &mut o };
        let writes: Writes = writes
            .iter()
            .map(|(k, len)| (k.to_vec(), Some(vec![7; *len])))
            .collect();
        let config = ChainConfig::demo();
        let applied = apply_writes(&mut a, &config, &PAYER, &CONTRACT, writes).unwrap();
        assert_eq!(applied, Ok(()));
        let payer = a.account_or_default(&PAYER).unwrap();
        let contract = a.account_or_default(&CONTRACT).unwrap();
        let total = a.total_storage().unwrap();
        // The keys written inside the child context.
        let inner = o.pending_writes();
        o.revert_child().unwrap();
        let outer = o.pending_writes();
        let written = inner
            .into_iter()
            .filter(|(k, v)| outer.get(k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        Applied {
            written,
            payer,
            contract,
            total,
        }
    }

    #[test]
    fn a_same_size_overwrite_of_records_written_earlier_writes_only_the_storage() {
        let r = apply(state(true, true), &[(b"k", 4)]);
        assert_eq!(r.written, vec![storage_key(&CONTRACT, b"k")]);
        assert_eq!(r.payer.balance, Amount::from_u128(1_000_000));
        let counters = (
            r.contract.storage_bytes,
            r.contract.storage_entries,
            r.total,
        );
        assert_eq!(counters, (5, 1, 5));
    }

    #[test]
    fn growth_or_records_not_yet_written_take_the_full_path() {
        // Growth: the deposit moves from the payer to the contract's rent balance.
        let r = apply(state(true, true), &[(b"k", 6)]);
        let deposit = rent::deposit_for(&ChainConfig::demo().rent, 2);
        assert!(r.written.contains(&account_key(&PAYER)));
        let before = Amount::from_u128(1_000_000);
        assert_eq!(r.payer.balance.checked_add(deposit), Some(before));
        let counters = (r.contract.storage_bytes, r.contract.rent_balance, r.total);
        assert_eq!(counters, (7, deposit, 7));
        // Records in the base only, or no storage total yet: the full path writes them (the
        // total for the first time), with the same values.
        for (pending, total) in [(false, true), (true, false), (false, false)] {
            let r = apply(state(pending, total), &[(b"k", 4)]);
            // Written back unchanged when it was already pending, so visible only if not.
            let contract_written = r.written.contains(&account_key(&CONTRACT));
            assert_eq!(contract_written, !pending, "{pending} {total}");
            assert!(
                r.written.contains(&total_storage_key()),
                "{pending} {total}"
            );
            assert_eq!(r.payer.balance, before);
            let total_before = if total { 5 } else { 0 };
            assert_eq!((r.contract.storage_bytes, r.total), (5, total_before));
        }
    }
}
