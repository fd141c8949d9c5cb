//! The accelerator slot.

use std::sync::Arc;

use keel_crypto::VerifyItem;
use thiserror::Error;

use crate::pool::PoolError;

/// A backend could not run an operation (the operation's *answer* is never an error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackendError {
    /// The worker pool failed (a worker stopped or a job panicked).
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// Where the heavy arithmetic of a batch runs.
///
/// A backend does exactly the work that is worth moving to an accelerator: per-signature
/// subgroup checks, and for a random linear combination the hash-to-G2 of each distinct message,
/// the scalar multiplications (multi-scalar multiplications where points share a message) and
/// the Miller loops. Bisection, grouping policy and verdicts stay in [`crate::bls::BatchVerifier`],
/// which is the same for every backend. A GPU backend implements these two methods; nothing
/// else changes.
pub trait Backend: Send + Sync {
    /// A short name for reports ("cpu").
    fn name(&self) -> &'static str;

    /// For each index in `subset`, in order: whether `items[index].sig` lies in the
    /// prime-order subgroup of G2.
    ///
    /// # Errors
    /// Only when the backend itself fails.
    fn subgroup_checks(
        &self,
        items: &Arc<[VerifyItem]>,
        subset: &[usize],
    ) -> Result<Vec<bool>, BackendError>;

    /// Whether the random linear combination over `subset` holds:
    /// `e(Σ rᵢ·sigᵢ, g₁) = Π_m e(Σ_{i: msgᵢ = m} rᵢ·pkᵢ, H(m))` with fresh, independent, non-zero
    /// 64-bit scalars `rᵢ` from a CSPRNG.
    ///
    /// Promise: `true` whenever every item in `subset` verifies; if some item does not, `true`
    /// with probability at most 2^-63. With one item the answer is exact. Precondition: every
    /// signature in `subset` passed [`Backend::subgroup_checks`]. An empty subset gives `true`.
    ///
    /// # Errors
    /// Only when the backend itself fails.
    fn combined_check(
        &self,
        items: &Arc<[VerifyItem]>,
        subset: &[usize],
    ) -> Result<bool, BackendError>;
}
