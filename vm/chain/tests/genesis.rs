//! Genesis is data: the pinned routine objects and certificates (`vm/chain/genesis/`), verified at
//! init by their hashes and the checker, give every machine the same genesis root; a tampered
//! pinned file stops init with a typed error; this machine's build is compared, never used.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use keel_chain::genesis::Genesis;
use keel_chain::genesis_routines::{
    self, GenesisError, GenesisRoutine, MANIFEST_FILE, PINNED_FILES,
};
use keel_chain::*;
use keel_crypto::SingleVerifier;
use std::path::Path;

fn demo() -> Genesis {
    keel_chain::genesis::demo(4, Amount::from_u128(10u128.pow(30))).unwrap()
}

fn init(dir: &Path, g: &Genesis) -> Result<Chain, ChainError> {
    Chain::init(dir, g, Box::new(SingleVerifier))
}

fn pinned_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("genesis")
}

/// Two data dirs get one genesis root (across processes with different certificate caches:
/// `appliance/tests/cli_genesis.rs`): init reads only the pinned files.
#[test]
fn two_data_dirs_initialised_from_the_pinned_genesis_get_one_root() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root_a = init(a.path(), &demo()).unwrap().head().unwrap();
    let root_b = init(b.path(), &demo()).unwrap().head().unwrap();
    assert_eq!(root_a, root_b);
    assert_eq!(root_a.0, 0);
}

#[test]
fn the_demo_genesis_activates_exactly_the_pinned_objects_and_certificates() {
    let g = demo();
    let (manifest, pinned) = keel_chain::genesis_pin::read_dir(&pinned_dir()).unwrap();
    assert_eq!(
        g.routines, pinned,
        "embedded files are the repository's files"
    );
    assert_eq!(manifest.routines.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let chain = init(dir.path(), &g).unwrap();
    for e in &manifest.routines {
        let h = chain
            .read(|a| governance::routine_history(a, e.spec.id))
            .unwrap();
        let v = h.active().unwrap();
        assert_eq!(v.object_hash, e.object_sha256, "{}", e.spec.name);
        assert_eq!(v.certificate_hash, e.certificate_sha256, "{}", e.spec.name);
        assert_eq!(v.worst_case_instructions, e.worst_case_instructions);
        assert_eq!(v.checker_rules, manifest.checker_rules);
    }
}

#[test]
fn every_file_of_the_pinned_directory_is_embedded_byte_for_byte() {
    let mut on_disk: Vec<String> = std::fs::read_dir(pinned_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = PINNED_FILES.iter().map(|(n, _)| n.to_string()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "PINNED_FILES must list vm/chain/genesis/"
    );
    for (name, bytes) in PINNED_FILES {
        assert_eq!(std::fs::read(pinned_dir().join(name)).unwrap(), *bytes);
    }
    assert!(PINNED_FILES.iter().any(|(n, _)| *n == MANIFEST_FILE));
}

#[test]
fn a_tampered_pinned_object_stops_init_with_a_typed_error() {
    let mut g = demo();
    g.routines[0].object[100] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    match init(dir.path(), &g) {
        Err(ChainError::Genesis(GenesisError::ObjectHash { id, .. })) => {
            assert_eq!(id, g.routines[0].spec.id)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("init accepted a tampered object"),
    }
}

#[test]
fn a_tampered_pinned_certificate_stops_init_with_a_typed_error() {
    let mut g = demo();
    let last = g.routines.len() - 1;
    let n = g.routines[last].certificate.len();
    g.routines[last].certificate[n / 2] ^= 0x10;
    let dir = tempfile::tempdir().unwrap();
    match init(dir.path(), &g) {
        Err(ChainError::Genesis(GenesisError::CertificateHash { id, .. })) => {
            assert_eq!(id, g.routines[last].spec.id)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("init accepted a tampered certificate"),
    }
}

#[test]
fn a_certificate_the_checker_refuses_stops_init_even_when_its_hash_is_repinned() {
    let g = demo();
    let modmul = g
        .routines
        .iter()
        .find(|r| r.spec.id == keel_ebpf_bridge::MODMUL_BLS12_381_FR)
        .unwrap();
    // A certificate for another routine's object: well-formed, pinned by its own hash, false.
    let sha = g.routines.iter().find(|r| r.spec.name == "sha256").unwrap();
    let wrong = GenesisRoutine::new(
        modmul.spec.clone(),
        modmul.object.clone(),
        sha.certificate.clone(),
    );
    let mut tampered = g.clone();
    tampered.routines = vec![wrong];
    let dir = tempfile::tempdir().unwrap();
    match init(dir.path(), &tampered) {
        Err(ChainError::Genesis(GenesisError::Checker { id, .. })) => {
            assert_eq!(id, keel_ebpf_bridge::MODMUL_BLS12_381_FR)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("init accepted a certificate the checker must refuse"),
    }
}

#[test]
fn a_pinned_manifest_that_names_a_missing_file_or_another_format_is_refused() {
    let manifest = std::fs::read(pinned_dir().join(MANIFEST_FILE)).unwrap();
    let only_manifest = |name: &str| (name == MANIFEST_FILE).then(|| manifest.clone());
    assert!(matches!(
        genesis_routines::from_files(&only_manifest),
        Err(GenesisError::MissingFile(_))
    ));
    let text = String::from_utf8(manifest.clone()).unwrap();
    let other = text
        .replacen("\"format\": 1", "\"format\": 99", 1)
        .into_bytes();
    let other_format = |name: &str| (name == MANIFEST_FILE).then(|| other.clone());
    assert!(matches!(
        genesis_routines::from_files(&other_format),
        Err(GenesisError::Manifest(_))
    ));
}

/// This machine's build is compared with the pinned objects and differences are reported, never
/// used. The manifests (ids, lengths, gas) must agree: a changed bridge manifest needs a re-pin.
#[test]
fn this_machines_build_is_compared_with_the_pinned_objects_and_differences_are_reported() {
    let pinned = GenesisRoutine::pinned().unwrap();
    let report = keel_chain::genesis_pin::compare_local_build(&pinned);
    assert_eq!(report.len(), pinned.len());
    for c in &report {
        assert!(
            c.spec_matches,
            "routine {} ({}): the bridge's manifest differs from the pinned spec; re-pin with \
             `keel chain genesis-pin --out vm/chain/genesis`",
            c.id, c.name
        );
        assert!(c.local_sha256.is_some(), "{} is not built here", c.name);
        if !c.identical() {
            eprintln!(
                "WARNING: this machine builds {} as {}, the pinned object is {} (the chain uses \
                 the pinned one)",
                c.name,
                c.local_sha256.as_deref().unwrap_or("-"),
                hex::encode(c.pinned_sha256)
            );
        }
    }
}
