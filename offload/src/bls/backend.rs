//! The accelerator slot.

use thiserror::Error;

use std::sync::Arc;

use keel_crypto::{EncodedItem, VerifyItem};

use super::commit::CommittedBatch;
use crate::pool::{PoolError, Priority};

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
/// else changes. Signature decompression has a default on the calling thread that a backend
/// with workers overrides.
pub trait Backend: Send + Sync {
    /// A short name for reports ("cpu").
    fn name(&self) -> &'static str;

    /// For each index in `subset`, in order: whether `batch.items()[index].sig` lies in the
    /// prime-order subgroup of G2.
    ///
    /// # Errors
    /// Only when the backend itself fails.
    fn subgroup_checks(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<Vec<bool>, BackendError>;

    /// Whether the random linear combination over `subset` holds:
    /// `e(Σ rᵢ·sigᵢ, g₁) = Π_m e(Σ_{i: msgᵢ = m} rᵢ·pkᵢ, H(m))` with `rᵢ = batch.scalars()[i]`
    /// (128-bit, non-zero, derived from the committed batch). A backend never picks scalars of
    /// its own: the answer is a function of the batch and `subset` alone.
    ///
    /// Promise: `true` whenever every item in `subset` verifies; if some item does not, `true`
    /// only if the planted errors cancel under the derived scalars (about 2^-128 per attempt to
    /// grind a batch). With one item the answer is exact. Precondition: every signature in
    /// `subset` passed [`Backend::subgroup_checks`]. An empty subset gives `true`.
    ///
    /// # Errors
    /// Only when the backend itself fails.
    fn combined_check(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<bool, BackendError>;

    /// Each item with its signature decoded ([`EncodedItem::decode`]), in order: `None` where
    /// the bytes are not a signature. The default decodes on the calling thread.
    ///
    /// # Errors
    /// Only when the backend itself fails.
    fn decode_signatures(
        &self,
        items: &Arc<[EncodedItem]>,
        priority: Priority,
    ) -> Result<Vec<Option<VerifyItem>>, BackendError> {
        let _ = priority;
        Ok(items.iter().map(EncodedItem::decode).collect())
    }
}
