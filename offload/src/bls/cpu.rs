//! The reference backend: pinned CPU workers running blst (built with `no-threads`, so all
//! parallelism is ours).

use std::sync::Arc;

use keel_crypto::{EncodedItem, VerifyItem};

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
/// Most cost units in one job (about 64 distinct messages) and most subgroup checks in one job:
/// a worker takes block jobs before client jobs but never interrupts a running one, so this
/// bounds how long a block waits behind a client batch (one such job per worker). A single
/// group (one message) is never split, so it may exceed the bound.
const MAX_JOB_COST: usize = 64 * (GROUP_COST + ITEM_COST);
const MAX_CHECKS_PER_JOB: usize = 64;

/// One worker's share of a combined check: the items, their scalars and its groups of indices.
type GroupsJob = (Arc<[VerifyItem]>, Arc<[Scalar]>, Vec<Vec<usize>>);

/// Batch arithmetic on a [`WorkerPool`]: each operation is split into jobs of bounded size,
/// spread over the workers.
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

    /// Runs `job` for each part, part `i` on worker `i mod workers`, in `priority`'s lane, and
    /// collects results in part order.
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
            .map(|(i, part)| {
                let job = Arc::clone(&job);
                let worker = i.checked_rem(self.pool.len()).unwrap_or(0);
                self.pool.submit(worker, priority, move || job(part))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(handles
            .into_iter()
            .map(|h| h.join())
            .collect::<Result<Vec<_>, _>>()?)
    }
}

fn group_cost(group: &[usize]) -> usize {
    GROUP_COST.saturating_add(ITEM_COST.saturating_mul(group.len()))
}

/// How many jobs a combined check over `groups` becomes: one per worker at least, more when
/// that keeps each job within [`MAX_JOB_COST`].
fn job_count(groups: &[Vec<usize>], workers: usize) -> usize {
    let total = groups
        .iter()
        .fold(0usize, |sum, g| sum.saturating_add(group_cost(g)));
    workers.max(total.div_ceil(MAX_JOB_COST))
}

/// Splits `groups` into at most `parts` parts of similar cost (longest-processing-time
/// greedy); empty parts are dropped.
fn balance(groups: Vec<Vec<usize>>, parts: usize) -> Vec<Vec<Vec<usize>>> {
    let parts_n = parts.clamp(1, groups.len().max(1));
    let mut parts: Vec<(usize, Vec<Vec<usize>>)> = vec![(0, Vec::new()); parts_n];
    let mut groups = groups;
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    for g in groups {
        let cost = group_cost(&g);
        if let Some(lightest) = parts.iter_mut().min_by_key(|(c, _)| *c) {
            lightest.0 = lightest.0.saturating_add(cost);
            lightest.1.push(g);
        }
    }
    parts
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
        .collect()
}

/// `subset` cut into jobs of at most [`MAX_CHECKS_PER_JOB`] items, over at most every worker
/// and at least [`MIN_CHECKS_PER_WORKER`] items per worker.
fn check_chunks(subset: &[usize], workers: usize) -> std::slice::Chunks<'_, usize> {
    let workers = workers
        .min(subset.len().div_ceil(MIN_CHECKS_PER_WORKER))
        .max(1);
    let chunk = subset.len().div_ceil(workers).clamp(1, MAX_CHECKS_PER_JOB);
    subset.chunks(chunk)
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    /// Decompression costs about what a subgroup check does: the same jobs, on the workers.
    fn decode_signatures(
        &self,
        items: &Arc<[EncodedItem]>,
        priority: Priority,
    ) -> Result<Vec<Option<VerifyItem>>, BackendError> {
        let all: Vec<usize> = (0..items.len()).collect();
        let parts: Vec<(Arc<[EncodedItem]>, Vec<usize>)> = check_chunks(&all, self.pool.len())
            .map(|c| (Arc::clone(items), c.to_vec()))
            .collect();
        let results = self.scatter(priority, parts, |(items, idx)| {
            idx.iter()
                .map(|&i| items.get(i).and_then(EncodedItem::decode))
                .collect::<Vec<_>>()
        })?;
        Ok(results.into_iter().flatten().collect())
    }

    fn subgroup_checks(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        if subset.is_empty() {
            return Ok(Vec::new());
        }
        let parts: Vec<(Arc<[VerifyItem]>, Vec<usize>)> = check_chunks(subset, self.pool.len())
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
        let jobs = job_count(&groups, self.pool.len());
        let parts: Vec<GroupsJob> = balance(groups, jobs)
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

    #[test]
    fn a_large_check_is_cut_into_jobs_of_bounded_cost() {
        let groups: Vec<Vec<usize>> = (0..1024).map(|i| vec![i]).collect();
        let jobs = job_count(&groups, 2);
        assert_eq!(jobs, 16); // 1024 distinct messages, 64 per job
        let parts = balance(groups, jobs);
        assert_eq!(parts.len(), 16);
        for p in &parts {
            let cost: usize = p.iter().map(|g| group_cost(g)).sum();
            assert!(cost <= MAX_JOB_COST, "a job of cost {cost}");
        }
        // Small checks stay one job per worker.
        assert_eq!(job_count(&[vec![0], vec![1]], 2), 2);
    }
}
