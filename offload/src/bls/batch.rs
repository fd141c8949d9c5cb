//! The batch algorithm: subgroup checks, one combined check, bisection on failure.

use std::sync::Arc;

use keel_crypto::{
    EncodedItem, SignatureVerifier, SingleVerifier, Verdict, VerifyItem, verify_decoded,
};

use super::backend::{Backend, BackendError};
use super::commit::CommittedBatch;
use crate::pool::Priority;

/// Verifies many signatures at once and returns the exact verdict of each.
///
/// Steps: (0) commit to the batch and derive one scalar per item from the digest
/// ([`CommittedBatch`]); (1) subgroup-check every signature (failures are invalid at once);
/// (2) one combined linear-combination check over the rest; (3) if it fails, bisect: check the
/// left half; if it passes, the failure is in the right half, which is split without a check of
/// its own; a single item's check is exact. Every check of one batch uses the same per-item
/// scalars, so "whole fails, left passes" proves the right half bad. One bad signature in `n`
/// costs about `log₂ n` extra checks of shrinking size; `k` bad ones at most about
/// `2k·log₂(n/k)`.
///
/// The bisection is bounded: once its checks have covered [`BISECTION_BUDGET`] × `n` items
/// (many bad signatures — the cheap lever of an attacker, whose batch would otherwise cost
/// `O(n log n)` scalar multiplications and pairings), every item still undecided is checked
/// on its own, which is exact. A batch of `n` items therefore never costs more than about
/// `(1 + BISECTION_BUDGET) · n` items in combined checks plus `n` single checks, whatever its
/// signatures.
///
/// Deterministic: the verdicts are a function of the items (in order) alone — same batch, same
/// scalars, same checks, same verdicts on every node, run, backend and thread count. They equal
/// [`VerifyItem::verify`] for every item, except that an invalid item is reported valid if its
/// error cancels under the derived scalars, which an adversary must grind for (about 2^-128 per
/// attempt); a valid item is never reported invalid. If the backend fails, the fallback is
/// [`SingleVerifier`], which is exact (so deterministic too).
/// Items the bisection of one batch may put through combined checks, per item of the batch,
/// before it decides the rest one item at a time.
pub const BISECTION_BUDGET: usize = 2;

#[derive(Debug)]
pub struct BatchVerifier<B> {
    backend: B,
}

impl<B: Backend> BatchVerifier<B> {
    /// Wraps a backend.
    pub fn new(backend: B) -> Self {
        Self { backend }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// One verdict per item, in order; the backend's work runs in `priority`'s pool lane.
    ///
    /// # Errors
    /// [`BackendError`] when the backend fails; no partial verdicts are returned then.
    pub fn verify(
        &self,
        items: &Arc<[VerifyItem]>,
        priority: Priority,
    ) -> Result<Vec<Verdict>, BackendError> {
        let batch = CommittedBatch::new(Arc::clone(items), priority);
        let mut verdicts = vec![Verdict::Invalid; items.len()];
        let all: Vec<usize> = (0..items.len()).collect();
        let in_group = self.backend.subgroup_checks(&batch, &all)?;
        let candidates: Vec<usize> = all
            .into_iter()
            .zip(in_group)
            .filter_map(|(i, ok)| ok.then_some(i))
            .collect();
        let mut budget = items.len().saturating_mul(BISECTION_BUDGET + 1);
        self.bisect(&batch, &candidates, false, &mut budget, &mut verdicts)?;
        Ok(verdicts)
    }

    /// [`BatchVerifier::verify`], or if the backend fails the exact reference path
    /// ([`SingleVerifier`]) on the calling thread, so that a verdict is always given.
    pub fn verify_or_fallback(&self, items: &[VerifyItem], priority: Priority) -> Vec<Verdict> {
        let shared: Arc<[VerifyItem]> = items.into();
        match self.verify(&shared, priority) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, backend = self.backend.name(), "batch verification failed; using the single-signature path");
                SingleVerifier.verify_batch(items)
            }
        }
    }

    /// Decides every index of `subset`; `known_bad` says a check already showed that the
    /// subset holds an invalid item (so checking it again would be wasted work). `budget` is
    /// what combined checks of several items may still cover (see [`BISECTION_BUDGET`]).
    fn bisect(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
        known_bad: bool,
        budget: &mut usize,
        verdicts: &mut [Verdict],
    ) -> Result<(), BackendError> {
        if subset.is_empty() {
            return Ok(());
        }
        if subset.len() > 1 && *budget < subset.len() {
            return self.one_by_one(batch, subset, verdicts);
        }
        // A single item is always checked: its check is exact, unlike the inference that
        // led here (which rests on a probabilistic pass of its sibling).
        let passes = if known_bad && subset.len() > 1 {
            false
        } else {
            self.charged_check(batch, subset, budget)?
        };
        if passes {
            for &i in subset {
                verdicts[i] = Verdict::Valid;
            }
            return Ok(());
        }
        if subset.len() == 1 {
            return Ok(()); // already Invalid
        }
        let (left, right) = subset.split_at(subset.len() / 2);
        if left.len() > 1 && *budget < left.len() {
            return self.one_by_one(batch, subset, verdicts);
        }
        if self.charged_check(batch, left, budget)? {
            for &i in left {
                verdicts[i] = Verdict::Valid;
            }
            self.bisect(batch, right, true, budget, verdicts)
        } else {
            self.bisect(batch, left, true, budget, verdicts)?;
            self.bisect(batch, right, false, budget, verdicts)
        }
    }

    /// A combined check whose items are taken from `budget`.
    fn charged_check(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
        budget: &mut usize,
    ) -> Result<bool, BackendError> {
        *budget = budget.saturating_sub(subset.len());
        self.backend.combined_check(batch, subset)
    }

    /// Decides each item of `subset` by its own (exact) check.
    fn one_by_one(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
        verdicts: &mut [Verdict],
    ) -> Result<(), BackendError> {
        for &i in subset {
            if self.backend.combined_check(batch, &[i])? {
                verdicts[i] = Verdict::Valid;
            }
        }
        Ok(())
    }
}

impl<B: Backend> SignatureVerifier for BatchVerifier<B> {
    /// [`BatchVerifier::verify_or_fallback`] in the [`Priority::Block`] lane: a direct caller
    /// (the chain, `keel replay`, tools) verifies one batch of its own.
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        self.verify_or_fallback(items, Priority::Block)
    }

    /// Signatures decompressed by the backend (on the workers for [`crate::bls::CpuBackend`]),
    /// then [`SignatureVerifier::verify_batch`]; if the backend fails to decode, the calling
    /// thread decodes (same verdicts).
    fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
        let shared: Arc<[EncodedItem]> = items.into();
        let decoded = match self.backend.decode_signatures(&shared, Priority::Block) {
            Ok(d) if d.len() == items.len() => d,
            Ok(_) | Err(_) => {
                tracing::warn!(
                    backend = self.backend.name(),
                    "signature decoding failed; decoding on the calling thread"
                );
                items.iter().map(EncodedItem::decode).collect()
            }
        };
        verify_decoded(self, decoded)
    }
}
