//! The BLS conformance phase passes Keel's pool and the reference, and catches backends that
//! lie: one accepting every combined check, one rejecting valid items.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::time::Duration;

use keel_hwtest::paths::Verdict;
use keel_hwtest::paths::bls::{
    BlsContext, BlsSubject, ConformancePlan, PerfPlan, PoolSubject, RandomSets, SinglePath,
    run_subject,
};
use keel_hwtest::vectors::py_ecc_vectors;
use keel_offload::bls::CommittedBatch;
use keel_offload::{Backend, BackendError, CpuBackend, PoolConfig, Topology};

/// How a broken backend lies.
#[derive(Clone, Copy)]
enum Lie {
    /// Every combined check passes: forged pairs and wrong messages slip through.
    AcceptAll,
    /// Every subgroup check fails: valid signatures are rejected.
    RejectAll,
}

struct Broken {
    inner: CpuBackend,
    lie: Lie,
}

impl Backend for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn subgroup_checks(&self, b: &CommittedBatch, s: &[usize]) -> Result<Vec<bool>, BackendError> {
        match self.lie {
            Lie::RejectAll => Ok(vec![false; s.len()]),
            Lie::AcceptAll => self.inner.subgroup_checks(b, s),
        }
    }
    fn combined_check(&self, b: &CommittedBatch, s: &[usize]) -> Result<bool, BackendError> {
        match self.lie {
            Lie::AcceptAll => Ok(true),
            Lie::RejectAll => self.inner.combined_check(b, s),
        }
    }
}

fn cpu() -> CpuBackend {
    let config = PoolConfig {
        max_workers: Some(2),
        ..PoolConfig::default()
    };
    CpuBackend::new(&Topology::discover(), &config).unwrap()
}

fn plan() -> (
    Vec<keel_hwtest::vectors::BlsVector>,
    Vec<keel_hwtest::vectors::RawTriple>,
) {
    (
        py_ecc_vectors().unwrap(),
        RandomSets::new(1, 8, Vec::new()).valid(8, false),
    )
}

fn run(subject: &dyn BlsSubject) -> keel_hwtest::paths::PathResult {
    let (vectors, valid) = plan();
    let topology = Topology::discover();
    let ctx = BlsContext {
        vectors: &vectors,
        conformance: ConformancePlan {
            random_sets: 8,
            max_set: 16,
            seed: 7,
        },
        perf: PerfPlan {
            batch_sizes: vec![1, 8],
            min_time: Duration::ZERO,
            min_calls: 1,
            max_calls: 2,
        },
        valid: &valid,
        worker_counts: vec![1],
        topology: &topology,
    };
    run_subject(subject, &ctx)
}

#[test]
fn the_reference_path_agrees_with_every_py_ecc_vector() {
    let (vectors, _) = plan();
    let got = SinglePath
        .verify(&vectors.iter().map(|v| v.triple.clone()).collect::<Vec<_>>())
        .unwrap();
    for (v, g) in vectors.iter().zip(got) {
        assert_eq!(g, v.valid, "{}", v.name);
    }
}

#[test]
fn the_cpu_pool_passes_conformance_and_is_timed() {
    let r = run(&PoolSubject::new(cpu(), "cpu-pool"));
    assert_eq!(
        r.conformance.verdict,
        Verdict::Pass,
        "{:?}",
        r.conformance.failures
    );
    assert_eq!(
        r.performance.verdict,
        Verdict::Pass,
        "{:?}",
        r.performance.failures
    );
    assert!(
        r.metrics
            .iter()
            .any(|m| m.name == "cpu-pool.b8.sigs_per_s" && m.value > 0.0)
    );
    assert!(r.metrics.iter().any(|m| m.name == "single.b8.sigs_per_s"));
}

#[test]
fn a_backend_that_accepts_every_combined_check_fails_qualification() {
    let r = run(&PoolSubject::new(
        Broken {
            inner: cpu(),
            lie: Lie::AcceptAll,
        },
        "broken",
    ));
    assert_eq!(r.conformance.verdict, Verdict::Fail);
    assert!(
        r.conformance
            .failures
            .iter()
            .any(|f| f.contains("forged_pair") || f.contains("wrong_message")),
        "{:?}",
        r.conformance.failures
    );
    assert_eq!(
        r.performance.verdict,
        Verdict::Skipped,
        "a wrong backend is not timed"
    );
}

#[test]
fn a_backend_that_rejects_valid_signatures_fails_qualification() {
    let r = run(&PoolSubject::new(
        Broken {
            inner: cpu(),
            lie: Lie::RejectAll,
        },
        "broken",
    ));
    assert_eq!(r.conformance.verdict, Verdict::Fail);
    assert!(
        r.conformance.failures.iter().any(|f| f.contains("valid_0")),
        "{:?}",
        r.conformance.failures
    );
}
