//! Read access: the [`StateRead`] trait that execution reads through, and [`StateView`], a
//! consistent snapshot of the latest committed state.

use std::collections::BTreeMap;

use jmt::{RootHash, Sha256Jmt};
use redb::ReadTransaction;

use crate::error::{Result, StateError};
use crate::keys::key_hash;
use crate::proof::StateProof;
use crate::tables::{self, LATEST, META, META_LATEST, NODES, ROOTS, TreeTables, VALUES};

/// Something raw state keys can be read from: a committed snapshot, an in-memory map, or an
/// [`Overlay`](crate::Overlay) (so overlays stack).
///
/// Implementations must be deterministic: the same key in the same state gives the same answer.
pub trait StateRead {
    /// The value of `key`, or `None` if the key holds nothing.
    ///
    /// # Errors
    /// Storage or decoding errors of the underlying store.
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
}

impl<T: StateRead + ?Sized> StateRead for &T {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).read(key)
    }
}

/// An in-memory state (genesis construction, tests). Never fails.
impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.get(key).cloned())
    }
}

/// A snapshot of the latest committed state at the moment it was taken. Later commits do not
/// change what it reads (redb MVCC), so a whole block can execute against one view.
///
/// A view keeps its redb read transaction open; drop it when done so old pages can be reused.
pub struct StateView {
    txn: ReadTransaction,
    version: Option<u64>,
}

impl StateView {
    pub(crate) fn new(txn: ReadTransaction) -> Result<Self> {
        let version = latest_version_in(&txn)?;
        Ok(Self { txn, version })
    }

    /// The version this snapshot shows; `None` for a database with no committed block.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The state root of this snapshot; `None` for a database with no committed block.
    ///
    /// # Errors
    /// Storage errors.
    pub fn root(&self) -> Result<Option<RootHash>> {
        match self.version {
            None => Ok(None),
            Some(v) => root_in(&self.txn, v, self.version).map(Some),
        }
    }

    /// The value of `key` in this snapshot (one index lookup, no tree walk).
    ///
    /// # Errors
    /// Storage errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = self.txn.open_table(LATEST)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    /// The value of `key` in this snapshot with a proof against [`StateView::root`].
    ///
    /// # Errors
    /// [`StateError::UnknownVersion`] if nothing is committed yet; storage or tree errors.
    pub fn prove(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, StateProof)> {
        let version = self.version.ok_or(StateError::UnknownVersion {
            version: 0,
            latest: None,
        })?;
        prove_in(&self.txn, key, version)
    }

    /// Up to `limit` `(key, value)` pairs whose raw key starts with `prefix`, in ascending key
    /// order (deterministic). Used for per-contract storage walks such as rent eviction.
    ///
    /// # Errors
    /// Storage errors.
    pub fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let table = self.txn.open_table(LATEST)?;
        let mut out = Vec::new();
        for entry in table.range::<&[u8]>(prefix..)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

impl StateRead for StateView {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(key)
    }
}

pub(crate) fn latest_version_in(txn: &ReadTransaction) -> Result<Option<u64>> {
    let meta = txn.open_table(META)?;
    match meta.get(META_LATEST)? {
        None => Ok(None),
        Some(bytes) => tables::decode_u64("meta", bytes.value()).map(Some),
    }
}

/// Fails with `UnknownVersion` unless `version` is committed (`latest` is the caller's read of
/// the latest version in the same transaction).
pub(crate) fn require_committed(version: u64, latest: Option<u64>) -> Result<()> {
    match latest {
        Some(l) if version <= l => Ok(()),
        _ => Err(StateError::UnknownVersion { version, latest }),
    }
}

pub(crate) fn root_in(
    txn: &ReadTransaction,
    version: u64,
    latest: Option<u64>,
) -> Result<RootHash> {
    require_committed(version, latest)?;
    let roots = txn.open_table(ROOTS)?;
    match roots.get(version)? {
        Some(root) => Ok(RootHash(*root.value())),
        None => Err(tables::corrupt(
            "roots",
            format!("no root for committed version {version}"),
        )),
    }
}

pub(crate) fn get_at_in(
    txn: &ReadTransaction,
    key: &[u8],
    version: u64,
) -> Result<Option<Vec<u8>>> {
    require_committed(version, latest_version_in(txn)?)?;
    let tree = TreeTables {
        nodes: txn.open_table(NODES)?,
        values: txn.open_table(VALUES)?,
    };
    tree.value_at(version, key_hash(key))
}

pub(crate) fn prove_in(
    txn: &ReadTransaction,
    key: &[u8],
    version: u64,
) -> Result<(Option<Vec<u8>>, StateProof)> {
    require_committed(version, latest_version_in(txn)?)?;
    let tree = TreeTables {
        nodes: txn.open_table(NODES)?,
        values: txn.open_table(VALUES)?,
    };
    let (value, proof) = Sha256Jmt::new(&tree)
        .get_with_proof(key_hash(key), version)
        .map_err(StateError::from_tree)?;
    Ok((value, StateProof::new(proof)))
}
