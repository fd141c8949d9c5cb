//! The batch algorithm: subgroup checks, one combined check, bisection on failure.

use std::sync::Arc;

use keel_crypto::{SignatureVerifier, SingleVerifier, Verdict, VerifyItem};

use super::backend::{Backend, BackendError};

/// Verifies many signatures at once and returns the exact verdict of each.
///
/// Steps: (1) subgroup-check every signature (failures are invalid at once); (2) one combined
/// random-linear-combination check over the rest; (3) if it fails, bisect: check the left half;
/// if it passes, the failure is in the right half, which is split without a check of its own;
/// a single item's check is exact. One bad signature in `n` costs about `log₂ n` extra checks
/// of shrinking size; `k` bad ones at most about `2k·log₂(n/k)`.
///
/// Verdicts equal [`VerifyItem::verify`] for every item, except that an invalid item may be
/// reported valid with probability at most 2^-63 per combined check that contained it; a valid
/// item is never reported invalid. Batching and thread count do not change verdicts.
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

    /// One verdict per item, in order.
    ///
    /// # Errors
    /// [`BackendError`] when the backend fails; no partial verdicts are returned then.
    pub fn verify(&self, items: &Arc<[VerifyItem]>) -> Result<Vec<Verdict>, BackendError> {
        let mut verdicts = vec![Verdict::Invalid; items.len()];
        let all: Vec<usize> = (0..items.len()).collect();
        let in_group = self.backend.subgroup_checks(items, &all)?;
        let candidates: Vec<usize> = all
            .into_iter()
            .zip(in_group)
            .filter_map(|(i, ok)| ok.then_some(i))
            .collect();
        self.bisect(items, &candidates, false, &mut verdicts)?;
        Ok(verdicts)
    }

    /// Decides every index of `subset`; `known_bad` says a check already showed that the
    /// subset holds an invalid item (so checking it again would be wasted work).
    fn bisect(
        &self,
        items: &Arc<[VerifyItem]>,
        subset: &[usize],
        known_bad: bool,
        verdicts: &mut [Verdict],
    ) -> Result<(), BackendError> {
        if subset.is_empty() {
            return Ok(());
        }
        // A single item is always checked: its check is exact, unlike the inference that
        // led here (which rests on a probabilistic pass of its sibling).
        let passes = if known_bad && subset.len() > 1 {
            false
        } else {
            self.backend.combined_check(items, subset)?
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
        if self.backend.combined_check(items, left)? {
            for &i in left {
                verdicts[i] = Verdict::Valid;
            }
            self.bisect(items, right, true, verdicts)
        } else {
            self.bisect(items, left, true, verdicts)?;
            self.bisect(items, right, false, verdicts)
        }
    }
}

impl<B: Backend> SignatureVerifier for BatchVerifier<B> {
    /// Batch verification; if the backend fails, falls back to the reference path
    /// ([`SingleVerifier`]) so that a verdict is always given.
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        let shared: Arc<[VerifyItem]> = items.into();
        match self.verify(&shared) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, backend = self.backend.name(), "batch verification failed; using the single-signature path");
                SingleVerifier.verify_batch(items)
            }
        }
    }
}
