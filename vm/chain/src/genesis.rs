//! Genesis: the chain config and funded accounts, with deterministic demo keys.

use crate::config::ChainConfig;
use crate::genesis_routines::{GenesisError, GenesisRoutine};
use crate::governance::{GovParams, Validator};
use crate::types::{Address, Amount, address_of};
use keel_crypto::SecretKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Genesis {
    pub config: ChainConfig,
    pub accounts: Vec<(Address, Amount)>,
    /// Validators and their stake: who proposes and votes in governance.
    #[serde(default)]
    pub validators: Vec<Validator>,
    #[serde(default)]
    pub governance: GovParams,
    /// eBPF routines active from block 0 (each must match its pinned hashes and pass the PCC
    /// checker at init; see `GENESIS.md`).
    #[serde(default)]
    pub routines: Vec<GenesisRoutine>,
}

impl Genesis {
    /// The sum of the genesis balances, or `None` if it does not fit a u256. No transaction
    /// mints, so while this fits no credit can overflow a balance.
    pub fn total_supply(&self) -> Option<Amount> {
        self.accounts
            .iter()
            .try_fold(Amount::ZERO, |total, (_, balance)| {
                total.checked_add(*balance)
            })
    }
}

/// Number of demo validators: demo keys `0..DEMO_VALIDATORS`, equal stake.
pub const DEMO_VALIDATORS: u32 = 4;
/// Stake of each demo validator.
pub const DEMO_STAKE: u64 = 100;

/// Demo key `i`: derived from a public seed, so it is only for demos and tests.
pub fn demo_key(i: u32) -> SecretKey {
    let seed: [u8; 32] = Sha256::digest(format!("keel-demo-key-{i}")).into();
    // Every 32-byte seed is valid key material for blst's keygen.
    SecretKey::from_seed(&seed).unwrap_or_else(|_| unreachable_key())
}

fn unreachable_key() -> SecretKey {
    // keygen only fails for seeds shorter than 32 bytes; keep a total function anyway.
    let mut seed = [7u8; 32];
    loop {
        if let Ok(k) = SecretKey::from_seed(&seed) {
            return k;
        }
        seed[0] = seed[0].wrapping_add(1);
    }
}

/// The demo genesis: `n` demo accounts with `balance` each; the first
/// [`DEMO_VALIDATORS`] of them are validators with [`DEMO_STAKE`] each; the routines pinned in
/// the repository are active. Errors: the pinned manifest does not decode (a build defect).
pub fn demo(n: u32, balance: Amount) -> Result<Genesis, GenesisError> {
    Ok(Genesis {
        config: ChainConfig::demo(),
        accounts: (0..n)
            .map(|i| (address_of(&demo_key(i).public_key().to_bytes()), balance))
            .collect(),
        validators: (0..DEMO_VALIDATORS.min(n))
            .map(|i| Validator {
                address: address_of(&demo_key(i).public_key().to_bytes()),
                stake: DEMO_STAKE,
            })
            .collect(),
        governance: GovParams::default(),
        routines: GenesisRoutine::pinned()?,
    })
}

/// The secret keys of the demo validators (keys `0..DEMO_VALIDATORS`): what a node-local tool
/// on a demo chain proposes blocks with ([`crate::Chain::add_proposer_key`]).
pub fn demo_validator_keys() -> Vec<SecretKey> {
    (0..DEMO_VALIDATORS).map(demo_key).collect()
}

/// One keystore entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    pub index: u32,
    pub address: String,
    pub public_key: String,
    pub secret_key: String,
}

/// Writes the keys of demo accounts `0..n` to `path`, readable by the owner only (0600).
pub fn write_keystore(path: &Path, n: u32) -> std::io::Result<()> {
    let entries: Vec<KeyEntry> = (0..n)
        .map(|i| {
            let k = demo_key(i);
            let pk = k.public_key().to_bytes();
            KeyEntry {
                index: i,
                address: hex::encode(address_of(&pk)),
                public_key: hex::encode(pk),
                secret_key: hex::encode(k.to_bytes()),
            }
        })
        .collect();
    let json = serde_json::to_vec_pretty(&entries).map_err(std::io::Error::other)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(&json)?;
    f.sync_all()
}

/// Reads a keystore written by [`write_keystore`].
pub fn read_keystore(path: &Path) -> std::io::Result<Vec<KeyEntry>> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}
