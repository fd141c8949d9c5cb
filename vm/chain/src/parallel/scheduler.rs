//! The collaborative scheduler: workers execute transactions speculatively in index order and
//! take turns as the committer, which validates and commits them strictly in block order.
//!
//! - **Execute**: a worker claims the next unexecuted transaction, runs its first incarnation
//!   on an [`MvView`] in its own forked context, and publishes the writes to the multi-version
//!   memory (tips as credits).
//! - **Commit** (one worker at a time, whoever gets the commit lock): for the next transaction
//!   in order, once executed, every recorded read is compared with what it reads now that all
//!   earlier transactions are committed (value-based validation), and its block-room decision
//!   with the exact block usage. A mismatch aborts the incarnation: its entries become
//!   estimates (readers wait for it), the committer re-runs it on the committed state
//!   (`direct.rs`) — now final — and its new writes replace the old. The committed writes are
//!   applied to the block's state in order, tips credited there with the sequential check.
//!   A next transaction no worker has claimed yet is run by the committer the same way.
//!
//! Only the committer re-executes, so at most one transaction has estimates at a time and no
//! wait can form a cycle: the committer reads only committed entries.
//!
//! **Giving up on a conflicting block.** The speculation window halves on every abort. When an
//! abort comes with the window already at its floor, or several aborts come in a row, the
//! block's transactions depend on each other too closely for speculation to pay: it stops for
//! the rest of the block. No worker claims a transaction again, and once the committer claims
//! the next transaction itself no speculative result past it exists or can come, so nothing
//! reads the multi-version memory again: its own runs skip the forked context and the
//! publishing, and the block runs as the sequential executor runs it.

use super::memory::Entry;
use super::state::MvState;
use super::stats::{Counters, Reason};
use super::view::{Deferred, MvView, Reads};
use crate::executor::{ChainError, Checked, Executor, TipMode, TxCx, TxOutcome, block_full};
use crate::governance::GovEvent;
use crate::receipt::Receipt;
use crate::receipts_root::leaf_hash;
use crate::state_access::{Access, ChainBase};
use crate::tx::{PerDimension, SignedTx};
use keel_state::keys::account_key;
use keel_state::{Overlay, PendingWrite};
use keel_vm::{Dimension, GasVector, VmError};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Largest speculation window (transactions past the next commit).
const MAX_WINDOW: usize = 256;
/// Aborts in a row (no clean commit between them) that stop speculation for the rest of the
/// block, whatever the window: in blocks below full conflict they hardly ever occur.
const STOP_AFTER_ABORTS: usize = 4;
/// `Scheduler::stopped_at` while speculation has not stopped.
const SPECULATING: u64 = u64::MAX;

/// One incarnation's result.
pub(super) struct TxResult {
    outcome: Result<TxOutcome, ChainError>,
    reads: Reads,
    /// Writes to apply at commit (identical re-writes of a read value dropped).
    writes: Vec<PendingWrite>,
    /// The block-room decision the incarnation ran under.
    full: Option<Dimension>,
    deferred: Option<Deferred>,
    /// The receipt's leaf hash for the receipts root (of a successful outcome), made by the
    /// worker so the block's last step does not hash every receipt.
    leaf: Option<[u8; 32]>,
    /// Every earlier transaction was committed when this incarnation started: each of its
    /// reads saw the final entries, so it needs no read validation (always true on one
    /// thread, and for re-executions).
    on_prefix: bool,
}

enum Slot {
    Pending,
    Executing,
    Executed(Box<TxResult>),
    Committed,
}

/// How often the scheduler's state changed, and how many workers sleep until it does again
/// (both only under the `progress` lock, so no wake-up is lost).
#[derive(Default)]
struct Progress {
    generation: u64,
    sleeping: usize,
}

/// What the committer accumulates, in block order.
pub(crate) struct Committed {
    pub next: usize,
    pub block_used: GasVector,
    pub receipts: Vec<Receipt>,
    /// The receipts' leaf hashes (for the receipts root), hashed by the executing workers.
    pub receipt_leaves: Vec<[u8; 32]>,
    pub governance: Vec<GovEvent>,
    pub error: Option<ChainError>,
}

pub(crate) struct Scheduler<'a, B> {
    pub exec: &'a Executor<'a>,
    pub txs: &'a [SignedTx],
    pub verdicts: &'a [Checked],
    pub cx: TxCx<'a>,
    pub state: Arc<MvState<B>>,
    /// Σ gas limits of the transactions before each index: an upper bound of its block usage.
    bounds: Vec<GasVector>,
    slots: Vec<Mutex<Slot>>,
    next_exec: AtomicUsize,
    next_commit: AtomicUsize,
    /// How far past the next commit speculation may run: halved on every abort, grown by one
    /// on every clean commit, so a high-conflict block stops wasting work on stale runs.
    window: AtomicUsize,
    /// Aborts since the last clean commit (the committer only).
    aborts_in_a_row: AtomicUsize,
    commit: Mutex<Committed>,
    /// The committed block usage, for the room guess of speculative incarnations.
    used_so_far: Mutex<GasVector>,
    progress: Mutex<Progress>,
    progressed: Condvar,
    done: AtomicBool,
    pub counters: Counters,
    /// The proposer's account key, under which tips are published as credits.
    pub tip_key: Vec<u8>,
    /// What the committer's own runs execute under: tips credited as the sequential executor
    /// credits them (the run is in block order on the committed state).
    pub direct_cx: TxCx<'a>,
    /// Whether other workers run transactions speculatively (more than one thread). Without
    /// them the committer runs every transaction and nothing is published.
    pub speculate: bool,
    /// The transaction whose abort stopped speculation for the rest of the block (see the
    /// module docs), [`SPECULATING`] until then. Set only by the committer, before it claims
    /// the transaction it runs next.
    stopped_at: AtomicU64,
}

fn vector(p: &PerDimension) -> GasVector {
    GasVector {
        compute: p[0],
        storage_bytes: p[1],
        memory_pages: p[2],
        bandwidth: p[3],
    }
}

impl<'a, B: ChainBase + Sync> Scheduler<'a, B> {
    pub fn new(
        exec: &'a Executor<'a>,
        txs: &'a [SignedTx],
        verdicts: &'a [Checked],
        cx: TxCx<'a>,
        state: Arc<MvState<B>>,
        speculate: bool,
    ) -> Self {
        let mut bounds = Vec::with_capacity(txs.len());
        let mut sum = GasVector::default();
        for stx in txs {
            bounds.push(sum);
            sum = sum.saturating_add(&vector(&stx.tx.gas_limits));
        }
        Scheduler {
            exec,
            txs,
            verdicts,
            state,
            bounds,
            slots: txs.iter().map(|_| Mutex::new(Slot::Pending)).collect(),
            next_exec: AtomicUsize::new(0),
            next_commit: AtomicUsize::new(0),
            window: AtomicUsize::new(MAX_WINDOW),
            aborts_in_a_row: AtomicUsize::new(0),
            commit: Mutex::new(Committed {
                next: 0,
                block_used: GasVector::default(),
                receipts: Vec::with_capacity(txs.len()),
                receipt_leaves: Vec::with_capacity(txs.len()),
                governance: Vec::new(),
                error: None,
            }),
            used_so_far: Mutex::new(GasVector::default()),
            progress: Mutex::new(Progress::default()),
            progressed: Condvar::new(),
            done: AtomicBool::new(txs.is_empty()),
            counters: Counters::default(),
            tip_key: account_key(&cx.ctx.proposer),
            direct_cx: TxCx {
                config: cx.config,
                prices: cx.prices,
                ctx: cx.ctx.clone(),
                tip: TipMode::Credit,
            },
            speculate,
            stopped_at: AtomicU64::new(SPECULATING),
            cx,
        }
    }

    pub fn into_committed(self) -> Committed {
        self.commit.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, i: usize) -> Option<MutexGuard<'_, Slot>> {
        self.slots
            .get(i)
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn generation(&self) -> u64 {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    /// Something changed: sleeping workers look again. The wake-up (a system call) is only
    /// made when a worker sleeps and there is something for it to do: a transaction to claim,
    /// or the end of the block. A finished transaction needs no wake-up: the worker that ran
    /// it commits it next, or the committer sees it before letting go of the commit lock.
    fn bump(&self) {
        let mut g = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        g.generation = g.generation.wrapping_add(1);
        if g.sleeping > 0 && (self.done.load(Ordering::Acquire) || self.claimable()) {
            self.progressed.notify_all();
        }
    }

    /// A worker's loop: commit what is ready, else execute the next transaction, else sleep
    /// until something changes. Returns when the block is committed or failed.
    pub fn work(&self) {
        while !self.done.load(Ordering::Acquire) {
            let seen = self.generation();
            if self.try_commit() {
                continue;
            }
            if let Some(i) = self.claim() {
                self.execute_first(i);
                continue;
            }
            let mut g = self.progress.lock().unwrap_or_else(|p| p.into_inner());
            while g.generation == seen && !self.done.load(Ordering::Acquire) {
                g.sleeping = g.sleeping.saturating_add(1);
                g = self.progressed.wait(g).unwrap_or_else(|p| p.into_inner());
                g.sleeping = g.sleeping.saturating_sub(1);
            }
        }
    }

    /// The first index past the speculation window.
    fn limit(&self) -> usize {
        self.next_commit
            .load(Ordering::Acquire)
            .saturating_add(self.window.load(Ordering::Acquire).max(1))
    }

    /// Whether workers run transactions speculatively now.
    fn speculating(&self) -> bool {
        self.speculate && !self.stopped()
    }

    /// Whether speculation stopped for the rest of the block: the committer's own run of a
    /// transaction it claimed need not be published.
    pub(super) fn stopped(&self) -> bool {
        self.stopped_at().is_some()
    }

    /// The transaction whose abort stopped speculation, if one did.
    pub(super) fn stopped_at(&self) -> Option<u64> {
        Some(self.stopped_at.load(Ordering::SeqCst)).filter(|&tx| tx != SPECULATING)
    }

    /// Whether a worker could claim a transaction now.
    fn claimable(&self) -> bool {
        if !self.speculating() {
            return false;
        }
        let next = self.next_exec.load(Ordering::Acquire);
        next < self.txs.len() && next < self.limit()
    }

    /// Claims the next transaction to execute speculatively. `stopped` is read inside the
    /// update, sequentially consistent with the committer's store and its own claim: a claim
    /// that succeeds after the committer's next claim saw the stop and claimed nothing.
    fn claim(&self) -> Option<usize> {
        if !self.speculating() {
            return None;
        }
        let limit = self.limit();
        self.next_exec
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |i| {
                let open = !self.stopped();
                (open && i < self.txs.len() && i < limit).then(|| i.saturating_add(1))
            })
            .ok()
    }

    /// Grows the window after a clean commit, halves it after an abort. Returns whether the
    /// abort should stop speculation: it found the window already at its floor, or it is the
    /// [`STOP_AFTER_ABORTS`]th in a row.
    fn adapt(&self, aborted: bool) -> bool {
        let in_a_row = if aborted {
            self.aborts_in_a_row
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1)
        } else {
            self.aborts_in_a_row.store(0, Ordering::Relaxed);
            0
        };
        let before = self
            .window
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(if aborted {
                    (w / 2).max(1)
                } else {
                    w.saturating_add(1).min(MAX_WINDOW)
                })
            });
        aborted && (in_a_row >= STOP_AFTER_ABORTS || before.is_ok_and(|w| w <= 1))
    }

    /// Stops speculation for the rest of the block, at the abort of transaction `j` (the
    /// committer only, before its next claim).
    fn stop(&self, j: usize) {
        // A block never holds u64::MAX transactions; clamp below the sentinel all the same.
        let j = u64::try_from(j)
            .unwrap_or(u64::MAX)
            .min(SPECULATING.saturating_sub(1));
        self.stopped_at.store(j, Ordering::SeqCst);
    }

    /// The block-room decision for a speculative run of `i`: exact when even the sum of every
    /// earlier limit fits, else a guess from the committed usage (checked at commit).
    fn room_guess(&self, i: usize) -> Option<Dimension> {
        let tx = self.txs.get(i).map(|s| &s.tx.gas_limits);
        let (Some(bound), Some(limits)) = (self.bounds.get(i), tx) else {
            return None;
        };
        block_full(bound, limits, self.cx.config)?;
        let used = *self.used_so_far.lock().unwrap_or_else(|p| p.into_inner());
        block_full(&used, limits, self.cx.config)
    }

    fn execute_first(&self, i: usize) {
        if let Some(mut s) = self.slot(i) {
            *s = Slot::Executing;
        }
        let result = self.run(i, self.room_guess(i));
        self.state
            .mem
            .publish(i, [], entries(&result, &self.tip_key));
        if let Some(mut s) = self.slot(i) {
            *s = Slot::Executed(Box::new(result));
        }
        self.bump();
    }

    /// Runs one incarnation of transaction `i` in its own forked context.
    fn run(&self, i: usize, full: Option<Dimension>) -> TxResult {
        self.counters.incarnation();
        // Committed transactions' entries never change again: read before the run starts.
        let on_prefix = self.state.committed() >= i;
        let (Some(stx), Some(checked)) = (self.txs.get(i), self.verdicts.get(i)) else {
            return failed(full, ChainError::Record(format!("no transaction {i}")));
        };
        let view = MvView::new(Arc::clone(&self.state), i);
        let shared = Arc::new(Mutex::new(Overlay::new(view)));
        let outcome = self.exec.execute_tx(&shared, &self.cx, stx, *checked, full);
        let Ok(overlay) = Arc::try_unwrap(shared) else {
            return failed(full, still_shared());
        };
        let overlay = overlay.into_inner().unwrap_or_else(|p| p.into_inner());
        // The writes only matter for a transaction that did not fail the block.
        let keep = outcome.is_ok() && overlay.depth() == 0;
        let (view, mut writes) = overlay.into_parts();
        let (reads, deferred) = view.finish();
        if keep {
            writes.retain(|(k, v)| reads.get(k).is_none_or(|r| r.value != *v));
        } else {
            writes.clear();
        }
        let leaf = outcome.as_ref().ok().map(|o| leaf_hash(&o.receipt));
        TxResult {
            outcome,
            reads,
            writes,
            full,
            deferred,
            leaf,
            on_prefix,
        }
    }

    /// Commits as many transactions as are ready, if no other worker is committing. Returns
    /// whether anything was committed.
    fn try_commit(&self) -> bool {
        let mut progress = false;
        loop {
            let Ok(mut c) = self.commit.try_lock() else {
                return progress;
            };
            progress |= self.commit_ready(&mut c);
            drop(c);
            // A worker that finished the next transaction while the lock was held may have
            // found it taken: look again after releasing it.
            let next = self.next_commit.load(Ordering::Acquire);
            let ready = self
                .slot(next)
                .is_some_and(|s| matches!(*s, Slot::Executed(_)));
            if !ready || self.done.load(Ordering::Acquire) {
                return progress;
            }
        }
    }

    fn commit_ready(&self, c: &mut Committed) -> bool {
        let mut progress = false;
        while c.next < self.txs.len() && c.error.is_none() {
            let j = c.next;
            let limits = self.txs.get(j).map(|s| s.tx.gas_limits).unwrap_or_default();
            let full = block_full(&c.block_used, &limits, self.cx.config);
            let step = match self.take_executed(j) {
                Some(result) => self.commit_executed(c, j, result, full),
                // No worker took it: its turn has come, so the committer runs it itself.
                None if self.claim_next(j) => {
                    self.bump();
                    self.run_direct(c, j, full, None)
                }
                None => break,
            };
            if let Err(e) = step {
                c.error = Some(e);
                break;
            }
            progress = true;
        }
        if progress || c.error.is_some() {
            let finished = c.next >= self.txs.len() || c.error.is_some();
            if finished {
                self.done.store(true, Ordering::Release);
            }
            self.bump();
        }
        progress
    }

    /// Claims transaction `j`, the next to commit, if no worker has claimed it. After a stop,
    /// success means no transaction from `j` on was ever claimed by a worker, nor will be.
    fn claim_next(&self, j: usize) -> bool {
        self.next_exec
            .compare_exchange(j, j.saturating_add(1), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Commits the speculative `result` of `j` if it is still valid, else aborts it and runs
    /// `j` again on the committed state.
    fn commit_executed(
        &self,
        c: &mut Committed,
        j: usize,
        result: Box<TxResult>,
        full: Option<Dimension>,
    ) -> Result<(), ChainError> {
        match self.invalid(j, &result, full)? {
            None => {
                self.adapt(false);
                self.apply(c, j, *result)
            }
            Some(reason) => {
                self.counters.abort(reason);
                if self.adapt(true) {
                    self.stop(j);
                }
                self.run_direct(c, j, full, Some(&result))
            }
        }
    }

    fn take_executed(&self, j: usize) -> Option<Box<TxResult>> {
        let mut s = self.slot(j)?;
        if !matches!(*s, Slot::Executed(_)) {
            return None;
        }
        match std::mem::replace(&mut *s, Slot::Committed) {
            Slot::Executed(r) => Some(r),
            _ => None,
        }
    }

    /// Why `result` cannot be committed as transaction `j` now that everything before it is
    /// committed, if it cannot.
    fn invalid(
        &self,
        j: usize,
        result: &TxResult,
        full: Option<Dimension>,
    ) -> Result<Option<Reason>, ChainError> {
        if result.deferred.is_some() {
            return Ok(Some(Reason::Deferred));
        }
        if result.full != full {
            return Ok(Some(Reason::BlockRoom));
        }
        if result.on_prefix {
            return Ok(None);
        }
        for (key, read) in &result.reads {
            if !self.state.still_reads(key, j, read).map_err(state_error)? {
                return Ok(Some(Reason::ReadConflict));
            }
        }
        Ok(None)
    }

    /// Commits transaction `j`: its writes and tip go into the block's state, in order.
    fn apply(&self, c: &mut Committed, j: usize, result: TxResult) -> Result<(), ChainError> {
        let outcome = result.outcome?;
        {
            let mut state = self.state.committed_state();
            for (k, v) in result.writes {
                state.write(k, v);
            }
            if let Some(tip) = outcome.tip {
                let mut a = Access {
                    overlay: &mut state,
                };
                crate::transaction::credit(&mut a, &self.cx.ctx.proposer, tip)?;
            }
        }
        self.record(c, j, outcome, result.leaf);
        Ok(())
    }

    /// Records the committed `outcome` of transaction `j` (with its receipt's leaf hash, if
    /// made already) and moves the committed prefix past it.
    pub(super) fn record(
        &self,
        c: &mut Committed,
        j: usize,
        outcome: TxOutcome,
        leaf: Option<[u8; 32]>,
    ) {
        c.block_used = c.block_used.saturating_add(&outcome.used);
        *self.used_so_far.lock().unwrap_or_else(|p| p.into_inner()) = c.block_used;
        c.governance.extend(outcome.gov.into_iter().map(|mut e| {
            e.tx_index = Some(j);
            e
        }));
        let leaf = leaf.unwrap_or_else(|| leaf_hash(&outcome.receipt));
        c.receipt_leaves.push(leaf);
        c.receipts.push(outcome.receipt);
        c.next = j.saturating_add(1);
        self.state.set_committed(c.next);
        self.next_commit.store(c.next, Ordering::Release);
    }
}

/// The multi-version entries of an incarnation: its writes, and its tip as a credit under
/// `tip_key` (the proposer's account key).
pub(super) fn entries<'r>(
    result: &'r TxResult,
    tip_key: &'r [u8],
) -> impl Iterator<Item = (&'r [u8], Entry)> + 'r {
    let tip = match &result.outcome {
        Ok(TxOutcome { tip: Some(tip), .. }) => Some((tip_key, Entry::Credit(*tip))),
        _ => None,
    };
    result
        .writes
        .iter()
        .map(|(k, v)| (k.as_slice(), Entry::Write(v.clone())))
        .chain(tip)
}

fn failed(full: Option<Dimension>, e: ChainError) -> TxResult {
    TxResult {
        outcome: Err(e),
        reads: Reads::default(),
        writes: Vec::new(),
        full,
        deferred: None,
        leaf: None,
        on_prefix: false,
    }
}

fn still_shared() -> ChainError {
    ChainError::Vm(VmError::State(keel_vm::StateError(
        "overlay still shared".into(),
    )))
}

fn state_error(e: keel_state::StateError) -> ChainError {
    ChainError::Commit(e)
}
