//! Transactions: canonical encoding (borsh, see ENCODING.md), signing and hashing.

use crate::types::{Address, Amount, address_of};
use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{PublicKey, SecretKey, Signature};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain tag prepended to the encoded transaction before signing.
pub const TX_SIGNING_DOMAIN: &[u8] = b"keel/tx/v1";

/// Gas or prices per dimension, in the canonical order compute, storage bytes, memory pages,
/// bandwidth.
pub type PerDimension = [u64; 4];

/// A contract call.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CallData {
    pub entry: String,
    #[serde(with = "hex_serde")]
    pub args: Vec<u8>,
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TxKind {
    /// Move native tokens.
    Transfer { to: Address, amount: Amount },
    /// Deploy wasm code at `contract_address(sender, nonce)`, optionally calling a constructor.
    Deploy {
        #[serde(with = "hex_serde")]
        code: Vec<u8>,
        constructor: Option<CallData>,
    },
    /// Call a contract entry point, sending `value` with it.
    Call {
        contract: Address,
        call: CallData,
        value: Amount,
    },
    /// Bring an evicted contract's storage back: `entries` must hash to its commitment.
    Restore {
        contract: Address,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// A governance proposal or vote (validators only; see `governance.rs`).
    Governance(crate::governance::GovTx),
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    pub chain_id: u64,
    /// The sender's BLS public key (compressed G1, 48 bytes); the sender's address derives from it.
    #[serde(with = "hex_serde_48")]
    pub sender: [u8; 48],
    pub nonce: u64,
    /// Per-dimension gas limits.
    pub gas_limits: PerDimension,
    /// Highest base price per unit the sender accepts, per dimension.
    pub max_fee_per_unit: PerDimension,
    /// Tip per unit of compute gas to the block proposer; orders the mempool.
    pub priority_fee: u64,
    pub kind: TxKind,
}

/// A transaction and its BLS signature over `TX_SIGNING_DOMAIN || encode(tx)`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedTx {
    pub tx: Transaction,
    #[serde(with = "hex_serde_96")]
    pub signature: [u8; 96],
}

/// A malformed encoding.
#[derive(Debug, thiserror::Error)]
#[error("malformed {what}: {message}")]
pub struct DecodeError {
    pub what: &'static str,
    pub message: String,
}

/// Canonical encoding of any chain type (borsh).
pub fn encode<T: BorshSerialize>(v: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    borsh::to_vec(v).unwrap_or_default()
}

/// Decodes a canonical encoding; trailing bytes are an error, so each value has one encoding.
pub fn decode<T: BorshDeserialize>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    borsh::from_slice(bytes).map_err(|e| DecodeError {
        what,
        message: e.to_string(),
    })
}

impl Transaction {
    /// The bytes that are signed.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = TX_SIGNING_DOMAIN.to_vec();
        m.extend_from_slice(&encode(self));
        m
    }

    /// The sender's address.
    pub fn sender_address(&self) -> Address {
        address_of(&self.sender)
    }

    /// Signs with `key` (whose public key must be `self.sender`).
    pub fn sign(self, key: &SecretKey) -> SignedTx {
        let signature = key.sign(&self.signing_message()).to_bytes();
        SignedTx {
            tx: self,
            signature,
        }
    }

    /// The most the sender can be charged for gas: Σ limit × max price, plus the tip on compute.
    pub fn max_gas_cost(&self) -> Option<u128> {
        let mut total: u128 = 0;
        for (l, p) in self.gas_limits.iter().zip(self.max_fee_per_unit.iter()) {
            total = total.checked_add(u128::from(*l).checked_mul(u128::from(*p))?)?;
        }
        total
            .checked_add(u128::from(self.gas_limits[0]).checked_mul(u128::from(self.priority_fee))?)
    }
}

impl SignedTx {
    /// SHA-256 of the canonical encoding of the signed transaction.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(encode(self)).into()
    }

    /// Parses the sender key and signature (not yet verified).
    pub fn parts(&self) -> Result<(PublicKey, Signature), keel_crypto::CryptoError> {
        Ok((
            PublicKey::from_bytes(&self.tx.sender)?,
            Signature::from_bytes(&self.signature)?,
        ))
    }

    /// What the signature phase hands its verifier: the sender key taken from (or added to)
    /// `keys` — the key [`SignedTx::parts`] would decode, without re-validating a key seen
    /// before — the signing message, and the signature still compressed (the verifier decodes
    /// it, on its workers). Errors: the sender key's.
    pub fn encoded_item(
        &self,
        keys: &mut keel_crypto::KeyCache,
    ) -> Result<keel_crypto::EncodedItem, keel_crypto::CryptoError> {
        Ok(keel_crypto::EncodedItem {
            pk: keys.get(&self.tx.sender)?,
            msg: self.tx.signing_message(),
            sig: self.signature,
        })
    }
}

macro_rules! fixed_hex {
    ($name:ident, $n:expr) => {
        pub(crate) mod $name {
            use serde::{Deserialize, Deserializer, Serializer};
            pub fn serialize<S: Serializer>(v: &[u8; $n], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(v))
            }
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; $n], D::Error> {
                let s = <String as Deserialize>::deserialize(d)?;
                let v = hex::decode(s).map_err(serde::de::Error::custom)?;
                v.try_into()
                    .map_err(|_| serde::de::Error::custom(concat!("expected ", $n, " bytes")))
            }
        }
    };
}
fixed_hex!(hex_serde_48, 48);
fixed_hex!(hex_serde_96, 96);

pub mod hex_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
