//! The mempool's limits, one struct with documented defaults.

/// Bounds and policy of a [`crate::Mempool`]. Every field is a hard limit the pool asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most transactions held (default 50 000).
    pub max_txs: usize,
    /// Most bytes of encoded signed transactions held (default 128 MiB).
    pub max_bytes: usize,
    /// Largest encoded signed transaction admitted (default 1 MiB; a deploy carries its code).
    pub max_tx_bytes: usize,
    /// Most transactions one sender may have pending (default 64), so one account cannot fill
    /// the pool with nonces it may never fill in.
    pub max_per_sender: usize,
    /// How far above the account's next nonce a transaction may be (default 64): later nonces
    /// wait for the gap to be filled, within this window.
    pub max_nonce_gap: u64,
    /// A replacement (same sender and nonce) must raise the priority fee by at least this
    /// percentage, and by at least 1 (default 10 %): replacing costs the sender something.
    pub min_bump_percent: u64,
    /// Milliseconds a transaction stays pending before it expires (default 10 minutes).
    pub ttl_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_txs: 50_000,
            max_bytes: 128 << 20,
            max_tx_bytes: 1 << 20,
            max_per_sender: 64,
            max_nonce_gap: 64,
            min_bump_percent: 10,
            ttl_ms: 600_000,
        }
    }
}
