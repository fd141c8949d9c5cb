//! The node-local VDF evaluator: one background thread, a bounded queue of seeds and a bounded
//! table of results, so evaluation never runs on (or blocks) the thread executing blocks.
//!
//! Node-local only: which outputs are ready changes when a block can be built, never what a
//! block contains (a block carries the output, and consensus verifies it).

use crate::error::VdfError;
use crate::vdf::{VdfOutput, VdfParams};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Seeds waiting for evaluation, at most.
pub const QUEUE_CAPACITY: usize = 64;
/// Results kept, at most (the oldest are dropped first).
pub const RESULTS_KEPT: usize = 256;

type Outcome = Result<VdfOutput, VdfError>;

#[derive(Default)]
struct Table {
    results: BTreeMap<[u8; 32], Outcome>,
    order: VecDeque<[u8; 32]>,
    pending: BTreeSet<[u8; 32]>,
}

struct Shared {
    table: Mutex<Table>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A background VDF evaluator for one parameter set.
pub struct BeaconWorker {
    params: VdfParams,
    shared: Arc<Shared>,
    queue: Option<SyncSender<[u8; 32]>>,
    thread: Option<JoinHandle<()>>,
}

impl BeaconWorker {
    /// Starts the evaluator thread (`keel-vdf`). Errors: the thread cannot be spawned.
    pub fn start(params: VdfParams) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::default()),
            ready: Condvar::new(),
        });
        let (tx, rx) = sync_channel::<[u8; 32]>(QUEUE_CAPACITY);
        let thread = {
            let shared = Arc::clone(&shared);
            let params = params.clone();
            std::thread::Builder::new()
                .name("keel-vdf".into())
                .spawn(move || {
                    while let Ok(seed) = rx.recv() {
                        let started = Instant::now();
                        let out = params.evaluate(&seed);
                        tracing::debug!(delay = params.delay, elapsed = ?started.elapsed(), "VDF evaluated");
                        let mut t = shared.lock();
                        t.pending.remove(&seed);
                        if t.results.insert(seed, out).is_none() {
                            t.order.push_back(seed);
                        }
                        while t.order.len() > RESULTS_KEPT {
                            if let Some(old) = t.order.pop_front() {
                                t.results.remove(&old);
                            }
                        }
                        drop(t);
                        shared.ready.notify_all();
                    }
                })?
        };
        Ok(BeaconWorker {
            params,
            shared,
            queue: Some(tx),
            thread: Some(thread),
        })
    }

    /// The parameters this worker evaluates with.
    pub fn params(&self) -> &VdfParams {
        &self.params
    }

    /// Queues `seed` unless it is done or queued already. `false` if the queue is full (the
    /// caller asks again later).
    pub fn request(&self, seed: [u8; 32]) -> bool {
        let mut t = self.shared.lock();
        if t.results.contains_key(&seed) || t.pending.contains(&seed) {
            return true;
        }
        let Some(queue) = &self.queue else {
            return false;
        };
        match queue.try_send(seed) {
            Ok(()) => {
                t.pending.insert(seed);
                true
            }
            Err(TrySendError::Full(_)) => {
                tracing::warn!("VDF queue full; the seed is asked for again later");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// The result for `seed`, if evaluated.
    pub fn get(&self, seed: &[u8; 32]) -> Option<Outcome> {
        self.shared.lock().results.get(seed).cloned()
    }

    /// Queues `seed` if needed and waits up to `timeout` for its result.
    pub fn wait(&self, seed: [u8; 32], timeout: Duration) -> Option<Outcome> {
        let deadline = Instant::now().checked_add(timeout)?;
        let mut t = self.shared.lock();
        loop {
            if let Some(out) = t.results.get(&seed) {
                return Some(out.clone());
            }
            if !t.pending.contains(&seed) {
                drop(t);
                if !self.request(seed) {
                    return None;
                }
                t = self.shared.lock();
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            t = self
                .shared
                .ready
                .wait_timeout(t, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Drop for BeaconWorker {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its current evaluation.
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::RsaGroup;

    #[test]
    fn the_worker_evaluates_in_the_background_what_verify_accepts() {
        let params = VdfParams::new(RsaGroup::rsa2048(), 32).unwrap();
        let w = BeaconWorker::start(params.clone()).unwrap();
        for i in 0..4u8 {
            assert!(w.request([i; 32]));
        }
        for i in 0..4u8 {
            let out = w.wait([i; 32], Duration::from_secs(60)).unwrap().unwrap();
            assert_eq!(params.verify(&[i; 32], &out), Ok(()));
            assert_eq!(w.get(&[i; 32]), Some(Ok(out)));
        }
        assert_eq!(w.get(&[99; 32]), None);
    }
}
