//! The reference backend: pinned CPU workers running blst (built with `no-threads`, so all
//! parallelism is ours).

use std::sync::Arc;

use keel_crypto::VerifyItem;

use super::backend::{Backend, BackendError};
use super::commit::{CommittedBatch, Scalar};
use super::rlc::{self, group_by_message};
use crate::pool::{PoolConfig, PoolError, Priority, WorkerInfo, WorkerPool};
use crate::topology::Topology;

/// Relative cost of one distinct message (hash-to-G2 plus a Miller loop) against one extra
/// signature in a group (its share of the multi-scalar multiplications); measured with blst on
/// x86-64, used only to balance work between workers.
const GROUP_COST: usize = 18;
const ITEM_COST: usize = 1;
/// Below this many subgroup checks per worker, splitting costs more than it saves.
const MIN_CHECKS_PER_WORKER: usize = 4;

/// One worker's share of a combined check: the items, their scalars and its groups of indices.
type GroupsJob = (Arc<[VerifyItem]>, Arc<[Scalar]>, Vec<Vec<usize>>);

/// Batch arithmetic on a [`WorkerPool`]: each operation is split into one job per worker.
#[derive(Debug)]
pub struct CpuBackend {
    pool: WorkerPool,
}

impl CpuBackend {
    /// Starts the workers.
    ///
    /// # Errors
    /// As [`WorkerPool::new`].
    pub fn new(topology: &Topology, config: &PoolConfig) -> Result<Self, PoolError> {
        Ok(Self {
            pool: WorkerPool::new(topology, config)?,
        })
    }

    /// The workers the backend runs on.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.pool.workers()
    }

    /// Runs `job` for each non-empty part on its own worker, in `priority`'s lane, and collects
    /// results in part order.
    fn scatter<P, R, F>(
        &self,
        priority: Priority,
        parts: Vec<P>,
        job: F,
    ) -> Result<Vec<R>, BackendError>
    where
        P: Send + 'static,
        R: Send + 'static,
        F: Fn(P) -> R + Send + Sync + 'static,
    {
        let job = Arc::new(job);
        let handles = parts
            .into_iter()
            .enumerate()
            .map(|(worker, part)| {
                let job = Arc::clone(&job);
                self.pool.submit(worker, priority, move || job(part))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(handles
            .into_iter()
            .map(|h| h.join())
            .collect::<Result<Vec<_>, _>>()?)
    }
}

/// Splits `groups` into at most `workers` parts of similar cost (longest-processing-time
/// greedy); empty parts are dropped.
fn balance(groups: Vec<Vec<usize>>, workers: usize) -> Vec<Vec<Vec<usize>>> {
    let workers = workers.clamp(1, groups.len().max(1));
    let mut parts: Vec<(usize, Vec<Vec<usize>>)> = vec![(0, Vec::new()); workers];
    let mut groups = groups;
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    for g in groups {
        let cost = GROUP_COST + ITEM_COST * g.len();
        if let Some(lightest) = parts.iter_mut().min_by_key(|(c, _)| *c) {
            lightest.0 += cost;
            lightest.1.push(g);
        }
    }
    parts
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
        .collect()
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn subgroup_checks(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        if subset.is_empty() {
            return Ok(Vec::new());
        }
        let workers = self
            .pool
            .len()
            .min(subset.len().div_ceil(MIN_CHECKS_PER_WORKER))
            .max(1);
        let chunk = subset.len().div_ceil(workers);
        let parts: Vec<(Arc<[VerifyItem]>, Vec<usize>)> = subset
            .chunks(chunk)
            .map(|c| (Arc::clone(batch.items()), c.to_vec()))
            .collect();
        let results = self.scatter(batch.priority(), parts, |(items, idx)| {
            idx.iter()
                .map(|&i| items.get(i).is_some_and(|it| it.sig.in_subgroup()))
                .collect::<Vec<bool>>()
        })?;
        Ok(results.into_iter().flatten().collect())
    }

    fn combined_check(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<bool, BackendError> {
        let groups = group_by_message(batch.items(), subset);
        if groups.is_empty() {
            return Ok(true);
        }
        let parts: Vec<GroupsJob> = balance(groups, self.pool.len())
            .into_iter()
            .map(|p| (Arc::clone(batch.items()), Arc::clone(batch.scalars()), p))
            .collect();
        let shares = self.scatter(batch.priority(), parts, |(items, scalars, groups)| {
            rlc::accumulate(&items, &scalars, &groups)
        })?;
        Ok(rlc::finish(shares))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn balancing_spreads_groups_and_keeps_every_index_once() {
        let groups = vec![vec![0], vec![1, 2, 3, 4], vec![5], vec![6]];
        let parts = balance(groups, 2);
        assert_eq!(parts.len(), 2);
        let mut all: Vec<usize> = parts.iter().flatten().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        assert_eq!(balance(vec![vec![0]], 8).len(), 1);
        assert!(balance(Vec::new(), 2).is_empty());
    }
}
