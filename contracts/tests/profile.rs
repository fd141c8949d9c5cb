//! Every contract fits Keel's integer-only Wasm profile and the `keel` host ABI.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeSet;

use common::header::keel_imports;
use common::module::Summary;
use keel_contracts::{Contract, all, get};
use wasmparser::{ExternalKind, ValType, Validator, WasmFeatures};

/// Exactly the features the profile admits: MVP integer ops plus sign-extension,
/// mutable-globals and multi-value. Leaving out FLOATS makes the validator reject every float
/// type and operator; leaving out the rest rejects SIMD, threads, bulk-memory, reference types.
fn profile() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL | WasmFeatures::SIGN_EXTENSION | WasmFeatures::MULTI_VALUE
}

const MAX_PAGES: u64 = 64;

fn validate(wasm: &[u8]) -> Result<(), String> {
    Validator::new_with_features(profile())
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn summary(c: &Contract) -> Summary {
    Summary::read(c.wasm).unwrap_or_else(|e| panic!("{}: {e}", c.name))
}

#[test]
fn every_contract_validates_under_the_integer_only_profile() {
    for c in all() {
        if let Err(e) = validate(c.wasm) {
            panic!("{} does not fit the profile: {e}", c.name);
        }
    }
}

#[test]
fn the_profile_rejects_floats_simd_and_bulk_memory() {
    let banned = [
        "(module (func (result f32) f32.const 1))",
        "(module (func (param i32) (result i32) local.get 0 f64.convert_i32_s i32.trunc_f64_s))",
        "(module (memory 1) (func i32.const 0 i32.const 0 i32.const 0 memory.copy))",
        "(module (func (result v128) v128.const i32x4 0 0 0 0))",
        "(module (memory 1 1 shared))",
        "(module (func (param externref)))",
        "(module (memory 1) (memory 1))",
    ];
    for text in banned {
        let wasm = wat::parse_str(text).unwrap();
        assert!(validate(&wasm).is_err(), "profile admitted {text}");
    }
    let admitted = "(module (global (mut i32) (i32.const 0)) \
                    (func (param i32) (result i32 i32) local.get 0 i32.extend8_s local.get 0))";
    validate(&wat::parse_str(admitted).unwrap()).unwrap();
}

#[test]
fn no_contract_contains_float_or_vector_types_or_operators() {
    for c in all() {
        let s = summary(c);
        assert!(
            s.float_or_vector_ops.is_empty(),
            "{}: {:?}",
            c.name,
            s.float_or_vector_ops
        );
        let all_types = s
            .types
            .iter()
            .flat_map(|(p, r)| p.iter().chain(r))
            .chain(&s.value_types);
        for ty in all_types {
            assert!(
                matches!(ty, ValType::I32 | ValType::I64),
                "{}: value type {ty:?}",
                c.name
            );
        }
    }
}

#[test]
fn every_contract_exports_exactly_its_entries_as_unit_functions() {
    for c in all() {
        let s = summary(c);
        let mut funcs = BTreeSet::new();
        for (name, kind, index) in &s.exports {
            match kind {
                ExternalKind::Func => {
                    let sig = s.func_sig(*index).unwrap();
                    assert!(
                        sig.0.is_empty() && sig.1.is_empty(),
                        "{}.{name} has type {sig:?}",
                        c.name
                    );
                    funcs.insert(name.as_str());
                }
                ExternalKind::Memory => assert_eq!(name, "memory", "{}", c.name),
                other => panic!("{} exports {name} of kind {other:?}", c.name),
            }
        }
        let entries: BTreeSet<&str> = c.entries.iter().copied().collect();
        assert_eq!(funcs, entries, "{}", c.name);
    }
}

#[test]
fn every_contract_has_one_bounded_memory_and_imports_only_keel_functions_from_the_header() {
    let abi = keel_imports();
    assert!(
        abi.len() >= 30,
        "parsed only {} imports from keel.h",
        abi.len()
    );
    for c in all() {
        let s = summary(c);
        assert!(
            s.other_imports.is_empty(),
            "{}: {:?}",
            c.name,
            s.other_imports
        );
        for (module, name, type_index) in &s.func_imports {
            assert_eq!(module, "keel", "{} imports {module}.{name}", c.name);
            let want = abi
                .get(name)
                .unwrap_or_else(|| panic!("{} imports unknown keel.{name}", c.name));
            assert_eq!(
                &s.types[*type_index as usize], want,
                "{}: signature of keel.{name}",
                c.name
            );
        }
        assert_eq!(s.memories.len(), 1, "{}", c.name);
        let memory = s.memories[0];
        assert!(!memory.memory64 && !memory.shared, "{}", c.name);
        assert!(
            memory.maximum.is_some_and(|max| max <= MAX_PAGES),
            "{}: {memory:?}",
            c.name
        );
    }
}

#[test]
fn every_source_file_is_listed_and_found_by_name() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut sources = BTreeSet::new();
    for (dir, ext) in [("c", "c"), ("wat", "wat")] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == ext) {
                let file = path.file_name().unwrap().to_str().unwrap();
                sources.insert(format!("{dir}/{file}"));
            }
        }
    }
    let listed: BTreeSet<String> = all().iter().map(|c| c.source.to_owned()).collect();
    assert_eq!(listed, sources);
    for c in all() {
        assert!(c.source.ends_with(&format!(
            "/{}.{}",
            c.name,
            if c.source.starts_with("c/") {
                "c"
            } else {
                "wat"
            }
        )));
        assert_eq!(get(c.name), Some(c));
    }
    assert_eq!(get("no-such-contract"), None);
}
