//! Inclusion and exclusion proofs, checkable without the database.

use jmt::RootHash;
use jmt::proof::SparseMerkleProof;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StateError};
use crate::keys::key_hash;

/// A Merkle proof that a raw key has a given value — or no value — under a state root.
///
/// It is a jmt sparse Merkle proof over sha256: the leaf found on the key's path (if any) and the
/// sibling hashes from that leaf up to the root. The same proof type covers inclusion (the leaf
/// is the key's own) and exclusion (no leaf, or another key's leaf sharing the path prefix).
///
/// Encodings: [`StateProof::to_bytes`] is the canonical compact form (borsh, as jmt defines it),
/// [`StateProof::to_hex`] is that in hex, and the serde form is the hex string, so a proof in a
/// JSON document is one string that any process can decode and check with [`verify_proof`].
#[derive(Clone, Debug, PartialEq)]
pub struct StateProof {
    inner: SparseMerkleProof<sha2::Sha256>,
}

impl StateProof {
    pub(crate) fn new(inner: SparseMerkleProof<sha2::Sha256>) -> Self {
        Self { inner }
    }

    /// The canonical byte encoding (borsh, as jmt lays out its proof type).
    ///
    /// # Errors
    /// [`StateError::ProofEncoding`] if borsh refuses the value (writing into memory does not
    /// fail in practice; the signature is borsh's).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        borsh::to_vec(&self.inner).map_err(|e| StateError::ProofEncoding(e.to_string()))
    }

    /// Decodes [`StateProof::to_bytes`] output.
    ///
    /// # Errors
    /// [`StateError::ProofEncoding`] when the bytes are not exactly one encoded proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        borsh::from_slice(bytes)
            .map(Self::new)
            .map_err(|e| StateError::ProofEncoding(e.to_string()))
    }

    /// Lower-case hex of [`StateProof::to_bytes`].
    ///
    /// # Errors
    /// As [`StateProof::to_bytes`].
    pub fn to_hex(&self) -> Result<String> {
        self.to_bytes().map(hex::encode)
    }

    /// Decodes [`StateProof::to_hex`] output.
    ///
    /// # Errors
    /// [`StateError::ProofEncoding`] on bad hex or a bad proof encoding.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes =
            hex::decode(text.trim()).map_err(|e| StateError::ProofEncoding(e.to_string()))?;
        Self::from_bytes(&bytes)
    }
}

impl Serialize for StateProof {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_hex().map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for StateProof {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Checks that under state root `root`, raw key `raw_key` holds `value` (`Some`) or holds
/// nothing (`None`). Needs no database; deterministic.
///
/// # Errors
/// [`StateError::ProofInvalid`] when the proof does not establish exactly that claim — wrong
/// root, wrong key, wrong value, an inclusion proof offered as exclusion or vice versa, or any
/// tampered hash.
pub fn verify_proof(
    root: RootHash,
    raw_key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<()> {
    proof
        .inner
        .verify(root, key_hash(raw_key), value)
        .map_err(StateError::ProofInvalid)
}
