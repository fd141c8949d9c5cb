//! BLS verification backends: the pinned CPU pool and plug-ins, each checked against py_ecc's
//! vectors and against the single-signature path on random valid and invalid sets, then timed
//! over batch sizes (and, for the pool, worker counts and pinning).

mod conformance;
mod perf;
mod pool;
mod sets;

pub use conformance::ConformancePlan;
pub use conformance::check_conformance;
pub use perf::{CurvePoint, PerfPlan, measure_curve};
pub use pool::{BlsContext, PoolSubject, run_cpu_pool, run_subject};
pub use sets::{RandomSets, reference_verdict};

use thiserror::Error;

use crate::vectors::RawTriple;

/// Why a backend gave no verdicts (a wrong verdict is a conformance failure, not an error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubjectError {
    /// The backend reported a failure.
    #[error("backend failed: {0}")]
    Failed(String),
    /// The backend did not answer in time (the plug-in host was killed).
    #[error("backend did not answer within {0} ms")]
    Timeout(u64),
    /// The backend's process died.
    #[error("backend process died: {0}")]
    Crashed(String),
    /// One verdict per triple was not returned.
    #[error("backend returned {got} verdicts for {want} triples")]
    WrongCount {
        /// Returned.
        got: usize,
        /// Expected.
        want: usize,
    },
}

/// A BLS verifier under qualification: raw triples in, one verdict per triple out.
pub trait BlsSubject: Send + Sync {
    /// Its name in reports (`cpu-pool/w4`, `plugin:libkeel_blst.so`).
    fn name(&self) -> String;

    /// One verdict per triple, in order: `true` only for a well-formed key and signature that
    /// verify over the message.
    ///
    /// # Errors
    /// [`SubjectError`] when the backend cannot give verdicts.
    fn verify(&self, triples: &[RawTriple]) -> Result<Vec<bool>, SubjectError>;
}

/// The reference: Keel's single-signature path, one full verification per triple.
pub struct SinglePath;

impl BlsSubject for SinglePath {
    fn name(&self) -> String {
        "single".into()
    }

    fn verify(&self, triples: &[RawTriple]) -> Result<Vec<bool>, SubjectError> {
        Ok(triples.iter().map(reference_verdict).collect())
    }
}
