//! The kernel path's attach/detach phase: measured in a private network namespace, nothing
//! left attached, the host namespace untouched, and a loud skip when it cannot run.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use keel_hwtest::paths::Verdict;
use keel_hwtest::paths::kernel::{ATTACH_SUBJECT, run_attach};
use keel_kernel_progs::{bench_attach, xdp_attachments_here};

fn root_or_skip(test: &str) -> bool {
    if !nix_is_root() {
        eprintln!("SKIPPED[root]: {test} because attaching BPF programs needs root");
        return false;
    }
    true
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

#[test]
fn attach_and_detach_costs_are_measured_per_kind_and_nothing_stays_attached() {
    if !root_or_skip("kernel attach cost") {
        return;
    }
    let host_before = xdp_attachments_here();
    let r = run_attach(4, true);
    assert_eq!(r.path, "kernel");
    assert_eq!(r.subject, ATTACH_SUBJECT);
    assert_eq!(r.conformance.verdict, Verdict::Pass, "{:?}", r.conformance);
    assert_eq!(r.performance.verdict, Verdict::Pass, "{:?}", r.performance);
    for name in ["xdp_generic.p50_attach_us", "xdp_generic.p50_detach_us"] {
        let m = r.metrics.iter().find(|m| m.name == name).unwrap();
        assert!(m.value > 0.0 && m.value.is_finite(), "{m:?}");
    }
    // Whatever could not be measured is said, not silently left out.
    let note = r.conformance.note.clone().unwrap();
    for kind in ["cgroup_skb", "veth"] {
        let measured = r.metrics.iter().any(|m| m.name.starts_with(kind))
            || (kind == "veth" && r.metrics.iter().any(|m| m.name.starts_with("xdp_native")));
        assert!(measured || note.contains(kind), "{kind}: {note}");
    }
    assert_eq!(
        xdp_attachments_here(),
        host_before,
        "host XDP attachments changed"
    );
}

#[test]
fn the_measuring_namespace_is_not_the_hosts() {
    if !root_or_skip("kernel attach namespace") {
        return;
    }
    let b = bench_attach(1).unwrap();
    let host = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
    assert_eq!(
        b.host_netns_inode,
        std::os::unix::fs::MetadataExt::ino(&host)
    );
    assert_ne!(b.netns_inode, b.host_netns_inode);
    assert!(b.failures.is_empty(), "{:?}", b.failures);
}

#[test]
fn without_the_capability_the_phase_is_skipped_with_its_reason() {
    let r = run_attach(1, false);
    assert_eq!(r.conformance.verdict, Verdict::Skipped);
    assert_eq!(r.performance.verdict, Verdict::Skipped);
    assert!(r.conformance.note.unwrap().contains("CAP_BPF"));
    assert!(r.metrics.is_empty());
}
