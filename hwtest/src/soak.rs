//! `--soak DURATION`: keep the BLS pool and the eBPF engines busy, and sample once per interval
//! the throughput, the verdicts against the reference (result drift), errors and the CPU
//! frequency (`cpufreq`, to see throttling), reported as timelines.

use std::time::{Duration, Instant};

use keel_offload::{CpuBackend, PoolConfig, Topology};

use crate::paths::bls::{BlsSubject, PoolSubject, RandomSets, reference_verdict};
use crate::paths::{Better, Curve, Metric, PathResult, Series};
use crate::probe::{SysRoot, cpufreq};
use crate::vectors::RawTriple;

/// One sample of the soak timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakSample {
    /// Seconds since the soak began.
    pub t_s: f64,
    /// Signatures verified per second during the interval.
    pub sigs_per_s: f64,
    /// Verdicts that differed from the reference during the interval.
    pub drift: u64,
    /// Backend errors during the interval.
    pub errors: u64,
    /// Mean current frequency over CPUs with cpufreq, MHz (`None` without cpufreq).
    pub mean_mhz: Option<f64>,
}

/// Soaks for `duration`, sampling every `interval`.
pub fn soak(duration: Duration, interval: Duration, seed: u64, root: &SysRoot) -> PathResult {
    let mut r = PathResult::new("soak", "bls cpu-pool");
    let topology = Topology::discover();
    let subject = match CpuBackend::new(&topology, &PoolConfig::default()) {
        Ok(b) => PoolSubject::new(b, "cpu-pool"),
        Err(e) => {
            r.conformance.fail(format!("pool: {e}"));
            return r;
        }
    };
    // Sets and their reference verdicts are prepared up front: only the pool is timed.
    let mut sets_gen = RandomSets::new(seed, 16, Vec::new());
    let sets: Vec<(Vec<RawTriple>, Vec<bool>)> = (0..8)
        .map(|_| {
            let set = sets_gen.mixed(64, 16);
            let want = set.iter().map(reference_verdict).collect();
            (set, want)
        })
        .collect();
    let cpus = topology.cpus();
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = sets.iter().cycle();
    while start.elapsed() < duration {
        let window = Instant::now();
        let (mut items, mut drift, mut errors) = (0u64, 0u64, 0u64);
        let mut busy = Duration::ZERO;
        while window.elapsed() < interval {
            let Some((set, want)) = next.next() else {
                break;
            };
            let t = Instant::now();
            let got = subject.verify(set);
            busy += t.elapsed();
            match got {
                Ok(v) => {
                    let bad = v.iter().zip(want).filter(|(g, w)| g != w).count();
                    drift = drift.saturating_add(bad as u64);
                    items = items.saturating_add(set.len() as u64);
                }
                Err(_) => errors = errors.saturating_add(1),
            }
        }
        let freqs: Vec<u64> = cpus
            .iter()
            .filter_map(|&c| cpufreq(root, c)?.cur_khz)
            .collect();
        samples.push(SoakSample {
            t_s: start.elapsed().as_secs_f64(),
            sigs_per_s: items as f64 / busy.as_secs_f64().max(1e-9),
            drift,
            errors,
            mean_mhz: (!freqs.is_empty())
                .then(|| freqs.iter().sum::<u64>() as f64 / freqs.len() as f64 / 1e3),
        });
    }
    summarize(&mut r, &samples);
    r
}

fn summarize(r: &mut PathResult, samples: &[SoakSample]) {
    for s in samples {
        r.conformance.check(if s.drift == 0 && s.errors == 0 {
            Ok(())
        } else {
            Err(format!(
                "t={:.0}s: {} drifted verdicts, {} errors",
                s.t_s, s.drift, s.errors
            ))
        });
    }
    let line = |label: &str, f: &dyn Fn(&SoakSample) -> Option<f64>| Series {
        label: label.into(),
        points: samples
            .iter()
            .filter_map(|s| Some((s.t_s, f(s)?)))
            .collect(),
    };
    r.curves.push(Curve {
        title: "Soak: BLS throughput over time".into(),
        x_label: "seconds".into(),
        y_label: "signatures/s".into(),
        log_x: false,
        series: vec![line("cpu-pool", &|s| Some(s.sigs_per_s))],
    });
    let mhz = line("mean MHz", &|s| s.mean_mhz);
    let (first, last) = (
        mhz.points.first().map(|p| p.1),
        mhz.points.last().map(|p| p.1),
    );
    if !mhz.points.is_empty() {
        r.curves.push(Curve {
            title: "Soak: CPU frequency over time (throttling)".into(),
            x_label: "seconds".into(),
            y_label: "MHz".into(),
            log_x: false,
            series: vec![mhz],
        });
    }
    if let (Some(a), Some(b)) = (first, last)
        && b < a * 0.9
    {
        r.performance.note = Some(format!(
            "CPU frequency fell from {a:.0} to {b:.0} MHz: throttling"
        ));
    }
    let rates: Vec<f64> = samples.iter().map(|s| s.sigs_per_s).collect();
    if let Some(min) = rates.iter().copied().reduce(f64::min) {
        r.metrics.push(Metric::new(
            "soak.min_sigs_per_s",
            min,
            "sig/s",
            Better::Higher,
        ));
    }
    r.performance.checks = samples.len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Verdict;

    fn sample(t_s: f64, drift: u64, mhz: f64) -> SoakSample {
        SoakSample {
            t_s,
            sigs_per_s: 100.0,
            drift,
            errors: 0,
            mean_mhz: Some(mhz),
        }
    }

    #[test]
    fn a_frequency_drop_is_reported_as_throttling_and_drift_fails_the_soak() {
        let mut r = PathResult::new("soak", "x");
        summarize(&mut r, &[sample(1.0, 0, 3000.0), sample(2.0, 2, 2000.0)]);
        assert_eq!(r.conformance.verdict, Verdict::Fail);
        assert!(r.conformance.failures[0].contains("2 drifted verdicts"));
        assert!(
            r.performance
                .note
                .as_deref()
                .unwrap_or("")
                .contains("3000 to 2000 MHz")
        );

        let mut steady = PathResult::new("soak", "x");
        summarize(
            &mut steady,
            &[sample(1.0, 0, 3000.0), sample(2.0, 0, 2950.0)],
        );
        assert_eq!(steady.conformance.verdict, Verdict::Pass);
        assert_eq!(steady.performance.note, None);
    }
}
