//! The parallel block executor (Block-STM style, Gelashvili et al., PPoPP 2023). Its results —
//! state root, receipts, events, gas, audit lines, errors — are those of the sequential
//! executor ([`Executor::execute`], the reference) for every thread count.
//!
//! - **Multi-version memory** ([`memory`]) keyed by state key: accounts (balances, nonces, rent
//!   bookkeeping), code, contract storage and system records alike.
//! - **Speculative incarnations** ([`scheduler`]): each transaction runs in its own forked
//!   context (an [`keel_state::Overlay`] over a recording [`view::MvView`]) on a worker.
//! - **Validation and in-order commit**: the committer compares every recorded read with the
//!   committed prefix; a stale incarnation is aborted, its entries become estimate markers
//!   (readers wait on a condition variable), and it re-runs. Commits apply each transaction's
//!   writes to the block's state in block order, so the write set is the sequential one (an
//!   incarnation drops a write that re-states the value it read: it changes no root).
//! - **Committer runs** ([`direct`]): a transaction whose turn to commit comes before any
//!   worker took it (on one thread: every transaction), and the re-run of an aborted one, run
//!   on the committed state itself like the sequential executor, with nothing to validate.
//! - **Adaptive speculation** ([`scheduler`]): how far workers may run ahead of the next commit
//!   halves on every abort and grows on every clean commit; an abort with it already at one
//!   transaction, or the fourth abort in a row, stops speculation for the rest of the block,
//!   whose remaining transactions the committer then runs as the sequential executor does,
//!   without publishing (the rollback log's `speculation_stopped_at`). A fully conflicting
//!   block so costs about what the sequential executor costs, not the speculative path's
//!   recording and copying on top.
//! - **Commutative deltas**: the proposer's tip — credited by every transaction, the one record
//!   all transactions share — is recorded as a credit, not a read-modify-write, unless the
//!   transaction already wrote the proposer's record. A reader of that record materializes the
//!   credits; the committer applies each with the sequential overflow check, so an overflow
//!   fails the block at the same transaction with the same error. Nothing else is a delta: the
//!   storage counters (`storage_total`, a contract's bytes, entries and rent balance) feed
//!   `min`/`checked` decisions (rebates, deposits) whose outcome depends on the exact value,
//!   so they stay ordinary reads, and a write that re-states them costs no conflict.
//! - **Block room**: a transaction is rejected when the block's usage so far plus its limits
//!   exceed a block limit. When even the sum of every earlier transaction's limits fits, the
//!   decision is known up front; otherwise the incarnation guesses from the committed usage and
//!   the committer checks the guess.
//!
//! **Barriers.** The block's first step ([`Executor::begin_block`]: feature gates, governance
//! activations, and with them every change to the routine registry, the kill set, the gas
//! schedule and the admission profile) runs alone before any transaction, and is the only
//! place the VM's rules change: no transaction changes them mid-block (a governance
//! transaction records a proposal or a vote; its action takes effect at a later height's
//! first step). So governance transactions need no barrier of their own: they are ordinary
//! reads and writes of proposal records, ordered by the multi-version memory like any other.
//! Storage listing (eviction) is answered only once every earlier transaction committed.
//!
//! **Threads.** `std::thread::scope` per block with the configured count; one thread runs the
//! scheduler on the calling thread. The crate's dependency tree has no general worker pool
//! (`keel-offload`'s pinned pools are for signature batches), and a scope keeps every borrow of
//! the block (executor, transactions) checked by the compiler.

mod direct;
mod memory;
mod scheduler;
mod state;
mod stats;
mod view;

pub use stats::ExecStats;

use crate::executor::{
    BlockEnd, BlockHeader, BlockStart, BlockTimings, ChainError, Executed, Executor, TipMode, TxCx,
};
use crate::state_access::ChainBase;
use crate::tx::SignedTx;
use keel_state::Overlay;
use scheduler::Scheduler;
use serde::Serialize;
use state::MvState;
use std::num::NonZeroUsize;
use std::sync::Arc;
use view::SharedState;

/// Most worker threads a block runs on: more only contend on the same cores.
pub const MAX_THREADS: usize = 64;

/// Which executor runs a node's blocks. Node-local: every mode gives the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExecMode {
    /// The sequential reference executor ([`Executor::execute`]).
    Sequential,
    /// The parallel executor on this many worker threads.
    Parallel(NonZeroUsize),
}

impl ExecMode {
    /// `0` → the sequential reference, `n` → `n` parallel workers (capped at [`MAX_THREADS`]).
    pub fn from_threads(n: usize) -> Self {
        match NonZeroUsize::new(n.min(MAX_THREADS)) {
            None => ExecMode::Sequential,
            Some(n) => ExecMode::Parallel(n),
        }
    }

    /// Worker threads (0 for the sequential reference).
    pub fn threads(&self) -> usize {
        match self {
            ExecMode::Sequential => 0,
            ExecMode::Parallel(n) => n.get(),
        }
    }

    /// The default of a node: the sequential reference. The parallel executor gives identical
    /// results but is not yet faster on small machines (`keel bench exec`); operators opt in
    /// (`exec_threads` in the daemon's config).
    pub fn node_default() -> Self {
        ExecMode::Sequential
    }
}

impl Executor<'_> {
    /// Executes a block with the executor `mode` names.
    pub fn execute_with<B: ChainBase + Sync>(
        &self,
        mode: ExecMode,
        base: B,
        header: &BlockHeader,
        txs: &[SignedTx],
    ) -> Result<Executed, ChainError> {
        match mode {
            ExecMode::Sequential => self.execute(base, header, txs),
            ExecMode::Parallel(n) => self.execute_parallel(base, header, txs, n),
        }
    }

    /// Executes `txs` on `base` like [`Executor::execute`], on `threads` workers (capped at
    /// [`MAX_THREADS`]). Same result, same errors; only `timings` differ.
    pub fn execute_parallel<B: ChainBase + Sync>(
        &self,
        base: B,
        header: &BlockHeader,
        txs: &[SignedTx],
        threads: NonZeroUsize,
    ) -> Result<Executed, ChainError> {
        let threads = threads.get().min(MAX_THREADS);
        let mut begin = Overlay::new(SharedState(Arc::new(base)));
        let start = self.begin_block(&mut begin, header, txs.len())?;
        let started = std::time::Instant::now();
        let verdicts = self.verify_signatures(txs);
        let verify_signatures = started.elapsed();
        let started = std::time::Instant::now();
        let state = Arc::new(MvState::new(begin));
        let cx = TxCx {
            config: &start.config,
            prices: &start.prices,
            ctx: header.context(),
            tip: TipMode::Delta,
        };
        let sched = Scheduler::new(self, txs, &verdicts, cx, Arc::clone(&state), threads > 1);
        if threads > 1 {
            std::thread::scope(|s| {
                for _ in 1..threads {
                    // The JIT tier runs a call on the thread's own stack when it has room.
                    let worker = std::thread::Builder::new()
                        .name("keel-exec".into())
                        .stack_size(keel_vm::engine::wasmtime_tier::CALL_THREAD_STACK)
                        .spawn_scoped(s, || sched.work());
                    if worker.is_err() {
                        tracing::warn!("cannot spawn an execution worker; fewer threads run");
                    }
                }
                sched.work();
            });
        } else {
            sched.work();
        }
        let stats = sched.counters.snapshot(
            u32::try_from(threads).unwrap_or(u32::MAX),
            state
                .estimate_waits
                .load(std::sync::atomic::Ordering::Relaxed),
            sched.stopped_at(),
        );
        let committed = sched.into_committed();
        if let Some(e) = committed.error {
            return Err(e);
        }
        if committed.receipts.len() != txs.len() {
            return Err(ChainError::Record(format!(
                "parallel execution committed {} of {} transactions",
                committed.receipts.len(),
                txs.len()
            )));
        }
        let state = Arc::try_unwrap(state).map_err(|_| {
            ChainError::Vm(keel_vm::VmError::State(keel_vm::StateError(
                "block state still shared".into(),
            )))
        })?;
        let BlockStart {
            mut governance,
            config,
            prices,
        } = start;
        governance.extend(committed.governance);
        let end = BlockEnd {
            start: BlockStart {
                governance,
                config,
                prices,
            },
            receipts: committed.receipts,
            receipt_leaves: Some(committed.receipt_leaves),
            block_used: committed.block_used,
            timings: BlockTimings {
                verify_signatures,
                exec: stats,
                ..BlockTimings::default()
            },
            started,
        };
        let committed = state.into_committed_state().ok_or_else(|| {
            ChainError::Vm(keel_vm::VmError::State(keel_vm::StateError(
                "committed state still shared".into(),
            )))
        })?;
        self.finish_block(committed, header, end)
    }
}
