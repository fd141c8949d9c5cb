//! `keel state check` on a healthy data directory and on copies with bytes flipped where an
//! account value (or its leaf's value hash) sits in `state.redb`; and the refusal to serve them.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests fail loudly by design

mod common;

use common::{keel, ok};
use sha2::Digest;
use std::path::Path;

/// A fresh chain and the raw bytes of its first account's value.
fn chain(root: &Path) -> (String, Vec<u8>, String) {
    let data = root.join("c");
    let d = data.to_str().unwrap().to_owned();
    ok(&keel(&["chain", "init", "--data", &d, "--accounts", "2"]));
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("keystore.json")).unwrap()).unwrap();
    let key = format!("account:{}", keys[0]["address"].as_str().unwrap());
    let proof: serde_json::Value = serde_json::from_str(&ok(&keel(&[
        "state", "proof", &key, "--data", &d, "--json",
    ])))
    .unwrap();
    let value = hex::decode(proof["value"].as_str().unwrap()).unwrap();
    (d, value, key)
}

/// Copies `from` to `to`, flipping one byte inside every copy of `needle` in `state.redb`.
fn corrupt_copy(from: &str, to: &Path, needle: &[u8]) {
    copy_dir(Path::new(from), to);
    let file = to.join("state.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert!(!hits.is_empty(), "the needle is not in the file");
    for i in hits {
        bytes[i + needle.len() / 2] ^= 0x04;
    }
    std::fs::write(&file, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn check_json(d: &str) -> (Option<i32>, serde_json::Value) {
    let out = keel(&["state", "check", "--data", d, "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code(), report)
}

#[test]
fn a_healthy_data_dir_checks_clean_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, _) = chain(dir.path());
    let (code, json) = check_json(&d);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["verdict"], "ok");
    assert!(json["report"]["keys_checked"].as_u64().unwrap() > 0);
    assert!(json["report"]["nodes_checked"].as_u64().unwrap() > 0);
    let text = ok(&keel(&["state", "check", "--data", &d]));
    assert!(text.contains("state intact"), "{text}");
}

#[test]
fn a_flipped_value_byte_is_reported_by_key_and_no_read_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (d, value, key) = chain(dir.path());
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&d).join("keystore.json")).unwrap())
            .unwrap();
    let to = keys[1]["address"].as_str().unwrap();
    let tx = ok(&keel(&[
        "tx", "sign", "--data", &d, "--from", "0", "--to", to, "--amount", "1",
    ]));
    let bad = dir.path().join("bad");
    corrupt_copy(&d, &bad, &value);
    let b = bad.to_str().unwrap();
    // Executing a block over the damaged balance stops the node instead of committing.
    let sent = keel(&["tx", "send", "--data", b, tx.trim()]);
    assert_eq!(sent.status.code(), Some(1), "{sent:?}");
    let head = ok(&keel(&["chain", "status", "--data", b]));
    assert!(head.contains("height 0"), "{head}");
    let (code, json) = check_json(b);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["verdict"], "damaged");
    let raw_key = key.trim_start_matches("account:");
    let listed = json["report"]["problems"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|p| p["key"].as_str().unwrap_or_default().ends_with(raw_key)),
        "{json}"
    );
    // The damaged value is never served: the read fails and names the check.
    let get = keel(&["state", "get", &key, "--data", b]);
    assert_eq!(get.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&get.stderr).contains("keel state check"));
}

#[test]
fn a_flipped_leaf_hash_makes_open_refuse_and_the_check_find_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let (d, value, _) = chain(dir.path());
    let bad = dir.path().join("bad");
    corrupt_copy(&d, &bad, &sha2::Sha256::digest(&value));
    let b = bad.to_str().unwrap();
    let status = keel(&["chain", "status", "--data", b]);
    assert_eq!(status.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("refusing to serve it"), "{stderr}");
    assert!(stderr.contains("keel state check"), "{stderr}");
    let (code, json) = check_json(b);
    assert_eq!(code, Some(1), "{json}");
    let listed = json["report"]["problems"].as_array().unwrap();
    assert!(listed.iter().any(|p| p["kind"] == "node"), "{json}");
}

#[test]
fn a_missing_data_dir_cannot_be_checked_and_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none");
    let (code, json) = check_json(none.to_str().unwrap());
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(json["verdict"], "error");
}
