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
    assert_eq!(rows.len(), 8);
    for r in rows {
        assert!(r["keel_us"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert!(rows[0]["revm_us"].as_f64().unwrap() > 0.0);
    // Gas of one transfer is a property of the code: the same on every run and machine.
    assert!(v["keel_transfer_compute_gas"].as_u64().unwrap() > 0);
    assert!(v["revm_transfer_gas"].as_u64().unwrap() > 21_000);
}
