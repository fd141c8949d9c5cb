//! The randomness beacon's consensus rules (the cryptography is in `keel-beacon`).
//!
//! Block `h`'s header carries:
//! - `vrf`: the proposer's public key and VRF proof over (chain id, `h`, seed`h−1`). The key must
//!   be the proposer's (its address is `address_of(key)`) and the proof must verify; the output
//!   extends the seed chain: seed`h` = H(seed`h−1` ‖ output). Proofs are unique, so a value
//!   reused from another height or key never verifies.
//! - `beacon`: from height `lag + 1` on, exactly the VDF output and proof for height
//!   `p = h − lag` over seed`p−1`; before that, none. Once block `p + lag` is committed the
//!   beacon of `p`, H(VDF output), is **final**: it is in the state and `keel.randomness(p)`
//!   returns it to every later block (and to no earlier one).
//!
//! Fairness: seed`p−1` is fixed when block `p − 1` commits; the VDF takes `delay` sequential
//! squarings, chosen (genesis data) to take longer than `lag` block intervals, so nobody —
//! including the proposers of `p − 1` and `p`, who alone could withhold a block — learns the
//! beacon of `p` before those blocks are out of their hands. Contracts read only final values
//! (see `docs/DESIGN.md`).
//!
//! State (system keys): `beacon/seed/<h>` (32 bytes) for the heights whose VDF is still due,
//! deleted once used; `beacon/value/<p>` (32 bytes) for every final height.

use crate::blocks::HeaderError;
use crate::config::ChainConfig;
use crate::executor::BlockHeader;
use crate::state_access::{Access, AccessError, ChainBase, system_key};
use crate::types::address_of;
use borsh::{BorshDeserialize, BorshSerialize};
use keel_beacon::vrf::{self, VrfInput};
use keel_beacon::{RsaGroup, VdfOutput, VdfParams, seed};
use keel_crypto::{PUBLIC_KEY_LEN, SIGNATURE_LEN, SecretKey};
use serde::{Deserialize, Serialize};

/// The beacon's chain parameters (part of [`ChainConfig`], fixed at genesis).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BeaconParams {
    /// The VDF's group.
    pub group: VdfGroup,
    /// Sequential squarings per VDF evaluation. Must take longer than `lag` block intervals on
    /// the fastest hardware an attacker may have (see the fairness argument above).
    pub delay: u64,
    /// Blocks between a height and the block that carries (and finalizes) its beacon; ≥ 1.
    pub lag: u64,
}

/// Groups of unknown order the VDF may run in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub enum VdfGroup {
    /// The RSA-2048 challenge modulus, modulo ±1.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl Default for BeaconParams {
    /// The demo chain's: 2^12 squarings (a few milliseconds: demos and tests stay fast; a
    /// production genesis sets seconds' worth) and a lag of 2 blocks.
    fn default() -> Self {
        BeaconParams {
            group: VdfGroup::Rsa2048,
            delay: 1 << 12,
            lag: 2,
        }
    }
}

impl BeaconParams {
    /// The VDF these parameters name. Errors: a delay outside `keel_beacon::vdf::MAX_DELAY`.
    pub fn vdf(&self) -> Result<VdfParams, keel_beacon::VdfError> {
        let group = match self.group {
            VdfGroup::Rsa2048 => RsaGroup::rsa2048(),
        };
        VdfParams::new(group, self.delay)
    }

    /// The height whose beacon block `height` must carry, if any.
    pub fn due_at(&self, height: u64) -> Option<u64> {
        height.checked_sub(self.lag.max(1)).filter(|p| *p >= 1)
    }
}

/// The proposer's VRF evidence in a header.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct VrfEvidence {
    /// The proposer's compressed BLS public key (its address is `address_of` of it).
    #[serde(with = "hex_array")]
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The VRF proof: a compressed G2 signature.
    #[serde(with = "hex_array")]
    pub proof: [u8; SIGNATURE_LEN],
}

impl VrfEvidence {
    /// No evidence (all zero): never verifies. For headers that are only simulated.
    pub fn none() -> Self {
        VrfEvidence {
            public_key: [0; PUBLIC_KEY_LEN],
            proof: [0; SIGNATURE_LEN],
        }
    }

    /// The evidence `key` produces for block `height` on seed `prev_seed`.
    pub fn prove(key: &SecretKey, chain_id: u64, height: u64, prev_seed: [u8; 32]) -> Self {
        let input = VrfInput {
            chain_id,
            height,
            prev_seed,
        };
        VrfEvidence {
            public_key: key.public_key().to_bytes(),
            proof: vrf::prove(key, &input),
        }
    }

    /// The VRF output (meaningful once verified).
    pub fn output(&self) -> [u8; 32] {
        vrf::output(&self.proof)
    }
}

impl Default for VrfEvidence {
    fn default() -> Self {
        Self::none()
    }
}

/// The VDF evaluation a header carries: for height `height`, over seed`height−1`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BeaconEvidence {
    pub height: u64,
    /// y, encoded as a group element (256 bytes for RSA-2048).
    #[serde(with = "hex_vec")]
    pub output: Vec<u8>,
    /// Wesolowski's π, encoded likewise.
    #[serde(with = "hex_vec")]
    pub proof: Vec<u8>,
}

impl BeaconEvidence {
    pub fn vdf_output(&self) -> VdfOutput {
        VdfOutput {
            output: self.output.clone(),
            proof: self.proof.clone(),
        }
    }

    /// The beacon value this evidence makes final.
    pub fn value(&self) -> [u8; 32] {
        seed::beacon_value(&self.output)
    }
}

/// The state key of seed`h`.
pub fn seed_key(height: u64) -> Vec<u8> {
    system_key(&format!("beacon/seed/{height}"))
}

/// The state key of the final beacon value of `height`.
pub fn value_key(height: u64) -> Vec<u8> {
    system_key(&format!("beacon/value/{height}"))
}

fn read32<B: ChainBase>(a: &Access<'_, B>, key: &[u8]) -> Result<Option<[u8; 32]>, AccessError> {
    Ok(a.overlay
        .get(key)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()))
}

/// seed`height` as the state `a` holds it: seed₀ is derived from the chain id; later seeds are
/// kept until their VDF output is in a block.
pub fn seed_at<B: ChainBase>(
    a: &Access<'_, B>,
    config: &ChainConfig,
    height: u64,
) -> Result<Option<[u8; 32]>, AccessError> {
    if height == 0 {
        return Ok(Some(seed::genesis_seed(config.chain_id)));
    }
    read32(a, &seed_key(height))
}

/// The final beacon value of `height`, if block `height + lag` has been committed.
pub fn final_value<B: ChainBase>(
    a: &Access<'_, B>,
    height: u64,
) -> Result<Option<[u8; 32]>, AccessError> {
    read32(a, &value_key(height))
}

/// Checks a header's VRF and beacon evidence against the parent state `a`.
pub fn check<B: ChainBase>(
    a: &Access<'_, B>,
    config: &ChainConfig,
    header: &BlockHeader,
) -> Result<Result<(), HeaderError>, AccessError> {
    if address_of(&header.vrf.public_key) != header.proposer {
        return Ok(Err(HeaderError::VrfKeyNotProposer));
    }
    let prev = header.height.saturating_sub(1);
    let Some(prev_seed) = seed_at(a, config, prev)? else {
        return Ok(Err(HeaderError::MissingSeed { height: prev }));
    };
    let input = VrfInput {
        chain_id: config.chain_id,
        height: header.height,
        prev_seed,
    };
    if let Err(e) = vrf::verify(&header.vrf.public_key, &input, &header.vrf.proof) {
        return Ok(Err(HeaderError::BadVrf(e)));
    }
    check_beacon(a, config, header)
}

fn check_beacon<B: ChainBase>(
    a: &Access<'_, B>,
    config: &ChainConfig,
    header: &BlockHeader,
) -> Result<Result<(), HeaderError>, AccessError> {
    let due = config.beacon.due_at(header.height);
    let ev = match (due, &header.beacon) {
        (None, None) => return Ok(Ok(())),
        (Some(p), Some(ev)) if ev.height == p => ev,
        (due, got) => {
            return Ok(Err(HeaderError::BeaconSchedule {
                due,
                got: got.as_ref().map(|e| e.height),
            }));
        }
    };
    let Some(vdf_seed) = seed_at(a, config, ev.height.saturating_sub(1))? else {
        return Ok(Err(HeaderError::MissingSeed {
            height: ev.height.saturating_sub(1),
        }));
    };
    let params = match config.beacon.vdf() {
        Ok(p) => p,
        Err(e) => return Ok(Err(HeaderError::BadVdf(e))),
    };
    Ok(params
        .verify(&vdf_seed, &ev.vdf_output())
        .map_err(HeaderError::BadVdf))
}

/// The block's beacon writes, on the block's own state (after its transactions): seed`h`, and
/// for a carried beacon the final value (and the seed it consumed is deleted). Every executor
/// calls this. Errors: only state access (a header that passed [`check`] has its seed).
pub fn commit<B: ChainBase>(
    a: &mut Access<'_, B>,
    config: &ChainConfig,
    header: &BlockHeader,
) -> Result<(), AccessError> {
    let prev = header.height.saturating_sub(1);
    // A header that was not checked (simulation, benchmarks) still gets a deterministic seed.
    let prev_seed = seed_at(a, config, prev)?.unwrap_or_default();
    let next = seed::next_seed(&prev_seed, &header.vrf.output());
    a.overlay.set(seed_key(header.height), next.to_vec());
    if let Some(ev) = &header.beacon {
        a.overlay.set(value_key(ev.height), ev.value().to_vec());
        let used = ev.height.saturating_sub(1);
        if used >= 1 {
            a.overlay.delete(seed_key(used));
        }
    }
    Ok(())
}

pub(crate) mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let v = hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)?;
        <[u8; N]>::try_from(v.as_slice())
            .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes")))
    }
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
