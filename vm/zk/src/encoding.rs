//! The ABI byte encodings of field elements and curve points, decoded with every check.
//!
//! Field elements are big-endian and must be below the modulus (one encoding per value).
//! Points are uncompressed affine coordinates, G2 coordinates imaginary part first (the EIP-197
//! order, and the Zcash/IETF order for BLS12-381); all-zero bytes are the point at infinity
//! (EIP-2537's convention). A point must be on the curve and in the prime-order subgroup.

use ark_ec::AffineRepr;
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_ff::{Field, PrimeField, QuadExtConfig, QuadExtField};

/// Why a point encoding was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PointError {
    #[error("a coordinate is not below the base-field modulus")]
    NonCanonical,
    #[error("the point is not on the curve")]
    NotOnCurve,
    #[error("the point is not in the prime-order subgroup")]
    NotInSubgroup,
    #[error("wrong encoded length")]
    Length,
}

/// A prime-field element from big-endian bytes, which must be exactly as wide as the field's
/// limbs; `None` if the length is wrong or the value is not below the modulus.
pub fn fp_from_be<F: PrimeField>(bytes: &[u8]) -> Option<F> {
    let mut limbs = <F::BigInt as Default>::default();
    let words = limbs.as_mut();
    if bytes.len() != words.len().checked_mul(8)? {
        return None;
    }
    // Limb 0 is the least significant: it takes the last 8 bytes.
    for (limb, chunk) in words.iter_mut().zip(bytes.rchunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(w);
    }
    F::from_bigint(limbs)
}

/// A coordinate type the encoding knows: a prime field or its quadratic extension.
pub trait Coordinate: Field {
    /// Decodes one coordinate of `len` bytes.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// Implements [`Coordinate`] for a prime base field.
macro_rules! prime_coordinate {
    ($f:ty) => {
        impl Coordinate for $f {
            fn decode(bytes: &[u8]) -> Option<Self> {
                fp_from_be::<$f>(bytes)
            }
        }
    };
}
prime_coordinate!(ark_bn254::Fq);
prime_coordinate!(ark_bls12_381::Fq);

impl<P: QuadExtConfig> Coordinate for QuadExtField<P>
where
    P::BaseField: Coordinate,
{
    fn decode(bytes: &[u8]) -> Option<Self> {
        let half = bytes.len() / 2;
        let (c1, c0) = bytes.split_at(half);
        Some(QuadExtField::new(
            P::BaseField::decode(c0)?,
            P::BaseField::decode(c1)?,
        ))
    }
}

/// Decodes an uncompressed point (`x ‖ y`, `len` bytes in all), checking it is on the curve and
/// in the prime-order subgroup.
pub fn decode_point<P: SWCurveConfig>(bytes: &[u8], len: usize) -> Result<Affine<P>, PointError>
where
    P::BaseField: Coordinate,
{
    if bytes.len() != len || !len.is_multiple_of(2) {
        return Err(PointError::Length);
    }
    if bytes.iter().all(|b| *b == 0) {
        return Ok(Affine::<P>::zero());
    }
    let (x, y) = bytes.split_at(len / 2);
    let x = P::BaseField::decode(x).ok_or(PointError::NonCanonical)?;
    let y = P::BaseField::decode(y).ok_or(PointError::NonCanonical)?;
    let p = Affine::<P>::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(PointError::NotOnCurve);
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(PointError::NotInSubgroup);
    }
    Ok(p)
}

/// Encodes a point the way [`decode_point`] reads it (for tests, tools and benchmarks).
pub fn encode_point<P: SWCurveConfig>(p: &Affine<P>, out: &mut Vec<u8>)
where
    P::BaseField: Encode,
{
    match p.xy() {
        None => {
            let n = <P::BaseField as Encode>::LEN * 2;
            out.extend(std::iter::repeat_n(0u8, n));
        }
        Some((x, y)) => {
            x.encode(out);
            y.encode(out);
        }
    }
}

/// The encoder side of [`Coordinate`].
pub trait Encode {
    const LEN: usize;
    fn encode(&self, out: &mut Vec<u8>);
}

/// Implements [`Encode`] for a prime base field.
macro_rules! prime_encode {
    ($f:ty, $len:expr) => {
        impl Encode for $f {
            const LEN: usize = $len;
            fn encode(&self, out: &mut Vec<u8>) {
                use ark_ff::BigInteger;
                out.extend_from_slice(&self.into_bigint().to_bytes_be());
            }
        }
    };
}
prime_encode!(ark_bn254::Fq, 32);
prime_encode!(ark_bls12_381::Fq, 48);

impl<P: QuadExtConfig> Encode for QuadExtField<P>
where
    P::BaseField: Encode,
{
    const LEN: usize = 2 * <P::BaseField as Encode>::LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        self.c1.encode(out);
        self.c0.encode(out);
    }
}
