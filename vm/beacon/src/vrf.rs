//! The proposer's VRF: a BLS signature (min-pk, the validators' keys) over
//! (chain id, height, previous seed) under a VRF-only domain tag; output = SHA-256 of it.
//!
//! Uniqueness: BLS signing is deterministic and, for a validated public key (in the subgroup,
//! not infinity) and a subgroup-checked signature, there is exactly one signature that
//! verifies for a message. So a proposer cannot choose among outputs: it can only publish its
//! one output or withhold its block. The tag keeps VRF proofs and transaction signatures apart.

use crate::error::VrfError;
use keel_crypto::{PublicKey, SIGNATURE_LEN, SecretKey, Signature};
use sha2::{Digest, Sha256};

/// Domain separation tag of VRF proofs (hash to G2 as in the signature ciphersuite).
pub const VRF_DST: &[u8] = b"KEEL_VRF_BLS12381G2_XMD:SHA-256_SSWU_RO_";

const MESSAGE_DOMAIN: &[u8] = b"keel/vrf/v1";
const OUTPUT_DOMAIN: &[u8] = b"keel/vrf-output/v1";

/// What block `height`'s proposer proves over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VrfInput {
    pub chain_id: u64,
    pub height: u64,
    /// The seed after block `height − 1` ([`crate::seed`]).
    pub prev_seed: [u8; 32],
}

impl VrfInput {
    /// The signed message: domain ‖ chain id ‖ height (little-endian) ‖ previous seed.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(MESSAGE_DOMAIN.len().saturating_add(48));
        m.extend_from_slice(MESSAGE_DOMAIN);
        m.extend_from_slice(&self.chain_id.to_le_bytes());
        m.extend_from_slice(&self.height.to_le_bytes());
        m.extend_from_slice(&self.prev_seed);
        m
    }
}

/// The proof for `input` under `key` (96 bytes, a compressed G2 point).
pub fn prove(key: &SecretKey, input: &VrfInput) -> [u8; SIGNATURE_LEN] {
    key.sign_with_dst(&input.message(), VRF_DST).to_bytes()
}

/// The VRF output of a proof: SHA-256(domain ‖ proof). Meaningful only for a verified proof.
pub fn output(proof: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(OUTPUT_DOMAIN);
    h.update(proof);
    h.finalize().into()
}

/// Verifies `proof` for `input` under the compressed public key `public_key`; returns the
/// output. Errors: [`VrfError::Key`], [`VrfError::Encoding`] (lengths are checked before
/// decoding), [`VrfError::Invalid`].
pub fn verify(public_key: &[u8], input: &VrfInput, proof: &[u8]) -> Result<[u8; 32], VrfError> {
    let pk = PublicKey::from_bytes(public_key).map_err(VrfError::Key)?;
    let sig = Signature::from_bytes(proof).map_err(VrfError::Encoding)?;
    if pk.verify_with_dst(&input.message(), VRF_DST, &sig) {
        Ok(output(proof))
    } else {
        Err(VrfError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32]).unwrap()
    }

    fn input(height: u64) -> VrfInput {
        VrfInput {
            chain_id: 0x6b65656c,
            height,
            prev_seed: [height as u8; 32],
        }
    }

    #[test]
    fn known_answer_for_a_fixed_key_and_input() {
        // Computed by py_ecc (an independent BLS implementation) in `vectors/independent.py`.
        let inp = input(1);
        let proof = prove(&key(1), &inp);
        assert_eq!(inp.prev_seed, [1; 32]);
        assert_eq!(hex::encode(output(&proof)), KAT_OUTPUT);
    }
    const KAT_OUTPUT: &str = "827c8aa64bc90573527070b7c003651ea4a319bf782ced231efa37152f875446";

    #[test]
    fn a_proof_is_not_a_transaction_signature() {
        let k = key(2);
        let proof = prove(&k, &input(5));
        let sig = Signature::from_bytes(&proof).unwrap();
        assert!(!k.public_key().verify_with_dst(
            &input(5).message(),
            keel_crypto::SIGNATURE_DST,
            &sig
        ));
    }

    #[test]
    fn malformed_keys_and_proofs_are_typed_errors() {
        let pk = key(3).public_key().to_bytes();
        assert!(matches!(
            verify(&pk[..47], &input(1), &[0; 96]),
            Err(VrfError::Key(_))
        ));
        assert!(matches!(
            verify(&pk, &input(1), &[0; 95]),
            Err(VrfError::Encoding(_))
        ));
        // The point at infinity (compressed flag + infinity flag) is refused.
        let mut inf = [0u8; 96];
        inf[0] = 0xc0;
        assert!(matches!(
            verify(&pk, &input(1), &inf),
            Err(VrfError::Encoding(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn verify_accepts_its_own_proof_and_refuses_tampering_and_other_keys(
            a in 1u8..200, b in 1u8..200, height in any::<u64>(), bit in 0usize..768,
        ) {
            prop_assume!(a != b);
            let inp = input(height);
            let proof = prove(&key(a), &inp);
            let pk_a = key(a).public_key().to_bytes();
            let pk_b = key(b).public_key().to_bytes();
            prop_assert_eq!(verify(&pk_a, &inp, &proof), Ok(output(&proof)));
            prop_assert_eq!(verify(&pk_b, &inp, &proof), Err(VrfError::Invalid));
            let other = VrfInput { height: height.wrapping_add(1), ..inp };
            prop_assert_eq!(verify(&pk_a, &other, &proof), Err(VrfError::Invalid));
            let mut bad = proof;
            bad[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify(&pk_a, &inp, &bad).is_err());
            // Unique: the same key and input always give the same proof.
            prop_assert_eq!(prove(&key(a), &inp), proof);
        }
    }
}
