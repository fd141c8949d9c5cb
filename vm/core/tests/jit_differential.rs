//! Differential property: wasmi and wasmtime agree on every profile-shaped random module
//! (return, trap kind and offset, gas vector, memory contents, storage writes). Bounded for CI;
//! `fuzz/fuzz_targets/jit_differential.rs` explores the same property for as long as wanted.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "support/differential.rs"]
mod differential;
#[path = "support/module_property.rs"]
#[allow(dead_code)]
mod property;

use arbitrary::Unstructured;
use proptest::prelude::*;
use std::sync::OnceLock;

fn tiers() -> &'static differential::Tiers {
    static T: OnceLock<differential::Tiers> = OnceLock::new();
    T.get_or_init(differential::Tiers::new)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn wasmi_and_wasmtime_agree_on_random_profile_modules(
        seed in prop::collection::vec(any::<u8>(), 64..4096),
        gas in prop_oneof![Just(0u64), 1u64..5_000, Just(200_000u64)],
    ) {
        let config = differential::config(property::profile_config(property::keel_imports_module()));
        let mut u = Unstructured::new(&seed);
        if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
            differential::check_module(tiers(), &m.to_bytes(), gas);
        }
    }
}
