//! `keel bench peers`: every macro workload's Solidity port runs on revm and keeps the same
//! invariant Keel's contract keeps; the report has every row measured (Keel's tiers, revm,
//! the fuel-metered wasmtime baseline) with each system's gas accuracy, and no MoveVM row.
//! Tiny transaction counts: correctness, not speed.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_bench::evm_ports::{EvmDeployed, port};
use keel_bench::peers::code_lines;
use keel_bench::workloads;
use std::process::Command;

#[test]
fn every_macro_workload_keeps_its_invariant_on_revm() {
    for w in workloads::macros() {
        assert!(port(w.name).is_some(), "{} has no Solidity port", w.name);
        let mut d = EvmDeployed::new(w).unwrap();
        let outputs: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                d.run_tx(i)
                    .unwrap_or_else(|e| panic!("{} tx {i}: {e}", w.name))
                    .output
            })
            .collect();
        d.check(&outputs)
            .unwrap_or_else(|e| panic!("{} on revm: {e}", w.name));
        // The check is not vacuous on revm either: two transactions fewer do not match.
        assert!(d.check(&outputs[..38]).is_err(), "{}", w.name);
    }
}

#[test]
fn code_lines_skip_blanks_and_comments() {
    assert_eq!(code_lines("// a\n\n/* b\n * c\n */\nint x;\n  y = 1;\n"), 2);
}

#[test]
fn peers_json_has_every_row_measured_and_every_system_in_the_accuracy() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel-bench"))
        .args(["peers", "--txs", "10", "--warmup", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let systems = ["keel-wasmi", "keel-wasmtime", "revm", "wasmtime-fuel"];
    assert_eq!(rows.len(), workloads::macros().len() * systems.len());
    for r in rows {
        assert!(systems.contains(&r["system"].as_str().unwrap()), "{r}");
        let measured = ["tx_per_s", "p50_us", "p99_us", "gas_per_tx", "ns_per_gas"]
            .iter()
            .all(|k| r[k].as_f64().is_some_and(|x| x > 0.0));
        assert!(measured, "{r}");
        assert!(r.get("unavailable").is_none(), "{r}");
        assert!(r["contract_lines"].as_u64().unwrap() > 0, "{r}");
    }
    let accuracy = v["accuracy"].as_array().unwrap();
    for system in systems {
        let a = accuracy.iter().find(|a| a["system"] == system).unwrap();
        assert_eq!(a["workloads"], workloads::macros().len(), "{a}");
        assert!(a["cv"].as_f64().is_some_and(f64::is_finite), "{a}");
    }
    assert!(
        !rows
            .iter()
            .any(|r| r["system"].as_str().unwrap().contains("move"))
    );
    assert!(v["notes"][0].as_str().unwrap().starts_with("MoveVM"));
}
