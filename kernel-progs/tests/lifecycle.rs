//! The daemon-facing lifecycle: start (never failing), status, metrics, pinned state read by
//! another process, detach; and the benchmark's shape. Root only where noted; skips loudly.

use std::path::PathBuf;

use keel_kernel_progs::{
    AdmissionConfig, AttachKind, AttachMode, KernelConfig, KernelPrograms, ObserveConfig,
    bench_admission, cgroup2_root, read_pinned,
};

fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("SKIPPED[root]: {test} because it needs root (BPF programs, bpffs)");
    false
}

/// An empty cgroup (no sockets in it), so the cgroup_skb program affects no real traffic.
struct EmptyCgroup(PathBuf);

impl Drop for EmptyCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn start_attaches_everything_and_status_metrics_and_pins_agree_until_detach() {
    let test = "start_attaches_everything_and_status_metrics_and_pins_agree_until_detach";
    if !root_or_skip(test) {
        return;
    }
    let Ok(root) = cgroup2_root() else {
        eprintln!("SKIPPED[cgroup2]: {test} because no cgroup2 filesystem is mounted");
        return;
    };
    let cg = EmptyCgroup(root.join(format!("keel-test-life-{}", std::process::id())));
    std::fs::create_dir_all(&cg.0).unwrap();
    let pin = PathBuf::from(format!("/sys/fs/bpf/keel-test-life-{}", std::process::id()));
    let config = KernelConfig {
        enabled: true,
        pin_dir: Some(pin.clone()),
        admission: AdmissionConfig {
            port: 7702,
            attach: AttachMode::Cgroup,
            cgroup: Some(cg.0.clone()),
            allowlist: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            ..AdmissionConfig::default()
        },
        observe: ObserveConfig::default(),
    };
    let progs = KernelPrograms::start(&config);
    assert!(
        progs.admission().is_some(),
        "problems: {:?}",
        progs.problems()
    );
    assert!(
        progs.observer().is_some(),
        "problems: {:?}",
        progs.problems()
    );

    let status = progs.status();
    assert_eq!(status.attachments[0].kind, AttachKind::CgroupSkb);
    assert!(
        status
            .attachments
            .iter()
            .any(|a| a.target == "sched/sched_switch")
    );
    assert_eq!(status.admission.as_ref().unwrap().allowlist.len(), 2);
    let text = status.to_string();
    eprintln!("{text}");
    assert!(text.contains("tcp port 7702"), "{text}");
    let json = serde_json::to_string(&status).unwrap();
    assert_eq!(
        serde_json::from_str::<keel_kernel_progs::KernelStatus>(&json).unwrap(),
        status
    );

    let metrics = progs.metrics_text();
    assert!(metrics.contains("keel_kernel_admission_packets_total{verdict=\"passed\"}"));
    assert!(metrics.contains("keel_kernel_worker_preemption_delay_seconds_count"));

    // Another process (`keel kernel status`) sees the same from the pins alone.
    let pinned = read_pinned(&pin);
    assert_eq!(
        pinned.attachments.len(),
        status.attachments.len(),
        "{pinned}"
    );
    assert_eq!(pinned.admission.as_ref().unwrap().port, 7702);
    assert!(pinned.observe.is_some());

    progs.detach().unwrap();
    assert!(!pin.exists(), "detach removes the pin directory");
    assert!(read_pinned(&pin).admission.is_none());
}

#[test]
fn start_runs_on_without_admission_when_the_interface_is_missing_and_says_why() {
    let config = KernelConfig {
        pin_dir: None,
        admission: AdmissionConfig {
            port: 7703,
            attach: AttachMode::Xdp,
            interface: Some("keel-nosuch0".into()),
            ..AdmissionConfig::default()
        },
        observe: ObserveConfig {
            enabled: false,
            ..ObserveConfig::default()
        },
        ..KernelConfig::default()
    };
    let progs = KernelPrograms::start(&config);
    assert!(progs.admission().is_none());
    assert!(
        progs
            .problems()
            .iter()
            .any(|p| p.contains("RUNNING WITHOUT KERNEL ADMISSION CONTROL")),
        "{:?}",
        progs.problems()
    );
    assert!(progs.status().to_string().contains("WARNING"));
    assert!(
        progs
            .metrics_text()
            .contains("keel_kernel_programs_loaded{subsystem=\"admission\"} 0")
    );
}

#[test]
fn the_benchmark_measures_every_case_with_the_expected_verdicts() {
    if !root_or_skip("the_benchmark_measures_every_case_with_the_expected_verdicts") {
        return;
    }
    let b = bench_admission(1000).unwrap();
    let verdict = |case: &str| b.cases.iter().find(|c| c.case == case).unwrap().verdict;
    assert_eq!(b.cases.len(), 7);
    assert_eq!(verdict("xdp_pass"), 2);
    assert_eq!(verdict("xdp_admit_allowed_v4"), 2);
    assert_eq!(verdict("xdp_admit_denied_v4"), 1);
    assert_eq!(verdict("xdp_admit_allowed_v6"), 2);
    assert_eq!(verdict("xdp_admit_other_port"), 2);
    assert_eq!(verdict("skb_admit_allowed_v4"), 1);
    assert!(b.cases.iter().all(|c| c.ns_per_packet > 0.0));
}
