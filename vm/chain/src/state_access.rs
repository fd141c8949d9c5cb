//! Typed access to chain state inside an overlay: accounts, code, storage and system records.

use crate::config::ChainConfig;
use crate::fees::Prices;
use crate::tx::{decode, encode, encode_into};
use crate::types::{Account, Address};
use keel_state::keys::{
    account_key_array, code_key, storage_key, storage_prefix, with_storage_key,
};
use keel_state::{Overlay, StateError, StateRead};

/// Tag of system records (the state crate's tags start at 1).
const SYSTEM_TAG: u8 = 0x00;

pub fn system_key(name: &str) -> Vec<u8> {
    let mut k = vec![SYSTEM_TAG];
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn config_key() -> Vec<u8> {
    system_key("config")
}
pub fn prices_key() -> Vec<u8> {
    system_key("prices")
}
pub fn total_storage_key() -> Vec<u8> {
    TOTAL_STORAGE_KEY.to_vec()
}

/// [`total_storage_key`], for lookups: `system_key("storage_total")`.
const TOTAL_STORAGE_KEY: &[u8] = b"\x00storage_total";

/// Storage entries `(key, value)`, sorted by key.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A committed state that can also list a contract's storage (needed to evict it).
pub trait ChainBase: StateRead + Send + 'static {
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError>;
}

impl ChainBase for keel_state::StateView {
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        keel_state::StateView::scan_prefix(self, prefix, usize::MAX)
    }
}

impl ChainBase for std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        Ok(self
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Errors reading chain state: backend failures or corrupt records.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Decode(#[from] crate::tx::DecodeError),
    #[error("the state has no chain config: run `keel chain init` first")]
    NoConfig,
}

pub struct Access<'o, B> {
    pub overlay: &'o mut Overlay<B>,
}

impl<B: ChainBase> Access<'_, B> {
    /// The account at `addr`. Decoded once per block while its record is unchanged (the
    /// overlay keeps the decoding, `keel_state`'s `decoded.rs`): a transaction reads its
    /// sender's and its contract's records several times.
    pub fn account(&self, addr: &Address) -> Result<Option<Account>, AccessError> {
        self.overlay
            .get_decoded(&account_key_array(addr), |bytes| match bytes {
                Some(bytes) => Ok(Some(decode("account", bytes)?)),
                None => Ok(None),
            })
    }

    pub fn account_or_default(&self, addr: &Address) -> Result<Account, AccessError> {
        Ok(self.account(addr)?.unwrap_or_default())
    }

    /// Writes the account at `addr` (a pending record is re-encoded in place: a transaction
    /// writes its sender's record two or three times).
    pub fn put_account(&mut self, addr: &Address, a: &Account) {
        self.overlay.rewrite_decoded(
            &account_key_array(addr),
            |out| encode_into(a, out),
            Some(a.clone()),
        );
    }

    pub fn code(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, AccessError> {
        Ok(self.overlay.get(&code_key(hash))?)
    }

    pub fn put_code(&mut self, hash: &[u8; 32], code: &[u8]) {
        self.overlay.set(code_key(hash), code.to_vec());
    }

    pub fn storage(&self, contract: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, AccessError> {
        Ok(with_storage_key(contract, key, |k| self.overlay.get(k))?)
    }

    /// The length of a storage slot's value (`None`: no such slot), without copying it.
    pub fn storage_len(
        &self,
        contract: &Address,
        key: &[u8],
    ) -> Result<Option<usize>, AccessError> {
        Ok(with_storage_key(contract, key, |k| {
            self.overlay.value_len(k)
        })?)
    }

    pub fn write_storage(&mut self, contract: &Address, key: &[u8], value: Option<Vec<u8>>) {
        self.overlay.write(storage_key(contract, key), value);
    }

    /// All live storage entries of `contract` as this context sees them, sorted by key.
    pub fn storage_entries(&self, contract: &Address) -> Result<Entries, AccessError> {
        let prefix = storage_prefix(contract);
        let base = self.overlay.base().scan_prefix(&prefix)?;
        Ok(self
            .overlay
            .merge_under(&prefix, base)
            .into_iter()
            .map(|(k, v)| (k.get(prefix.len()..).unwrap_or_default().to_vec(), v))
            .collect())
    }

    pub fn config(&self) -> Result<ChainConfig, AccessError> {
        match self.overlay.get(&config_key())? {
            Some(b) => Ok(decode("chain config", &b)?),
            None => Err(AccessError::NoConfig),
        }
    }

    pub fn prices(&self) -> Result<Option<Prices>, AccessError> {
        match self.overlay.get(&prices_key())? {
            Some(b) => Ok(Some(decode("prices", &b)?)),
            None => Ok(None),
        }
    }

    pub fn put_prices(&mut self, p: &Prices) {
        self.overlay.set(prices_key(), encode(p));
    }

    /// Whether `payer`'s and `contract`'s account records and the storage total all hold
    /// values written earlier in this block (writing any of them back unchanged is then no
    /// change at all). Checks pending writes only, never the base: `false` may be a miss.
    pub fn records_pending(&self, payer: &Address, contract: &Address) -> bool {
        self.overlay.has_pending_value(&account_key_array(payer))
            && self.overlay.has_pending_value(&account_key_array(contract))
            && self.overlay.has_pending_value(TOTAL_STORAGE_KEY)
    }

    pub fn total_storage(&self) -> Result<u64, AccessError> {
        self.overlay
            .get_decoded(TOTAL_STORAGE_KEY, |bytes| match bytes {
                Some(b) => Ok(decode("total storage", b)?),
                None => Ok(0),
            })
    }

    pub fn put_total_storage(&mut self, v: u64) {
        self.overlay
            .write_decoded(total_storage_key(), Some(encode(&v)), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_total_key_is_its_system_key() {
        assert_eq!(TOTAL_STORAGE_KEY, system_key("storage_total").as_slice());
        assert_eq!(total_storage_key(), system_key("storage_total"));
    }
}
