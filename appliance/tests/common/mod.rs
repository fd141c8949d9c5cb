// Shared helpers of the appliance's command-line tests.
#![allow(dead_code)] // each test binary uses a subset

use std::process::{Command, Output};

/// Runs the `keel` binary under test with `args` and collects its output.
pub fn keel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .output()
        .expect("keel runs")
}

/// Asserts `out` succeeded and returns its stdout.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
