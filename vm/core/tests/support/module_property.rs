// The admission + instrumentation property, shared by `tests/instrumentation_property.rs`
// (proptest, runs in CI) and the cargo-fuzz target `fuzz/fuzz_targets/admission.rs`.
//
// For any bytes: admission never panics. For any module it admits: the instrumented module
// validates, and calling every entry point with a small gas budget returns (a result or a trap)
// without panicking the host, with compute gas never above the limit.

use keel_vm::{CallRequest, GasSchedule, GasVector, MemoryState, Profile, Vm};

/// A module importing every `keel` host function, offered to wasm-smith as its import menu.
pub fn keel_imports_module() -> Vec<u8> {
    use wasm_encoder::{EntityType, ImportSection, Module, TypeSection, ValType};
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    // Only what a module without a manifest may import (calls need a declared capability).
    let default = keel_vm::Manifest::legacy_default();
    let allowed = keel_vm::abi::HOST_FUNCTIONS
        .iter()
        .filter(|s| keel_vm::Manifest::required_for(s.func).is_none_or(|c| default.grants(c)));
    for (i, spec) in allowed.enumerate() {
        let conv = |t: &keel_vm::abi::Ty| match t {
            keel_vm::abi::Ty::I32 => ValType::I32,
            keel_vm::abi::Ty::I64 => ValType::I64,
        };
        types
            .ty()
            .function(spec.params.iter().map(conv), spec.results.iter().map(conv));
        imports.import("keel", spec.name, EntityType::Function(i as u32));
    }
    let mut m = Module::new();
    m.section(&types).section(&imports);
    m.finish()
}

/// wasm-smith settings inside the profile (so most modules are admitted and actually run).
pub fn profile_config(imports: Vec<u8>) -> wasm_smith::Config {
    wasm_smith::Config {
        available_imports: Some(imports),
        allow_start_export: false,
        allow_floats: false,
        bulk_memory_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        memory64_enabled: false,
        multi_value_enabled: true,
        reference_types_enabled: false,
        relaxed_simd_enabled: false,
        saturating_float_to_int_enabled: false,
        simd_enabled: false,
        tail_call_enabled: false,
        threads_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        compact_imports_enabled: false,
        max_memories: 1,
        max_tables: 1,
        max_memory32_bytes: 16 * 65536,
        max_table_elements: 100,
        max_funcs: 20,
        max_instructions: 200,
        export_everything: true,
        ..wasm_smith::Config::default()
    }
}

/// Checks the property for one module; returns whether it was admitted.
pub fn check_module(vm: &Vm, bytes: &[u8]) -> bool {
    let profile: &Profile = &vm.config().profile;
    let Ok(module) = keel_vm::admit(bytes, profile) else {
        return false;
    };
    let inst = keel_vm::metering::instrument(&module, &GasSchedule::v1(), profile)
        .expect("an admitted module always instruments");
    let mut v = wasmparser::Validator::new_with_features(Profile::wasm_features());
    if let Err(e) = v.validate_all(&inst.bytes) {
        panic!("instrumented module does not validate: {e}");
    }
    let prepared = vm
        .prepare(bytes)
        .expect("an admitted module always compiles");
    let limits = GasVector {
        compute: 200_000,
        storage_bytes: 4096,
        memory_pages: 16,
        bandwidth: 4096,
    };
    for entry in prepared.entries.keys() {
        let req = CallRequest {
            entry: entry.clone(),
            input: vec![1, 2, 3],
            limits,
            ..CallRequest::default()
        };
        let out = vm
            .call_prepared(&prepared, req, Box::new(MemoryState::default()))
            .expect("in-memory state never fails");
        assert!(out.gas_used.compute <= limits.compute);
        if let Err(keel_vm::Trap::EngineLimit { message }) = &out.result {
            panic!("engine limit reached before Keel's deterministic limits: {message}");
        }
    }
    true
}
