//! The property-test harness end to end: scaffolded project, deterministic seeds, shrinking.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_devtools::harness::{Kind, TestConfig, run};
use keel_devtools::project::Project;
use keel_devtools::scaffold::new_project;
use keel_devtools::toolchain::build;
use keel_vm::{GasSchedule, Profile};
use std::path::Path;

fn build_pair(project: &Project) -> (Vec<u8>, Vec<u8>) {
    let (p, s) = (Profile::default(), GasSchedule::default());
    let contract = build(project, false, &p, &s).unwrap();
    let tests = build(project, true, &p, &s).unwrap();
    assert_eq!(
        contract.report.errors(),
        0,
        "{:?}",
        contract.report.findings
    );
    assert_eq!(tests.report.errors(), 0, "{:?}", tests.report.findings);
    (contract.wasm, tests.wasm)
}

fn cfg(seed: u64) -> TestConfig {
    TestConfig {
        seed,
        cases: 64,
        ..TestConfig::default()
    }
}

#[test]
fn a_new_project_builds_and_its_tests_pass_on_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_project(dir.path(), "counter").unwrap();
    let (contract, tests) = build_pair(&Project::load(&path).unwrap());
    let results = run(&contract, &tests, &cfg(7)).unwrap();
    let names: Vec<_> = results
        .iter()
        .map(|r| (r.name.as_str(), r.kind, r.passed))
        .collect();
    assert_eq!(
        names,
        vec![
            ("prop_add_is_additive", Kind::Property, true),
            ("test_deployed_get_returns_zero", Kind::Unit, true),
            ("test_starts_at_zero_and_counts", Kind::Unit, true),
        ]
    );
    assert!(results.iter().all(|r| r.gas.compute > 0));
    assert_eq!(results[0].cases, 64);
    // A second project of the same name is refused, a bad name too.
    assert!(new_project(dir.path(), "counter").is_err());
    assert!(new_project(dir.path(), "9lives").is_err());
}

fn failing_project() -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/failing_prop.c");
    std::fs::copy(fixture, dir.path().join("tests/failing_prop.c")).unwrap();
    std::fs::write(
        dir.path().join("keel.toml"),
        "[contract]\nname = \"f\"\nsources = [\"tests/failing_prop.c\"]\n",
    )
    .unwrap();
    let p = Project::load(dir.path()).unwrap();
    (dir, p)
}

#[test]
fn a_failing_property_shrinks_to_the_minimal_counterexample_whatever_the_seed() {
    let (_dir, project) = failing_project();
    let (contract, tests) = build_pair(&project);
    for seed in [0, 99] {
        let r = run(&contract, &tests, &cfg(seed)).unwrap();
        let prop = r
            .iter()
            .find(|r| r.name == "prop_second_byte_is_small")
            .unwrap();
        assert!(!prop.passed);
        assert_eq!(
            prop.counterexample_hex.as_deref(),
            Some("00c8"),
            "seed {seed}"
        );
        assert_eq!(prop.seed, seed);
        assert!(
            prop.failure
                .as_deref()
                .unwrap()
                .contains("second byte too large")
        );
        assert!(prop.gas.compute > 0);
        let unit = r.iter().find(|r| r.name == "test_always_fails").unwrap();
        assert!(!unit.passed && unit.failure.as_deref().unwrap().contains("by design"));
    }
}

#[test]
fn the_same_seed_gives_the_same_results() {
    let (_dir, project) = failing_project();
    let (contract, tests) = build_pair(&project);
    let a = run(&contract, &tests, &cfg(5)).unwrap();
    let b = run(&contract, &tests, &cfg(5)).unwrap();
    assert_eq!(a, b);
}
