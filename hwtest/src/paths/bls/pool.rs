//! Keel's pinned CPU pool (`BatchVerifier<CpuBackend>`) as a [`BlsSubject`], and the BLS path
//! run: conformance once, performance over batch sizes × worker counts × pinning.

use std::sync::Arc;

use keel_crypto::{PublicKey, Signature, VerifyItem};
use keel_offload::{Backend, BatchVerifier, CpuBackend, PoolConfig, Priority, Topology};

use super::conformance::ConformancePlan;
use super::perf::{CurvePoint, PerfPlan, measure_curve};
use super::{BlsSubject, SinglePath, SubjectError, check_conformance};
use crate::paths::{Better, Curve, Metric, PathResult, Phase, Series, Verdict};
use crate::vectors::{BlsVector, RawTriple};

/// A [`BatchVerifier`] over any [`Backend`]: undecodable triples are invalid without reaching
/// the backend, the rest are verified as one batch.
pub struct PoolSubject<B> {
    verifier: BatchVerifier<B>,
    label: String,
}

impl<B: Backend> PoolSubject<B> {
    /// Wraps `backend` under the report name `label`.
    pub fn new(backend: B, label: impl Into<String>) -> Self {
        Self {
            verifier: BatchVerifier::new(backend),
            label: label.into(),
        }
    }
}

impl<B: Backend> BlsSubject for PoolSubject<B> {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn verify(&self, triples: &[RawTriple]) -> Result<Vec<bool>, SubjectError> {
        let mut out = vec![false; triples.len()];
        let mut index = Vec::with_capacity(triples.len());
        let mut items = Vec::with_capacity(triples.len());
        for (i, t) in triples.iter().enumerate() {
            if let (Ok(pk), Ok(sig)) = (PublicKey::from_bytes(&t.pk), Signature::from_bytes(&t.sig))
            {
                index.push(i);
                items.push(VerifyItem::new(pk, t.msg.clone(), sig));
            }
        }
        let items: Arc<[VerifyItem]> = items.into();
        let verdicts = self
            .verifier
            .verify(&items, Priority::Client)
            .map_err(|e| SubjectError::Failed(e.to_string()))?;
        for (i, v) in index.into_iter().zip(verdicts) {
            out[i] = v.is_valid();
        }
        Ok(out)
    }
}

/// What the BLS path needs.
pub struct BlsContext<'a> {
    /// py_ecc vectors.
    pub vectors: &'a [BlsVector],
    /// Random conformance checking.
    pub conformance: ConformancePlan,
    /// Timing.
    pub perf: PerfPlan,
    /// A valid set at least as large as the largest batch size.
    pub valid: &'a [RawTriple],
    /// Worker counts to measure the pool with.
    pub worker_counts: Vec<usize>,
    /// The machine's topology.
    pub topology: &'a Topology,
}

/// Conformance and performance of one subject, with `baseline` (the single path) as a second
/// series on the same plots. Returns the result and the subject's curve.
pub fn run_subject(subject: &dyn BlsSubject, ctx: &BlsContext<'_>) -> PathResult {
    let mut r = PathResult::new("bls", subject.name());
    r.conformance = check_conformance(subject, ctx.vectors, &ctx.conformance);
    if r.conformance.verdict == Verdict::Fail {
        r.performance = Phase::skipped("conformance failed: a wrong backend is not timed");
        return r;
    }
    let mut series = Vec::new();
    add_curve(&mut r, &mut series, subject, ctx);
    add_curve(&mut r, &mut series, &SinglePath, ctx);
    push_plots(&mut r, series);
    r
}

fn add_curve(
    r: &mut PathResult,
    series: &mut Vec<(String, Vec<CurvePoint>)>,
    subject: &dyn BlsSubject,
    ctx: &BlsContext<'_>,
) {
    r.performance.checks = r.performance.checks.saturating_add(1);
    match measure_curve(subject, ctx.valid, &ctx.perf) {
        Ok(points) => {
            let name = subject.name();
            for p in &points {
                let key = format!("{name}.b{}", p.batch);
                r.metrics.push(Metric::new(
                    format!("{key}.sigs_per_s"),
                    p.sigs_per_s,
                    "sig/s",
                    Better::Higher,
                ));
                r.metrics.push(Metric::new(
                    format!("{key}.p99_us"),
                    p.p99_us,
                    "µs",
                    Better::Lower,
                ));
            }
            series.push((name, points));
        }
        Err(e) => r.performance.fail(format!("{}: {e}", subject.name())),
    }
}

fn push_plots(r: &mut PathResult, series: Vec<(String, Vec<CurvePoint>)>) {
    let line = |f: fn(&CurvePoint) -> f64, suffix: &str| -> Vec<Series> {
        series
            .iter()
            .map(|(name, pts)| Series {
                label: format!("{name}{suffix}"),
                points: pts.iter().map(|p| (p.batch as f64, f(p))).collect(),
            })
            .collect()
    };
    r.curves.push(Curve {
        title: format!("BLS throughput vs batch size ({})", r.subject),
        x_label: "batch size".into(),
        y_label: "signatures/s".into(),
        log_x: true,
        series: line(|p| p.sigs_per_s, ""),
    });
    let mut lat = line(|p| p.p50_us, " p50");
    lat.extend(line(|p| p.p99_us, " p99"));
    r.curves.push(Curve {
        title: format!("BLS call latency percentiles ({})", r.subject),
        x_label: "batch size".into(),
        y_label: "µs per call".into(),
        log_x: true,
        series: lat,
    });
}

/// The CPU pool: conformance on the pool with every worker, then throughput and latency for
/// each worker count (pinned), unpinned at the largest count, and same-node vs cross-node
/// placement when the machine has more than one node.
pub fn run_cpu_pool(ctx: &BlsContext<'_>) -> PathResult {
    let all = ctx.topology.cpus().len().max(1);
    let mut r = PathResult::new("bls", "cpu-pool");
    match pool(ctx.topology, all, true, None) {
        Ok(subject) => r.conformance = check_conformance(&subject, ctx.vectors, &ctx.conformance),
        Err(e) => r.conformance.fail(e),
    }
    if r.conformance.verdict == Verdict::Fail {
        r.performance = Phase::skipped("conformance failed: a wrong backend is not timed");
        return r;
    }
    let mut series = Vec::new();
    for &w in ctx.worker_counts.iter().filter(|&&w| w >= 1 && w <= all) {
        for (pin, cpus) in configs(ctx.topology, w, all) {
            match pool(ctx.topology, w, pin, cpus) {
                Ok(s) => add_curve(&mut r, &mut series, &s, ctx),
                Err(e) => r.performance.fail(e),
            }
        }
    }
    add_curve(&mut r, &mut series, &SinglePath, ctx);
    push_plots(&mut r, series);
    if ctx.topology.nodes.len() < 2 {
        r.performance.note = Some("one NUMA node: same-node vs cross-node not measured".into());
    }
    r
}

/// (pin, explicit CPUs) variants for `w` workers: pinned always; unpinned at the largest
/// count; on multi-node machines, `w` workers spread across nodes vs packed on one.
fn configs(topology: &Topology, w: usize, all: usize) -> Vec<(bool, Option<Vec<usize>>)> {
    let mut v = vec![(true, None)];
    if w == all {
        v.push((false, None));
    }
    if topology.nodes.len() >= 2 && w >= 2 {
        let mut spread = Vec::new();
        let mut i = 0;
        while spread.len() < w && i < all {
            for n in &topology.nodes {
                if let Some(&c) = n.cpus.get(i) {
                    spread.push(c);
                }
            }
            i += 1;
        }
        spread.truncate(w);
        v.push((true, Some(spread)));
    }
    v
}

fn pool(
    topology: &Topology,
    workers: usize,
    pin: bool,
    cpus: Option<Vec<usize>>,
) -> Result<PoolSubject<CpuBackend>, String> {
    let label = format!(
        "cpu-pool/w{workers}{}{}",
        if pin { "" } else { "-unpinned" },
        if cpus.is_some() { "-cross-node" } else { "" }
    );
    let config = PoolConfig {
        cpus,
        max_workers: Some(workers),
        pin,
        ..PoolConfig::default()
    };
    let backend = CpuBackend::new(topology, &config).map_err(|e| format!("{label}: {e}"))?;
    Ok(PoolSubject::new(backend, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nodes() -> (tempfile::TempDir, Topology) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (n, cpus) in [(0, "0-3"), (1, "4-7")] {
            let d = dir.path().join(format!("node/node{n}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("cpulist"), cpus).expect("write");
        }
        let t = Topology::from_sysfs(dir.path());
        (dir, t)
    }

    #[test]
    fn a_two_node_machine_gets_a_cross_node_variant_spreading_workers_over_both_nodes() {
        let (_dir, t) = two_nodes();
        let v = configs(&t, 4, 8);
        assert_eq!(v, vec![(true, None), (true, Some(vec![0, 4, 1, 5]))]);
        let full = configs(&t, 8, 8);
        assert!(full.contains(&(false, None)), "unpinned at the full count");
        assert_eq!(
            configs(&t, 1, 8),
            vec![(true, None)],
            "one worker cannot cross nodes"
        );
    }
}
