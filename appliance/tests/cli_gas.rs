//! `keel gas calibrate --quick --json` end to end: the report's shape, and a proposal that the
//! schedule's own validation and `keel gov propose set-gas-schedule` accept (not its numbers:
//! a quick run's timings are noise).

use std::process::Command;

#[test]
fn gas_calibrate_quick_json_writes_a_valid_proposal_and_reports_both_cvs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("proposal.json");
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["gas", "calibrate", "--quick", "--json", "--out"])
        .arg(&file)
        .output()
        .expect("run keel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "keel gas calibrate failed: {stderr}");
    assert!(
        stderr.contains("calibrate:"),
        "progress goes to stderr: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    for key in ["current_cv", "proposed_cv", "nnls_error", "boosted_error"] {
        let x = v[key].as_f64().unwrap_or(f64::NAN);
        assert!(x.is_finite() && x >= 0.0, "{key} = {}", v[key]);
    }
    assert!(matches!(
        v["model"].as_str(),
        Some("nnls" | "boosted_trees")
    ));
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(
        rows.len() as u64,
        v["workloads"].as_u64().expect("workloads")
    );
    for r in rows {
        assert!(r["proposed_gas"].as_u64().is_some_and(|g| g > 0), "{r}");
        assert!(r["name"].is_string() && r["kind"].is_string(), "{r}");
    }
    assert!(
        v["gov_command"]
            .as_str()
            .is_some_and(|c| c.contains("keel gov propose") && c.contains("set-gas-schedule"))
    );
    // The written file is the proposal: a valid schedule one version above v1.
    let written: keel_vm::GasSchedule =
        serde_json::from_slice(&std::fs::read(&file).expect("proposal file")).expect("schedule");
    assert_eq!(written.validate(), Ok(()));
    assert_eq!(written.version, keel_vm::GasSchedule::v1().version + 1);
    assert_eq!(serde_json::to_value(&written).expect("json"), v["proposed"]);
}

#[test]
fn gas_calibrate_refuses_an_invalid_current_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.json");
    let mut s = keel_vm::GasSchedule::v1();
    s.instructions.simple = 0;
    std::fs::write(&file, serde_json::to_vec(&s).expect("json")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["gas", "calibrate", "--quick", "--current"])
        .arg(&file)
        .output()
        .expect("run keel");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a valid gas schedule"), "{stderr}");
}
