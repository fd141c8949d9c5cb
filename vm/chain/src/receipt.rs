//! Receipts and block results.

use crate::tx::PerDimension;
use crate::types::{Address, Amount};
use keel_vm::{Dimension, Event, Fault, Trap};
use serde::{Deserialize, Serialize};

/// Why a transaction was not executed at all (no state change, no fee).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum RejectReason {
    #[error("bad signature")]
    BadSignature,
    #[error("wrong chain id {got} (this chain is {expected})")]
    WrongChain { expected: u64, got: u64 },
    #[error("wrong nonce {got}, account expects {expected}")]
    WrongNonce { expected: u64, got: u64 },
    #[error("balance too low for the maximum fee and value")]
    InsufficientBalance,
    #[error("max fee per unit below the base price in {dimension}")]
    FeeTooLow { dimension: Dimension },
    #[error("gas limit below the intrinsic cost in {dimension}")]
    GasLimitTooLow { dimension: Dimension },
    #[error("block limit reached in {dimension}")]
    BlockFull { dimension: Dimension },
    #[error("fee arithmetic overflows")]
    FeeOverflow,
    #[error("the sender's nonce is at its maximum")]
    NonceExhausted,
}

/// Why an executed transaction failed (its writes are reverted; it pays for gas used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum FailReason {
    #[error("contract trapped: {0}")]
    Trap(Trap),
    #[error("code rejected by admission: {0}")]
    Admission(#[serde(with = "message")] String),
    #[error("not enough balance for the value or storage deposit")]
    InsufficientFunds,
    #[error("gas limit exceeded in {dimension}")]
    GasLimit { dimension: Dimension },
    #[error("no contract at that address")]
    NoContract,
    #[error("a contract already exists at that address")]
    ContractExists,
    #[error("the contract was evicted for unpaid rent; restore it first")]
    Evicted,
    #[error("the contract is not evicted")]
    NotEvicted,
    #[error("restore data does not match the eviction commitment")]
    BadRestoreProof,
    #[error("governance: {0}")]
    Governance(#[serde(with = "message")] String),
    #[error("crediting the value would overflow the recipient's balance")]
    BalanceOverflow,
}

/// The outcome of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TxStatus {
    Success {
        #[serde(with = "crate::tx::hex_serde")]
        return_data: Vec<u8>,
    },
    Failed {
        reason: FailReason,
    },
    Rejected {
        reason: RejectReason,
    },
}

/// One receipt per transaction, in block order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    #[serde(with = "hex32")]
    pub tx_hash: [u8; 32],
    pub status: TxStatus,
    /// Gas used per dimension (compute, storage bytes, memory pages, bandwidth).
    pub gas_used: PerDimension,
    /// Total fee paid (base fees burned + priority fee to the proposer).
    pub fee: Amount,
    /// Address of the contract a deploy created.
    #[serde(with = "opt_hex32")]
    pub contract: Option<Address>,
    pub events: Vec<Event>,
    /// Every trapped call frame of the transaction (kind, contract, entry, wasm offset), even
    /// when a caller handled its callee's failure and the transaction succeeded. Omitted from
    /// JSON when empty, so receipts without faults keep their earlier form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
}

/// The result of executing a block: deterministic given the parent state and the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockResult {
    pub height: u64,
    pub receipts: Vec<Receipt>,
    /// Sum of the gas used by the block's transactions, per dimension.
    pub gas_used: PerDimension,
    #[serde(with = "hex32")]
    pub state_root: [u8; 32],
    /// Merkle root of the receipts' canonical encoding (`receipts_root.rs`); also written into
    /// the state under `receipts_root_key(height)`, so `state_root` commits to it.
    #[serde(with = "hex32", default)]
    pub receipts_root: [u8; 32],
    /// Base prices the block was charged at, and the prices for the next block.
    pub prices: PerDimension,
    pub next_prices: PerDimension,
    /// Governance events of the block: proposals, votes, activations, failures, expiries.
    /// Omitted from JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub governance: Vec<crate::governance::GovEvent>,
}

impl BlockResult {
    /// Every event of the block, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.receipts.iter().flat_map(|r| r.events.iter())
    }

    /// Every fault of the block, with the index of its transaction, in order.
    pub fn faults(&self) -> impl Iterator<Item = (usize, &Fault)> {
        self.receipts
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.faults.iter().map(move |f| (i, f)))
    }
}

/// A message inside an internally tagged enum variant, as `{"message": …}` (serde cannot put
/// a bare string next to the tag).
mod message {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Message {
        message: String,
    }

    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        Message {
            message: v.to_owned(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Message::deserialize(d)?.message)
    }
}

pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        let v = hex::decode(s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

pub(crate) mod opt_hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.serialize_some(&hex::encode(a)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(h) => {
                let v = hex::decode(h).map_err(serde::de::Error::custom)?;
                v.try_into()
                    .map(Some)
                    .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fail_reason_round_trips_through_the_block_record() {
        let reasons = [
            FailReason::Trap(Trap::OutOfGas),
            FailReason::Admission("floats".into()),
            FailReason::Governance("not a validator".into()),
            FailReason::InsufficientFunds,
            FailReason::GasLimit {
                dimension: Dimension::Compute,
            },
        ];
        for reason in reasons {
            let json = serde_json::to_string(&reason).expect("serializes");
            let back: FailReason = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, reason, "{json}");
        }
    }
}
