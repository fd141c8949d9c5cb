//! `--soak` on the real pool: samples over time, no drift, the CPU frequency read from a fake
//! cpufreq tree (throttling detection itself is unit-tested in `soak.rs`).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::time::Duration;

use keel_hwtest::paths::Verdict;
use keel_hwtest::probe::SysRoot;
use keel_hwtest::soak::soak;

#[test]
fn a_soak_samples_throughput_verdicts_and_cpu_frequency_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let cpus = keel_offload::Topology::discover().cpus();
    for c in &cpus {
        let d = dir
            .path()
            .join(format!("sys/devices/system/cpu/cpu{c}/cpufreq"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("scaling_cur_freq"), "3000000\n").unwrap();
    }
    let root = SysRoot::new(dir.path());
    let r = soak(
        Duration::from_millis(1000),
        Duration::from_millis(300),
        4,
        &root,
    );
    assert_eq!(
        r.conformance.verdict,
        Verdict::Pass,
        "{:?}",
        r.conformance.failures
    );
    assert!(r.conformance.checks >= 2, "one check per sample");
    let titles: Vec<&str> = r.curves.iter().map(|c| c.title.as_str()).collect();
    assert!(
        titles.iter().any(|t| t.contains("throughput"))
            && titles.iter().any(|t| t.contains("frequency")),
        "{titles:?}"
    );
    let mhz = &r
        .curves
        .iter()
        .find(|c| c.title.contains("frequency"))
        .unwrap()
        .series[0];
    assert!(mhz.points.iter().all(|p| p.1 == 3000.0), "{mhz:?}");
    assert_eq!(
        r.performance.note, None,
        "a steady frequency is not throttling"
    );
    assert!(
        r.metrics
            .iter()
            .any(|m| m.name == "soak.min_sigs_per_s" && m.value > 0.0)
    );
}
