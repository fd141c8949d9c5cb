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
//! * Eviction is work proportional to the entries deleted, so the transaction that triggers it
//!   pays [`eviction_compute`] compute gas, checked against its limit *before* anything is
//!   deleted; the block's compute limit bounds the evictions of one block.
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
    /// Compute gas per storage entry an eviction deletes (like a storage write: one tree
    /// update each), paid by the transaction that triggers the eviction.
    #[serde(default = "default_evict_compute_per_entry")]
    pub evict_compute_per_entry: u64,
}

fn default_evict_compute_per_entry() -> u64 {
    2_000
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
            evict_compute_per_entry: default_evict_compute_per_entry(),
        }
    }
}

/// Compute gas of evicting `entries` storage entries (saturating: a saturated cost is one no
/// transaction can pay).
pub fn eviction_compute(p: &RentParams, entries: u64) -> u64 {
    p.evict_compute_per_entry.saturating_mul(entries)
}

/// Rent owed by `bytes` of storage over `blocks` blocks when the total state is `total_bytes`.
/// Rounded up; saturates at the largest amount.
pub fn rent_owed(p: &RentParams, bytes: u64, blocks: u64, total_bytes: u64) -> Amount {
    if bytes == 0 || blocks == 0 {
        return Amount::ZERO;
    }
    // Three u64 factors fit in 192 bits; the doubling saturates (then rent is unpayable).
    let mut num = U256::from(bytes)
        .saturating_mul(U256::from(blocks))
        .saturating_mul(U256::from(p.rate_num));
    let mut den = U256::from(p.rate_den.max(1));
    if let Some(excess) = total_bytes.checked_sub(p.target_state_bytes)
        && excess > 0
    {
        let k = p.doubling_bytes.max(1);
        let (shift, frac) = (excess.checked_div(k), excess.checked_rem(k));
        let (Some(shift), Some(frac)) = (shift, frac) else {
            return Amount::from_u256(U256::MAX); // unreachable: k >= 1
        };
        if shift >= 128 {
            return Amount::from_u256(U256::MAX);
        }
        let doubling = U256::from(1u8).checked_shl(shift as usize);
        num = num.saturating_mul(doubling.unwrap_or(U256::MAX));
        // k + frac < 2^65: added in 256 bits.
        num = num.saturating_mul(U256::from(k).saturating_add(U256::from(frac)));
        den = den.saturating_mul(U256::from(k));
    }
    // den >= 1, so the division is defined.
    let owed = num.checked_div(den).map_or(U256::MAX, |q| {
        if q.saturating_mul(den) == num {
            q
        } else {
            q.saturating_add(U256::from(1u8))
        }
    });
    Amount::from_u256(owed)
}

/// The deposit for `bytes` of growth (two u64 factors: exact in 256 bits).
pub fn deposit_for(p: &RentParams, bytes: u64) -> Amount {
    Amount::from_u256(U256::from(bytes).saturating_mul(U256::from(p.deposit_per_byte)))
}

/// The rebate for deleting `bytes` (exact in 256 bits; rounded down).
pub fn rebate_for(p: &RentParams, bytes: u64) -> Amount {
    let full = U256::from(bytes).saturating_mul(U256::from(p.deposit_per_byte));
    let share = full.saturating_mul(U256::from(p.rebate_percent.min(100)));
    Amount::from_u256(share.checked_div(U256::from(100u8)).unwrap_or(U256::ZERO))
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
            evict_compute_per_entry: 100,
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
    fn a_huge_doubling_step_does_not_overflow_the_interpolation() {
        // excess % k + k used to be computed in u64: 2^63 + (2^63 + 1) wrapped.
        let huge = RentParams {
            target_state_bytes: 0,
            doubling_bytes: (1u64 << 63) + 1,
            ..p()
        };
        let owed = rent_owed(&huge, 10, 10, 1u64 << 63).to_u256();
        let base = rent_owed(&huge, 10, 10, 0).to_u256();
        assert!(
            owed > base && owed <= base * U256::from(2),
            "{owed} vs {base}"
        );
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
