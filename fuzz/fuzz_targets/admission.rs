//! Admission + instrumentation + execution on random modules: see
//! `vm/core/tests/support/module_property.rs` for the property.
#![no_main]

#[path = "../../vm/core/tests/support/module_property.rs"]
mod property;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static VM: OnceLock<keel_vm::Vm> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let vm = VM.get_or_init(|| keel_vm::Vm::new(keel_vm::VmConfig::default()).expect("vm"));
    // Half the inputs are raw bytes, half become profile-shaped modules.
    match data.split_first() {
        Some((0, rest)) => {
            property::check_module(vm, rest);
        }
        _ => {
            let config = property::profile_config(property::keel_imports_module());
            let mut u = arbitrary::Unstructured::new(data);
            if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
                property::check_module(vm, &m.to_bytes());
            }
        }
    }
});
