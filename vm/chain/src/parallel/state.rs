//! The state a block's workers share: the base, the multi-version memory, the committed prefix.

use super::memory::{Lookup, MvMemory, materialize};
use super::view::{BlockBase, Read, SharedState};
use crate::nested::{Shared, lock};
use crate::state_access::ChainBase;
use keel_state::Overlay;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub(crate) struct MvState<B> {
    pub base: BlockBase<B>,
    pub mem: MvMemory,
    /// The transaction being re-executed (its entries are estimates), if any. Only the
    /// committer re-executes, so there is at most one.
    reexec: Mutex<Option<usize>>,
    reexec_done: Condvar,
    /// Transactions committed so far (a prefix of the block).
    committed: AtomicUsize,
    /// The block's state after the committed prefix: its first step's overlay with every
    /// committed transaction's writes applied in order (or the committer's own runs made on
    /// it). It becomes the block's write set.
    state: Shared<SharedState<B>>,
    /// Reads that waited for an estimate (observability).
    pub estimate_waits: AtomicU64,
}

impl<B: ChainBase + Sync> MvState<B> {
    pub fn new(begin: Overlay<SharedState<B>>) -> Self {
        let base = BlockBase {
            state: begin.base().clone(),
            begin: begin.pending_writes(),
        };
        MvState {
            base,
            mem: MvMemory::new(),
            reexec: Mutex::new(None),
            reexec_done: Condvar::new(),
            committed: AtomicUsize::new(0),
            state: Arc::new(Mutex::new(begin)),
            estimate_waits: AtomicU64::new(0),
        }
    }

    pub fn committed(&self) -> usize {
        self.committed.load(Ordering::Acquire)
    }

    pub fn set_committed(&self, n: usize) {
        self.committed.store(n, Ordering::Release);
    }

    pub fn committed_state(&self) -> MutexGuard<'_, Overlay<SharedState<B>>> {
        lock(&self.state)
    }

    /// The committed state as the sequential executor's transaction steps take it (the
    /// committer runs a transaction on it directly).
    pub fn shared(&self) -> &Shared<SharedState<B>> {
        &self.state
    }

    /// The committed state, or `None` while a run still holds it (none does after the block).
    pub fn into_committed_state(self) -> Option<Overlay<SharedState<B>>> {
        let state = Arc::try_unwrap(self.state).ok()?;
        Some(state.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    /// Blocks until transaction `writer` is no longer being re-executed (a dependency wait on a
    /// condition variable, not a spin).
    pub fn wait_estimate(&self, writer: usize) {
        self.estimate_waits.fetch_add(1, Ordering::Relaxed);
        let mut current = self.reexec.lock().unwrap_or_else(|p| p.into_inner());
        while *current == Some(writer) {
            current = self
                .reexec_done
                .wait(current)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Marks the start (`Some(tx)`) or end (`None`) of a re-execution; the end wakes readers.
    pub fn set_reexec(&self, tx: Option<usize>) {
        *self.reexec.lock().unwrap_or_else(|p| p.into_inner()) = tx;
        if tx.is_none() {
            self.reexec_done.notify_all();
        }
    }

    /// Whether `read` is still what transaction `tx` reads under `key` now that every
    /// transaction before it committed (so no estimate can stand before it). A read from the
    /// base that no earlier transaction has written since is confirmed without reading again.
    pub fn still_reads(&self, key: &[u8], tx: usize, read: &Read) -> keel_state::Result<bool> {
        loop {
            match self.mem.lookup(key, tx) {
                Lookup::Estimate(writer) => self.wait_estimate(writer),
                Lookup::Found { write, credits } => {
                    if read.from_base && write.is_none() && credits.is_empty() {
                        return Ok(true);
                    }
                    let value = match write {
                        Some(v) => v,
                        None => self.base.read(key)?,
                    };
                    return Ok(materialize(value, &credits).is_ok_and(|v| v == read.value));
                }
            }
        }
    }
}
