//! Secret keys, public keys and signatures: newtypes over blst's `min_pk` types that keep
//! Keel's validation rules in their constructors.

use std::fmt;

use blst::min_pk;

use crate::{CryptoError, POP_DST, PUBLIC_KEY_LEN, SECRET_KEY_LEN, SIGNATURE_DST, SIGNATURE_LEN};

/// A BLS secret key (a scalar below the group order, never zero).
///
/// The key material is zeroized when the value is dropped (blst's key type does this), and
/// `Debug` never prints it.
#[derive(Clone)]
pub struct SecretKey(min_pk::SecretKey);

impl SecretKey {
    /// Derives a key from a 32-byte seed with the IETF `KeyGen` procedure (HKDF-SHA-256).
    ///
    /// Deterministic: the same seed always gives the same key. Meant for demo and test keys
    /// and for seeds that come from a real entropy source; a guessable seed gives a guessable key.
    ///
    /// # Errors
    /// None in practice: the seed has the required length. The `Result` keeps blst's contract.
    pub fn from_seed(seed: &[u8; SECRET_KEY_LEN]) -> Result<Self, CryptoError> {
        min_pk::SecretKey::key_gen(seed, &[])
            .map(Self)
            .map_err(|_| CryptoError::InvalidSecretKey)
    }

    /// Decodes a 32-byte big-endian scalar.
    ///
    /// # Errors
    /// [`CryptoError::WrongLength`] for any other length, [`CryptoError::InvalidSecretKey`] for
    /// zero or a value not below the group order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SECRET_KEY_LEN {
            return Err(CryptoError::WrongLength {
                what: "secret key",
                expected: SECRET_KEY_LEN,
                got: bytes.len(),
            });
        }
        min_pk::SecretKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| CryptoError::InvalidSecretKey)
    }

    /// The 32-byte big-endian encoding. The caller owns the copy and should wipe it.
    pub fn to_bytes(&self) -> [u8; SECRET_KEY_LEN] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.sk_to_pk())
    }

    /// Signs `msg` under [`SIGNATURE_DST`]. Deterministic (BLS signatures have no nonce).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg, SIGNATURE_DST, &[]))
    }

    /// Signs `msg` under another domain separation tag `dst` (e.g. the VRF's), so that the
    /// signature is never valid as a transaction signature or a proof of possession.
    /// Deterministic, and unique for a validated key: the basis of the BLS VRF.
    pub fn sign_with_dst(&self, msg: &[u8], dst: &[u8]) -> Signature {
        Signature(self.0.sign(msg, dst, &[]))
    }

    /// A proof of possession: a signature over this key's compressed public key under
    /// [`POP_DST`]. A validator presents it once, at registration or handshake.
    pub fn prove_possession(&self) -> Signature {
        let pk = self.public_key().to_bytes();
        Signature(self.0.sign(&pk, POP_DST, &[]))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A validated BLS public key: a G1 point on the curve, in the prime-order subgroup and not the
/// point at infinity. No value of this type can violate that.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(min_pk::PublicKey);

impl PublicKey {
    /// Decodes and validates a 48-byte compressed public key.
    ///
    /// # Errors
    /// [`CryptoError::WrongLength`], [`CryptoError::BadEncoding`] (flags or field element),
    /// [`CryptoError::NotOnCurve`], [`CryptoError::NotInSubgroup`], [`CryptoError::Infinity`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        const WHAT: &str = "public key";
        if bytes.len() != PUBLIC_KEY_LEN {
            return Err(CryptoError::WrongLength {
                what: WHAT,
                expected: PUBLIC_KEY_LEN,
                got: bytes.len(),
            });
        }
        let pk =
            min_pk::PublicKey::uncompress(bytes).map_err(|e| CryptoError::from_blst(e, WHAT))?;
        // `validate` rejects infinity first, then checks subgroup membership.
        pk.validate().map_err(|e| CryptoError::from_blst(e, WHAT))?;
        Ok(Self(pk))
    }

    /// The 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.compress()
    }

    /// Checks a proof of possession made by [`SecretKey::prove_possession`]; includes the
    /// subgroup check of the proof.
    pub fn verify_possession(&self, proof: &Signature) -> bool {
        let msg = self.to_bytes();
        proof.0.verify(true, &msg, POP_DST, &[], &self.0, false) == blst::BLST_ERROR::BLST_SUCCESS
    }

    /// Verifies a signature made by [`SecretKey::sign_with_dst`] under `dst`, including the
    /// subgroup check of the signature.
    pub fn verify_with_dst(&self, msg: &[u8], dst: &[u8], sig: &Signature) -> bool {
        sig.0.verify(true, msg, dst, &[], &self.0, false) == blst::BLST_ERROR::BLST_SUCCESS
    }

    /// The underlying blst key, for batch verifiers. Already validated.
    pub fn as_blst(&self) -> &min_pk::PublicKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.to_bytes()))
    }
}

/// A decoded BLS signature: a G2 point on the curve, not the point at infinity.
///
/// Subgroup membership is *not* established by decoding; every verification path checks it
/// (this lets batch verifiers do that work in parallel).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(min_pk::Signature);

impl Signature {
    /// Decodes a 96-byte compressed signature, rejecting the point at infinity.
    ///
    /// # Errors
    /// [`CryptoError::WrongLength`], [`CryptoError::BadEncoding`] (flags or field element),
    /// [`CryptoError::NotOnCurve`], [`CryptoError::Infinity`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        const WHAT: &str = "signature";
        if bytes.len() != SIGNATURE_LEN {
            return Err(CryptoError::WrongLength {
                what: WHAT,
                expected: SIGNATURE_LEN,
                got: bytes.len(),
            });
        }
        let sig =
            min_pk::Signature::uncompress(bytes).map_err(|e| CryptoError::from_blst(e, WHAT))?;
        // After a successful decode the infinity flag (bit 6 of the first byte, ZCash
        // serialization format) is set exactly when the point is the point at infinity.
        if bytes[0] & 0x40 != 0 {
            return Err(CryptoError::Infinity { what: WHAT });
        }
        Ok(Self(sig))
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.compress()
    }

    /// Whether the point lies in the prime-order subgroup (the check verification performs).
    pub fn in_subgroup(&self) -> bool {
        self.0.subgroup_check()
    }

    /// The underlying blst signature, for batch verifiers. Not yet subgroup-checked.
    pub fn as_blst(&self) -> &min_pk::Signature {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.to_bytes()))
    }
}
