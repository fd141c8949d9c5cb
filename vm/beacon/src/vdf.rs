//! Wesolowski's verifiable delay function: y = x^(2^T) in a group of unknown order, with a
//! one-element proof π = x^⌊2^T/ℓ⌋ checked as π^ℓ · x^(2^T mod ℓ) = y.
//!
//! Evaluation costs about 2T squarings (sequential: nobody can do it faster without the
//! group's order); verification two exponentiations by 256-bit numbers, about a millisecond.

use crate::error::VdfError;
use crate::group::RsaGroup;
use crate::hash_to_prime;
use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

/// Largest delay accepted (the exponents 2^T and ⌊2^T/ℓ⌋ are held in memory: 32 MiB).
pub const MAX_DELAY: u64 = 1 << 28;

/// The VDF's parameters: the group and the number of squarings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdfParams {
    pub group: RsaGroup,
    /// T: sequential squarings per evaluation.
    pub delay: u64,
}

/// An evaluation: the output y and the proof π, each encoded as a group element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdfOutput {
    #[serde(with = "hex_bytes")]
    pub output: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub proof: Vec<u8>,
}

impl VdfParams {
    /// Parameters over `group` with `delay` squarings. Errors: [`VdfError::Delay`] outside
    /// `1..=MAX_DELAY`.
    pub fn new(group: RsaGroup, delay: u64) -> Result<Self, VdfError> {
        if delay == 0 || delay > MAX_DELAY {
            return Err(VdfError::Delay(delay));
        }
        Ok(VdfParams { group, delay })
    }

    fn challenge(&self, x: &BigUint, y: &BigUint) -> Result<BigUint, VdfError> {
        let g = &self.group;
        hash_to_prime::challenge(&[
            &g.encode(g.modulus()),
            &g.encode(x),
            &g.encode(y),
            &self.delay.to_be_bytes(),
        ])
    }

    /// Evaluates the VDF on `seed` (hashed to the group). Takes about 2·delay squarings.
    ///
    /// Errors: only [`VdfError::NoPrime`] (probability below 2^-100).
    pub fn evaluate(&self, seed: &[u8; 32]) -> Result<VdfOutput, VdfError> {
        let g = &self.group;
        let x = g.hash_to_element(seed);
        let two_t = BigUint::from(1u8) << self.delay;
        let y = g.pow(&x, &two_t);
        let l = self.challenge(&x, &y)?;
        let pi = g.pow(&x, &(&two_t / &l));
        Ok(VdfOutput {
            output: g.encode(&y),
            proof: g.encode(&pi),
        })
    }

    /// Checks `out` for `seed`. Each element must be exactly the modulus' length and canonical
    /// (checked before any arithmetic).
    ///
    /// Errors: [`VdfError::Length`], [`VdfError::NotCanonical`], [`VdfError::Invalid`].
    pub fn verify(&self, seed: &[u8; 32], out: &VdfOutput) -> Result<(), VdfError> {
        let g = &self.group;
        let y = g.decode("VDF output", &out.output)?;
        let pi = g.decode("VDF proof", &out.proof)?;
        let x = g.hash_to_element(seed);
        let l = self.challenge(&x, &y)?;
        let r = BigUint::from(2u8).modpow(&BigUint::from(self.delay), &l);
        if g.mul(&g.pow(&pi, &l), &g.pow(&x, &r)) == y {
            Ok(())
        } else {
            Err(VdfError::Invalid)
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(delay: u64) -> VdfParams {
        VdfParams::new(RsaGroup::rsa2048(), delay).unwrap()
    }

    #[test]
    fn the_output_is_the_seed_element_squared_delay_times() {
        // Independent of the exponent shortcut: square one at a time.
        let p = params(40);
        let out = p.evaluate(&[3; 32]).unwrap();
        let g = &p.group;
        let mut y = g.hash_to_element(&[3; 32]);
        for _ in 0..40 {
            y = g.mul(&y, &y);
        }
        assert_eq!(out.output, g.encode(&y));
        assert_eq!(p.verify(&[3; 32], &out), Ok(()));
    }

    /// SHA-256(y ‖ π) as computed by `vectors/independent.py` (Python integers and sympy's
    /// primality test, not this code).
    #[test]
    fn evaluations_match_an_independent_implementation() {
        for (delay, seed, want) in [
            (
                16,
                [0u8; 32],
                "d0a2296cf3bfa9a6f9e18b63fe31929985d1a0cbbff97975cd5c658f630bf186",
            ),
            (
                1000,
                [0xab; 32],
                "43996aa7fe3d776d8f94f238710efd5780684d51eddcaba9a139841f60bd8d6b",
            ),
        ] {
            let out = params(delay).evaluate(&seed).unwrap();
            let digest = Sha256::digest([&out.output[..], &out.proof[..]].concat());
            assert_eq!(hex::encode(digest), want, "delay {delay}");
            assert_eq!(params(delay).verify(&seed, &out), Ok(()));
        }
    }
    use sha2::{Digest, Sha256};

    #[test]
    fn a_wrong_output_a_wrong_proof_and_another_seed_are_refused() {
        let p = params(64);
        let out = p.evaluate(&[1; 32]).unwrap();
        let g = &p.group;
        let y = g.decode("y", &out.output).unwrap();
        let pi = g.decode("pi", &out.proof).unwrap();
        let bumped = |v: &BigUint| g.encode(&g.mul(v, &BigUint::from(2u8)));
        let wrong_y = VdfOutput {
            output: bumped(&y),
            ..out.clone()
        };
        let wrong_pi = VdfOutput {
            proof: bumped(&pi),
            ..out.clone()
        };
        assert_eq!(p.verify(&[1; 32], &wrong_y), Err(VdfError::Invalid));
        assert_eq!(p.verify(&[1; 32], &wrong_pi), Err(VdfError::Invalid));
        assert_eq!(p.verify(&[2; 32], &out), Err(VdfError::Invalid));
        // Another delay is another statement.
        assert_eq!(params(65).verify(&[1; 32], &out), Err(VdfError::Invalid));
    }

    #[test]
    fn the_negated_output_is_refused_as_non_canonical() {
        let p = params(8);
        let out = p.evaluate(&[4; 32]).unwrap();
        let g = &p.group;
        let y = g.decode("y", &out.output).unwrap();
        let neg = VdfOutput {
            output: g.encode(&(g.modulus() - &y)),
            ..out
        };
        assert!(matches!(
            p.verify(&[4; 32], &neg),
            Err(VdfError::NotCanonical { .. })
        ));
    }

    #[test]
    fn delays_outside_the_bounds_are_refused() {
        assert_eq!(
            VdfParams::new(RsaGroup::rsa2048(), 0),
            Err(VdfError::Delay(0))
        );
        assert_eq!(
            VdfParams::new(RsaGroup::rsa2048(), MAX_DELAY + 1),
            Err(VdfError::Delay(MAX_DELAY + 1))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn verify_accepts_every_evaluation_and_refuses_a_flipped_bit(
            seed in any::<[u8; 32]>(),
            delay in 1u64..200,
            which in any::<bool>(),
            bit in 0usize..2048,
        ) {
            let p = params(delay);
            let out = p.evaluate(&seed).unwrap();
            prop_assert_eq!(p.verify(&seed, &out), Ok(()));
            let mut bad = out.clone();
            let bytes = if which { &mut bad.output } else { &mut bad.proof };
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(p.verify(&seed, &bad).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_never_verify(
            output in proptest::collection::vec(any::<u8>(), 0..300),
            proof in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let p = params(4);
            let out = VdfOutput { output, proof };
            prop_assert!(p.verify(&[9; 32], &out).is_err());
        }
    }
}
