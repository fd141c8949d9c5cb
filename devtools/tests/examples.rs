//! The example contracts' own tests (`contracts/projects/*`), run the way `keel contract test`
//! runs them: every test passes.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_devtools::harness::{TestConfig, run};
use keel_devtools::project::Project;
use keel_devtools::toolchain::build;
use keel_vm::{GasSchedule, Profile};
use std::path::Path;

#[test]
fn every_example_project_builds_clean_and_its_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/projects");
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        // Build into a copy so the source tree stays clean and parallel runs do not collide.
        let src = entry.unwrap().path();
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("projects").join(src.file_name().unwrap());
        std::fs::create_dir_all(&proj).unwrap();
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                std::fs::copy(&f, proj.join(f.file_name().unwrap())).unwrap();
            }
        }
        // `../../c/…` resolves inside the copy as it does in the repository.
        let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/c");
        std::os::unix::fs::symlink(c, dir.path().join("c")).unwrap_or(());
        let project = Project::load(&proj).unwrap();
        let (p, s) = (Profile::default(), GasSchedule::default());
        let contract = build(&project, false, &p, &s).unwrap();
        let tests = build(&project, true, &p, &s).unwrap();
        assert_eq!(
            contract.report.errors(),
            0,
            "{:?}",
            contract.report.findings
        );
        let cfg = TestConfig {
            cases: 64,
            ..TestConfig::default()
        };
        let results = run(&contract.wasm, &tests.wasm, &cfg).unwrap();
        assert!(!results.is_empty(), "{} has tests", src.display());
        for r in results {
            assert!(r.passed, "{}: {r:?}", src.display());
        }
        seen += 1;
    }
    assert!(seen >= 1);
}
