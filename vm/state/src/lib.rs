//! Keel's authenticated state: a Jellyfish Merkle tree persisted in redb.
//!
//! - [`StateDb`] owns the database file in the data directory: format-version checks on open,
//!   one atomic, durable redb transaction per block ([`StateDb::commit_block`]), reads at the
//!   latest or any committed version, and proofs ([`StateDb::prove`]).
//! - [`verify_proof`] checks a [`StateProof`] (inclusion or exclusion) against a root without
//!   any database.
//! - [`Overlay`] is the forkable in-memory write layer transactions execute in; its
//!   [`Overlay::into_writes`] is the block's [`WriteSet`].
//! - [`StateDb::check_integrity`] scans the head state against its root (`keel state check`);
//!   every read of the latest-value index is checked against a per-record checksum, history
//!   reads and proofs against the root, and [`StateDb::open`] refuses a head whose top of the
//!   tree does not hash to the stored root.
//! - [`keys`] builds the chain's raw keys with domain separation.
//!
//! Determinism: the tree is canonical (its root depends only on the key/value contents), keys
//! are hashed with sha256, and every collection that is iterated is a `BTreeMap`.

mod db;
mod decoded;
mod error;
mod integrity;
pub mod keys;
mod overlay;
mod proof;
mod tables;
mod view;
pub mod workload;

pub use db::{DB_FILE_NAME, StateDb, WriteSet};
pub use error::{Result, StateError};
pub use integrity::{IntegrityReport, MAX_LISTED_PROBLEMS, Problem, Progress};
pub use jmt::RootHash;
pub use overlay::{Overlay, PendingWrite};
pub use proof::{StateProof, verify_proof};
pub use tables::FORMAT_VERSION;
pub use view::{StateRead, StateView};
