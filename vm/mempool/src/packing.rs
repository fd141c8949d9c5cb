//! Block building: a greedy multi-dimensional knapsack over the pool's ready transactions.
//!
//! A transaction's *value* is its priority fee (tip per compute unit × compute limit: what the
//! proposer earns at most); its *weight* is the share of the block it takes in its scarcest
//! dimension, `max_d(limit_d / block_limit_d)`. Senders' next transactions compete by value per
//! weight, highest first, ties broken by the smaller transaction hash; a sender's transactions
//! enter in nonce order only, and a sender whose next transaction does not fit (or pays less
//! than the base price in some dimension) contributes nothing more to this block. Gas is
//! packed by the transactions' *limits*, so the executor can never answer `BlockFull`.
//! Everything is exact integer arithmetic: the same pool, limits, prices and nonces give the
//! same block on every machine.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use keel_chain::tx::PerDimension;
use keel_chain::{Address, SignedTx};
use ruint::aliases::U256;

use crate::pool::{Mempool, TxHash};

/// What a built block may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Per-dimension gas (sum of the transactions' limits) the block may take.
    pub gas: PerDimension,
    /// Most transactions.
    pub max_txs: usize,
}

/// A built block's transactions and what they take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packed {
    /// The transactions, in block order.
    pub txs: Vec<SignedTx>,
    /// Their hashes, in the same order.
    pub hashes: Vec<TxHash>,
    /// Sum of their gas limits per dimension (≤ the limits asked for).
    pub gas: PerDimension,
    /// Sum of their priority fees (tip × compute limit): what the proposer may earn.
    pub priority_fees: u128,
    /// Ready transactions left out: did not fit, paid under the base price, or followed one
    /// that was left out.
    pub left_out: usize,
}

/// One sender's next candidate.
struct Candidate<'a> {
    value: u128,
    /// `max_d ceil(limit_d · 2^64 / cap_d)`, at least 1.
    weight: u128,
    hash: TxHash,
    sender: &'a Address,
    nonce: u64,
}

impl Ord for Candidate<'_> {
    /// Higher value per weight first (exact: u128 cross products cannot overflow 256 bits),
    /// then the smaller hash.
    fn cmp(&self, other: &Self) -> Ordering {
        let mine = U256::from(self.value).saturating_mul(U256::from(other.weight));
        let theirs = U256::from(other.value).saturating_mul(U256::from(self.weight));
        mine.cmp(&theirs).then_with(|| other.hash.cmp(&self.hash))
    }
}
impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate<'_> {}

/// The share of the block `limits` take in their scarcest dimension, in units of 2^-64.
fn weight(limits: &PerDimension, caps: &PerDimension) -> u128 {
    let mut w: u128 = 1;
    for (l, cap) in limits.iter().zip(caps) {
        let share = match (*l, *cap) {
            (0, _) => 0,
            (_, 0) => u128::MAX,
            // l < 2^64, so l · 2^64 < 2^128; the quotient is rounded up.
            (l, cap) => (u128::from(l) << 64).div_ceil(u128::from(cap)),
        };
        w = w.max(share);
    }
    w
}

struct Packer<'a> {
    pool: &'a Mempool,
    limits: &'a BlockLimits,
    prices: &'a PerDimension,
    out: Packed,
}

impl<'a> Packer<'a> {
    fn candidate(&self, sender: &'a Address, nonce: u64) -> Option<Candidate<'a>> {
        let hash = *self.pool.sender_queue(sender)?.get(&nonce)?;
        let t = &self.pool.get(&hash)?.tx.tx;
        Some(Candidate {
            value: u128::from(t.priority_fee).saturating_mul(u128::from(t.gas_limits[0])),
            weight: weight(&t.gas_limits, &self.limits.gas),
            hash,
            sender,
            nonce,
        })
    }

    /// Adds the candidate's transaction if it fits and pays the base prices.
    fn take(&mut self, c: &Candidate<'_>) -> bool {
        let Some(e) = self.pool.get(&c.hash) else {
            return false;
        };
        let t = &e.tx.tx;
        let mut gas = self.out.gas;
        for (d, used) in gas.iter_mut().enumerate() {
            if t.max_fee_per_unit[d] < self.prices[d] {
                return false;
            }
            match used.checked_add(t.gas_limits[d]) {
                Some(g) if g <= self.limits.gas[d] => *used = g,
                _ => return false,
            }
        }
        self.out.gas = gas;
        self.out.priority_fees = self.out.priority_fees.saturating_add(c.value);
        self.out.txs.push(e.tx.clone());
        self.out.hashes.push(c.hash);
        true
    }

    /// Counts the ready transactions of `sender` from `nonce` on as left out.
    fn leave_out(&mut self, sender: &Address, nonce: u64) {
        let mut n = nonce;
        while self
            .pool
            .sender_queue(sender)
            .is_some_and(|q| q.contains_key(&n))
        {
            self.out.left_out = self.out.left_out.saturating_add(1);
            n = n.saturating_add(1);
        }
    }
}

impl Mempool {
    /// Packs a block from the ready transactions: those whose nonces run without a gap from
    /// `next_nonce(sender)` (the account's nonce on the head the block builds on). See the
    /// module docs for the order. Does not remove anything: the block may never be submitted;
    /// the daemon prunes what a committed block spent.
    pub fn build(
        &self,
        limits: &BlockLimits,
        prices: &PerDimension,
        next_nonce: impl Fn(&Address) -> u64,
    ) -> Packed {
        let mut p = Packer {
            pool: self,
            limits,
            prices,
            out: Packed::default(),
        };
        let mut heap = BinaryHeap::new();
        for sender in self.senders() {
            if let Some(c) = p.candidate(sender, next_nonce(sender)) {
                heap.push(c);
            }
        }
        while let Some(c) = heap.pop() {
            if p.out.txs.len() >= limits.max_txs || !p.take(&c) {
                p.leave_out(c.sender, c.nonce);
                continue;
            }
            if let Some(next) = c
                .nonce
                .checked_add(1)
                .and_then(|n| p.candidate(c.sender, n))
            {
                heap.push(next);
            }
        }
        p.out
    }
}
