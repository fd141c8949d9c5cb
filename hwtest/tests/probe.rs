//! The probe on fake procfs/sysfs trees: NUMA with distances, hugepages, cpufreq, caches,
//! capabilities, NICs, accelerators, and a tree with every file missing.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::fs;
use std::path::Path;

use keel_hwtest::probe::{Probe, SysRoot};

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn two_node_machine(root: &Path) {
    put(
        root,
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test Xeon\nflags\t\t: fpu adx bmi2 avx2 sha_ni\n\nprocessor\t: 1\n",
    );
    put(
        root,
        "proc/meminfo",
        "MemTotal:       65536000 kB\nMemAvailable:   60000000 kB\n",
    );
    put(root, "proc/sys/kernel/hostname", "fake-box\n");
    put(root, "proc/sys/kernel/osrelease", "6.1.0-test\n");
    put(
        root,
        "boot/config-6.1.0-test",
        "CONFIG_BPF_JIT=y\n# CONFIG_IO_URING is not set\nCONFIG_DEBUG_INFO_BTF=y\n",
    );
    put(root, "proc/sys/net/core/bpf_jit_enable", "1\n");
    put(root, "proc/sys/net/core/bpf_jit_harden", "2\n");
    put(root, "proc/sys/kernel/io_uring_disabled", "2\n");
    put(
        root,
        "proc/self/status",
        "Name: keel\nCapEff:\t0000008000001000\n",
    );
    put(root, "sys/devices/system/cpu/online", "0-3\n");
    put(root, "sys/devices/system/cpu/smt/active", "1\n");
    for cpu in 0..4 {
        let t = format!("sys/devices/system/cpu/cpu{cpu}/topology");
        put(
            root,
            &format!("{t}/physical_package_id"),
            &format!("{}\n", cpu / 2),
        );
        put(root, &format!("{t}/core_id"), "0\n");
    }
    // cpufreq on CPUs 0 and 1 only: the others lack the directory, as on some hosts.
    for cpu in 0..2 {
        let f = format!("sys/devices/system/cpu/cpu{cpu}/cpufreq");
        put(root, &format!("{f}/scaling_cur_freq"), "2400000\n");
        put(root, &format!("{f}/cpuinfo_max_freq"), "3000000\n");
        put(root, &format!("{f}/scaling_governor"), "powersave\n");
    }
    put(
        root,
        "sys/devices/system/cpu/cpu0/cache/index0/level",
        "1\n",
    );
    put(
        root,
        "sys/devices/system/cpu/cpu0/cache/index0/type",
        "Data\n",
    );
    put(
        root,
        "sys/devices/system/cpu/cpu0/cache/index0/size",
        "48K\n",
    );
    put(root, "sys/devices/system/node/node0/cpulist", "0-1\n");
    put(root, "sys/devices/system/node/node0/distance", "10 21\n");
    put(root, "sys/devices/system/node/node1/cpulist", "2-3\n");
    put(root, "sys/devices/system/node/node1/distance", "21 10\n");
    put(
        root,
        "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
        "512\n",
    );
    put(
        root,
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
        "500\n",
    );
    put(
        root,
        "sys/kernel/mm/transparent_hugepage/enabled",
        "always [madvise] never\n",
    );
    put(
        root,
        "sys/devices/system/clocksource/clocksource0/current_clocksource",
        "tsc\n",
    );
    put(root, "sys/class/net/eth0/operstate", "up\n");
    put(root, "sys/class/net/eth0/speed", "25000\n");
    fs::create_dir_all(root.join("drivers/mlx5_core")).unwrap();
    fs::create_dir_all(root.join("sys/class/net/eth0/device")).unwrap();
    std::os::unix::fs::symlink(
        root.join("drivers/mlx5_core"),
        root.join("sys/class/net/eth0/device/driver"),
    )
    .unwrap();
    put(root, "dev/nvidia0", "");
    put(
        root,
        "etc/OpenCL/vendors/nvidia.icd",
        "libnvidia-opencl.so.1\n",
    );
}

#[test]
fn a_two_node_machine_reports_numa_distances_hugepages_cpufreq_and_features() {
    let dir = tempfile::tempdir().unwrap();
    two_node_machine(dir.path());
    let p = Probe::collect(&SysRoot::new(dir.path()), false);
    assert_eq!(p.hostname.as_deref(), Some("fake-box"));
    assert_eq!(p.cpu.model.as_deref(), Some("Test Xeon"));
    assert!(p.cpu.has("adx") && p.cpu.has("bmi2") && p.cpu.has("sha_ni") && !p.cpu.has("avx512f"));
    assert_eq!(
        (p.cpu.logical, p.cpu.physical_cores, p.cpu.smt_active),
        (4, Some(2), Some(true))
    );
    assert_eq!(p.cpu.freq.len(), 2);
    assert_eq!(p.cpu.freq[0].cur_khz, Some(2_400_000));
    assert_eq!(p.cpu.caches[0].size, "48K");
    assert_eq!(p.memory.nodes.len(), 2);
    assert_eq!(p.memory.nodes[1].cpus, vec![2, 3]);
    assert_eq!(p.memory.nodes[0].distances, vec![10, 21]);
    assert_eq!(p.memory.hugepages[0].size_kib, 2048);
    assert_eq!(
        (p.memory.hugepages[0].total, p.memory.hugepages[0].free),
        (512, 500)
    );
    assert_eq!(p.memory.transparent_hugepages.as_deref(), Some("madvise"));
    assert_eq!(p.kernel.bpf_jit_harden, Some(2));
    assert!(
        p.kernel
            .config
            .contains(&("CONFIG_IO_URING".into(), "not set".into()))
    );
    assert!(
        p.kernel
            .config
            .contains(&("CONFIG_BPF_JIT".into(), "y".into()))
    );
    assert_eq!(p.nics[0].driver.as_deref(), Some("mlx5_core"));
    assert_eq!(p.nics[0].xdp_modes, vec!["generic", "native"]);
    assert_eq!(p.accelerators.nvidia_devices, vec!["nvidia0"]);
    assert!(p.has_cap("CAP_BPF") && p.has_cap("CAP_NET_ADMIN") && !p.has_cap("CAP_SYS_ADMIN"));
    let uses = |path: &str| p.choices.iter().find(|c| c.path == path).unwrap().clone();
    assert_eq!(
        uses("transport").uses,
        "epoll",
        "io_uring_disabled = 2 must force epoll"
    );
    assert!(
        uses("bls")
            .uses
            .contains("4 pinned workers on 2 NUMA node(s)")
    );
    assert!(uses("cpufreq").reason.contains("not `performance`"));
    assert!(uses("kernel-programs").reason.contains("hardening"));
    assert!(uses("accelerators").reason.contains("plug-in"));
    // Text and JSON carry the same facts.
    let text = p.to_string();
    assert!(text.contains("node1 cpus [2, 3]") && text.contains("distances [21, 10]"));
    let back: Probe = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn an_empty_tree_gives_an_empty_description_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let p = Probe::collect(&SysRoot::new(dir.path()), false);
    assert_eq!(p.cpu.model, None);
    assert!(p.cpu.features.is_empty() && p.cpu.freq.is_empty() && p.cpu.caches.is_empty());
    assert!(p.memory.hugepages.is_empty() && p.nics.is_empty() && p.capabilities.is_empty());
    assert_eq!(p.kernel.release, None);
    assert!(p.kernel.config.is_empty());
    // Offload's topology falls back to one node of this process's CPUs.
    assert_eq!(p.memory.nodes.len(), 1);
    assert_eq!(p.memory.numa_source, "available-parallelism");
    assert!(
        p.choices
            .iter()
            .any(|c| c.path == "cpufreq" && c.uses == "n/a")
    );
}

#[test]
fn malformed_files_are_ignored_rather_than_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "sys/devices/system/cpu/online", "0-99999999\n");
    put(
        root,
        "sys/kernel/mm/hugepages/hugepages-bogus/nr_hugepages",
        "x\n",
    );
    put(root, "proc/self/status", "CapEff:\tnot-hex\n");
    put(root, "sys/devices/system/node/node0/cpulist", "garbage\n");
    let p = Probe::collect(&SysRoot::new(root), false);
    assert!(p.memory.hugepages.is_empty());
    assert!(p.capabilities.is_empty());
    assert_eq!(p.cpu.logical, 0);
}
