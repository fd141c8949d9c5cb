//! Differential property: wasmi and wasmtime agree on every profile-shaped random module
//! (return, trap kind and offset, gas vector, memory contents, storage writes). Bounded for CI;
//! `./x fuzz-differential MINUTES` runs the same property as a long campaign from fresh random
//! seeds (the ignored `campaign` test below), and `fuzz/fuzz_targets/jit_differential.rs`
//! explores it under cargo-fuzz for as long as wanted.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "support/differential.rs"]
mod differential;
#[path = "support/module_property.rs"]
#[allow(dead_code)]
mod property;

use arbitrary::Unstructured;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn tiers() -> &'static differential::Tiers {
    static T: OnceLock<differential::Tiers> = OnceLock::new();
    T.get_or_init(differential::Tiers::new)
}

/// The property for one wasm-smith seed: both tiers agree on every entry of the module.
fn check_seed(seed: &[u8], gas: u64) {
    let config = differential::config(property::profile_config(property::keel_imports_module()));
    let mut u = Unstructured::new(seed);
    if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
        differential::check_module(tiers(), &m.to_bytes(), gas);
    }
}

/// Gas budgets: none, a trap somewhere early, and enough to finish most modules.
fn gas() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..5_000, 5_000u64..200_000, Just(200_000u64)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn wasmi_and_wasmtime_agree_on_random_profile_modules(
        seed in prop::collection::vec(any::<u8>(), 64..4096),
        gas in gas(),
    ) {
        check_seed(&seed, gas);
    }
}

/// Environment variable giving the campaign's length in minutes (`./x fuzz-differential`).
const CAMPAIGN_MINUTES: &str = "KEEL_FUZZ_MINUTES";

/// The long campaign: the CI property from fresh OS-random seeds, in rounds of 256 cases,
/// until `KEEL_FUZZ_MINUTES` have passed. A divergence fails with proptest's shrunk input and
/// the round's RNG seed (rerun it with `PROPTEST_RNG_SEED`).
#[test]
#[ignore = "a long campaign: run it with ./x fuzz-differential MINUTES"]
fn campaign() {
    let minutes: u64 = std::env::var(CAMPAIGN_MINUTES)
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1);
    let until = Instant::now() + Duration::from_secs(minutes.saturating_mul(60));
    let (mut rounds, mut cases) = (0u64, 0u64);
    while Instant::now() < until {
        let rng_seed: [u8; 32] = rand::random();
        let config = Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let strategy = (prop::collection::vec(any::<u8>(), 64..16_384), gas());
        let outcome = runner.run(&strategy, |(seed, gas)| {
            check_seed(&seed, gas);
            Ok(())
        });
        if let Err(e) = outcome {
            panic!(
                "divergence after {cases} cases (round rng seed {}): {e}",
                hex_seed(&rng_seed)
            );
        }
        rounds += 1;
        cases += 256;
        eprintln!("campaign: {rounds} rounds, {cases} cases, no divergence");
    }
    println!("campaign: {cases} cases in {minutes} min, wasmi and wasmtime agreed on all");
}

fn hex_seed(seed: &[u8]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}
