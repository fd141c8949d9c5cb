//! Accounts, amounts and block context.

use borsh::{BorshDeserialize, BorshSerialize};
use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A 32-byte account or contract address.
pub type Address = [u8; 32];

/// An amount of the native token: a u256 stored as 32 little-endian bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Amount(pub [u8; 32]);

impl Amount {
    pub const ZERO: Amount = Amount([0; 32]);

    pub fn from_u256(v: U256) -> Self {
        Amount(v.to_le_bytes())
    }

    pub fn to_u256(self) -> U256 {
        U256::from_le_bytes(self.0)
    }

    pub fn from_u128(v: u128) -> Self {
        Amount::from_u256(U256::from(v))
    }

    pub fn checked_add(self, o: Amount) -> Option<Amount> {
        self.to_u256()
            .checked_add(o.to_u256())
            .map(Amount::from_u256)
    }

    pub fn checked_sub(self, o: Amount) -> Option<Amount> {
        self.to_u256()
            .checked_sub(o.to_u256())
            .map(Amount::from_u256)
    }

    pub fn saturating_sub(self, o: Amount) -> Amount {
        Amount::from_u256(self.to_u256().saturating_sub(o.to_u256()))
    }

    pub fn min(self, o: Amount) -> Amount {
        if self.to_u256() <= o.to_u256() {
            self
        } else {
            o
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_u256())
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_u256().to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        let v: U256 = s.parse().map_err(serde::de::Error::custom)?;
        Ok(Amount::from_u256(v))
    }
}

/// The state of one account, stored under `keys::account_key(address)`.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Account {
    pub nonce: u64,
    pub balance: Amount,
    /// Hash of the contract code, for contract accounts.
    pub code_hash: Option<[u8; 32]>,
    /// Bytes of contract storage (keys + values) in the live tree.
    pub storage_bytes: u64,
    /// Entries of contract storage in the live tree (what an eviction deletes and is charged for).
    #[serde(default)]
    pub storage_entries: u64,
    /// Prepaid rent (the storage deposit), drawn down lazily.
    pub rent_balance: Amount,
    /// Height up to which rent has been charged.
    pub rent_paid_through: u64,
    /// Set when the account was evicted for unpaid rent: the commitment to its storage.
    pub evicted: Option<[u8; 32]>,
}

/// What a block executes in: everything a contract may learn about the block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockContext {
    pub height: u64,
    /// Timestamp from the block header (consensus time, never the wall clock).
    pub timestamp: u64,
    /// Receives priority fees.
    pub proposer: Address,
}

const ADDRESS_DOMAIN: &[u8] = b"keel/address/v1";
const CONTRACT_DOMAIN: &[u8] = b"keel/contract/v1";

/// The address of the account controlled by a BLS public key.
pub fn address_of(public_key: &[u8; 48]) -> Address {
    let mut h = Sha256::new();
    h.update(ADDRESS_DOMAIN);
    h.update(public_key);
    h.finalize().into()
}

/// The address of a contract deployed by `deployer` with its transaction nonce `nonce`.
pub fn contract_address(deployer: &Address, nonce: u64) -> Address {
    let mut h = Sha256::new();
    h.update(CONTRACT_DOMAIN);
    h.update(deployer);
    h.update(nonce.to_le_bytes());
    h.finalize().into()
}
