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

    /// The value of `key` in this snapshot (one index lookup and one sha256, no tree walk).
    ///
    /// # Errors
    /// [`StateError::CorruptValue`] if the stored record fails its checksum (never a wrong
    /// value); storage errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = self.txn.open_table(LATEST)?;
        match table.get(key)? {
            None => Ok(None),
            Some(record) => self.checked(key, record.value()).map(Some),
        }
    }

    /// Decodes a `latest` record, refusing one that claims a version this snapshot does not
    /// have: a damaged version field is as wrong as a damaged value.
    fn checked(&self, key: &[u8], record: &[u8]) -> Result<Vec<u8>> {
        let (version, value) = tables::decode_latest(key, record)?;
        if self.version.is_none_or(|head| version > head) {
            return Err(StateError::CorruptValue {
                key: key.to_vec(),
                version: Some(version),
            });
        }
        Ok(value)
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
    /// [`StateError::CorruptValue`] if a record fails its checksum; storage errors.
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
            let value = self.checked(k.value(), v.value())?;
            out.push((k.value().to_vec(), value));
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

/// The value of `key` at `version`, verified by a tree walk against that version's stored root
/// (history reads are rare; the walk is what makes them trustworthy).
pub(crate) fn get_at_in(
    txn: &ReadTransaction,
    key: &[u8],
    version: u64,
) -> Result<Option<Vec<u8>>> {
    prove_in(txn, key, version).map(|(value, _)| value)
}

/// The value of `key` at `version` and its proof, checked against the stored root before it is
/// returned: a value history or node damaged on disk gives [`StateError::CorruptValue`].
pub(crate) fn prove_in(
    txn: &ReadTransaction,
    key: &[u8],
    version: u64,
) -> Result<(Option<Vec<u8>>, StateProof)> {
    let latest = latest_version_in(txn)?;
    let root = root_in(txn, version, latest)?;
    let tree = TreeTables {
        nodes: txn.open_table(NODES)?,
        values: txn.open_table(VALUES)?,
    };
    let corrupt = || StateError::CorruptValue {
        key: key.to_vec(),
        version: Some(version),
    };
    let (value, proof) = Sha256Jmt::new(&tree)
        .get_with_proof(key_hash(key), version)
        .map_err(StateError::from_tree)?;
    let proof = StateProof::new(proof);
    crate::proof::verify_proof(root, key, value.as_deref(), &proof).map_err(|_| corrupt())?;
    Ok((value, proof))
}
