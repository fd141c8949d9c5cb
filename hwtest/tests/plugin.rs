//! Plug-ins through the C ABI in a separate process: the reference plug-in (C over blst)
//! qualifies; one that lies fails qualification; one that crashes and one that hangs are
//! contained (this test process carries on, and later calls fail fast).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_hwtest::paths::Verdict;
use keel_hwtest::paths::bls::{
    BlsContext, BlsSubject, ConformancePlan, PerfPlan, RandomSets, SubjectError, run_subject,
};
use keel_hwtest::plugin::{BUNDLED_BLST_PLUGIN, HostCommand, PluginError, PluginSubject};
use keel_hwtest::vectors::{RawTriple, py_ecc_vectors};
use keel_offload::Topology;

fn host() -> HostCommand {
    HostCommand {
        program: env!("CARGO_BIN_EXE_keel-plugin-host").into(),
        args: Vec::new(),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("KEEL_OFFLOAD_FIXTURES")).join(format!("libkeel_offload_{name}.so"))
}

fn start(path: &Path) -> PluginSubject {
    PluginSubject::start(&host(), path, Duration::from_secs(2)).unwrap()
}

fn qualify(subject: &dyn BlsSubject) -> keel_hwtest::paths::PathResult {
    let vectors = py_ecc_vectors().unwrap();
    let valid = RandomSets::new(3, 8, Vec::new()).valid(8, false);
    let topology = Topology::discover();
    let ctx = BlsContext {
        vectors: &vectors,
        conformance: ConformancePlan {
            random_sets: 6,
            max_set: 16,
            seed: 5,
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
fn the_reference_blst_plugin_passes_qualification_through_the_c_abi() {
    let p = start(Path::new(BUNDLED_BLST_PLUGIN));
    assert!(p.name().contains("blst-cpu"), "{}", p.name());
    let r = qualify(&p);
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
}

#[test]
fn a_plugin_returning_wrong_verdicts_fails_qualification() {
    let r = qualify(&start(&fixture("lie")));
    assert_eq!(r.conformance.verdict, Verdict::Fail);
    assert!(
        r.conformance
            .failures
            .iter()
            .any(|f| f.contains("wrong verdict")),
        "{:?}",
        r.conformance.failures
    );
    assert_eq!(r.performance.verdict, Verdict::Skipped);
}

#[test]
fn a_crashing_plugin_is_contained_and_fails_qualification() {
    let p = start(&fixture("crash"));
    let t = vec![RawTriple {
        pk: vec![0; 48],
        msg: vec![],
        sig: vec![0; 96],
    }];
    let err = p.verify(&t).unwrap_err();
    assert!(
        matches!(&err, SubjectError::Crashed(s) if s.contains("signal")),
        "{err:?}"
    );
    assert_eq!(
        p.verify(&t).unwrap_err(),
        err,
        "later calls fail fast with the same error"
    );
    let r = qualify(&p);
    assert_eq!(r.conformance.verdict, Verdict::Fail);
}

#[test]
fn a_hanging_plugin_is_killed_after_the_timeout() {
    let p = PluginSubject::start(&host(), &fixture("hang"), Duration::from_millis(500)).unwrap();
    let t = vec![RawTriple {
        pk: vec![0; 48],
        msg: vec![],
        sig: vec![0; 96],
    }];
    let start = Instant::now();
    assert_eq!(p.verify(&t).unwrap_err(), SubjectError::Timeout(500));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(p.verify(&t).unwrap_err(), SubjectError::Timeout(500));
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.so");
    std::fs::write(&bogus, b"not an ELF object").unwrap();
    let err = PluginSubject::start(&host(), &bogus, Duration::from_secs(2))
        .err()
        .unwrap();
    assert!(
        matches!(err, PluginError::Refused(ref m) if m.contains("cannot load")),
        "{err:?}"
    );
}
