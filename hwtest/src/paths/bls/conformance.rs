//! The conformance phase of a BLS backend.

use super::{BlsSubject, RandomSets, reference_verdict};
use crate::paths::Phase;
use crate::vectors::BlsVector;

/// How much random checking to do.
#[derive(Debug, Clone, Copy)]
pub struct ConformancePlan {
    /// Random mixed sets to check.
    pub random_sets: usize,
    /// Largest random set.
    pub max_set: usize,
    /// Seed of the random sets (recorded in the report so a failure can be replayed).
    pub seed: u64,
}

/// Checks `subject` against the vectors (one by one and as one batch), then against the
/// single-signature path on random sets mixing valid items with forged pairs, wrong messages,
/// other signers, points outside the subgroup and garbage.
pub fn check_conformance(
    subject: &dyn BlsSubject,
    vectors: &[BlsVector],
    plan: &ConformancePlan,
) -> Phase {
    let mut phase = Phase::new();
    for v in vectors {
        phase.check(compare(
            subject,
            std::slice::from_ref(&v.triple),
            &[v.valid],
            &v.name,
        ));
    }
    let all: Vec<_> = vectors.iter().map(|v| v.triple.clone()).collect();
    let want: Vec<bool> = vectors.iter().map(|v| v.valid).collect();
    phase.check(compare(subject, &all, &want, "all vectors in one batch"));

    let off: Vec<Vec<u8>> = vectors
        .iter()
        .filter(|v| v.name.starts_with("sig_outside_subgroup"))
        .map(|v| v.triple.sig.clone())
        .collect();
    let mut sets = RandomSets::new(plan.seed, 16, off);
    let sizes = [1usize, 2, 3, 7, 16, 33, 64, 128, 256, 512];
    let sizes: Vec<usize> = sizes
        .into_iter()
        .filter(|s| *s <= plan.max_set.max(1))
        .collect();
    for round in 0..plan.random_sets {
        let n = sizes[round % sizes.len()];
        // Alternate sparse and dense spoiling; every fourth set is entirely valid.
        let set = match round % 4 {
            0 => sets.valid(n, round % 8 == 0),
            1 => sets.mixed(n, 2),
            _ => sets.mixed(n, 8),
        };
        let want: Vec<bool> = set.iter().map(reference_verdict).collect();
        let label = format!("random set {round} (seed {}, {n} items)", plan.seed);
        phase.check(compare(subject, &set, &want, &label));
    }
    phase
}

fn compare(
    subject: &dyn BlsSubject,
    triples: &[super::RawTriple],
    want: &[bool],
    label: &str,
) -> Result<(), String> {
    let got = subject
        .verify(triples)
        .map_err(|e| format!("{label}: {e}"))?;
    if got.len() != want.len() {
        return Err(format!(
            "{label}: {} verdicts for {} items",
            got.len(),
            want.len()
        ));
    }
    let wrong: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
    match wrong.first() {
        None => Ok(()),
        Some(&i) => Err(format!(
            "{label}: {} wrong verdict(s), first at item {i}: got {}, reference says {}",
            wrong.len(),
            got[i],
            want[i]
        )),
    }
}
