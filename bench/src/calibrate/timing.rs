//! Wall-clock time of a workload's measured call on the production VM configuration: the
//! median over repeats, each repeat a batch long enough for the clock's resolution.

use super::fit::median;
use super::workload::{Ready, RunError, Workload};
use keel_vm::{MemoryState, Vm};
use std::time::{Duration, Instant};

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct TimingPlan {
    /// Samples per workload; the median is kept.
    pub repeats: u32,
    /// Smallest duration of one sample (calls are batched up to it).
    pub min_sample: Duration,
    /// Most calls in one batch (bounds the states held in memory).
    pub max_batch: u32,
}

/// The median nanoseconds of one measured call of `w` on `vm`.
///
/// Errors: the workload fails to run.
pub fn time_call(vm: &Vm, w: &Workload, plan: &TimingPlan) -> Result<f64, RunError> {
    let ready = w.ready(vm)?;
    // Warm-up (instance cache, branch predictors), and the batch size from one call.
    w.measured(vm, &ready)?;
    let once = batch(vm, w, &ready, 1)?;
    let per = once.as_nanos().max(1);
    let want = plan.min_sample.as_nanos();
    let n = u32::try_from(want / per)
        .unwrap_or(u32::MAX)
        .clamp(1, plan.max_batch.max(1));
    let mut samples = Vec::new();
    for _ in 0..plan.repeats.max(1) {
        let d = batch(vm, w, &ready, n)?;
        samples.push(d.as_nanos() as f64 / f64::from(n));
    }
    Ok(median(&samples).unwrap_or(per as f64))
}

/// `n` calls, each on its own copy of the state (copied before the clock starts).
fn batch(vm: &Vm, w: &Workload, ready: &Ready, n: u32) -> Result<Duration, RunError> {
    let states: Vec<MemoryState> = (0..n).map(|_| ready.state.clone()).collect();
    let start = Instant::now();
    for state in states {
        w.timed_call(vm, ready, state)?;
    }
    Ok(start.elapsed())
}
