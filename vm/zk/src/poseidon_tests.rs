#![allow(clippy::unwrap_used)] // tests fail loudly by design

use super::*;
use light_poseidon::Poseidon as Light;
use proptest::prelude::*;

#[derive(serde::Deserialize)]
struct Vector {
    inputs: Vec<String>,
    output: String,
}

#[derive(serde::Deserialize)]
struct Vectors {
    bn254: Vec<Vector>,
    bls12_381: Vec<Vector>,
}

fn word(hex0x: &str) -> [u8; 32] {
    hex::decode(hex0x.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

fn check(curve: Curve, vectors: &[Vector]) {
    for v in vectors {
        let inputs: Vec<[u8; 32]> = v.inputs.iter().map(|s| word(s)).collect();
        assert_eq!(
            poseidon(curve, &inputs).unwrap(),
            word(&v.output),
            "{curve:?} arity {}",
            inputs.len()
        );
    }
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("../vectors/poseidon.json")).unwrap()
}

#[test]
fn bn254_matches_circomlibjs_for_every_arity_up_to_16() {
    let v = vectors();
    assert_eq!(v.bn254.len(), 4 * MAX_ARITY);
    check(Curve::Bn254, &v.bn254);
}

#[test]
fn bls12_381_matches_the_noble_grain_reference_for_every_arity_up_to_16() {
    let v = vectors();
    assert_eq!(v.bls12_381.len(), 4 * MAX_ARITY);
    check(Curve::Bls12_381, &v.bls12_381);
}

#[test]
fn the_grain_parameters_equal_light_poseidons_published_circom_table() {
    // light-poseidon ships circomlib's constants for widths up to 13; ours are regenerated.
    for arity in 1..=12 {
        let light = light_poseidon::parameters::bn254_x5::get_poseidon_parameters::<Bn254Fr>(
            (arity + 1) as u8,
        )
        .unwrap();
        let ours = ReferenceParams::<Bn254Fr>::generate(arity);
        assert_eq!(ours.ark, light.ark, "round constants, arity {arity}");
        assert_eq!(ours.mds, light.mds, "MDS, arity {arity}");
        assert_eq!(ours.partial_rounds, light.partial_rounds);
    }
}

#[test]
fn arity_zero_and_above_sixteen_are_refused() {
    assert_eq!(poseidon(Curve::Bn254, &[]), Err(PoseidonError::Arity(0)));
    let many = vec![[0u8; 32]; MAX_ARITY + 1];
    assert_eq!(
        poseidon(Curve::Bls12_381, &many),
        Err(PoseidonError::Arity(MAX_ARITY + 1))
    );
}

#[test]
fn inputs_at_or_above_the_modulus_are_refused_not_reduced() {
    let p = scalar_to_be(&(-Bn254Fr::from(1u8))); // p - 1
    let mut at_p = p;
    at_p[31] = at_p[31].wrapping_add(1); // p - 1 ends in ...00, so +1 does not carry
    assert!(poseidon(Curve::Bn254, &[p]).is_ok());
    assert_eq!(
        poseidon(Curve::Bn254, &[[0; 32], at_p]),
        Err(PoseidonError::NonCanonical { index: 1 })
    );
    assert_eq!(
        poseidon(Curve::Bls12_381, &[[0xff; 32]]),
        Err(PoseidonError::NonCanonical { index: 0 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn bn254_agrees_with_light_poseidons_circom_hasher(
        xs in proptest::collection::vec(any::<[u8; 31]>(), 1..=12)
    ) {
        // 31 random bytes are always below the modulus.
        let inputs: Vec<[u8; 32]> = xs.iter().map(|x| {
            let mut w = [0u8; 32];
            w[1..].copy_from_slice(x);
            w
        }).collect();
        let fields: Vec<Bn254Fr> = inputs.iter().map(|w| scalar_from_be(w).unwrap()).collect();
        let want = Light::<Bn254Fr>::new_circom(inputs.len()).unwrap().hash(&fields).unwrap();
        prop_assert_eq!(poseidon(Curve::Bn254, &inputs).unwrap(), scalar_to_be(&want));
    }

    #[test]
    fn field_encoding_round_trips(x in any::<[u8; 31]>()) {
        let mut w = [0u8; 32];
        w[1..].copy_from_slice(&x);
        let f: BlsFr = scalar_from_be(&w).unwrap();
        prop_assert_eq!(scalar_to_be(&f), w);
    }
}
