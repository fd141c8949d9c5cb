//! Behaviour of keys, signatures, proofs of possession and the reference verifier.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_crypto::{
    CryptoError, PublicKey, SecretKey, Signature, SignatureVerifier, SingleVerifier, Verdict,
    VerifyItem, verify,
};
use proptest::prelude::*;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32]).unwrap()
}

/// Compressed encoding of the point at infinity (ZCash format: compression + infinity flags).
fn infinity(len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    b[0] = 0xc0;
    b
}

#[test]
fn a_signature_verifies_under_its_key_and_message_only() {
    let (sk, other) = (key(1), key(2));
    let sig = sk.sign(b"transfer 5");
    assert!(verify(&sk.public_key(), b"transfer 5", &sig));
    assert!(!verify(&sk.public_key(), b"transfer 6", &sig));
    assert!(!verify(&other.public_key(), b"transfer 5", &sig));
}

#[test]
fn key_generation_from_a_seed_is_deterministic() {
    assert_eq!(key(7).public_key(), key(7).public_key());
    assert_ne!(key(7).public_key(), key(8).public_key());
    assert_eq!(key(7).sign(b"m"), key(7).sign(b"m"));
}

#[test]
fn keys_and_signatures_round_trip_through_bytes() {
    let sk = key(3);
    let sig = sk.sign(b"m");
    assert_eq!(
        PublicKey::from_bytes(&sk.public_key().to_bytes()).unwrap(),
        sk.public_key()
    );
    assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    let sk2 = SecretKey::from_bytes(&sk.to_bytes()).unwrap();
    assert_eq!(sk2.public_key(), sk.public_key());
}

#[test]
fn secret_key_debug_output_hides_the_key() {
    assert_eq!(format!("{:?}", key(1)), "SecretKey(<redacted>)");
}

#[test]
fn infinity_public_key_and_signature_are_rejected_with_a_typed_error() {
    assert_eq!(
        PublicKey::from_bytes(&infinity(48)),
        Err(CryptoError::Infinity { what: "public key" })
    );
    assert_eq!(
        Signature::from_bytes(&infinity(96)),
        Err(CryptoError::Infinity { what: "signature" })
    );
}

#[test]
fn wrong_lengths_are_rejected_with_a_typed_error() {
    let pk = key(1).public_key().to_bytes();
    assert!(matches!(
        PublicKey::from_bytes(&pk[..47]),
        Err(CryptoError::WrongLength {
            expected: 48,
            got: 47,
            ..
        })
    ));
    let sig = key(1).sign(b"m").to_bytes();
    assert!(matches!(
        Signature::from_bytes(&[&sig[..], &[0]].concat()),
        Err(CryptoError::WrongLength {
            expected: 96,
            got: 97,
            ..
        })
    ));
    assert!(matches!(
        SecretKey::from_bytes(&[1u8; 31]),
        Err(CryptoError::WrongLength {
            expected: 32,
            got: 31,
            ..
        })
    ));
}

#[test]
fn uncompressed_flag_and_oversized_coordinates_are_bad_encodings() {
    let mut pk = key(1).public_key().to_bytes();
    pk[0] &= 0x7f; // clear the compression flag
    assert_eq!(
        PublicKey::from_bytes(&pk),
        Err(CryptoError::BadEncoding { what: "public key" })
    );
    // x = 2^381 - 1 is above the field modulus.
    let mut big = [0xffu8; 96];
    big[0] = 0x9f;
    assert_eq!(
        Signature::from_bytes(&big),
        Err(CryptoError::BadEncoding { what: "signature" })
    );
}

#[test]
fn zero_secret_key_is_rejected() {
    assert_eq!(
        SecretKey::from_bytes(&[0u8; 32]).unwrap_err(),
        CryptoError::InvalidSecretKey
    );
}

#[test]
fn a_curve_point_outside_the_subgroup_is_rejected_as_a_public_key() {
    // Scan x = 0, 1, 2, ... for an x with a curve point; for G1 such a point is almost surely
    // outside the prime-order subgroup (cofactor ~ 2^125).
    let mut found = false;
    for x in 0u8..=255 {
        let mut b = [0u8; 48];
        b[0] = 0x80;
        b[47] = x;
        match PublicKey::from_bytes(&b) {
            Err(CryptoError::NotInSubgroup { .. }) => {
                found = true;
                break;
            }
            Err(CryptoError::NotOnCurve { .. }) => {}
            other => panic!("unexpected {other:?} for x = {x}"),
        }
    }
    assert!(found);
}

#[test]
fn a_curve_point_outside_the_subgroup_decodes_as_a_signature_but_never_verifies() {
    let pk = key(1).public_key();
    for x in 0u8..=255 {
        let mut b = [0u8; 96];
        b[0] = 0x80;
        b[95] = x;
        if let Ok(sig) = Signature::from_bytes(&b) {
            assert!(!sig.in_subgroup());
            assert!(!verify(&pk, b"m", &sig));
            return;
        }
    }
    panic!("no curve point found among the scanned x-coordinates");
}

#[test]
fn proof_of_possession_verifies_for_its_own_key_only() {
    let (a, b) = (key(1), key(2));
    let proof = a.prove_possession();
    assert!(a.public_key().verify_possession(&proof));
    assert!(!b.public_key().verify_possession(&proof));
    // A plain signature over the key bytes is not a proof: the DST differs.
    let plain = a.sign(&a.public_key().to_bytes());
    assert!(!a.public_key().verify_possession(&plain));
}

#[test]
fn single_verifier_returns_one_verdict_per_item_in_order() {
    let sk = key(4);
    let good = VerifyItem::new(sk.public_key(), b"a".to_vec(), sk.sign(b"a"));
    let bad = VerifyItem::new(sk.public_key(), b"b".to_vec(), sk.sign(b"a"));
    let verdicts = SingleVerifier.verify_batch(&[good.clone(), bad, good]);
    assert_eq!(
        verdicts,
        vec![Verdict::Valid, Verdict::Invalid, Verdict::Valid]
    );
    assert!(SingleVerifier.verify_batch(&[]).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn flipping_any_signature_byte_never_yields_a_valid_signature(pos in 0usize..96, bit in 0u8..8) {
        let sk = key(5);
        let mut b = sk.sign(b"m").to_bytes();
        b[pos] ^= 1 << bit;
        if let Ok(sig) = Signature::from_bytes(&b) {
            prop_assert!(!verify(&sk.public_key(), b"m", &sig));
        }
    }
}
