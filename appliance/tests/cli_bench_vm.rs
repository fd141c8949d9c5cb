//! `keel bench vm --json`: both tiers metered and unmetered, wasmtime's own fuel for
//! reference, and the JIT's one-off costs, on every workload.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

#[test]
fn bench_vm_reports_both_tiers_and_the_fuel_reference_on_every_workload() {
    let out = ok(&keel(&[
        "bench", "vm", "--json", "--rounds", "1", "--scale", "0.01",
    ]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["bench"], "vm");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{report}");
    let positive = |r: &serde_json::Value, k: &str| {
        assert!(r[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {r}");
    };
    for r in rows {
        for k in [
            "metered_ms",
            "wasmtime_metered_ms",
            "wasmtime_speedup",
            "compile_ms",
            "cached_load_ms",
            "cached_read_ms",
            "instantiate_ms",
            "cached_start_pct",
        ] {
            positive(r, k);
        }
        // The read is one part of the load, and the share is the phases' own ratio.
        let f = |k: &str| r[k].as_f64().unwrap();
        assert!(f("cached_read_ms") <= f("cached_load_ms"), "{r}");
        let pct = 100.0 * (f("cached_load_ms") + f("instantiate_ms")) / f("compile_ms");
        assert!(
            (f("cached_start_pct") - pct).abs() <= 1e-6 * pct.max(1.0),
            "{r}"
        );
        assert!(r["gas_compute"].as_u64().unwrap() > 0, "{r}");
        // Only the workload that ends when its gas does has no unmetered side.
        let spin = r["unmetered_ms"].is_null();
        for k in [
            "wasmtime_unmetered_ms",
            "wasmtime_metering_ratio",
            "wasmtime_fuel_ratio",
        ] {
            if spin {
                assert!(r[k].is_null(), "{k}: {r}");
            } else {
                positive(r, k);
            }
        }
    }
    assert_eq!(
        rows.iter().filter(|r| r["unmetered_ms"].is_null()).count(),
        1
    );
}
