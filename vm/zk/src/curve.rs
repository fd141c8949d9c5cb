//! The two pairing-friendly curves (and their scalar fields) the ZK host functions support.

/// A curve, as the host ABI numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Curve {
    /// BN254 (alt_bn128): circom's, snarkjs' and the EVM precompiles' curve.
    Bn254 = 0,
    /// BLS12-381: the curve of Keel's validator signatures, Zcash and Filecoin.
    Bls12_381 = 1,
}

impl Curve {
    /// The curve with ABI number `id`, if any.
    pub fn from_id(id: u32) -> Option<Curve> {
        match id {
            0 => Some(Curve::Bn254),
            1 => Some(Curve::Bls12_381),
            _ => None,
        }
    }

    /// Bytes of one base-field coordinate in the ABI encoding (big-endian).
    pub const fn coordinate_len(self) -> usize {
        match self {
            Curve::Bn254 => 32,
            Curve::Bls12_381 => 48,
        }
    }

    /// Bytes of an uncompressed G1 point: x ‖ y.
    pub const fn g1_len(self) -> usize {
        2 * self.coordinate_len()
    }

    /// Bytes of an uncompressed G2 point: x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0.
    pub const fn g2_len(self) -> usize {
        4 * self.coordinate_len()
    }
}

/// Bytes of one scalar-field element in the ABI encoding (big-endian), for both curves.
pub const SCALAR_LEN: usize = 32;
