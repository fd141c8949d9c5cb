//! Groth16 proof verification on BN254 and BLS12-381 (arkworks' `ark-groth16`).
//!
//! Encodings (normative in ABI.md): a verifying key is `alpha_g1 ‖ beta_g2 ‖ gamma_g2 ‖ delta_g2
//! ‖ ic[0] ‖ … ‖ ic[n]` (G1/G2 as in [`crate::encoding`]), `n` the number of public inputs; a
//! proof is `a_g1 ‖ b_g2 ‖ c_g1`; public inputs are `n` 32-byte big-endian scalars below the
//! group order. Prepared keys are memoised in a bounded cache keyed by the key's SHA-256 (see
//! [`crate::vk_cache`]): a hit changes speed, never a verdict.

use crate::curve::{Curve, SCALAR_LEN};
use crate::encoding::{Coordinate, PointError, decode_point};
use crate::vk_cache::{Cached, VkCache};
use ark_ec::pairing::Pairing;
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, VerifyingKey};

/// Most public inputs one verification accepts; bounds the key size decoded.
pub const MAX_PUBLIC_INPUTS: usize = 256;

/// Why a verification could not be attempted (a well-formed proof that does not verify is
/// `Ok(false)`, not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Groth16Error {
    #[error("{0} public inputs exceed the limit of {MAX_PUBLIC_INPUTS}")]
    TooManyInputs(usize),
    #[error("verifying key is {got} bytes; {expected} expected for this curve and input count")]
    KeyLength { expected: usize, got: usize },
    #[error("proof is {got} bytes; {expected} expected for this curve")]
    ProofLength { expected: usize, got: usize },
    #[error("public input bytes are {got}; {expected} expected")]
    InputsLength { expected: usize, got: usize },
    #[error("{what} is invalid: {reason}")]
    Point {
        what: &'static str,
        reason: PointError,
    },
    #[error("public input {index} is not below the group order")]
    NonCanonicalInput { index: usize },
}

/// Bytes of a verifying key with `n` public inputs on `curve`.
pub fn key_len(curve: Curve, n: usize) -> Option<usize> {
    let fixed = curve
        .g1_len()
        .checked_add(3usize.checked_mul(curve.g2_len())?)?;
    fixed.checked_add(n.checked_add(1)?.checked_mul(curve.g1_len())?)
}

/// Bytes of a proof on `curve`.
pub const fn proof_len(curve: Curve) -> usize {
    2 * curve.g1_len() + curve.g2_len()
}

/// Verifies a Groth16 proof. `n` public inputs are read from `inputs` (`32 × n` bytes).
///
/// Returns `Ok(true)` if the proof verifies, `Ok(false)` if it is well-formed but does not.
/// Errors: malformed sizes, a point off the curve or outside the subgroup, a non-canonical
/// coordinate or public input. Deterministic; the cache only changes speed.
pub fn verify_groth16(
    cache: &VkCache,
    curve: Curve,
    vk: &[u8],
    proof: &[u8],
    inputs: &[u8],
    n: usize,
) -> Result<bool, Groth16Error> {
    if n > MAX_PUBLIC_INPUTS {
        return Err(Groth16Error::TooManyInputs(n));
    }
    let expected = key_len(curve, n).ok_or(Groth16Error::TooManyInputs(n))?;
    if vk.len() != expected {
        return Err(Groth16Error::KeyLength {
            expected,
            got: vk.len(),
        });
    }
    if proof.len() != proof_len(curve) {
        return Err(Groth16Error::ProofLength {
            expected: proof_len(curve),
            got: proof.len(),
        });
    }
    let want = n.saturating_mul(SCALAR_LEN);
    if inputs.len() != want {
        return Err(Groth16Error::InputsLength {
            expected: want,
            got: inputs.len(),
        });
    }
    match curve {
        Curve::Bn254 => verify_on::<ark_bn254::Bn254>(cache, curve, vk, proof, inputs),
        Curve::Bls12_381 => verify_on::<ark_bls12_381::Bls12_381>(cache, curve, vk, proof, inputs),
    }
}

/// The pairings this module supports, with their short-Weierstrass group configurations.
pub trait AbiPairing:
    Cached + Pairing<G1Affine = Affine<Self::G1Config>, G2Affine = Affine<Self::G2Config>>
{
    type G1Config: SWCurveConfig<BaseField: Coordinate>;
    type G2Config: SWCurveConfig<BaseField: Coordinate>;
}

impl AbiPairing for ark_bn254::Bn254 {
    type G1Config = ark_bn254::g1::Config;
    type G2Config = ark_bn254::g2::Config;
}

impl AbiPairing for ark_bls12_381::Bls12_381 {
    type G1Config = ark_bls12_381::g1::Config;
    type G2Config = ark_bls12_381::g2::Config;
}

/// Splits `bytes` into consecutive fields of the given lengths (lengths already checked).
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = tail;
        head
    }

    fn g1<E: AbiPairing>(
        &mut self,
        c: Curve,
        what: &'static str,
    ) -> Result<E::G1Affine, Groth16Error> {
        decode_point::<E::G1Config>(self.take(c.g1_len()), c.g1_len())
            .map_err(|reason| Groth16Error::Point { what, reason })
    }

    fn g2<E: AbiPairing>(
        &mut self,
        c: Curve,
        what: &'static str,
    ) -> Result<E::G2Affine, Groth16Error> {
        decode_point::<E::G2Config>(self.take(c.g2_len()), c.g2_len())
            .map_err(|reason| Groth16Error::Point { what, reason })
    }
}

fn prepare<E: AbiPairing>(
    curve: Curve,
    vk: &[u8],
) -> Result<PreparedVerifyingKey<E>, Groth16Error> {
    let mut r = Reader { rest: vk };
    let alpha_g1 = r.g1::<E>(curve, "verifying key alpha")?;
    let beta_g2 = r.g2::<E>(curve, "verifying key beta")?;
    let gamma_g2 = r.g2::<E>(curve, "verifying key gamma")?;
    let delta_g2 = r.g2::<E>(curve, "verifying key delta")?;
    let count = r.rest.len() / curve.g1_len();
    let mut gamma_abc_g1 = Vec::with_capacity(count);
    for _ in 0..count {
        gamma_abc_g1.push(r.g1::<E>(curve, "verifying key input point")?);
    }
    let vk = VerifyingKey {
        alpha_g1,
        beta_g2,
        gamma_g2,
        delta_g2,
        gamma_abc_g1,
    };
    Ok(ark_groth16::prepare_verifying_key(&vk))
}

fn verify_on<E: AbiPairing>(
    cache: &VkCache,
    curve: Curve,
    vk: &[u8],
    proof: &[u8],
    inputs: &[u8],
) -> Result<bool, Groth16Error> {
    // The curve is part of the key: each curve has its own cache slot.
    let pvk = cache.get_or_prepare::<E>(vk, || prepare::<E>(curve, vk))?;
    let mut r = Reader { rest: proof };
    let proof = Proof::<E> {
        a: r.g1::<E>(curve, "proof A")?,
        b: r.g2::<E>(curve, "proof B")?,
        c: r.g1::<E>(curve, "proof C")?,
    };
    let scalars = inputs
        .chunks_exact(SCALAR_LEN)
        .enumerate()
        .map(|(index, b)| {
            crate::encoding::fp_from_be::<E::ScalarField>(b)
                .ok_or(Groth16Error::NonCanonicalInput { index })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Sizes were checked against the key, so the library's own length error cannot occur;
    // treat it as "does not verify" rather than trust that.
    Ok(Groth16::<E>::verify_proof(&pvk, &proof, &scalars).unwrap_or(false))
}

#[cfg(test)]
#[path = "groth16_tests.rs"]
mod tests;
