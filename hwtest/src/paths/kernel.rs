//! Kernel programs: load + test-run cost of the admission programs, and their per-packet test-run cost
//! against pass-through programs (`keel bench kernel`'s library), on a private, unattached
//! instance, so a running daemon is untouched.

use std::time::Instant;

use keel_kernel_progs::bench_admission;

use crate::paths::{Better, Metric, PathResult, Phase};

/// Loads the programs and test-runs them `repeat` times per case.
pub fn run_kernel(repeat: u32, can_bpf: bool) -> Vec<PathResult> {
    let mut r = PathResult::new("kernel", "admission programs");
    if !can_bpf {
        r.conformance = Phase::skipped("no CAP_BPF/CAP_SYS_ADMIN: kernel programs cannot load");
        r.performance = Phase::skipped("no CAP_BPF/CAP_SYS_ADMIN");
        return vec![r];
    }
    r.conformance.note =
        Some("attach is not measured: hwtest never touches live interfaces".into());
    let start = Instant::now();
    match bench_admission(repeat) {
        Ok(b) => {
            for c in &b.cases {
                // The expected verdicts: denied sources dropped, everything else passed.
                let want = if c.case.contains("denied") {
                    [1, 0]
                } else {
                    [2, 1]
                };
                let ok = if c.case.starts_with("xdp") {
                    c.verdict == want[0]
                } else {
                    c.verdict == want[1]
                };
                r.conformance.check(if ok {
                    Ok(())
                } else {
                    Err(format!("{}: verdict {}", c.case, c.verdict))
                });
                r.metrics.push(Metric::new(
                    format!("{}.ns_per_packet", c.case),
                    c.ns_per_packet,
                    "ns",
                    Better::Lower,
                ));
            }
            r.performance.checks = b.cases.len() as u64;
            r.metrics.push(Metric::new(
                "load_and_test_run_ms",
                start.elapsed().as_secs_f64() * 1e3,
                "ms",
                Better::Lower,
            ));
        }
        Err(e) => r.performance.fail(format!("test run: {e}")),
    }
    vec![r]
}
