//! The performance phase of a BLS backend: throughput and latency over batch sizes.

use std::time::{Duration, Instant};

use super::BlsSubject;
use crate::paths::percentile;
use crate::vectors::RawTriple;

/// How long to measure.
#[derive(Debug, Clone)]
pub struct PerfPlan {
    /// Batch sizes, ascending.
    pub batch_sizes: Vec<usize>,
    /// Minimum measuring time per point.
    pub min_time: Duration,
    /// Minimum calls per point.
    pub min_calls: usize,
    /// Maximum calls per point (bounds the time of tiny batches).
    pub max_calls: usize,
}

/// One batch size's measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    /// Items per call.
    pub batch: usize,
    /// Items verified per second over all calls.
    pub sigs_per_s: f64,
    /// Median call latency, µs.
    pub p50_us: f64,
    /// 99th percentile call latency, µs.
    pub p99_us: f64,
}

/// Times `subject` on prefixes of `valid` (every item valid). A call that errs or rejects a
/// valid item ends the curve with `Err(description)`.
pub fn measure_curve(
    subject: &dyn BlsSubject,
    valid: &[RawTriple],
    plan: &PerfPlan,
) -> Result<Vec<CurvePoint>, String> {
    let mut points = Vec::new();
    for &n in plan.batch_sizes.iter().filter(|&&n| n <= valid.len()) {
        let batch = &valid[..n];
        let mut lat = Vec::new();
        let start = Instant::now();
        while lat.len() < plan.max_calls
            && (lat.len() < plan.min_calls || start.elapsed() < plan.min_time)
        {
            let t = Instant::now();
            let verdicts = subject
                .verify(batch)
                .map_err(|e| format!("batch {n}: {e}"))?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            if verdicts.len() != n || verdicts.iter().any(|v| !v) {
                return Err(format!("batch {n}: a valid item was rejected"));
            }
        }
        let total_s = lat.iter().sum::<f64>() / 1e6;
        lat.sort_by(f64::total_cmp);
        points.push(CurvePoint {
            batch: n,
            sigs_per_s: (n * lat.len()) as f64 / total_s.max(1e-9),
            p50_us: percentile(&lat, 50.0),
            p99_us: percentile(&lat, 99.0),
        });
    }
    Ok(points)
}
