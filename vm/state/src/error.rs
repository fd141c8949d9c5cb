//! The one error type of the state layer.

use std::path::PathBuf;

/// Everything that can go wrong in the state layer. Every variant is a value; nothing in this
/// crate panics on input or on database contents.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database was written by a newer keel. It is refused and left byte-for-byte untouched.
    #[error(
        "the state database at {path} has format version {found}, but this keel binary only \
         understands format version {supported}; upgrade keel to open it (the database was \
         not modified)"
    )]
    FormatTooNew {
        /// The database file.
        path: PathBuf,
        /// The format version recorded in the database.
        found: u32,
        /// The newest format version this binary understands.
        supported: u32,
    },
    /// The database was written by an older keel whose layout this binary does not migrate.
    #[error(
        "the state database at {path} has format version {found}, older than the format \
         version {supported} this keel binary uses; it needs a migration that this binary does \
         not perform (the database was not modified)"
    )]
    FormatTooOld {
        /// The database file.
        path: PathBuf,
        /// The format version recorded in the database.
        found: u32,
        /// The format version this binary writes.
        supported: u32,
    },
    /// The file is a redb database but not one laid out by keel's state layer.
    #[error("{path} is not a keel state database: {reason}")]
    UnrecognizedLayout {
        /// The database file.
        path: PathBuf,
        /// What is missing or malformed.
        reason: String,
    },
    /// `open` found no database in the data directory.
    #[error("no keel state database at {path}; create one first (e.g. `keel chain init`)")]
    NotFound {
        /// The database file that was expected.
        path: PathBuf,
    },
    /// `create` found a database already in the data directory.
    #[error("a keel state database already exists at {path}; refusing to overwrite it")]
    AlreadyExists {
        /// The existing database file.
        path: PathBuf,
    },
    /// Blocks must be committed at consecutive versions starting at 0.
    #[error("cannot commit version {got}: the next version to commit is {expected}")]
    VersionOutOfOrder {
        /// The only version that may be committed next.
        expected: u64,
        /// The version the caller asked for.
        got: u64,
    },
    /// A read asked for a version that has not been committed.
    #[error("version {version} is not committed (latest committed version: {latest:?})")]
    UnknownVersion {
        /// The version asked for.
        version: u64,
        /// The latest committed version, if any.
        latest: Option<u64>,
    },
    /// A stored record could not be decoded: the file was damaged or written by foreign code.
    #[error("corrupt state record in table {table}: {detail}")]
    Corrupt {
        /// The redb table holding the record.
        table: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A stored value failed its integrity check (checksum or tree leaf): the database is
    /// damaged. Never replaced by a guess: reads fail, and block execution must stop.
    #[error(
        "state value of key {} (version {}) fails its integrity check: the state database is \
         damaged; run `keel state check` and restore the data directory from a healthy copy",
        hex::encode(key),
        version.map_or_else(|| "unknown".to_string(), |v| v.to_string())
    )]
    CorruptValue {
        /// The raw key whose value is damaged.
        key: Vec<u8>,
        /// The version the damaged record claims or was read at, when known.
        version: Option<u64>,
    },
    /// The tree at the head version does not hash to the stored root: the database is damaged.
    #[error(
        "the state database at {path} fails its integrity check at version {version}: {detail}; \
         refusing to serve it. Run `keel state check` for a full scan and restore the data \
         directory from a healthy copy"
    )]
    IntegrityFailed {
        /// The database file.
        path: PathBuf,
        /// The version checked.
        version: u64,
        /// What did not match.
        detail: String,
    },
    /// The Jellyfish Merkle tree reported an inconsistency (e.g. a missing node).
    #[error("jellyfish merkle tree error: {0:#}")]
    Tree(anyhow::Error),
    /// A proof did not check out against the given root, key and value.
    #[error("state proof does not verify: {0:#}")]
    ProofInvalid(anyhow::Error),
    /// A serialized proof could not be decoded.
    #[error("malformed state proof encoding: {0}")]
    ProofEncoding(String),
    /// `commit_child` or `revert_child` was called with no forked context open.
    #[error("no forked state context is open")]
    NoOpenContext,
    /// `into_writes` was called while forked contexts were still open; their writes are neither
    /// committed nor reverted, so no write set is produced.
    #[error("{open} forked state context(s) are still open")]
    ContextsStillOpen {
        /// How many contexts are open.
        open: usize,
    },
    /// A filesystem operation on the data directory failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The path being accessed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedded database (redb) failed.
    #[error("state storage error: {0}")]
    Storage(#[from] redb::Error),
    /// A speculative (parallel) execution asked for something only the committed prefix of
    /// the block can answer; the executor re-runs the transaction once that prefix is final.
    #[error("speculative read deferred to commit: {0}")]
    Deferred(&'static str),
}

/// The crate's result type.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

// redb has one error type per operation; all of them convert into `redb::Error`.
macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StateError {
            fn from(err: $ty) -> Self {
                StateError::Storage(err.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl StateError {
    /// True when the error means the stored data is damaged (as opposed to missing, locked,
    /// of another format version, or an I/O failure): the caller must not trust this store.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            StateError::Corrupt { .. }
                | StateError::CorruptValue { .. }
                | StateError::IntegrityFailed { .. }
                | StateError::Tree(_)
                | StateError::Storage(redb::Error::Corrupted(_))
        )
    }

    /// True when the disk failed under the store (a read or write error, e.g. ENOSPC, or redb's
    /// refusal to go on after one): the data on disk is intact, but this handle must be closed
    /// and the database reopened before it can commit again.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            StateError::Io { .. }
                | StateError::Storage(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// Recovers our own error from inside a jmt `anyhow` chain (the tree calls back into our
    /// storage), so storage failures keep their type instead of becoming `Tree`.
    pub(crate) fn from_tree(err: anyhow::Error) -> Self {
        match err.downcast::<StateError>() {
            Ok(ours) => ours,
            Err(other) => StateError::Tree(other),
        }
    }
}
