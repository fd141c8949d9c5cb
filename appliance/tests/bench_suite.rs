//! `keel bench suite` end to end on a tiny run: the workload rows of both tiers, the host rows
//! marked skipped when asked, and the HTML page with its plots.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::process::Command;

/// Runs `keel` with `args`, which must succeed, and parses its standard output as JSON.
fn keel_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_suite_reports_both_tiers_as_json_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("suite.html");
    let html_arg = html.to_str().unwrap();
    let v = keel_json(&[
        "bench",
        "suite",
        "--workloads",
        "storage_rw,lending",
        "--txs",
        "5",
        "--warmup",
        "1",
        "--no-host-rows",
        "--json",
        "--html",
        html_arg,
    ]);
    assert_eq!(v["bench"], "suite");
    let rows = v["rows"].as_array().unwrap();
    let tiers: Vec<_> = rows.iter().map(|r| r["tier"].as_str().unwrap()).collect();
    assert_eq!(tiers, ["wasmi", "wasmtime", "wasmi", "wasmtime"]);
    assert!(
        v["crypto"]["unavailable"]
            .as_str()
            .unwrap()
            .contains("skipped")
    );
    assert_eq!(v["accuracy"].as_array().unwrap().len(), 2);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("lending") && page.matches("<svg").count() == 2,
        "{page}"
    );
}

#[test]
fn bench_suite_rejects_an_unknown_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "suite", "--workloads", "nope", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload"));
}

/// `keel bench exec` on a tiny block: one row per workload, conflict rate and thread count,
/// each with its rollback counts. On one thread the committer runs every transaction itself.
#[test]
fn bench_exec_reports_each_row_with_its_rollback_counts() {
    let v = keel_json(&[
        "bench",
        "exec",
        "--txs",
        "24",
        "--rounds",
        "3",
        "--threads",
        "1,2",
        "--conflict",
        "0,100",
        "--workloads",
        "native,token",
        "--json",
    ]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "{v}");
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert!(f("speedup") > 0.0, "{r}");
        let range = |i: usize| r["speedup_range"][i].as_f64().unwrap();
        assert!(range(0) <= f("speedup") && f("speedup") <= range(1), "{r}");
        assert!(f("incarnations_per_tx") >= 1.0, "{r}");
        assert!(
            f("committer_runs_per_tx") <= f("incarnations_per_tx"),
            "{r}"
        );
        if r["threads"] == 1 {
            assert_eq!(f("committer_runs_per_tx"), 1.0, "{r}");
            assert_eq!(f("aborts_per_tx"), 0.0, "{r}");
        }
    }
}
