//! The "WASM-based chains" baseline: every macro workload runs on fuel-metered wasmtime and
//! keeps its invariant, every transaction burns fuel, and the fuel of each transaction is the
//! same in two independent deployments. Tiny transaction counts: correctness, not speed.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_bench::fuel::{self, HOST_CALL_FUEL};
use keel_bench::workloads;

/// Outputs and fuel of transactions `0..n` on a fresh deployment of `w`.
fn run(w: &'static workloads::Workload, n: u32) -> (Vec<Vec<u8>>, Vec<u64>) {
    let mut d = fuel::deploy(w).unwrap();
    let (mut outputs, mut fuel) = (Vec::new(), Vec::new());
    for i in 0..n {
        let s = d.tx(i).unwrap_or_else(|e| panic!("{} tx {i}: {e}", w.name));
        outputs.push(s.output);
        fuel.push(s.gas.compute);
    }
    d.check(&outputs)
        .unwrap_or_else(|e| panic!("{} on wasmtime-fuel: {e}", w.name));
    // The check is not vacuous here either: two transactions fewer do not match.
    assert!(
        d.check(&outputs[..outputs.len() - 2]).is_err(),
        "{}",
        w.name
    );
    (outputs, fuel)
}

#[test]
fn every_macro_workload_keeps_its_invariant_with_deterministic_fuel() {
    for w in workloads::macros() {
        let (outputs, fuel) = run(w, 24);
        // Every transaction makes at least one host call (its input) and runs some code.
        assert!(
            fuel.iter().all(|&f| f > HOST_CALL_FUEL),
            "{}: {fuel:?}",
            w.name
        );
        let (again, fuel_again) = run(w, 24);
        assert_eq!(outputs, again, "{}", w.name);
        assert_eq!(fuel, fuel_again, "{}: fuel differs between runs", w.name);
    }
}

#[test]
fn a_measured_row_reports_fuel_per_transaction() {
    let w = workloads::get("token_transfer").unwrap();
    let m = fuel::measure(w, 8, 2).unwrap();
    let (_, fuel) = run(w, 10);
    let mean = fuel[2..].iter().sum::<u64>() as f64 / 8.0;
    assert_eq!(m.gas_per_tx, mean);
    assert!(m.tx_per_s > 0.0 && m.p50_us > 0.0 && m.p99_us >= m.p50_us && m.ns_per_gas > 0.0);
}
