//! Multi-dimensional fee market, priced by convex optimization.
//!
//! Each dimension has a per-block target and limit. After every block the base price of each
//! dimension moves by the dual (sub)gradient step of Diamandis, Evans, Chitra & Angeris,
//! "Designing Multidimensional Blockchain Fee Markets" (2022):
//!
//! ```text
//! p_d ← max(p_min_d, p_d + η_d · (usage_d − target_d))
//! ```
//!
//! We use this additive form rather than the exponential (EIP-1559/4844-style) variant: it is
//! exact in integer arithmetic (η is the rational `eta_num_d / eta_den`, rounded toward zero), so
//! every node computes the same prices with no fixed-point approximation. Dimensions never
//! influence each other: usage over target raises exactly that dimension's price.

use crate::tx::PerDimension;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The wall-time budget of one block's execution on the reference machine, in milliseconds.
pub const BLOCK_BUDGET_MS: u64 = 1_000;

/// The slowest metered execution rate `keel bench vm` measured on the reference machine (a
/// 2-vCPU AMD EPYC VM, release build), in compute gas per second: the empty loop until out of
/// gas, 62.0 M gas/s; the other workloads run at 597–681 M gas/s.
pub const REFERENCE_WORST_GAS_PER_SEC: u64 = 62_000_000;

/// The demo chain's per-block compute limit: [`BLOCK_BUDGET_MS`] at
/// [`REFERENCE_WORST_GAS_PER_SEC`] (62 000 000), rounded down to 60 000 000 (0.97 s).
pub const BLOCK_COMPUTE_LIMIT: u64 = 60_000_000;

/// Fee-market parameters (part of the chain config; governance-controlled later).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct FeeParams {
    /// Per-block target usage per dimension.
    pub targets: PerDimension,
    /// Per-block hard limit per dimension.
    pub limits: PerDimension,
    /// Price floor per dimension.
    pub min_prices: PerDimension,
    /// Step size numerator per dimension.
    pub eta_num: PerDimension,
    /// Step size denominator (shared).
    pub eta_den: u64,
}

impl FeeParams {
    /// Defaults for the demo chain. The compute limit is a wall-time budget: one block (and so
    /// one transaction, which cannot ask for more than its block) executes in at most
    /// [`BLOCK_BUDGET_MS`] on the reference machine at the slowest rate `keel bench vm`
    /// measures there (see ENCODING.md, "Block and transaction limits"). The target is half.
    pub fn demo() -> Self {
        FeeParams {
            targets: [30_000_000, 4_000_000, 50_000, 8_000_000],
            limits: [BLOCK_COMPUTE_LIMIT, 8_000_000, 100_000, 16_000_000],
            min_prices: [1, 1, 1, 1],
            // A full block (2× target) raises the compute price by 3 units.
            eta_num: [1, 1, 1, 1],
            eta_den: 10_000_000,
        }
    }
}

/// Base prices per dimension, in native-token units per gas unit.
pub type Prices = PerDimension;

/// The prices after a block that used `usage`.
pub fn next_prices(prices: &Prices, usage: &PerDimension, p: &FeeParams) -> Prices {
    let mut out = *prices;
    for d in 0..4 {
        // Differences of u64s fit an i128; the step saturates; eta_den >= 1 divides.
        let delta = i128::from(usage[d]).saturating_sub(i128::from(p.targets[d]));
        let step = delta
            .saturating_mul(i128::from(p.eta_num[d]))
            .checked_div(i128::from(p.eta_den.max(1)))
            .unwrap_or(0);
        let next = i128::from(prices[d])
            .saturating_add(step)
            .max(i128::from(p.min_prices[d]));
        out[d] = u64::try_from(next).unwrap_or(u64::MAX);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FeeParams {
        FeeParams {
            targets: [100, 100, 100, 100],
            limits: [200, 200, 200, 200],
            min_prices: [1, 1, 1, 1],
            eta_num: [1, 1, 1, 1],
            eta_den: 10,
        }
    }

    #[test]
    fn sustained_over_target_raises_exactly_that_dimensions_price() {
        let p = params();
        let mut prices = [50, 50, 50, 50];
        for _ in 0..10 {
            prices = next_prices(&prices, &[100, 200, 100, 100], &p);
        }
        assert_eq!(prices, [50, 150, 50, 50]);
    }

    #[test]
    fn sustained_under_target_lowers_the_price_down_to_its_floor() {
        let p = params();
        let mut prices = [50, 50, 50, 50];
        prices = next_prices(&prices, &[100, 100, 0, 100], &p);
        assert_eq!(prices, [50, 50, 40, 50]);
        for _ in 0..10 {
            prices = next_prices(&prices, &[100, 100, 0, 100], &p);
        }
        assert_eq!(prices, [50, 50, 1, 50]);
    }

    #[test]
    fn the_demo_block_limit_fits_the_wall_time_budget_at_the_reference_rate() {
        let demo = FeeParams::demo();
        let limit = demo.limits[0];
        assert_eq!(limit, BLOCK_COMPUTE_LIMIT);
        let ms = limit.saturating_mul(1_000) / REFERENCE_WORST_GAS_PER_SEC;
        // Within the budget, and not far below it (a limit that wastes the budget is wrong too).
        assert!(
            (BLOCK_BUDGET_MS * 9 / 10..=BLOCK_BUDGET_MS).contains(&ms),
            "{ms} ms"
        );
        assert_eq!(demo.targets[0], limit / 2);
    }

    #[test]
    fn each_dimension_moves_independently() {
        let p = params();
        let prices = next_prices(&[50; 4], &[200, 0, 150, 100], &p);
        assert_eq!(prices, [60, 40, 55, 50]);
    }
}
