//! `keel bench crypto --json`: a row for every primitive, with gas where contracts pay it.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

#[test]
fn bench_crypto_reports_every_primitive_and_gas_only_for_host_functions() {
    let out = ok(&keel(&["bench", "crypto", "--json", "--rounds", "1"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let of = |p: &str| -> Vec<&serde_json::Value> {
        rows.iter().filter(|r| r["primitive"] == p).collect()
    };
    for p in ["poseidon", "groth16", "bls", "randomness", "wasm"] {
        assert!(!of(p).is_empty(), "no {p} row");
        for r in of(p) {
            assert!(r["gas_per_call"].as_u64().unwrap() > 0, "{r}");
            assert!(r["us_per_call"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    let price = keel_vm::GasSchedule::v1().host_cost(keel_vm::HostFn::Randomness, 0);
    assert!(of("randomness")[0]["gas_per_call"].as_u64().unwrap() >= price);
    // The VRF and VDF are block validation and node-local work: timed, never charged.
    for p in ["vrf", "vdf"] {
        let r = of(p);
        assert_eq!(r.len(), if p == "vrf" { 2 } else { 4 }, "{p}");
        for r in r {
            assert!(r["gas_per_call"].is_null(), "{r}");
            assert!(r["us_per_call"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    let cases: Vec<&str> = of("vdf")
        .iter()
        .map(|r| r["case"].as_str().unwrap())
        .collect();
    assert!(
        cases[0].starts_with("evaluate") && cases[1].starts_with("verify"),
        "{cases:?}"
    );
}
