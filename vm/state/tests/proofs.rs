//! Inclusion and exclusion proofs: they verify without the database, and any tampering fails.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_state::keys::{account_key, storage_key};
use keel_state::{RootHash, StateDb, StateProof, WriteSet, verify_proof};

fn populated() -> (tempfile::TempDir, StateDb, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let keys: Vec<Vec<u8>> = (0u8..60)
        .map(|i| {
            if i % 3 == 0 {
                storage_key(&[i; 32], b"slot")
            } else {
                account_key(&[i; 32])
            }
        })
        .collect();
    // v0: every even key; v1: odd keys added, multiples of 4 deleted; v2: empty block.
    let v0: WriteSet = keys
        .iter()
        .step_by(2)
        .map(|k| (k.clone(), Some(k[..4].to_vec())))
        .collect();
    let mut v1 = WriteSet::new();
    for (i, k) in keys.iter().enumerate() {
        if i % 2 == 1 {
            v1.insert(k.clone(), Some(vec![i as u8; 40]));
        } else if i % 4 == 0 {
            v1.insert(k.clone(), None);
        }
    }
    db.commit_block(0, v0).unwrap();
    db.commit_block(1, v1).unwrap();
    db.commit_block(2, WriteSet::new()).unwrap();
    (dir, db, keys)
}

#[test]
fn every_key_has_a_verifying_inclusion_or_exclusion_proof_at_every_version() {
    let (_dir, db, keys) = populated();
    let never_written = [account_key(&[200; 32]), b"".to_vec(), b"unrelated".to_vec()];
    for version in 0..=2 {
        let root = db.root(version).unwrap();
        let mut included = 0;
        for key in keys.iter().chain(&never_written) {
            let (value, proof) = db.prove(key, version).unwrap();
            assert_eq!(value, db.get_at(key, version).unwrap());
            verify_proof(root, key, value.as_deref(), &proof).unwrap();
            included += usize::from(value.is_some());
        }
        assert!(included > 0 && included < keys.len());
    }
}

#[test]
fn a_proof_does_not_verify_a_different_claim() {
    let (_dir, db, keys) = populated();
    let root = db.root(1).unwrap();
    let present = &keys[1];
    let absent = &keys[0];
    let (value, inclusion) = db.prove(present, 1).unwrap();
    let value = value.unwrap();
    let (none, exclusion) = db.prove(absent, 1).unwrap();
    assert_eq!(none, None);

    // Wrong value, claimed absence, wrong key, wrong root.
    assert!(verify_proof(root, present, Some(b"other"), &inclusion).is_err());
    assert!(verify_proof(root, present, None, &inclusion).is_err());
    assert!(verify_proof(root, &keys[3], Some(&value), &inclusion).is_err());
    assert!(verify_proof(db.root(0).unwrap(), present, Some(&value), &inclusion).is_err());
    assert!(verify_proof(RootHash([0; 32]), present, Some(&value), &inclusion).is_err());
    // An exclusion proof cannot prove presence, nor absence of a key elsewhere in the tree.
    assert!(verify_proof(root, absent, Some(b"x"), &exclusion).is_err());
    assert!(verify_proof(root, present, None, &exclusion).is_err());
}

#[test]
fn flipping_any_bit_of_an_encoded_proof_breaks_it() {
    let (_dir, db, keys) = populated();
    let root = db.root(1).unwrap();
    for key in [&keys[1], &keys[0]] {
        let (value, proof) = db.prove(key, 1).unwrap();
        let bytes = proof.to_bytes().unwrap();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = bytes.clone();
                tampered[i] ^= bit;
                let accepted = StateProof::from_bytes(&tampered)
                    .is_ok_and(|p| verify_proof(root, key, value.as_deref(), &p).is_ok());
                assert!(!accepted, "tampered byte {i} (bit {bit:#x}) still verifies");
            }
        }
        let mut truncated = bytes.clone();
        truncated.pop();
        assert!(StateProof::from_bytes(&truncated).is_err());
        let mut extended = bytes;
        extended.push(0);
        assert!(StateProof::from_bytes(&extended).is_err());
    }
}

#[test]
fn proofs_survive_hex_and_json_round_trips() {
    let (_dir, db, keys) = populated();
    let root = db.root(2).unwrap();
    for key in [&keys[1], &keys[0]] {
        let (value, proof) = db.prove(key, 2).unwrap();
        let from_hex = StateProof::from_hex(&proof.to_hex().unwrap()).unwrap();
        assert_eq!(from_hex, proof);
        let json = serde_json::to_string(&proof).unwrap();
        let from_json: StateProof = serde_json::from_str(&json).unwrap();
        verify_proof(root, key, value.as_deref(), &from_json).unwrap();
    }
    assert!(StateProof::from_hex("zz").is_err());
    assert!(serde_json::from_str::<StateProof>("\"00ff\"").is_err());
}

#[test]
fn the_empty_tree_proves_every_key_absent() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let root = db.commit_block(0, WriteSet::new()).unwrap();
    let key = account_key(&[1; 32]);
    let (value, proof) = db.prove(&key, 0).unwrap();
    assert_eq!(value, None);
    verify_proof(root, &key, None, &proof).unwrap();
    assert!(verify_proof(root, &key, Some(b"v"), &proof).is_err());
}

#[test]
fn a_single_leaf_tree_proves_its_key_present_and_others_absent() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let key = account_key(&[1; 32]);
    let root = db
        .commit_block(0, [(key.clone(), Some(b"v".to_vec()))].into())
        .unwrap();
    let (value, proof) = db.prove(&key, 0).unwrap();
    verify_proof(root, &key, value.as_deref(), &proof).unwrap();
    let other = account_key(&[2; 32]);
    let (none, exclusion) = db.prove(&other, 0).unwrap();
    assert_eq!(none, None);
    verify_proof(root, &other, None, &exclusion).unwrap();
}
