//! Rent settlement on the state: what touching a contract does with the rent it owes (the
//! rates and formulas are in `rent`). Step 3 of a transaction (`executor.rs`).

use crate::config::ChainConfig;
use crate::rent;
use crate::state_access::{Access, AccessError, ChainBase};
use crate::types::{Address, Amount};

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
