//! Memory, hugepages and NUMA nodes with their distances.

use keel_offload::topology::{Topology, TopologySource};
use serde::{Deserialize, Serialize};

use super::root::SysRoot;

/// One hugepage size (`/sys/kernel/mm/hugepages/hugepages-<size>kB`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugePages {
    /// Page size in KiB.
    pub size_kib: u64,
    /// `nr_hugepages`.
    pub total: u64,
    /// `free_hugepages`.
    pub free: u64,
}

/// One NUMA node as Keel's worker pool sees it, plus its distance row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Kernel node number.
    pub id: usize,
    /// Its CPUs.
    pub cpus: Vec<usize>,
    /// Its memory, KiB.
    pub mem_total_kib: Option<u64>,
    /// `distance`: relative access cost to every node (10 = local); empty when unknown.
    pub distances: Vec<u32>,
}

/// Memory and topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// `MemTotal` of `/proc/meminfo`, KiB.
    pub mem_total_kib: Option<u64>,
    /// `MemAvailable`, KiB.
    pub mem_available_kib: Option<u64>,
    /// Configured hugepage pools.
    pub hugepages: Vec<HugePages>,
    /// Transparent hugepages mode (`[always] madvise never` → `always`).
    pub transparent_hugepages: Option<String>,
    /// Where the node list came from (offload's topology discovery, the same one the pool uses).
    pub numa_source: String,
    /// Nodes with CPUs.
    pub nodes: Vec<Node>,
}

/// Reads memory, hugepages and NUMA topology under `root`.
pub fn probe_memory(root: &SysRoot) -> MemoryInfo {
    let meminfo = root.read("proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        meminfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.split_whitespace().next()?.parse().ok())?
        })
    };
    let topology = Topology::from_sysfs(&root.path("sys/devices/system"));
    let nodes = topology
        .nodes
        .iter()
        .map(|n| Node {
            id: n.id,
            cpus: n.cpus.clone(),
            mem_total_kib: n.mem_total_kib,
            distances: root
                .read(&format!("sys/devices/system/node/node{}/distance", n.id))
                .map(|s| {
                    s.split_whitespace()
                        .filter_map(|d| d.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    MemoryInfo {
        mem_total_kib: kib("MemTotal"),
        mem_available_kib: kib("MemAvailable"),
        hugepages: hugepages(root),
        transparent_hugepages: root
            .read("sys/kernel/mm/transparent_hugepage/enabled")
            .and_then(|s| selected(&s)),
        numa_source: match topology.source {
            TopologySource::SysfsNodes => "sysfs",
            TopologySource::OnlineCpus => "online-cpus",
            TopologySource::Parallelism => "available-parallelism",
        }
        .into(),
        nodes,
    }
}

fn hugepages(root: &SysRoot) -> Vec<HugePages> {
    let base = "sys/kernel/mm/hugepages";
    root.list(base)
        .into_iter()
        .filter_map(|dir| {
            let size_kib = dir
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(HugePages {
                size_kib,
                total: root
                    .read_u64(&format!("{base}/{dir}/nr_hugepages"))
                    .unwrap_or(0),
                free: root
                    .read_u64(&format!("{base}/{dir}/free_hugepages"))
                    .unwrap_or(0),
            })
        })
        .collect()
}

/// The bracketed choice of a sysfs selector file.
pub fn selected(s: &str) -> Option<String> {
    let start = s.find('[')?;
    let end = s[start..].find(']')?;
    Some(s[start + 1..start + end].to_string())
}
