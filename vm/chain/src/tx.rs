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

/// [`encode`] appended to `out` (no allocation when `out` has room).
pub fn encode_into<T: BorshSerialize>(v: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = borsh::to_writer(out, v);
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
        // Room for the domain and a call's encoding in one allocation (a deploy grows it).
        let mut m = Vec::with_capacity(TX_SIGNING_DOMAIN.len().saturating_add(256));
        m.extend_from_slice(TX_SIGNING_DOMAIN);
        encode_into(self, &mut m);
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
        self.hash_and_size().0
    }

    /// [`SignedTx::hash`] and the length of the canonical encoding, hashed as it is encoded
    /// (no buffer).
    pub fn hash_and_size(&self) -> ([u8; 32], u64) {
        let mut w = HashingWriter {
            hasher: Sha256::new(),
            len: 0,
        };
        // Writing into a hasher cannot fail.
        let _ = borsh::to_writer(&mut w, self);
        (w.hasher.finalize().into(), w.len)
    }

    /// Parses the sender key and signature (not yet verified).
    pub fn parts(&self) -> Result<(PublicKey, Signature), keel_crypto::CryptoError> {
        Ok((
            PublicKey::from_bytes(&self.tx.sender)?,
            Signature::from_bytes(&self.signature)?,
        ))
    }

    /// What the signature phase takes from the transaction: the item it hands its verifier
    /// (the sender key taken from, or added to, `keys` — the key [`SignedTx::parts`] would
    /// decode and the address [`Transaction::sender_address`] would hash, without re-validating
    /// or re-hashing a key seen before — the signing message, and the signature still
    /// compressed, for the verifier to decode on its workers), the sender's address, and
    /// [`SignedTx::hash_and_size`] computed from the encoding the signing message already holds
    /// (one encoding per transaction). Errors: the sender key's.
    pub fn signature_part(
        &self,
        keys: &mut SenderKeys,
    ) -> Result<SignaturePart, keel_crypto::CryptoError> {
        let (pk, sender) = keys.get_with(&self.tx.sender, |_| self.tx.sender_address())?;
        let msg = self.tx.signing_message();
        // A signing message always starts with the domain; the fallback encodes again.
        let (hash, size) =
            signed_hash_and_size(&msg, &self.signature).unwrap_or_else(|| self.hash_and_size());
        Ok(SignaturePart {
            item: keel_crypto::EncodedItem {
                pk,
                msg,
                sig: self.signature,
            },
            sender,
            hash,
            size,
        })
    }
}

/// [`SignedTx::hash_and_size`] of the signed transaction whose signing message is `msg` and
/// signature `sig`, without encoding it again: the signing message is the domain, then the
/// transaction's encoding, and a signed transaction encodes as that encoding, then the
/// signature. `None` if `msg` is not a transaction's signing message.
pub fn signed_hash_and_size(msg: &[u8], sig: &[u8]) -> Option<([u8; 32], u64)> {
    let encoding = msg.strip_prefix(TX_SIGNING_DOMAIN)?;
    let mut h = Sha256::new();
    h.update(encoding);
    h.update(sig);
    let size = (encoding.len() as u64).saturating_add(sig.len() as u64);
    Some((h.finalize().into(), size))
}

/// One transaction as the signature phase sees it ([`SignedTx::signature_part`]).
pub struct SignaturePart {
    /// The signature check to hand the verifier.
    pub item: keel_crypto::EncodedItem,
    /// The sender's address.
    pub sender: Address,
    /// [`SignedTx::hash`].
    pub hash: [u8; 32],
    /// The length of the signed transaction's canonical encoding.
    pub size: u64,
}

/// Senders' validated public keys with the addresses they hash to, kept across blocks
/// (node-local: speed only; see `keel_crypto::KeyCache`).
pub type SenderKeys = keel_crypto::KeyCache<Address>;

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

/// An `io::Write` that hashes what is written and counts it.
struct HashingWriter {
    hasher: Sha256,
    len: u64,
}

impl std::io::Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.len = self.len.saturating_add(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Amount;

    fn signed(kind: TxKind) -> SignedTx {
        SignedTx {
            tx: Transaction {
                chain_id: 7,
                sender: [3; 48],
                nonce: 9,
                gas_limits: [1, 2, 3, 4],
                max_fee_per_unit: [5, 6, 7, 8],
                priority_fee: 11,
                kind,
            },
            signature: [4; 96],
        }
    }

    #[test]
    fn the_streamed_hash_and_size_are_those_of_the_encoding() {
        let kinds = [
            TxKind::Transfer {
                to: [1; 32],
                amount: Amount::from_u128(5),
            },
            TxKind::Deploy {
                code: vec![0xab; 3000],
                constructor: Some(CallData {
                    entry: "init".into(),
                    args: vec![1, 2, 3],
                }),
            },
            TxKind::Restore {
                contract: [2; 32],
                entries: vec![(vec![1], vec![2; 70]), (vec![], vec![])],
            },
        ];
        for kind in kinds {
            let stx = signed(kind);
            let encoded = encode(&stx);
            let want: [u8; 32] = Sha256::digest(&encoded).into();
            assert_eq!(stx.hash_and_size(), (want, encoded.len() as u64));
            assert_eq!(stx.hash(), want);
            let mut keys = SenderKeys::new(4);
            let part = stx.signature_part(&mut keys);
            // The test key is not a curve point: the part fails on the key, like the phase.
            assert!(part.is_err());
            let key = SecretKey::from_seed(&[5; 32]).expect("key");
            let mut tx = stx.tx.clone();
            tx.sender = key.public_key().to_bytes();
            let real = tx.sign(&key);
            let part = real.signature_part(&mut keys).expect("a valid key");
            let encoded = encode(&real);
            let want: [u8; 32] = Sha256::digest(&encoded).into();
            assert_eq!((part.hash, part.size), (want, encoded.len() as u64));
            assert_eq!((part.hash, part.size), real.hash_and_size());
            assert_eq!(part.item.msg, real.tx.signing_message());
            assert_eq!(
                real.tx.signing_message(),
                [TX_SIGNING_DOMAIN, &encode(&real.tx)].concat()
            );
            assert_eq!(part.sender, real.tx.sender_address());
        }
    }
}
