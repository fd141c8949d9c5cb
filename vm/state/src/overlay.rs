//! [`Overlay`]: an in-memory, forkable write layer over a read-only base state.
//!
//! A block executes in one overlay over a [`StateView`](crate::StateView); each transaction
//! (and each nested call) runs in a forked child context that is either committed into its
//! parent or reverted, leaving no trace. At the end, [`Overlay::into_writes`] is the block's
//! write set for [`StateDb::commit_block`](crate::StateDb::commit_block).
//!
//! Design: one change map holds every pending write (innermost wins, since children write into
//! it directly), plus an undo journal recording, for each write made while a child is open, what
//! the change map held for that key before. Reads are one map lookup then the base; revert
//! replays the journal back to the child's checkpoint. Nothing is journaled at depth 0.
//!
//! The change map is a hash map: a block makes thousands of writes and reads to keys that share
//! long prefixes, where an ordered map pays a dozen key comparisons per access. Order is made
//! once, where it is needed: [`Overlay::into_writes`] and [`Overlay::pending_writes`] sort into
//! a [`WriteSet`], and [`Overlay::merge_under`] sorts what it lists.

use std::collections::HashMap;

use crate::db::WriteSet;
use crate::decoded::Decoded;
use crate::error::{Result, StateError};
use crate::view::StateRead;

/// One pending write: raw key and value (`None` = deleted).
pub type PendingWrite = (Vec<u8>, Option<Vec<u8>>);

/// A change-map entry as it was before a journaled write: `None` = the key had no pending write.
type PriorEntry = Option<Option<Vec<u8>>>;

/// The change map: pending value (`None` = deleted) by raw key. Seeded per process; nothing
/// observable depends on its iteration order.
type Changes = HashMap<Vec<u8>, Option<Vec<u8>>, foldhash::fast::RandomState>;

/// Pending writes over a base state, with nested fork / commit / revert.
///
/// Deterministic: every ordered view of the changes (the write set, [`Overlay::pending_writes`])
/// is sorted by raw key, regardless of write order.
#[derive(Debug)]
pub struct Overlay<B> {
    base: B,
    changes: Changes,
    journal: Vec<(Vec<u8>, PriorEntry)>,
    checkpoints: Vec<usize>,
    decoded: Decoded,
}

impl<B: StateRead> Overlay<B> {
    /// An overlay with no pending writes and no open child context.
    pub fn new(base: B) -> Self {
        Self {
            base,
            changes: Changes::default(),
            journal: Vec::new(),
            checkpoints: Vec::new(),
            decoded: Decoded::default(),
        }
    }

    /// The state underneath.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The value of `key` as the innermost open context sees it: pending writes first, then the
    /// base.
    ///
    /// # Errors
    /// Errors of the base read.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.changes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.base.read(key),
        }
    }

    /// The length of the value of `key` as [`Overlay::get`] sees it (`None`: absent), without
    /// copying a pending value.
    ///
    /// # Errors
    /// Errors of the base read.
    pub fn value_len(&self, key: &[u8]) -> Result<Option<usize>> {
        match self.changes.get(key) {
            Some(pending) => Ok(pending.as_ref().map(Vec::len)),
            None => Ok(self.base.read(key)?.as_ref().map(Vec::len)),
        }
    }

    /// Sets `key` to `value` in the innermost context.
    pub fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.write(key, Some(value));
    }

    /// Deletes `key` in the innermost context.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.write(key, None);
    }

    /// Writes `value` (`None` deletes) to `key` in the innermost context.
    pub fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.decoded.forget(&key);
        self.write_bytes(key, value);
    }

    /// The value of `key` decoded by `decode`, or the decoding kept from an earlier
    /// [`Overlay::get_decoded`] or [`Overlay::write_decoded`] of the same type `T` while `key`
    /// held the same bytes (see `decoded.rs`). `decode` gets what [`Overlay::get`] returns.
    ///
    /// # Errors
    /// Errors of the base read, or `decode`'s (then nothing is kept).
    pub fn get_decoded<T, E>(
        &self,
        key: &[u8],
        decode: impl FnOnce(Option<&[u8]>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        T: std::any::Any + Clone + Send,
        E: From<StateError>,
    {
        if let Some(value) = self.decoded.get::<T>(key) {
            return Ok(value);
        }
        let value = match self.changes.get(key) {
            Some(pending) => decode(pending.as_deref())?,
            None => decode(self.base.read(key)?.as_deref())?,
        };
        self.decoded.keep(key, value.clone());
        Ok(value)
    }

    /// [`Overlay::write`], keeping `decoded` as what `value` decodes to for
    /// [`Overlay::get_decoded`]. The caller's promise: `decoded` is exactly the value the
    /// decoder later used with `get_decoded` would make of `value`.
    pub fn write_decoded<T: std::any::Any + Send>(
        &mut self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        decoded: T,
    ) {
        self.decoded.keep(&key, decoded);
        self.write_bytes(key, value);
    }

    /// [`Overlay::write_decoded`] of the bytes `encode` writes into an empty buffer. Where
    /// nothing can be reverted (no child open) and `key` already holds a pending value, that
    /// value's buffer is reused in place: no key or buffer is allocated. The same promise as
    /// `write_decoded`: `decoded` is what those bytes decode to.
    pub fn rewrite_decoded<T: std::any::Any + Send>(
        &mut self,
        key: &[u8],
        encode: impl FnOnce(&mut Vec<u8>),
        decoded: T,
    ) {
        if self.checkpoints.is_empty()
            && let Some(Some(bytes)) = self.changes.get_mut(key)
        {
            bytes.clear();
            encode(bytes);
            self.decoded.keep(key, decoded);
            return;
        }
        // The decoded value's size: room for a fixed-size record's encoding in one allocation.
        let mut bytes = Vec::with_capacity(std::mem::size_of::<T>());
        encode(&mut bytes);
        self.write_decoded(key.to_vec(), Some(bytes), decoded);
    }

    fn write_bytes(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if self.checkpoints.is_empty() {
            self.changes.insert(key, value);
        } else {
            let prior = self.changes.insert(key.clone(), value);
            self.journal.push((key, prior));
        }
    }

    /// Opens a child context; writes from now on can be undone as a unit by
    /// [`Overlay::revert_child`]. Returns the new depth (1 for the first child).
    pub fn fork(&mut self) -> usize {
        self.checkpoints.push(self.journal.len());
        self.checkpoints.len()
    }

    /// Closes the innermost child, keeping its writes in the parent context. If the parent is
    /// itself a child, its own revert still undoes them.
    ///
    /// # Errors
    /// [`StateError::NoOpenContext`] if no child is open.
    pub fn commit_child(&mut self) -> Result<()> {
        self.checkpoints.pop().ok_or(StateError::NoOpenContext)?;
        if self.checkpoints.is_empty() {
            // No context left that could revert these writes.
            self.journal.clear();
        }
        Ok(())
    }

    /// Closes the innermost child, undoing every write made since its [`Overlay::fork`]
    /// (including writes of grandchildren it committed).
    ///
    /// # Errors
    /// [`StateError::NoOpenContext`] if no child is open.
    pub fn revert_child(&mut self) -> Result<()> {
        let checkpoint = self.checkpoints.pop().ok_or(StateError::NoOpenContext)?;
        while self.journal.len() > checkpoint {
            let Some((key, prior)) = self.journal.pop() else {
                break;
            };
            self.decoded.forget(&key);
            match prior {
                Some(value) => self.changes.insert(key, value),
                None => self.changes.remove(&key),
            };
        }
        Ok(())
    }

    /// Every key written in the innermost child context and still written there (a write a
    /// grandchild reverted is gone), once per write, in write order; empty at depth 0.
    pub fn written_in_child(&self) -> impl Iterator<Item = &[u8]> {
        let from = match self.checkpoints.last() {
            Some(&checkpoint) => checkpoint,
            None => self.journal.len(),
        };
        self.journal
            .get(from..)
            .unwrap_or_default()
            .iter()
            .map(|(key, _)| key.as_slice())
    }

    /// How many child contexts are open.
    pub fn depth(&self) -> usize {
        self.checkpoints.len()
    }

    /// The state underneath, dropping every pending write (e.g. to collect what a recording
    /// base saw).
    pub fn into_base(self) -> B {
        self.base
    }

    /// Whether `key` has a pending write (a set or a delete) in any open context.
    pub fn has_pending(&self, key: &[u8]) -> bool {
        self.changes.contains_key(key)
    }

    /// Whether `key` has a pending write that sets a value (not a delete): then it holds a
    /// value without a read of the base.
    pub fn has_pending_value(&self, key: &[u8]) -> bool {
        matches!(self.changes.get(key), Some(Some(_)))
    }

    /// `base_entries` (the base's entries under `prefix`, full keys) with every pending write
    /// under `prefix` applied, as the innermost context sees them: full keys, ascending, deleted
    /// keys gone.
    pub fn merge_under(
        &self,
        prefix: &[u8],
        base_entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut merged: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
            base_entries.into_iter().collect();
        for (key, value) in self.changes.iter().filter(|(k, _)| k.starts_with(prefix)) {
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        merged.into_iter().collect()
    }

    /// Every pending write, as the innermost context sees it, in ascending key order (a copy).
    pub fn pending_writes(&self) -> WriteSet {
        self.changes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The base and every pending write as the innermost context sees it, moved out in no
    /// particular order: for a caller that indexes the writes itself and needs no sorted copy
    /// (the parallel executor publishing an incarnation's writes).
    pub fn into_parts(self) -> (B, Vec<PendingWrite>) {
        (self.base, self.changes.into_iter().collect())
    }

    /// The write set of everything committed into the root context. A write that re-states the
    /// base value, or deletes a key the base lacks, is kept: it changes no root.
    ///
    /// # Errors
    /// [`StateError::ContextsStillOpen`] if a child is still open (its writes are neither
    /// committed nor reverted, so no write set is well defined).
    pub fn into_writes(self) -> Result<WriteSet> {
        if !self.checkpoints.is_empty() {
            return Err(StateError::ContextsStillOpen {
                open: self.checkpoints.len(),
            });
        }
        Ok(self.changes.into_iter().collect())
    }
}

impl<B: StateRead> StateRead for Overlay<B> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(key)
    }
}
