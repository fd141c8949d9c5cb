//! The benchmark suite: every workload runs correctly (its invariant holds) on both Keel
//! tiers, the invariants catch a wrong execution, and the report has every row filled or
//! marked unavailable with a reason. Tiny transaction counts: correctness, not speed.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_bench::counters::CounterSet;
use keel_bench::suite::{self, TIERS};
use keel_bench::vm_run::{Deployed, RunError};
use keel_bench::workloads::{self, Domain};
use std::process::Command;

#[test]
fn every_workload_keeps_its_invariant_on_both_tiers() {
    let mut counters = CounterSet::open();
    for w in workloads::all() {
        for tier in TIERS {
            let row = suite::measure(w, tier, 40, 8, &mut counters)
                .unwrap_or_else(|e| panic!("{} on {}: {e}", w.name, tier.1));
            assert!(row.gas.compute > 0.0, "{} on {}", w.name, tier.1);
            assert_eq!(row.on_jit, tier.1 == "wasmtime", "{} on {}", w.name, tier.1);
        }
    }
}

#[test]
fn the_suite_covers_defi_gaming_token_and_micro_rows() {
    let names: Vec<_> = workloads::all().iter().map(|w| w.name).collect();
    for n in [
        "amm_swap",
        "lending",
        "game_moves",
        "nft_mint_transfer",
        "token_transfer",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
    for d in [Domain::Defi, Domain::Gaming, Domain::Token, Domain::Micro] {
        assert!(workloads::all().iter().any(|w| w.domain == d), "{d:?}");
    }
    assert!(suite::select(&["nope".into()]).is_err());
}

#[test]
fn invariants_reject_outputs_the_contract_did_not_produce() {
    for w in workloads::macros() {
        let mut d = Deployed::new(w, TIERS[0].0).unwrap();
        let mut outputs: Vec<Vec<u8>> = (0..20).map(|i| d.tx(i).unwrap().output).collect();
        d.check(&outputs).unwrap();
        // One transaction fewer than ran: the state no longer matches what the outputs claim.
        outputs.truncate(18);
        match d.check(&outputs) {
            Err(RunError::Check { .. }) => {}
            other => panic!(
                "{}: a missing transaction went unnoticed: {other:?}",
                w.name
            ),
        }
    }
}

#[test]
fn suite_json_has_every_row_filled_or_marked_unavailable() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel-bench"))
        .args(["suite", "--txs", "10", "--warmup", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), workloads::all().len() * TIERS.len());
    for r in rows {
        for k in ["tx_per_s", "p50_us", "p99_us", "ns_per_compute_gas"] {
            assert!(r[k].as_f64().unwrap() > 0.0, "{k}: {r}");
        }
        for (k, c) in r["counters"].as_object().unwrap() {
            let filled =
                c.as_f64().is_some() || c["unavailable"].as_str().is_some_and(|s| !s.is_empty());
            assert!(filled, "counter {k}: {c}");
        }
    }
    let acc = v["accuracy"].as_array().unwrap();
    assert_eq!(acc.len(), TIERS.len());
    for a in acc {
        assert!(a["cv"].as_f64().unwrap() >= 0.0);
        assert_eq!(
            a["workloads"].as_u64().unwrap() as usize,
            workloads::all().len()
        );
    }
}
