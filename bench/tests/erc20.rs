// `keel-bench erc20` end to end on a tiny workload: both sides deploy, every transfer succeeds
// on both, and the report has every row (the numbers themselves are not checked here). 700
// transfers are more than one demo-limit block holds (~600): the default `--txs 2000` once
// failed with BlockFull.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::process::Command;

#[test]
fn erc20_runs_both_engines_and_reports_every_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel-bench"))
        .args([
            "erc20",
            "--txs",
            "700",
            "--rounds",
            "1",
            "--recipients",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9);
    for r in rows {
        assert!(r["keel_us"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The executing thread's whole share is execution plus the signature phase's share (one
    // round: the best round of the sum is the sum of the rounds' figures).
    let us = |i: usize| rows[i]["keel_us"].as_f64().unwrap();
    assert!((us(1) - (us(0) + us(4))).abs() < 1e-6, "{rows:?}");
    assert!(rows[0]["revm_us"].as_f64().unwrap() > 0.0);
    // Gas of one transfer is a property of the code: the same on every run and machine.
    assert!(v["keel_transfer_compute_gas"].as_u64().unwrap() > 0);
    assert!(v["revm_transfer_gas"].as_u64().unwrap() > 21_000);
}
