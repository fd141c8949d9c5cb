//! State rent: long-lived storage pays per byte per block, at a rate that grows exponentially
//! with the total state size over a target.
//!
//! * Growing a contract's storage takes a **deposit** of `deposit_per_byte` per byte from the
//!   transaction's sender into the contract's `rent_balance`.
//! * Rent is charged **lazily**: when a contract is touched, the rent owed since
//!   `rent_paid_through` is taken from `rent_balance` at the current rate. Deterministic because it
//!   depends only on state and block height.
//! * Deleting bytes **rebates** `rebate_percent` of their deposit (capped by what is left).
//! * If the rent owed exceeds the balance, the contract is **evicted**: its storage leaves the
//!   live tree and the account keeps a [`commitment`] to it; a `Restore` transaction carrying the
//!   exact entries (the proof: they must hash to the commitment) and a fresh deposit brings it back.
//!
//! Rate: `rate(S) = base` for total state `S ≤ target`, else `base · 2^((S − target)/doubling)`,
//! with the fractional power linearly interpolated between powers of two (exact integers).

use crate::types::Amount;
use borsh::{BorshDeserialize, BorshSerialize};
use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Rent parameters (chain config).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RentParams {
    /// Base price per byte per block is `rate_num / rate_den` token units.
    pub rate_num: u64,
    pub rate_den: u64,
    /// Total contract-storage bytes up to which the base rate applies.
    pub target_state_bytes: u64,
    /// Every this many bytes over the target double the rate.
    pub doubling_bytes: u64,
    /// Deposit taken per byte of storage growth.
    pub deposit_per_byte: u64,
    /// Share of a deleted byte's deposit returned to the deleter, in percent (0–100).
    pub rebate_percent: u8,
}

impl RentParams {
    pub fn demo() -> Self {
        RentParams {
            rate_num: 1,
            rate_den: 1_000,
            target_state_bytes: 64 * 1024 * 1024,
            doubling_bytes: 16 * 1024 * 1024,
            deposit_per_byte: 1_000,
            rebate_percent: 50,
        }
    }
}

/// Rent owed by `bytes` of storage over `blocks` blocks when the total state is `total_bytes`.
/// Rounded up; saturates at the largest amount.
pub fn rent_owed(p: &RentParams, bytes: u64, blocks: u64, total_bytes: u64) -> Amount {
    if bytes == 0 || blocks == 0 {
        return Amount::ZERO;
    }
    let den = U256::from(p.rate_den.max(1));
    let mut num = U256::from(bytes) * U256::from(blocks) * U256::from(p.rate_num);
    let mut den = den;
    if total_bytes > p.target_state_bytes {
        let k = p.doubling_bytes.max(1);
        let excess = total_bytes - p.target_state_bytes;
        let shift = excess / k;
        let frac = excess % k;
        if shift >= 128 {
            return Amount::from_u256(U256::MAX);
        }
        num = num.saturating_mul(U256::from(1u128) << (shift as usize));
        num = num.saturating_mul(U256::from(k + frac));
        den *= U256::from(k);
    }
    let owed = num.div_ceil(den);
    Amount::from_u256(owed)
}

/// The deposit for `bytes` of growth.
pub fn deposit_for(p: &RentParams, bytes: u64) -> Amount {
    Amount::from_u256(U256::from(bytes) * U256::from(p.deposit_per_byte))
}

/// The rebate for deleting `bytes`.
pub fn rebate_for(p: &RentParams, bytes: u64) -> Amount {
    let full = U256::from(bytes) * U256::from(p.deposit_per_byte);
    Amount::from_u256(full * U256::from(p.rebate_percent.min(100)) / U256::from(100u8))
}

/// Commitment to an evicted contract's storage: SHA-256 over the canonical encoding of its
/// entries sorted by key.
pub fn commitment(entries: &[(Vec<u8>, Vec<u8>)]) -> [u8; 32] {
    let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = entries.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(b"keel/evicted/v1");
    h.update(crate::tx::encode(&sorted));
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RentParams {
        RentParams {
            rate_num: 1,
            rate_den: 10,
            target_state_bytes: 1000,
            doubling_bytes: 100,
            deposit_per_byte: 10,
            rebate_percent: 50,
        }
    }

    #[test]
    fn rent_is_linear_in_bytes_and_blocks_at_or_below_target() {
        assert_eq!(rent_owed(&p(), 100, 10, 1000), Amount::from_u128(100));
        assert_eq!(rent_owed(&p(), 1, 1, 0), Amount::from_u128(1)); // rounded up from 0.1
        assert_eq!(rent_owed(&p(), 0, 10, 0), Amount::ZERO);
    }

    #[test]
    fn the_rate_doubles_every_doubling_step_over_target() {
        let base = rent_owed(&p(), 100, 10, 1000).to_u256();
        assert_eq!(
            rent_owed(&p(), 100, 10, 1100).to_u256(),
            base * U256::from(2)
        );
        assert_eq!(
            rent_owed(&p(), 100, 10, 1300).to_u256(),
            base * U256::from(8)
        );
        // Halfway between doublings is interpolated: 1.5×.
        assert_eq!(
            rent_owed(&p(), 100, 10, 1050).to_u256(),
            base * U256::from(3) / U256::from(2)
        );
        // Far over target saturates instead of overflowing.
        assert_eq!(rent_owed(&p(), 100, 10, 1_000_000_000).to_u256(), U256::MAX);
    }

    #[test]
    fn commitment_ignores_entry_order_but_not_content() {
        let a = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ];
        let b = vec![a[1].clone(), a[0].clone()];
        assert_eq!(commitment(&a), commitment(&b));
        let c = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"3".to_vec()),
        ];
        assert_ne!(commitment(&a), commitment(&c));
    }

    #[test]
    fn rebate_is_a_share_of_the_deposit() {
        assert_eq!(deposit_for(&p(), 7), Amount::from_u128(70));
        assert_eq!(rebate_for(&p(), 7), Amount::from_u128(35));
    }
}
