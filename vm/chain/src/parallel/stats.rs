//! The rollback log of one block: how many incarnations ran and why incarnations were aborted.
//! Observability only (metrics, `keel chain status --verbose`), never consensus data.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Per-block counters of the parallel executor (all zero for the sequential executor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExecStats {
    /// Worker threads (0: the sequential reference executor ran the block).
    pub threads: u32,
    /// Transaction executions, first runs and re-runs (≥ the block's transaction count).
    pub incarnations: u64,
    /// Of those, runs the committer made itself on the committed state (a transaction no
    /// worker had taken when its turn came, or the re-run of an aborted one).
    pub committer_runs: u64,
    /// Incarnations aborted because a value they read had changed when they came to commit.
    pub aborts_read: u64,
    /// Incarnations aborted because their block-room (block-full) guess proved wrong.
    pub aborts_block_room: u64,
    /// Incarnations that needed the committed prefix (an eviction listing storage, or an
    /// overflowing credit) and re-ran at their commit.
    pub aborts_deferred: u64,
    /// Reads that waited for a re-executing transaction (estimate markers).
    pub estimate_waits: u64,
    /// The transaction whose abort stopped speculation for the rest of the block (an abort
    /// with the speculation window already at one transaction, or the fourth in a row), if
    /// one did: the committer ran everything from there on as the sequential executor does.
    pub speculation_stopped_at: Option<u64>,
}

impl ExecStats {
    /// All aborts, whatever the reason.
    pub fn aborts(&self) -> u64 {
        self.aborts_read
            .saturating_add(self.aborts_block_room)
            .saturating_add(self.aborts_deferred)
    }
}

/// Why an incarnation was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    ReadConflict,
    BlockRoom,
    Deferred,
}

#[derive(Default)]
pub(crate) struct Counters {
    incarnations: AtomicU64,
    committer_runs: AtomicU64,
    read: AtomicU64,
    room: AtomicU64,
    deferred: AtomicU64,
}

impl Counters {
    pub fn incarnation(&self) {
        self.incarnations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn committer_run(&self) {
        self.incarnations.fetch_add(1, Ordering::Relaxed);
        self.committer_runs.fetch_add(1, Ordering::Relaxed);
    }

    pub fn abort(&self, why: Reason) {
        let c = match why {
            Reason::ReadConflict => &self.read,
            Reason::BlockRoom => &self.room,
            Reason::Deferred => &self.deferred,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(
        &self,
        threads: u32,
        estimate_waits: u64,
        speculation_stopped_at: Option<u64>,
    ) -> ExecStats {
        ExecStats {
            threads,
            incarnations: self.incarnations.load(Ordering::Relaxed),
            committer_runs: self.committer_runs.load(Ordering::Relaxed),
            aborts_read: self.read.load(Ordering::Relaxed),
            aborts_block_room: self.room.load(Ordering::Relaxed),
            aborts_deferred: self.deferred.load(Ordering::Relaxed),
            estimate_waits,
            speculation_stopped_at,
        }
    }
}
