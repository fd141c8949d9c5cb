//! Why the pool refused a transaction.

use thiserror::Error;

/// Why [`crate::Mempool::insert`] refused a transaction. The pool is unchanged after any of
/// these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdmitError {
    /// The same signed transaction (same hash) is already pending.
    #[error("transaction already pending")]
    AlreadyKnown,
    /// The encoded transaction is larger than `max_tx_bytes`.
    #[error("transaction of {bytes} bytes exceeds the pool's limit of {max}")]
    TooLarge {
        /// Encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The nonce was already used by the account.
    #[error("nonce {got} is below the account's next nonce {expected}")]
    NonceTooLow {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce is further above the account's next nonce than `max_nonce_gap`.
    #[error("nonce {got} is more than {max_gap} above the account's next nonce {expected}")]
    NonceTooFar {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
        /// The window.
        max_gap: u64,
    },
    /// A transaction with this sender and nonce is pending and this one does not outbid it
    /// by the minimum bump.
    #[error("replacement needs a priority fee of at least {min} (pending one pays {pending})")]
    Underpriced {
        /// The pending transaction's priority fee.
        pending: u64,
        /// The least priority fee that replaces it.
        min: u64,
    },
    /// The sender already has `max_per_sender` transactions pending.
    #[error("sender has {max} transactions pending, the most the pool holds per sender")]
    SenderFull {
        /// The limit.
        max: usize,
    },
    /// The pool is full and this transaction does not pay more than the ones it would evict.
    #[error("pool full: a priority fee above {lowest} is needed to evict a pending transaction")]
    PoolFull {
        /// The lowest priority fee that could not be evicted for this transaction.
        lowest: u64,
    },
}
