//! The committer's own runs. A transaction whose turn to commit has come while no worker has
//! taken it (on one thread: every transaction), or whose speculative result failed validation,
//! runs on the block's committed state itself, exactly as the sequential executor runs it:
//! everything before it is committed, so what it reads is final. It needs no recorded reads,
//! no validation and no copy of its writes, and it commits as it runs (its tip is credited in
//! place, as the sequential executor credits it).
//!
//! Workers may meanwhile run later transactions speculatively on the multi-version memory:
//! for them the run is wrapped in a child context whose journal names the keys it wrote, and
//! those keys' values are published before the transaction counts as committed. A re-run
//! first turns the aborted incarnation's entries into estimates, and always replaces them,
//! even when the run fails the block, so no reader waits for ever.

use super::memory::Entry;
use super::scheduler::{Committed, Scheduler, TxResult, entries};
use crate::executor::{ChainError, TxOutcome};
use crate::nested::lock;
use crate::state_access::ChainBase;
use keel_vm::Dimension;

/// A run's writes for the multi-version memory: the keys, and their entries in the same
/// order (moved into the memory, not copied).
type Published = (Vec<Vec<u8>>, Vec<Entry>);

impl<B: ChainBase + Sync> Scheduler<'_, B> {
    /// Runs transaction `j` (the next to commit) on the committed state and commits it. `old`
    /// is the aborted speculative incarnation it replaces, if any.
    ///
    /// # Errors
    /// What the sequential executor fails the block with at this transaction.
    pub(super) fn run_direct(
        &self,
        c: &mut Committed,
        j: usize,
        full: Option<Dimension>,
        old: Option<&TxResult>,
    ) -> Result<(), ChainError> {
        self.counters.committer_run();
        let (Some(stx), Some(checked)) = (self.txs.get(j), self.verdicts.get(j)) else {
            return Err(ChainError::Record(format!("no transaction {j}")));
        };
        let old_keys = || {
            old.into_iter()
                .flat_map(|o| entries(o, &self.tip_key).map(|(k, _)| k))
        };
        if old.is_some() {
            self.state.set_reexec(Some(j));
            self.state.mem.mark_estimates(j, old_keys());
        }
        // A claimed run after a stop has no speculative reader left (`scheduler.rs`); a
        // re-run still replaces the estimates it just marked.
        let publish = self.speculate && (old.is_some() || !self.stopped());
        let shared = self.state.shared();
        if publish {
            lock(shared).fork();
        }
        let outcome = self
            .exec
            .execute_tx(shared, &self.direct_cx, stx, *checked, full);
        let written = match (&outcome, publish) {
            (Ok(_), true) => self.close_run(),
            _ => Ok(Published::default()),
        };
        // A failed close still publishes (nothing), so the aborted incarnation's estimates
        // are replaced before the block fails.
        let (failed, (keys, values)) = match written {
            Ok(published) => (None, published),
            Err(e) => (Some(e), Published::default()),
        };
        if publish {
            let new = keys.iter().map(Vec::as_slice).zip(values);
            self.state.mem.publish(j, old_keys(), new);
        }
        if old.is_some() {
            self.state.set_reexec(None);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let outcome: TxOutcome = outcome?;
        self.record(c, j, outcome, None);
        Ok(())
    }

    /// Closes the run's child context into the committed state and returns what it wrote.
    fn close_run(&self) -> Result<Published, ChainError> {
        let mut state = self.state.committed_state();
        let mut keys: Vec<&[u8]> = state.written_in_child().collect();
        keys.sort_unstable();
        keys.dedup();
        let mut values = Vec::with_capacity(keys.len());
        for key in &keys {
            values.push(Entry::Write(state.get(key)?));
        }
        let keys = keys.into_iter().map(<[u8]>::to_vec).collect();
        state.commit_child()?;
        Ok((keys, values))
    }
}
