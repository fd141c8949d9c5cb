//! Deterministic pseudo-random block workloads, for benchmarks and the crash test.
//!
//! Everything here is a pure function of its parameters (sha256 as the generator, no host
//! randomness), so two processes or machines produce byte-identical write sets and roots.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::db::{StateDb, WriteSet};
use crate::error::{Result, StateError};
use crate::keys::{account_key, storage_key};

/// The write set of block `version` in workload `seed`: `count` writes over a key space of
/// `key_space` accounts (and one storage slot per account), about one in eight a delete.
/// Deterministic; fewer than `count` entries when draws collide on a key.
pub fn pseudo_random_writes(seed: u64, version: u64, count: usize, key_space: u64) -> WriteSet {
    let mut writes = WriteSet::new();
    for i in 0..count as u64 {
        let draw: [u8; 32] = Sha256::new()
            .chain_update(b"keel-state/workload")
            .chain_update(seed.to_be_bytes())
            .chain_update(version.to_be_bytes())
            .chain_update(i.to_be_bytes())
            .finalize()
            .into();
        let mut index = [0u8; 8];
        index.copy_from_slice(&draw[..8]);
        let slot = u64::from_be_bytes(index) % key_space.max(1);
        let mut addr = [0u8; 32];
        addr[..8].copy_from_slice(&seed.to_be_bytes());
        addr[8..16].copy_from_slice(&slot.to_be_bytes());
        let key = if draw[8].is_multiple_of(4) {
            storage_key(&addr, &draw[9..11])
        } else {
            account_key(&addr)
        };
        let value = if draw[11].is_multiple_of(8) {
            None
        } else {
            let mut v = draw[12..32].to_vec();
            v.extend_from_slice(&version.to_be_bytes());
            Some(v)
        };
        writes.insert(key, value);
    }
    writes
}

/// Parameters of [`run_commit_loop`].
#[derive(Clone, Copy, Debug)]
pub struct CommitLoop {
    /// Workload seed.
    pub seed: u64,
    /// How many blocks to commit in this run.
    pub blocks: u64,
    /// Writes drawn per block.
    pub writes_per_block: usize,
    /// Number of distinct accounts the writes fall on.
    pub key_space: u64,
}

/// Opens (or creates) the database in `dir` and commits `params.blocks` blocks of
/// [`pseudo_random_writes`], continuing from the database's next version. After each commit
/// has returned — i.e. is durable — writes the line `committed <version> <root-hex>` to `out`
/// and flushes it, so a supervising process knows exactly which versions were acknowledged.
///
/// # Errors
/// Database errors; [`StateError::Io`] if `out` fails.
pub fn run_commit_loop(dir: &Path, params: CommitLoop, out: &mut impl Write) -> Result<()> {
    let db = StateDb::open_or_create(dir)?;
    let start = db.next_version()?;
    for version in start..start.saturating_add(params.blocks) {
        let writes = pseudo_random_writes(
            params.seed,
            version,
            params.writes_per_block,
            params.key_space,
        );
        let root = db.commit_block(version, writes)?;
        writeln!(out, "committed {version} {}", hex::encode(root.0))
            .and_then(|()| out.flush())
            .map_err(|source| StateError::Io {
                path: "<acknowledgement output>".into(),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn workload_is_a_pure_function_of_its_parameters() {
        assert_eq!(
            pseudo_random_writes(1, 5, 100, 50),
            pseudo_random_writes(1, 5, 100, 50)
        );
        assert_ne!(
            pseudo_random_writes(1, 5, 100, 50),
            pseudo_random_writes(1, 6, 100, 50)
        );
        assert_ne!(
            pseudo_random_writes(1, 5, 100, 50),
            pseudo_random_writes(2, 5, 100, 50)
        );
    }

    #[test]
    fn workload_mixes_sets_and_deletes() {
        let writes = pseudo_random_writes(3, 0, 1000, 1_000_000);
        let deletes = writes.values().filter(|v| v.is_none()).count();
        assert!(
            deletes > 50 && deletes < 250,
            "{deletes} deletes of {}",
            writes.len()
        );
    }
}
