//! The block log and the header rules.
//!
//! Each committed block stores, in the same redb write transaction as its state, a record of
//! what was executed (the canonical block bytes: header and signed transactions) and what came
//! out (its [`BlockResult`]); block 0 stores the genesis it was created from. That is what
//! `keel replay` re-executes and compares against.
//!
//! Header rules (checked by [`check_header`] before any transaction runs): the timestamp is
//! strictly greater than the parent's (genesis counts as 0), and the proposer is one of the
//! validators in the parent state's governance records. A block to commit must also carry the
//! proposer's valid VRF proof and, when due, the VDF output ([`check_block_header`],
//! `beacon.rs`); a simulated header need not.

use crate::executor::{Block, BlockHeader};
use crate::genesis::Genesis;
use crate::receipt::BlockResult;
use crate::state_access::{Access, AccessError, ChainBase, system_key};
use crate::tx::{DecodeError, decode, encode};
use crate::types::Address;
use keel_state::WriteSet;
use serde::{Deserialize, Serialize};

/// Why a block header is refused (nothing is executed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("block timestamp {got} is not after its parent's ({parent}): timestamps must increase")]
    StaleTimestamp { parent: u64, got: u64 },
    #[error("proposer {} is not a validator", hex::encode(proposer))]
    UnknownProposer { proposer: Address },
    #[error("the VRF public key is not the proposer's (its address differs)")]
    VrfKeyNotProposer,
    #[error("bad VRF proof: {0}")]
    BadVrf(keel_beacon::VrfError),
    #[error("the beacon seed of height {height} is not in the state")]
    MissingSeed { height: u64 },
    #[error("the block must carry the beacon of height {due:?}, but carries {got:?}")]
    BeaconSchedule { due: Option<u64>, got: Option<u64> },
    #[error("bad VDF output: {0}")]
    BadVdf(keel_beacon::VdfError),
}

/// The raw state key of the last committed block's timestamp (`u64` little-endian).
pub fn timestamp_key() -> Vec<u8> {
    system_key("block/timestamp")
}

/// The timestamp of the block that produced the state `a` reads (0 at genesis).
pub fn parent_timestamp<B: ChainBase>(a: &Access<'_, B>) -> Result<u64, AccessError> {
    Ok(match a.overlay.get(&timestamp_key())? {
        Some(b) => decode("block timestamp", &b)?,
        None => 0,
    })
}

/// Checks `header` against the parent state `a`: monotonic timestamp, proposer in the set.
pub fn check_header<B: ChainBase>(
    a: &Access<'_, B>,
    header: &BlockHeader,
) -> Result<Result<(), HeaderError>, AccessError> {
    let parent = parent_timestamp(a)?;
    if header.timestamp <= parent {
        return Ok(Err(HeaderError::StaleTimestamp {
            parent,
            got: header.timestamp,
        }));
    }
    let validators = crate::governance::validators(a)?;
    if !validators.iter().any(|v| v.address == header.proposer) {
        return Ok(Err(HeaderError::UnknownProposer {
            proposer: header.proposer,
        }));
    }
    Ok(Ok(()))
}

/// [`check_header`] plus the beacon evidence (`beacon.rs`): what a block must pass to commit.
pub fn check_block_header<B: ChainBase>(
    a: &Access<'_, B>,
    header: &BlockHeader,
) -> Result<Result<(), HeaderError>, AccessError> {
    if let Err(e) = check_header(a, header)? {
        return Ok(Err(e));
    }
    crate::beacon::check(a, &a.config()?, header)
}

/// Adds what every block commits besides its transactions' writes: its timestamp (for the
/// next header check) and its receipts root, the root over `receipt_leaves` (the leaf hashes of
/// its receipts in order, [`crate::receipts_root::leaf_hashes`]). Returns the receipts root. Every executor
/// (sequential, parallel) calls this on its final write set.
pub fn commit_block_facts(
    writes: &mut WriteSet,
    header: &BlockHeader,
    receipt_leaves: &[[u8; 32]],
) -> [u8; 32] {
    writes.insert(timestamp_key(), Some(encode(&header.timestamp)));
    crate::receipts_root::commit_receipts_root(writes, header.height, receipt_leaves)
}

/// The stored record of a block `h ≥ 1` (JSON): the result's fields at the top level (so
/// `record["height"]` reads as before) and the canonical bytes of the block, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    #[serde(flatten)]
    pub result: BlockResult,
    /// `encode(&Block)`: exactly what was executed. Absent in records written before blocks
    /// were kept (such a chain cannot be replayed).
    #[serde(default, with = "opt_hex")]
    pub block: Option<Vec<u8>>,
}

impl BlockRecord {
    pub fn new(block: &Block, result: &BlockResult) -> BlockRecord {
        BlockRecord {
            result: result.clone(),
            block: Some(encode(block)),
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<BlockRecord, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError {
            what: "block record",
            message: e.to_string(),
        })
    }

    /// The executed block, decoded.
    pub fn block(&self) -> Result<Option<Block>, DecodeError> {
        self.block
            .as_deref()
            .map(|b| decode("block", b))
            .transpose()
    }
}

/// The stored record of block 0: the genesis the chain was created from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenesisRecord {
    pub height: u64,
    pub genesis: Genesis,
}

impl GenesisRecord {
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<GenesisRecord, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError {
            what: "genesis record",
            message: e.to_string(),
        })
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|h| hex::decode(h).map_err(serde::de::Error::custom))
            .transpose()
    }
}
