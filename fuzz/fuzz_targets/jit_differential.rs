//! wasmi ⇄ wasmtime differential on profile-shaped random modules: see
//! `vm/core/tests/support/differential.rs` for the property (return, trap kind and offset,
//! gas vector, memory contents, storage writes). The first byte picks the gas budget, so
//! out-of-gas traps land everywhere in the code.
#![no_main]

#[path = "../../vm/core/tests/support/module_property.rs"]
#[allow(dead_code)]
mod property;
#[path = "../../vm/core/tests/support/differential.rs"]
mod differential;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static TIERS: OnceLock<differential::Tiers> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let tiers = TIERS.get_or_init(differential::Tiers::new);
    let Some((&g, rest)) = data.split_first() else {
        return;
    };
    let gas = u64::from(g).saturating_mul(u64::from(g)).saturating_mul(40);
    let config = differential::config(property::profile_config(property::keel_imports_module()));
    let mut u = arbitrary::Unstructured::new(rest);
    if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
        differential::check_module(tiers, &m.to_bytes(), gas);
    }
});
