//! Kernel programs: load + test-run cost of the admission programs, and their per-packet test-run cost
//! against pass-through programs (`keel bench kernel`'s library), on a private, unattached
//! instance, so a running daemon is untouched; then their attach and detach cost where the
//! daemon attaches them (XDP, cgroup_skb), in a private network namespace and an empty private
//! cgroup, so no live interface or routed socket is touched.

use std::time::Instant;

use keel_kernel_progs::{AttachBench, bench_admission, bench_attach};

use crate::paths::{Better, Metric, PathResult, Phase, percentile};

/// The subject of the attach/detach result.
pub const ATTACH_SUBJECT: &str = "admission attach-detach";

/// Loads the programs and test-runs them `repeat` times per case, then attaches and detaches
/// them `attach_repeats` times per attach kind.
pub fn run_kernel(repeat: u32, attach_repeats: u32, can_bpf: bool) -> Vec<PathResult> {
    vec![
        run_test_runs(repeat, can_bpf),
        run_attach(attach_repeats, can_bpf),
    ]
}

fn run_test_runs(repeat: u32, can_bpf: bool) -> PathResult {
    let mut r = PathResult::new("kernel", "admission programs");
    if !can_bpf {
        r.conformance = Phase::skipped("no CAP_BPF/CAP_SYS_ADMIN: kernel programs cannot load");
        r.performance = Phase::skipped("no CAP_BPF/CAP_SYS_ADMIN");
        return r;
    }
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
    r
}

/// Attach/detach cost per kind: conformance is "attached where asked, nothing left after
/// detach, host namespace untouched"; metrics are the p50 of each.
pub fn run_attach(repeats: u32, can_bpf: bool) -> PathResult {
    let mut r = PathResult::new("kernel", ATTACH_SUBJECT);
    if !can_bpf {
        r.conformance = Phase::skipped("no CAP_BPF/CAP_SYS_ADMIN: programs cannot be attached");
        r.performance = Phase::skipped("no CAP_BPF/CAP_SYS_ADMIN");
        return r;
    }
    match bench_attach(repeats) {
        Ok(b) => record_attach(&mut r, &b),
        Err(e) => {
            let why = format!("no private network namespace or programs: {e}");
            tracing::warn!("kernel attach cost skipped: {why}");
            r.conformance = Phase::skipped(why.clone());
            r.performance = Phase::skipped(why);
        }
    }
    r
}

fn record_attach(r: &mut PathResult, b: &AttachBench) {
    r.conformance.checks = b.checks;
    for f in &b.failures {
        r.conformance.fail(f.clone());
    }
    let mut note = format!(
        "{} cycles per kind in network namespace {} (host {})",
        b.repeats, b.netns_inode, b.host_netns_inode
    );
    for s in &b.skipped {
        note.push_str("; SKIPPED ");
        note.push_str(s);
    }
    r.conformance.note = Some(note);
    for c in &b.costs {
        r.performance.check(if c.attach_us.is_empty() {
            Err(format!("{}: nothing measured", c.kind))
        } else {
            Ok(())
        });
        for (what, samples) in [("attach_us", &c.attach_us), ("detach_us", &c.detach_us)] {
            let mut sorted = samples.clone();
            sorted.sort_by(f64::total_cmp);
            r.metrics.push(Metric::new(
                format!("{}.p50_{what}", c.kind),
                percentile(&sorted, 50.0),
                "µs",
                Better::Lower,
            ));
        }
    }
    if b.costs.is_empty() {
        r.performance = Phase::skipped(format!("no attach kind available: {:?}", b.skipped));
    }
}
