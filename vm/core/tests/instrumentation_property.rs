//! Property: admission never panics; admitted modules instrument into valid Wasm and run on the
//! VM without panicking the host (the fuzz target in `fuzz/` explores the same property longer).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "support/module_property.rs"]
mod property;

use arbitrary::Unstructured;
use keel_vm::{Vm, VmConfig};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_profile_modules_are_admitted_instrumented_and_run_safely(seed in prop::collection::vec(any::<u8>(), 64..4096)) {
        let vm = Vm::new(VmConfig::default()).unwrap();
        let config = property::profile_config(property::keel_imports_module());
        let mut u = Unstructured::new(&seed);
        if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
            property::check_module(&vm, &m.to_bytes());
        }
    }

    #[test]
    fn arbitrary_wasm_features_never_panic_admission(seed in prop::collection::vec(any::<u8>(), 64..4096)) {
        let vm = Vm::new(VmConfig::default()).unwrap();
        let mut u = Unstructured::new(&seed);
        if let Ok(m) = wasm_smith::Module::new(wasm_smith::Config::default(), &mut u) {
            property::check_module(&vm, &m.to_bytes());
        }
    }

    #[test]
    fn random_bytes_never_panic_admission(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let vm = Vm::new(VmConfig::default()).unwrap();
        let mut with_header = b"\0asm\x01\0\0\0".to_vec();
        with_header.extend_from_slice(&bytes);
        property::check_module(&vm, &bytes);
        property::check_module(&vm, &with_header);
    }
}

#[test]
fn most_profile_shaped_random_modules_are_admitted() {
    // Guards the property above against testing nothing: the generator must mostly produce
    // modules that pass admission and actually run.
    let vm = Vm::new(VmConfig::default()).unwrap();
    let config = property::profile_config(property::keel_imports_module());
    let mut admitted = 0;
    for seed in 0u64..60 {
        let bytes: Vec<u8> = (0..2048u64)
            .map(|i| {
                (seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(i.wrapping_mul(1442695040888963407))
                    >> 33) as u8
            })
            .collect();
        let mut u = Unstructured::new(&bytes);
        if let Ok(m) = wasm_smith::Module::new(config.clone(), &mut u)
            && property::check_module(&vm, &m.to_bytes())
        {
            admitted += 1;
        }
    }
    assert!(
        admitted >= 30,
        "only {admitted}/60 generated modules were admitted"
    );
}
