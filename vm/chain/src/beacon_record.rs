//! A final beacon value with the evidence that makes it so, checkable without a database
//! (`keel chain beacon`): the proposer's VRF proof of the height, the seed it signed, and the
//! VDF output and proof over that seed that a later block carried.
//!
//! [`BeaconRecord::verify`] checks exactly what block validation checked (`beacon.rs`), from
//! the record alone. What it takes on trust is the seed's link to genesis (seed`h−1` follows
//! from every earlier block's VRF output): `keel replay` re-derives that chain.

use crate::beacon::{BeaconEvidence, BeaconParams, VrfEvidence, hex_array, seed_key};
use crate::blocks::HeaderError;
use crate::chain::Chain;
use crate::executor::{BlockHeader, ChainError};
use crate::state_access::AccessError;
use crate::types::{Address, address_of};
use keel_beacon::seed;
use keel_beacon::vrf::{self, VrfInput};
use serde::{Deserialize, Serialize};

/// The beacon of `height` and its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconRecord {
    pub chain_id: u64,
    /// The chain's beacon parameters (VDF group, delay, lag).
    pub params: BeaconParams,
    pub height: u64,
    /// seed`height−1`: the input of block `height`'s VRF proof and of the VDF.
    #[serde(with = "hex_array")]
    pub seed: [u8; 32],
    /// Block `height`'s proposer and its VRF evidence.
    #[serde(with = "hex_array")]
    pub proposer: Address,
    pub vrf: VrfEvidence,
    /// The block that carried the VDF output (`height + lag`).
    pub carried_in: u64,
    pub vdf: BeaconEvidence,
    /// The final value `keel.randomness(height)` returns: H(VDF output).
    #[serde(with = "hex_array")]
    pub value: [u8; 32],
}

/// Why a [`BeaconRecord`] does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The VRF or VDF evidence fails as block validation would fail it.
    #[error("{0}")]
    Evidence(HeaderError),
    /// The VDF evidence is for another height, or not carried `lag` blocks later.
    #[error("the VDF output is for height {vdf} carried in block {carried_in}, not for {height}")]
    Schedule {
        height: u64,
        vdf: u64,
        carried_in: u64,
    },
    /// The stated value is not H(VDF output).
    #[error("the beacon value is not the hash of the VDF output")]
    Value,
}

impl BeaconRecord {
    /// Checks the record on its own: the VRF proof of block `height` by its proposer over
    /// (chain id, `height`, `seed`), the VDF proof over `seed` with the record's parameters, the
    /// schedule (`carried_in = height + lag`) and `value = H(output)`. Deterministic; about two
    /// milliseconds (one pairing check, two short exponentiations).
    pub fn verify(&self) -> Result<(), RecordError> {
        let evidence = RecordError::Evidence;
        if address_of(&self.vrf.public_key) != self.proposer {
            return Err(evidence(HeaderError::VrfKeyNotProposer));
        }
        let input = VrfInput {
            chain_id: self.chain_id,
            height: self.height,
            prev_seed: self.seed,
        };
        vrf::verify(&self.vrf.public_key, &input, &self.vrf.proof)
            .map_err(|e| evidence(HeaderError::BadVrf(e)))?;
        let due = self.params.due_at(self.carried_in);
        if self.vdf.height != self.height || due != Some(self.height) {
            return Err(RecordError::Schedule {
                height: self.height,
                vdf: self.vdf.height,
                carried_in: self.carried_in,
            });
        }
        let params = self
            .params
            .vdf()
            .map_err(|e| evidence(HeaderError::BadVdf(e)))?;
        params
            .verify(&self.seed, &self.vdf.vdf_output())
            .map_err(|e| evidence(HeaderError::BadVdf(e)))?;
        if seed::beacon_value(&self.vdf.output) != self.value {
            return Err(RecordError::Value);
        }
        Ok(())
    }
}

impl Chain {
    /// The record of `height`'s beacon, if it is final at the head (else `None`): read from the
    /// block records of `height` and `height + lag`, and seed`height−1` from the state as of
    /// block `height − 1` (it is deleted from later states once used).
    pub fn beacon_record(&self, height: u64) -> Result<Option<BeaconRecord>, ChainError> {
        let Some(value) = self.beacon_value(height)? else {
            return Ok(None);
        };
        let config = self.config()?;
        let carried_in = height.saturating_add(config.beacon.lag.max(1));
        let proposed = self.header_at(height)?;
        let carrier = self.header_at(carried_in)?;
        let vdf = carrier.beacon.ok_or_else(|| {
            ChainError::Beacon(format!("block {carried_in} carries no VDF output"))
        })?;
        let prev = height.saturating_sub(1);
        let seed = if prev == 0 {
            seed::genesis_seed(config.chain_id)
        } else {
            let raw = self.get_at(&seed_key(prev), prev)?.unwrap_or_default();
            <[u8; 32]>::try_from(raw.as_slice())
                .map_err(|_| ChainError::Beacon(format!("no seed of height {prev} in its state")))?
        };
        Ok(Some(BeaconRecord {
            chain_id: config.chain_id,
            params: config.beacon,
            height,
            seed,
            proposer: proposed.proposer,
            vrf: proposed.vrf,
            carried_in,
            vdf,
            value,
        }))
    }

    /// The stored header of block `height`. Errors: no such block, or a record without it.
    fn header_at(&self, height: u64) -> Result<BlockHeader, ChainError> {
        let record = self
            .block_record(height)?
            .ok_or_else(|| ChainError::Beacon(format!("no block {height}")))?;
        let block = record
            .block()
            .map_err(AccessError::Decode)?
            .ok_or_else(|| ChainError::Beacon(format!("block {height}'s record has no block")))?;
        Ok(block.header)
    }
}
