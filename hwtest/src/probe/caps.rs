//! This process's capabilities (the `CapEff` mask of `/proc/self/status`) and which Keel path
//! needs which.

use serde::{Deserialize, Serialize};

use super::root::SysRoot;

/// Capabilities Keel's paths use: (name, bit, what needs it).
pub const CAPABILITIES: [(&str, u32, &str); 7] = [
    (
        "CAP_BPF",
        39,
        "loading kernel programs and the kernel eBPF engine",
    ),
    (
        "CAP_PERFMON",
        38,
        "BPF programs that read kernel memory (observability)",
    ),
    (
        "CAP_NET_ADMIN",
        12,
        "attaching XDP and cgroup_skb admission programs",
    ),
    (
        "CAP_SYS_ADMIN",
        21,
        "BPF on kernels before 5.8, SQPOLL before 5.11",
    ),
    (
        "CAP_SYS_NICE",
        23,
        "pinning workers to other CPUs' nodes and raising priority",
    ),
    (
        "CAP_IPC_LOCK",
        14,
        "locking io_uring buffers and hugepages in memory",
    ),
    (
        "CAP_SYS_RESOURCE",
        24,
        "raising memlock limits for BPF maps on old kernels",
    ),
];

/// One capability and whether the process has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// `CAP_…`.
    pub name: String,
    /// Present in the effective set.
    pub effective: bool,
    /// Which path needs it.
    pub needed_for: String,
}

/// The capabilities of [`CAPABILITIES`]; empty when the status file is unreadable.
pub fn probe_caps(root: &SysRoot) -> Vec<Capability> {
    let Some(mask) = root.read("proc/self/status").and_then(|s| {
        s.lines().find_map(|l| {
            let v = l.strip_prefix("CapEff:")?;
            u64::from_str_radix(v.trim(), 16).ok()
        })
    }) else {
        return Vec::new();
    };
    CAPABILITIES
        .iter()
        .map(|(name, bit, why)| Capability {
            name: (*name).into(),
            effective: mask.checked_shr(*bit).is_some_and(|m| m & 1 == 1),
            needed_for: (*why).into(),
        })
        .collect()
}
