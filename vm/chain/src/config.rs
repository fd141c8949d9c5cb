//! Chain configuration: fee market, rent and intrinsic costs. Stored in the state at genesis, so
//! every node executes with the same numbers.

use crate::beacon::BeaconParams;
use crate::fees::FeeParams;
use crate::rent::RentParams;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainConfig {
    pub chain_id: u64,
    pub fees: FeeParams,
    pub rent: RentParams,
    /// Compute gas every accepted transaction pays before doing anything.
    pub tx_base_compute: u64,
    /// Compute gas of a native transfer.
    pub transfer_compute: u64,
    /// Compute gas per byte of deployed or restored data.
    pub data_compute_per_byte: u64,
    /// Storage bytes charged for creating an account record.
    pub account_bytes: u64,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// The randomness beacon: VDF group and delay, and the lag after which a height's beacon
    /// is final (`beacon.rs`).
    #[serde(default)]
    pub beacon: BeaconParams,
}

impl ChainConfig {
    /// The demo chain's configuration (`keel chain init`).
    pub fn demo() -> Self {
        ChainConfig {
            chain_id: 0x6b65656c, // "keel"
            fees: FeeParams::demo(),
            rent: RentParams::demo(),
            tx_base_compute: 5_000,
            transfer_compute: 2_000,
            data_compute_per_byte: 8,
            account_bytes: 128,
            max_block_txs: 20_000,
            beacon: BeaconParams::default(),
        }
    }
}
