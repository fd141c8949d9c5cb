//! The state one speculative incarnation of a transaction reads: the multi-version memory over
//! the block's base, with every read recorded for validation at commit.

use super::memory::{Lookup, materialize};
use super::state::MvState;
use crate::state_access::{ChainBase, Entries};
use keel_state::{Overlay, StateError, StateRead, WriteSet};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// The committed state a block executes on, shared by the block's workers.
pub(crate) struct SharedState<B>(pub Arc<B>);

impl<B> Clone for SharedState<B> {
    fn clone(&self) -> Self {
        SharedState(Arc::clone(&self.0))
    }
}

impl<B: ChainBase + Sync> StateRead for SharedState<B> {
    fn read(&self, key: &[u8]) -> keel_state::Result<Option<Vec<u8>>> {
        self.0.read(key)
    }
}

impl<B: ChainBase + Sync> ChainBase for SharedState<B> {
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        self.0.scan_prefix(prefix)
    }
}

/// What the block's transactions start from: the committed state plus the writes of the
/// block's first step (governance activations), which runs alone before them.
pub(crate) struct BlockBase<B> {
    pub state: SharedState<B>,
    pub begin: WriteSet,
}

impl<B: ChainBase + Sync> BlockBase<B> {
    pub fn read(&self, key: &[u8]) -> keel_state::Result<Option<Vec<u8>>> {
        match self.begin.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.state.read(key),
        }
    }
}

/// Why an incarnation's result cannot stand without re-running on the committed prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deferred {
    /// A contract's storage was listed (eviction) before every earlier transaction committed.
    Scan,
    /// Materializing earlier credits overflowed (or met a corrupt record).
    Credit,
}

/// One recorded read: the value, and whether it came straight from the block's base (no
/// earlier transaction's entry), which validation can confirm without reading the base again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Read {
    pub value: Option<Vec<u8>>,
    pub from_base: bool,
}

/// Reads of one incarnation: the first value seen under each key. Later reads of a key return
/// the same value, so an incarnation sees one consistent value per key. Seeded per process;
/// validation checks every read, so the order it visits them in decides nothing.
pub(crate) type Reads = HashMap<Vec<u8>, Read, foldhash::fast::RandomState>;

/// [`ChainBase`] of one incarnation of transaction `tx`.
pub(crate) struct MvView<B> {
    state: Arc<MvState<B>>,
    tx: usize,
    reads: RefCell<Reads>,
    deferred: RefCell<Option<Deferred>>,
}

impl<B: ChainBase + Sync> MvView<B> {
    pub fn new(state: Arc<MvState<B>>, tx: usize) -> Self {
        MvView {
            state,
            tx,
            reads: RefCell::new(Reads::default()),
            deferred: RefCell::new(None),
        }
    }

    /// The recorded reads and whether the incarnation must re-run at commit.
    pub fn finish(self) -> (Reads, Option<Deferred>) {
        (self.reads.into_inner(), self.deferred.into_inner())
    }

    fn defer(&self, why: Deferred, what: &'static str) -> StateError {
        *self.deferred.borrow_mut() = Some(why);
        StateError::Deferred(what)
    }
}

impl<B: ChainBase + Sync> StateRead for MvView<B> {
    fn read(&self, key: &[u8]) -> keel_state::Result<Option<Vec<u8>>> {
        if let Some(r) = self.reads.borrow().get(key) {
            return Ok(r.value.clone());
        }
        let read = loop {
            match self.state.mem.lookup(key, self.tx) {
                Lookup::Estimate(writer) => self.state.wait_estimate(writer),
                Lookup::Found { write, credits } => {
                    let from_base = write.is_none() && credits.is_empty();
                    let value = match write {
                        Some(v) => v,
                        None => self.state.base.read(key)?,
                    };
                    let value = materialize(value, &credits)
                        .map_err(|_| self.defer(Deferred::Credit, "account credit"))?;
                    break Read { value, from_base };
                }
            }
        };
        let value = read.value.clone();
        self.reads.borrow_mut().insert(key.to_vec(), read);
        Ok(value)
    }
}

impl<B: ChainBase + Sync> ChainBase for MvView<B> {
    /// Listing storage is answered only on a committed prefix (every earlier transaction
    /// committed): then the block's committed state is exactly what the sequential executor
    /// would list. Earlier, the read is deferred and the transaction re-runs at its commit.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        if self.state.committed() < self.tx {
            return Err(self.defer(Deferred::Scan, "storage listing"));
        }
        let committed = self.state.committed_state();
        scan_overlay(&committed, prefix)
    }
}

/// Entries under `prefix` in `o` (its base, then its pending changes), full keys, sorted.
fn scan_overlay<B: ChainBase>(o: &Overlay<B>, prefix: &[u8]) -> Result<Entries, StateError> {
    let base = o.base().scan_prefix(prefix)?;
    Ok(o.merge_under(prefix, base))
}
