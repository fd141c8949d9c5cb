//! Shared by the integration tests: generating a project and skipping loudly without coqc.

use keel_formal::{Generated, Request};
use keel_vm::{GasSchedule, KillSet, Profile};
use std::path::Path;

/// Whether coqc runs here; prints the SKIPPED line when it does not.
pub fn coqc_or_skip(test: &str) -> bool {
    if keel_formal::coqc::available() {
        return true;
    }
    println!("SKIPPED[tool]: coqc missing ({test}; Debian's `coq` package, ./x setup installs it)");
    false
}

/// Generates the project of `exports` in `wasm` under the default profile and schedule.
pub fn generate(wasm: &[u8], exports: &[&str]) -> Generated {
    let req = Request {
        wasm,
        exports,
        profile: &Profile::V1,
        schedule: &GasSchedule::v1(),
        kills: &KillSet::default(),
    };
    match keel_formal::generate(&req) {
        Ok(g) => g,
        Err(e) => panic!("generating {exports:?}: {e}"),
    }
}

/// Writes `g` into `dir` and checks it with coqc.
#[allow(dead_code)] // not every test target uses it
pub fn write_and_check(g: &Generated, dir: &Path) -> Result<(), keel_formal::FormalError> {
    keel_formal::project::write_project(dir, &g.contract_v, &g.audit_v)?;
    keel_formal::coqc::check(dir, &g.proved()).map(|_| ())
}
