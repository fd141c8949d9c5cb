//! [`StateDb`]: the state database in a data directory — opening, format checks, block commits
//! and reads of committed state.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use jmt::{KeyHash, RootHash, Sha256Jmt};
use redb::{
    Database, Key, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction, ReadableDatabase,
    ReadableTable, TableDefinition, TableError, TableHandle, Value, WriteTransaction,
};

use crate::error::{Result, StateError};
use crate::integrity::{self, IntegrityReport, Progress, VerifyingReader};
use crate::keys::key_hash;
use crate::proof::StateProof;
use crate::tables::{
    self, BLOCK_AUX, FORMAT_VERSION, LATEST, META, META_FORMAT, META_LATEST, NODES, ROOTS, STALE,
    TreeTables, VALUES,
};
use crate::view::{self, StateView};

/// File name of the state database inside the data directory.
pub const DB_FILE_NAME: &str = "state.redb";

/// A block's write set: raw key → new value (`None` deletes). A `BTreeMap` so that every
/// consumer iterates it in one canonical order.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The authenticated state of the chain: a Jellyfish Merkle tree (sha256) persisted in one redb
/// file, with every committed version readable and provable.
///
/// Versions are block heights: the first commit is version 0 and each next commit is exactly
/// one higher. Each commit is one redb write transaction with immediate durability: when
/// [`StateDb::commit_block`] returns `Ok`, the block survives a crash; if it does not return,
/// none of it is visible.
pub struct StateDb {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb").field("path", &self.path).finish()
    }
}

impl StateDb {
    /// Creates a new, empty state database in `dir` (created if missing).
    ///
    /// The file is initialised under a temporary name and renamed into place, so a crash during
    /// creation never leaves a half-initialised database behind.
    ///
    /// # Errors
    /// [`StateError::AlreadyExists`] if `dir` already holds a database; I/O and storage errors.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(DB_FILE_NAME);
        if path.exists() {
            return Err(StateError::AlreadyExists { path });
        }
        fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
        let tmp = dir.join(format!("{DB_FILE_NAME}.init"));
        if tmp.exists() {
            // Left by a creation that crashed before its rename; it holds no committed block.
            fs::remove_file(&tmp).map_err(|source| io_err(&tmp, source))?;
        }
        {
            let db = Database::create(&tmp)?;
            let txn = db.begin_write()?;
            init_layout(&txn)?;
            txn.commit()?;
        }
        fs::rename(&tmp, &path).map_err(|source| io_err(&path, source))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_err(dir, source))?;
        tracing::info!(path = %path.display(), format = FORMAT_VERSION, "created state database");
        Self::open(dir)
    }

    /// Opens the state database in `dir`, checking its format version before anything else.
    ///
    /// # Errors
    /// - [`StateError::NotFound`] if there is none;
    /// - [`StateError::FormatTooNew`] if a newer keel wrote it (the file is not modified);
    /// - [`StateError::FormatTooOld`] if it predates this binary's format;
    /// - [`StateError::UnrecognizedLayout`] if it is a redb file without keel's tables;
    /// - [`StateError::IntegrityFailed`] if the head's root node or its children do not hash to
    ///   the stored root (a cheap check; `keel state check` does the full scan);
    /// - storage errors (including "already open by another process").
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let this = Self::open_unverified(dir)?;
        this.check_head()?;
        Ok(this)
    }

    /// As [`StateDb::open`] but without the head integrity check: for `keel state check`, which
    /// must scan (and report) the damage that `open` refuses. Never execute blocks on it.
    ///
    /// # Errors
    /// As [`StateDb::open`], except [`StateError::IntegrityFailed`].
    pub fn open_for_check(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_unverified(dir)
    }

    fn open_unverified(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(DB_FILE_NAME);
        if !path.exists() {
            return Err(StateError::NotFound { path });
        }
        // Check the format through a read-only handle first, so that a database we refuse is
        // not even touched by redb's open-for-write bookkeeping.
        match ReadOnlyDatabase::open(&path) {
            Ok(read_only) => {
                check_layout(&read_only, &path)?;
                drop(read_only);
            }
            // A file left by a crash must be repaired by a read-write open first; the
            // repair only rebuilds redb's allocator state, never our records.
            Err(redb::DatabaseError::RepairAborted) => {}
            Err(e) => return Err(e.into()),
        }
        let db = Database::open(&path)?;
        check_layout(&db, &path)?;
        let this = Self { db, path };
        tracing::info!(
            path = %this.path.display(),
            latest = ?this.latest_version()?,
            "opened state database"
        );
        Ok(this)
    }

    /// Opens the database in `dir`, creating an empty one if there is none.
    ///
    /// # Errors
    /// As [`StateDb::open`] and [`StateDb::create`].
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if dir.join(DB_FILE_NAME).exists() {
            Self::open(dir)
        } else {
            Self::create(dir)
        }
    }

    /// Full integrity scan of the head version (see [`IntegrityReport`]): every tree node
    /// re-hashed up to the stored root, every root of every version, every latest-index record
    /// against its checksum, its leaf and its value history. Reads one snapshot; `progress` is
    /// called every 10 000 items.
    ///
    /// # Errors
    /// Storage errors; damage is reported in the [`IntegrityReport`], not as an error.
    pub fn check_integrity(&self, progress: &mut dyn FnMut(Progress)) -> Result<IntegrityReport> {
        integrity::scan(&self.db.begin_read()?, progress)
    }

    fn check_head(&self) -> Result<()> {
        let txn = self.db.begin_read()?;
        if let Err(detail) = integrity::check_head(&txn)? {
            let version = view::latest_version_in(&txn)?.unwrap_or_default();
            return Err(StateError::IntegrityFailed {
                path: self.path.clone(),
                version,
                detail,
            });
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The latest committed version, or `None` if no block was committed.
    ///
    /// # Errors
    /// Storage errors.
    pub fn latest_version(&self) -> Result<Option<u64>> {
        view::latest_version_in(&self.db.begin_read()?)
    }

    /// The only version [`StateDb::commit_block`] accepts next.
    ///
    /// # Errors
    /// Storage errors.
    pub fn next_version(&self) -> Result<u64> {
        Ok(self.latest_version()?.map_or(0, |v| v.saturating_add(1)))
    }

    /// The state root after version `version`.
    ///
    /// # Errors
    /// [`StateError::UnknownVersion`] if `version` is not committed; storage errors.
    pub fn root(&self, version: u64) -> Result<RootHash> {
        let txn = self.db.begin_read()?;
        let latest = view::latest_version_in(&txn)?;
        view::root_in(&txn, version, latest)
    }

    /// The value of `key` at the latest version (one index lookup, checksum-verified).
    ///
    /// # Errors
    /// [`StateError::CorruptValue`] if the stored record is damaged; storage errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.view()?.get(key)
    }

    /// The value of `key` as of version `version`, verified by a tree walk against that
    /// version's root.
    ///
    /// # Errors
    /// [`StateError::UnknownVersion`] if `version` is not committed;
    /// [`StateError::CorruptValue`] if the stored value or tree disagrees with the root;
    /// storage errors.
    pub fn get_at(&self, key: &[u8], version: u64) -> Result<Option<Vec<u8>>> {
        view::get_at_in(&self.db.begin_read()?, key, version)
    }

    /// The value of `key` at `version` (`None` if absent) and a proof of it — inclusion or
    /// exclusion — against [`StateDb::root`] of that version. Check it with
    /// [`verify_proof`](crate::verify_proof).
    ///
    /// # Errors
    /// [`StateError::UnknownVersion`] if `version` is not committed; storage or tree errors.
    pub fn prove(&self, key: &[u8], version: u64) -> Result<(Option<Vec<u8>>, StateProof)> {
        view::prove_in(&self.db.begin_read()?, key, version)
    }

    /// A consistent snapshot of the latest committed state, e.g. the base of a block's
    /// [`Overlay`](crate::Overlay).
    ///
    /// # Errors
    /// Storage errors.
    pub fn view(&self) -> Result<StateView> {
        StateView::new(self.db.begin_read()?)
    }

    /// The metadata bytes stored with `version` by [`StateDb::commit_block_with_aux`].
    ///
    /// # Errors
    /// [`StateError::UnknownVersion`] if `version` is not committed; storage errors.
    pub fn block_aux(&self, version: u64) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        view::require_committed(version, view::latest_version_in(&txn)?)?;
        let aux = txn.open_table(BLOCK_AUX)?;
        Ok(aux.get(version)?.map(|v| v.value().to_vec()))
    }

    /// Overwrites the metadata bytes of committed block `version`, leaving the tree alone. For
    /// repair tools and for tests that tamper with a record to show `keel replay` notices.
    ///
    /// # Errors
    /// [`StateError::UnknownVersion`] if `version` is not committed; storage errors.
    pub fn replace_block_aux(&self, version: u64, aux: &[u8]) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let latest = match txn.open_table(META)?.get(META_LATEST)? {
                None => None,
                Some(bytes) => Some(tables::decode_u64("meta", bytes.value())?),
            };
            view::require_committed(version, latest)?;
            txn.open_table(BLOCK_AUX)?.insert(version, aux)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Applies `writes` as block `version` and returns the new state root.
    ///
    /// Deterministic: the root depends only on the resulting key/value contents (the tree is
    /// canonical), so the same writes on the same state give the same root on every machine.
    /// Atomic and durable: the tree nodes, value history, stale-node records, latest-value index
    /// and the version's root are written in one redb transaction that is fsync'ed before this
    /// returns.
    ///
    /// Every tree node the update reads is checked against the hash its parent (or the previous
    /// version's stored root) records, so damage on disk fails the commit rather than changing
    /// the root.
    ///
    /// # Errors
    /// [`StateError::VersionOutOfOrder`] unless `version` is [`StateDb::next_version`];
    /// [`StateError::Corrupt`] if a node read fails its check; storage or tree errors (then
    /// nothing was written).
    pub fn commit_block(&self, version: u64, writes: WriteSet) -> Result<RootHash> {
        self.commit_inner(version, writes, None)
    }

    /// As [`StateDb::commit_block`], also storing `aux` (e.g. the encoded block header and
    /// receipts) under `version` in the same transaction.
    ///
    /// # Errors
    /// As [`StateDb::commit_block`].
    pub fn commit_block_with_aux(
        &self,
        version: u64,
        writes: WriteSet,
        aux: &[u8],
    ) -> Result<RootHash> {
        self.commit_inner(version, writes, Some(aux))
    }

    fn commit_inner(&self, version: u64, writes: WriteSet, aux: Option<&[u8]>) -> Result<RootHash> {
        let txn = self.db.begin_write()?;
        let latest = {
            let meta = txn.open_table(META)?;
            let latest = meta.get(META_LATEST)?;
            match latest {
                None => None,
                Some(bytes) => Some(tables::decode_u64("meta", bytes.value())?),
            }
        };
        let expected = latest.map_or(0, |v| v.saturating_add(1));
        // u64::MAX is jmt's pre-genesis marker, so it can never be a block version.
        if version != expected || version == u64::MAX {
            return Err(StateError::VersionOutOfOrder {
                expected,
                got: version,
            });
        }
        let value_set: Vec<(KeyHash, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(k, v)| (key_hash(k), v.clone()))
            .collect();
        let previous = match latest {
            None => None,
            Some(l) => match txn.open_table(ROOTS)?.get(l)? {
                Some(root) => Some((l, *root.value())),
                None => return Err(tables::corrupt("roots", format!("no root for version {l}"))),
            },
        };
        let root = write_tree(&txn, version, value_set, previous)?;
        {
            let mut latest_index = txn.open_table(LATEST)?;
            for (key, value) in &writes {
                match value {
                    Some(v) => latest_index.insert(
                        key.as_slice(),
                        tables::encode_latest(key, version, v).as_slice(),
                    )?,
                    None => latest_index.remove(key.as_slice())?,
                };
            }
            txn.open_table(ROOTS)?.insert(version, &root.0)?;
            if let Some(aux) = aux {
                txn.open_table(BLOCK_AUX)?.insert(version, aux)?;
            }
            txn.open_table(META)?
                .insert(META_LATEST, version.to_be_bytes().as_slice())?;
        }
        txn.commit()?;
        tracing::debug!(version, writes = writes.len(), root = %hex::encode(root.0), "committed block");
        Ok(root)
    }
}

/// Runs jmt over the write transaction's own tables, every node it reads verified against
/// `previous` (the latest version and its root), and writes its node batch back into them.
fn write_tree(
    txn: &WriteTransaction,
    version: u64,
    value_set: Vec<(KeyHash, Option<Vec<u8>>)>,
    previous: Option<(u64, [u8; 32])>,
) -> Result<RootHash> {
    let tree = TreeTables {
        nodes: txn.open_table(NODES)?,
        values: txn.open_table(VALUES)?,
    };
    let (root, batch) = {
        let reader = VerifyingReader::new(&tree, previous);
        Sha256Jmt::new(&reader)
            .put_value_set(value_set, version)
            .map_err(StateError::from_tree)?
    };
    let TreeTables {
        mut nodes,
        mut values,
    } = tree;
    for (key, node) in batch.node_batch.nodes() {
        nodes.insert(
            tables::encode_node_key(key)?.as_slice(),
            tables::encode_node(node)?.as_slice(),
        )?;
    }
    for ((v, key_hash), value) in batch.node_batch.values() {
        values.insert(
            tables::value_key(*key_hash, *v).as_slice(),
            tables::encode_value(value.as_deref()).as_slice(),
        )?;
    }
    let mut stale = txn.open_table(STALE)?;
    for index in &batch.stale_node_index_batch {
        stale.insert(
            tables::stale_key(index.stale_since_version, &index.node_key)?.as_slice(),
            (),
        )?;
    }
    Ok(root)
}

fn init_layout(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(META)?
        .insert(META_FORMAT, FORMAT_VERSION.to_be_bytes().as_slice())?;
    txn.open_table(NODES)?;
    txn.open_table(VALUES)?;
    txn.open_table(STALE)?;
    txn.open_table(LATEST)?;
    txn.open_table(ROOTS)?;
    txn.open_table(BLOCK_AUX)?;
    Ok(())
}

/// Reads (never writes) the format marker and the table set.
fn check_layout(db: &impl ReadableDatabase, path: &Path) -> Result<()> {
    let txn = db.begin_read()?;
    let meta = open_for_check(&txn, META, path)?;
    let found = match meta.get(META_FORMAT)? {
        Some(bytes) => tables::decode_u32("meta", bytes.value())?,
        None => return Err(unrecognized(path, "its `meta` table has no format version")),
    };
    if found > FORMAT_VERSION {
        return Err(StateError::FormatTooNew {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    if found < FORMAT_VERSION {
        return Err(StateError::FormatTooOld {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    open_for_check(&txn, NODES, path)?;
    open_for_check(&txn, VALUES, path)?;
    open_for_check(&txn, STALE, path)?;
    open_for_check(&txn, LATEST, path)?;
    open_for_check(&txn, ROOTS, path)?;
    open_for_check(&txn, BLOCK_AUX, path)?;
    Ok(())
}

/// Opens a table of the expected types; a missing or differently typed table means the file
/// is not laid out by this crate.
fn open_for_check<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    path: &Path,
) -> Result<ReadOnlyTable<K, V>> {
    match txn.open_table(def) {
        Ok(table) => Ok(table),
        Err(TableError::Storage(e)) => Err(e.into()),
        Err(e) => Err(unrecognized(path, format!("table `{}`: {e}", def.name()))),
    }
}

fn unrecognized(path: &Path, reason: impl Into<String>) -> StateError {
    StateError::UnrecognizedLayout {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
