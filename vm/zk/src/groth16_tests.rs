#![allow(clippy::unwrap_used)] // tests fail loudly by design

use super::*;
use crate::encoding::encode_point;
use ark_ec::AffineRepr;
use ark_ff::{Field, One};
use proptest::prelude::*;

#[derive(serde::Deserialize)]
struct Vector {
    vk: String,
    proof: String,
    inputs: Vec<String>,
}

struct Case {
    curve: Curve,
    vk: Vec<u8>,
    proof: Vec<u8>,
    inputs: Vec<u8>,
    n: usize,
}

fn case(curve: Curve) -> Case {
    let text = match curve {
        Curve::Bn254 => include_str!("../vectors/groth16_bn254.json"),
        Curve::Bls12_381 => include_str!("../vectors/groth16_bls12_381.json"),
    };
    let v: Vector = serde_json::from_str(text).unwrap();
    let inputs: Vec<u8> = v
        .inputs
        .iter()
        .flat_map(|s| hex::decode(s).unwrap())
        .collect();
    Case {
        curve,
        vk: hex::decode(&v.vk).unwrap(),
        proof: hex::decode(&v.proof).unwrap(),
        n: v.inputs.len(),
        inputs,
    }
}

fn verify(c: &Case, proof: &[u8], inputs: &[u8]) -> Result<bool, Groth16Error> {
    verify_groth16(&VkCache::new(4), c.curve, &c.vk, proof, inputs, c.n)
}

const BOTH: [Curve; 2] = [Curve::Bn254, Curve::Bls12_381];

#[test]
fn snarkjs_proofs_verify_on_both_curves() {
    for curve in BOTH {
        let c = case(curve);
        assert_eq!(verify(&c, &c.proof, &c.inputs), Ok(true), "{curve:?}");
    }
}

#[test]
fn a_changed_public_input_does_not_verify() {
    for curve in BOTH {
        let c = case(curve);
        let mut inputs = c.inputs.clone();
        // Public input 2 is the vote (BN254) or s (BLS12-381); +1 stays canonical.
        inputs[2 * 32 + 31] ^= 1;
        assert_eq!(verify(&c, &c.proof, &inputs), Ok(false), "{curve:?}");
    }
}

#[test]
fn a_proof_with_another_valid_point_does_not_verify() {
    for curve in BOTH {
        let c = case(curve);
        let g1 = curve.g1_len();
        // Replace A by the generator; swap A and C.
        let mut proof = c.proof.clone();
        let mut generator = Vec::new();
        match curve {
            Curve::Bn254 => encode_point(&ark_bn254::G1Affine::generator(), &mut generator),
            Curve::Bls12_381 => encode_point(&ark_bls12_381::G1Affine::generator(), &mut generator),
        }
        proof[..g1].copy_from_slice(&generator);
        assert_eq!(verify(&c, &proof, &c.inputs), Ok(false), "{curve:?}");
        let mut swapped = c.proof.clone();
        let tail = swapped.len() - g1;
        swapped[..g1].copy_from_slice(&c.proof[tail..]);
        swapped[tail..].copy_from_slice(&c.proof[..g1]);
        assert_eq!(verify(&c, &swapped, &c.inputs), Ok(false), "{curve:?}");
    }
}

#[test]
fn off_curve_and_non_canonical_points_are_errors_not_panics() {
    for curve in BOTH {
        let c = case(curve);
        let mut off = c.proof.clone();
        let y_last = curve.g1_len() - 1;
        off[y_last] ^= 1;
        assert_eq!(
            verify(&c, &off, &c.inputs),
            Err(Groth16Error::Point {
                what: "proof A",
                reason: PointError::NotOnCurve
            })
        );
        let mut big = c.proof.clone();
        big[..curve.coordinate_len()].fill(0xff);
        assert_eq!(
            verify(&c, &big, &c.inputs),
            Err(Groth16Error::Point {
                what: "proof A",
                reason: PointError::NonCanonical
            })
        );
    }
}

/// A point on the curve of `P` but outside its prime-order subgroup.
fn off_subgroup<P: ark_ec::short_weierstrass::SWCurveConfig>()
-> ark_ec::short_weierstrass::Affine<P> {
    let mut x = P::BaseField::one();
    loop {
        if let Some(p) = ark_ec::short_weierstrass::Affine::<P>::get_point_from_x_unchecked(x, true)
            && !p.is_in_correct_subgroup_assuming_on_curve()
        {
            return p;
        }
        x += P::BaseField::one();
    }
}

#[test]
fn points_outside_the_subgroup_are_rejected_in_proof_and_key() {
    // BN254's G1 has cofactor 1, so its G2 carries the check; BLS12-381 needs both.
    let c = case(Curve::Bn254);
    let mut b = Vec::new();
    encode_point(&off_subgroup::<ark_bn254::g2::Config>(), &mut b);
    let mut proof = c.proof.clone();
    proof[64..192].copy_from_slice(&b);
    assert_eq!(
        verify(&c, &proof, &c.inputs),
        Err(Groth16Error::Point {
            what: "proof B",
            reason: PointError::NotInSubgroup
        })
    );
    let c = case(Curve::Bls12_381);
    let mut a = Vec::new();
    encode_point(&off_subgroup::<ark_bls12_381::g1::Config>(), &mut a);
    let mut vk = c.vk.clone();
    vk[..96].copy_from_slice(&a);
    let r = verify_groth16(&VkCache::new(4), c.curve, &vk, &c.proof, &c.inputs, c.n);
    assert_eq!(
        r,
        Err(Groth16Error::Point {
            what: "verifying key alpha",
            reason: PointError::NotInSubgroup
        })
    );
}

#[test]
fn sizes_and_input_encodings_are_checked_before_any_work() {
    let c = case(Curve::Bn254);
    let cache = VkCache::new(4);
    let v = |vk: &[u8], proof: &[u8], inputs: &[u8], n| {
        verify_groth16(&cache, Curve::Bn254, vk, proof, inputs, n)
    };
    assert_eq!(
        v(&c.vk, &c.proof, &c.inputs, MAX_PUBLIC_INPUTS + 1),
        Err(Groth16Error::TooManyInputs(MAX_PUBLIC_INPUTS + 1))
    );
    assert!(matches!(
        v(&c.vk[1..], &c.proof, &c.inputs, c.n),
        Err(Groth16Error::KeyLength { .. })
    ));
    assert!(matches!(
        v(&c.vk, &c.proof[1..], &c.inputs, c.n),
        Err(Groth16Error::ProofLength { .. })
    ));
    assert!(matches!(
        v(&c.vk, &c.proof, &c.inputs[1..], c.n),
        Err(Groth16Error::InputsLength { .. })
    ));
    let mut inputs = c.inputs.clone();
    inputs[32..64].fill(0xff);
    assert_eq!(
        v(&c.vk, &c.proof, &inputs, c.n),
        Err(Groth16Error::NonCanonicalInput { index: 1 })
    );
    assert_eq!(
        cache.held::<ark_bn254::Bn254>(),
        1,
        "only the valid key is cached"
    );
}

#[test]
fn the_cache_serves_repeat_keys_and_stays_bounded() {
    let c = case(Curve::Bn254);
    let cache = VkCache::new(1);
    for _ in 0..3 {
        let r = verify_groth16(&cache, c.curve, &c.vk, &c.proof, &c.inputs, c.n);
        assert_eq!(r, Ok(true));
    }
    assert_eq!(cache.held::<ark_bn254::Bn254>(), 1);
    // A key whose alpha is another valid point: a distinct entry; capacity 1 keeps at most 2.
    for k in 1u64..4 {
        let mut vk = c.vk.clone();
        let mut alpha = Vec::new();
        let p = (ark_bn254::G1Affine::generator() * ark_bn254::Fr::from(k)).into();
        encode_point::<ark_bn254::g1::Config>(&p, &mut alpha);
        vk[..64].copy_from_slice(&alpha);
        let r = verify_groth16(&cache, c.curve, &vk, &c.proof, &c.inputs, c.n);
        assert_eq!(r, Ok(false));
        assert!(cache.held::<ark_bn254::Bn254>() <= 2);
    }
    let _ = ark_bn254::Fq::ONE;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn no_single_byte_change_to_a_proof_verifies_or_panics(at in 0usize..256, bit in 0u8..8) {
        let c = case(Curve::Bn254);
        let mut proof = c.proof.clone();
        proof[at] ^= 1 << bit;
        prop_assert_ne!(verify(&c, &proof, &c.inputs), Ok(true));
    }
}
