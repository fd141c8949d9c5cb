//! The genesis routines are pinned data: `keel chain init` on machines with different
//! certificate caches gives one genesis root, and `keel chain genesis-check` verifies the pinned
//! files and reports how this machine's build differs.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::ok;
use std::path::Path;
use std::process::{Command, Output};

/// `keel chain init` as on a machine whose `$HOME` and certificate cache are `home`.
fn init_on_machine(home: &Path, data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["chain", "init", "--data", data.to_str().unwrap()])
        .env("HOME", home)
        .env("KEEL_CERT_CACHE", home.join("certificates"))
        .output()
        .unwrap();
    let stdout = ok(&out);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("height 0, state root "))
        .unwrap()
        .to_string()
}

fn genesis_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["chain", "genesis-check"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn init_on_two_machines_with_different_certificate_caches_gives_one_genesis_root() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root_a = init_on_machine(a.path(), &a.path().join("data"));
    // Machine B's cache remembers a refusal for every certificate machine A may have cached
    // (as a cache from an older certifier would): genesis must not depend on it.
    let cache_b = b.path().join("certificates");
    std::fs::create_dir_all(&cache_b).unwrap();
    if let Ok(entries) = std::fs::read_dir(a.path().join("certificates")) {
        for e in entries {
            let name = e.unwrap().file_name().into_string().unwrap();
            if let Some(key) = name.strip_suffix(".cert") {
                std::fs::write(cache_b.join(format!("{key}.refused")), "refused").unwrap();
            }
        }
    }
    let root_b = init_on_machine(b.path(), &b.path().join("data"));
    assert_eq!(root_a, root_b);
    assert!(
        !a.path().join("certificates").exists(),
        "init writes no certificate cache"
    );
}

#[test]
fn genesis_check_verifies_the_pinned_routines_and_compares_this_machines_build() {
    let out = genesis_check(&["--json"]);
    // 0: this build's objects are the pinned ones; 2: they differ (reported, not used).
    assert!(matches!(out.status.code(), Some(0 | 2)), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"].as_array().unwrap().len(), 4);
    assert_eq!(v["checker_rules"], 1);
    let identical = v["local_build"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["spec_matches"] == true && c["local_sha256"] == c["pinned_sha256"]);
    assert_eq!(v["identical"], identical);
    assert_eq!(out.status.code(), Some(if identical { 0 } else { 2 }));
}

#[test]
fn genesis_check_refuses_a_pinned_directory_with_a_tampered_certificate() {
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vm/chain/genesis");
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&pinned).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    let dir = copy.path().to_str().unwrap();
    ok(&genesis_check(&["--dir", dir]));
    let cert = copy.path().join("keccak256.cert");
    let mut bytes = std::fs::read(&cert).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&cert, bytes).unwrap();
    let out = genesis_check(&["--dir", dir]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keccak256") && stderr.contains("certificate sha256"),
        "{stderr}"
    );
}
