//! Poseidon over the BN254 and BLS12-381 scalar fields, circom-compatible.
//!
//! Construction (the circom/circomlibjs one, which most zk tooling shares): width t = arity + 1,
//! state `[0, x1, …, xn]`, x^5 S-box, 8 full rounds and the partial rounds of [`PARTIAL_ROUNDS`],
//! output `state[0]` after the permutation. Round constants and the MDS matrix are those of the
//! Poseidon paper's reference generator (Grain LFSR, `generate_parameters_grain`), produced by
//! arkworks' implementation of it; the permutation is light-poseidon's. For BN254 these are
//! exactly circomlib's constants (a test checks against light-poseidon's built-in circom table,
//! and the known answers come from circomlibjs). The round numbers depend only on the security
//! level (128 bits), the S-box and t once the field exceeds 128 bits, so BLS12-381 uses the same
//! table; its known answers come from @noble/curves' independent Grain generator.
//!
//! Deterministic: the same inputs give the same output on every machine.

use crate::curve::{Curve, SCALAR_LEN};
use ark_crypto_primitives::sponge::poseidon::find_poseidon_ark_and_mds;
use ark_ff::{BigInteger, PrimeField};
use light_poseidon::{Poseidon, PoseidonHasher, PoseidonParameters};
use std::cell::RefCell;
use std::sync::OnceLock;

/// Most inputs one call hashes (t = 17, circomlib's largest).
pub const MAX_ARITY: usize = 16;
/// Full rounds, for every width.
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds for arity 1..=16 (t = 2..=17): the reference `calc_round_numbers` for
/// x^5 at 128-bit security, as published with circomlib.
pub const PARTIAL_ROUNDS: [usize; MAX_ARITY] = [
    56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68,
];

/// Why a Poseidon call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoseidonError {
    #[error("arity {0} is outside 1..={MAX_ARITY}")]
    Arity(usize),
    #[error("input {index} is not a canonical field element (it is not below the modulus)")]
    NonCanonical { index: usize },
    #[error("the permutation refused the state: {0}")]
    Permutation(&'static str),
}

type Bn254Fr = ark_bn254::Fr;
type BlsFr = ark_bls12_381::Fr;

/// Hashes `inputs` (each a 32-byte big-endian field element below the modulus) on `curve`'s
/// scalar field; returns the 32-byte big-endian digest.
///
/// Errors: [`PoseidonError::Arity`] for 0 or more than [`MAX_ARITY`] inputs,
/// [`PoseidonError::NonCanonical`] for an input not below the field modulus.
pub fn poseidon(curve: Curve, inputs: &[[u8; SCALAR_LEN]]) -> Result<[u8; 32], PoseidonError> {
    let arity = inputs.len();
    if !(1..=MAX_ARITY).contains(&arity) {
        return Err(PoseidonError::Arity(arity));
    }
    match curve {
        Curve::Bn254 => BN254.with(|h| hash_on::<Bn254Fr>(&mut h.borrow_mut(), inputs)),
        Curve::Bls12_381 => BLS.with(|h| hash_on::<BlsFr>(&mut h.borrow_mut(), inputs)),
    }
}

// One hasher per arity and thread, built on first use from the process-wide parameter table:
// light-poseidon's hasher owns its parameters and needs `&mut`, and a shared lock would
// serialise parallel transactions hashing at the same arity.
thread_local! {
    static BN254: RefCell<Hashers<Bn254Fr>> = RefCell::new(Hashers::default());
    static BLS: RefCell<Hashers<BlsFr>> = RefCell::new(Hashers::default());
}

/// Lazily built hashers, index = arity - 1.
struct Hashers<F: PrimeField>(Vec<Option<Poseidon<F>>>);

impl<F: PrimeField> Default for Hashers<F> {
    fn default() -> Self {
        Hashers((0..MAX_ARITY).map(|_| None).collect())
    }
}

/// A field whose reference parameters are tabled once per process.
trait Tabled: PrimeField {
    fn table() -> &'static [ReferenceParams<Self>];
}

impl Tabled for Bn254Fr {
    fn table() -> &'static [ReferenceParams<Self>] {
        static TABLE: OnceLock<Vec<ReferenceParams<Bn254Fr>>> = OnceLock::new();
        TABLE.get_or_init(build_table::<Bn254Fr>)
    }
}

impl Tabled for BlsFr {
    fn table() -> &'static [ReferenceParams<Self>] {
        static TABLE: OnceLock<Vec<ReferenceParams<BlsFr>>> = OnceLock::new();
        TABLE.get_or_init(build_table::<BlsFr>)
    }
}

fn hash_on<F: Tabled>(
    hashers: &mut Hashers<F>,
    inputs: &[[u8; SCALAR_LEN]],
) -> Result<[u8; 32], PoseidonError> {
    let arity = inputs.len();
    let elems = inputs
        .iter()
        .enumerate()
        .map(|(index, b)| scalar_from_be::<F>(b).ok_or(PoseidonError::NonCanonical { index }))
        .collect::<Result<Vec<F>, _>>()?;
    let slot = arity
        .checked_sub(1)
        .and_then(|i| hashers.0.get_mut(i))
        .ok_or(PoseidonError::Arity(arity))?;
    let hasher = match slot {
        Some(h) => h,
        None => {
            let p = F::table()
                .get(arity.saturating_sub(1))
                .ok_or(PoseidonError::Arity(arity))?;
            slot.insert(Poseidon::new(p.to_light()))
        }
    };
    let out = hasher
        .hash(&elems)
        .map_err(|_| PoseidonError::Permutation("input count does not match the width"))?;
    Ok(scalar_to_be(&out))
}

/// A field element from 32 big-endian bytes, or `None` if the value is not below the modulus.
pub fn scalar_from_be<F: PrimeField>(bytes: &[u8; SCALAR_LEN]) -> Option<F> {
    crate::encoding::fp_from_be::<F>(bytes)
}

/// 32 big-endian bytes of a field element (both scalar fields fit in 32 bytes).
pub fn scalar_to_be<F: PrimeField>(x: &F) -> [u8; 32] {
    let be = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    let skip = be.len().saturating_sub(32);
    let src = be.get(skip..).unwrap_or_default();
    if let Some(dst) = out.get_mut(32usize.saturating_sub(src.len())..) {
        dst.copy_from_slice(src);
    }
    out
}

fn build_table<F: PrimeField>() -> Vec<ReferenceParams<F>> {
    (1..=MAX_ARITY).map(ReferenceParams::generate).collect()
}

/// The reference parameters of one width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceParams<F: PrimeField> {
    /// Round constants, row-major: `ark[round * width + i]`.
    pub ark: Vec<F>,
    pub mds: Vec<Vec<F>>,
    pub partial_rounds: usize,
    pub width: usize,
}

impl<F: PrimeField> ReferenceParams<F> {
    /// The Grain LFSR parameters of width `arity + 1` (arity clamped to 1..=16).
    pub fn generate(arity: usize) -> ReferenceParams<F> {
        let arity = arity.clamp(1, MAX_ARITY);
        let partial = PARTIAL_ROUNDS[arity - 1];
        let (ark, mds) = find_poseidon_ark_and_mds::<F>(
            u64::from(F::MODULUS_BIT_SIZE),
            arity,
            FULL_ROUNDS as u64,
            partial as u64,
            0,
        );
        ReferenceParams {
            ark: ark.into_iter().flatten().collect(),
            mds,
            partial_rounds: partial,
            width: arity + 1,
        }
    }

    fn to_light(&self) -> PoseidonParameters<F> {
        PoseidonParameters::new(
            self.ark.clone(),
            self.mds.clone(),
            FULL_ROUNDS,
            self.partial_rounds,
            self.width,
            5,
        )
    }
}

#[cfg(test)]
#[path = "poseidon_tests.rs"]
mod tests;
