//! `keel chain beacon`: a final beacon with its VRF and VDF evidence, and the printed record
//! verified without any database (tampering with any part of it is caught).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

fn verify(record: &serde_json::Value, dir: &std::path::Path) -> std::process::Output {
    let file = dir.join("record.json");
    std::fs::write(&file, serde_json::to_string(record).unwrap()).unwrap();
    // A data directory that does not exist: the check must not need one.
    let none = dir.join("no-such-chain");
    keel(&[
        "chain",
        "beacon",
        "--verify",
        file.to_str().unwrap(),
        "--data",
        none.to_str().unwrap(),
        "--json",
    ])
}

/// `s` with its hex digit at `i` changed.
fn flip(v: &serde_json::Value, i: usize) -> serde_json::Value {
    let mut s: Vec<u8> = v.as_str().unwrap().bytes().collect();
    s[i] = if s[i] == b'0' { b'1' } else { b'0' };
    serde_json::Value::String(String::from_utf8(s).unwrap())
}

#[test]
fn chain_beacon_shows_a_final_height_and_its_record_verifies_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let d = data.to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "2"]));
    ok(&keel(&[
        "chain", "generate", "--data", d, "--blocks", "4", "--txs", "1",
    ]));

    // Default: the newest final height, head − lag = 2.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&keel(&["chain", "beacon", "--data", d, "--json"]))).unwrap();
    assert_eq!(shown["height"], 2);
    assert_eq!(shown["verified"], true, "{shown}");
    assert_eq!(shown["record"]["carried_in"], 4);
    let text = ok(&keel(&["chain", "beacon", "1", "--data", d]));
    assert!(text.contains("verified    yes"), "{text}");
    assert!(text.contains("vdf proof"), "{text}");
    // Height 3 is carried by block 5, which does not exist yet.
    let pending = keel(&["chain", "beacon", "3", "--data", d, "--json"]);
    assert_eq!(pending.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&pending.stdout).contains("\"final\":false"));

    let checked = verify(&shown, dir.path());
    let answer: serde_json::Value = serde_json::from_str(&ok(&checked)).unwrap();
    assert_eq!(answer["verified"], true);
    assert_eq!(answer["record"]["value"], shown["record"]["value"]);

    // Every part of the record is load-bearing.
    for (path, digit) in [
        (&["record", "vdf", "output"][..], 100),
        (&["record", "vdf", "proof"][..], 100),
        (&["record", "vrf", "proof"][..], 20),
        (&["record", "seed"][..], 5),
        (&["record", "value"][..], 5),
    ] {
        let mut bad = shown.clone();
        let mut at = &mut bad;
        for p in path {
            at = &mut at[*p];
        }
        *at = flip(at, digit);
        let out = verify(&bad, dir.path());
        assert_eq!(out.status.code(), Some(2), "{path:?}: {out:?}");
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["verified"], false, "{path:?}");
    }
    let mut late = shown.clone();
    late["record"]["carried_in"] = 5.into();
    assert_eq!(verify(&late, dir.path()).status.code(), Some(2));
}
