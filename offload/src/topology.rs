//! NUMA topology discovery from sysfs.
//!
//! Linux describes NUMA nodes under `/sys/devices/system/node/nodeN/` (`cpulist`, `meminfo`).
//! Kernels without NUMA support (or containers that hide sysfs) lack that directory: then the
//! machine is described as one node holding every online CPU.

use std::fmt;
use std::fs;
use std::path::Path;

use serde::Serialize;

/// Where the description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologySource {
    /// `/sys/devices/system/node/node*/cpulist`.
    SysfsNodes,
    /// No node directory: one node with the CPUs of `/sys/devices/system/cpu/online`.
    OnlineCpus,
    /// No usable sysfs: one node with `available_parallelism` CPUs numbered from 0.
    Parallelism,
}

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumaNode {
    /// Kernel node number.
    pub id: usize,
    /// Logical CPU numbers of the node, ascending.
    pub cpus: Vec<usize>,
    /// Memory of the node in KiB, when sysfs reports it.
    pub mem_total_kib: Option<u64>,
}

/// The machine's NUMA nodes, ascending by id; never empty, and only nodes with CPUs are listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// Where the description came from.
    pub source: TopologySource,
    /// Nodes that have CPUs.
    pub nodes: Vec<NumaNode>,
}

impl Topology {
    /// Discovers the topology of this machine. Never fails: falls back as [`TopologySource`] says.
    pub fn discover() -> Self {
        Self::from_sysfs(Path::new("/sys/devices/system"))
    }

    /// Discovers the topology under a sysfs `devices/system` directory (tests use a fake one).
    pub fn from_sysfs(system: &Path) -> Self {
        let mut nodes = Vec::new();
        if let Ok(entries) = fs::read_dir(system.join("node")) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(id) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("node"))
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    continue;
                };
                let cpus = fs::read_to_string(entry.path().join("cpulist"))
                    .ok()
                    .and_then(|s| parse_cpu_list(&s))
                    .unwrap_or_default();
                if cpus.is_empty() {
                    continue; // memory-only node (CXL, HBM): no workers can run there
                }
                let mem_total_kib = fs::read_to_string(entry.path().join("meminfo"))
                    .ok()
                    .and_then(|s| parse_mem_total(&s));
                nodes.push(NumaNode {
                    id,
                    cpus,
                    mem_total_kib,
                });
            }
        }
        if !nodes.is_empty() {
            nodes.sort_by_key(|n| n.id);
            return Self {
                source: TopologySource::SysfsNodes,
                nodes,
            };
        }
        if let Some(cpus) = fs::read_to_string(system.join("cpu/online"))
            .ok()
            .and_then(|s| parse_cpu_list(&s))
            .filter(|c| !c.is_empty())
        {
            return Self::single_node(TopologySource::OnlineCpus, cpus);
        }
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::single_node(TopologySource::Parallelism, (0..n).collect())
    }

    fn single_node(source: TopologySource, cpus: Vec<usize>) -> Self {
        Self {
            source,
            nodes: vec![NumaNode {
                id: 0,
                cpus,
                mem_total_kib: None,
            }],
        }
    }

    /// Every CPU, node by node (so that taking a prefix fills one node before the next).
    pub fn cpus(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .flat_map(|n| n.cpus.iter().copied())
            .collect()
    }

    /// The node that holds `cpu`, if any.
    pub fn node_of(&self, cpu: usize) -> Option<usize> {
        self.nodes
            .iter()
            .find(|n| n.cpus.contains(&cpu))
            .map(|n| n.id)
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            TopologySource::SysfsNodes => "sysfs NUMA nodes",
            TopologySource::OnlineCpus => "no NUMA information; all online CPUs as one node",
            TopologySource::Parallelism => "no sysfs; available parallelism as one node",
        };
        writeln!(
            f,
            "{} NUMA node(s), {} CPU(s) ({source})",
            self.nodes.len(),
            self.cpus().len()
        )?;
        for node in &self.nodes {
            write!(
                f,
                "  node {}: cpus {}",
                node.id,
                format_cpu_list(&node.cpus)
            )?;
            if let Some(kib) = node.mem_total_kib {
                write!(f, ", memory {} MiB", kib / 1024)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Parses the kernel's cpulist format ("0-3,8,10-11"); `None` on anything malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    // Guards against absurd ranges in corrupted input.
    const MAX_CPUS: usize = 1 << 16;
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi): (usize, usize) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let c = part.trim().parse().ok()?;
                (c, c)
            }
        };
        if lo > hi || hi >= MAX_CPUS {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Formats CPUs back into the compact cpulist form.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Extracts "MemTotal" (KiB) from a node's meminfo ("Node 0 MemTotal:  16314516 kB").
fn parse_mem_total(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.split_once("MemTotal:"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
    }

    #[test]
    fn nodes_are_read_from_a_sysfs_tree_and_memory_only_nodes_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        for (node, cpus) in [("node1", "4-7"), ("node0", "0-3"), ("node2", "")] {
            fs::create_dir_all(sys.join("node").join(node)).unwrap();
            fs::write(sys.join("node").join(node).join("cpulist"), cpus).unwrap();
        }
        fs::write(
            sys.join("node/node0/meminfo"),
            "Node 0 MemTotal:  2048 kB\n",
        )
        .unwrap();
        let t = Topology::from_sysfs(sys);
        assert_eq!(t.source, TopologySource::SysfsNodes);
        assert_eq!(t.nodes.len(), 2);
        assert_eq!(t.nodes[0].mem_total_kib, Some(2048));
        assert_eq!(t.cpus(), (0..8).collect::<Vec<_>>());
        assert_eq!(t.node_of(5), Some(1));
        assert!(t.to_string().contains("node 1: cpus 4-7"));
    }

    #[test]
    fn without_node_directories_all_online_cpus_form_one_node() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("cpu")).unwrap();
        fs::write(dir.path().join("cpu/online"), "0-5\n").unwrap();
        let t = Topology::from_sysfs(dir.path());
        assert_eq!(t.source, TopologySource::OnlineCpus);
        assert_eq!(t.cpus(), (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn without_sysfs_the_available_parallelism_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let t = Topology::from_sysfs(dir.path());
        assert_eq!(t.source, TopologySource::Parallelism);
        assert!(!t.cpus().is_empty());
    }

    #[test]
    fn this_machine_has_at_least_one_node_with_cpus() {
        let t = Topology::discover();
        assert!(!t.nodes.is_empty() && !t.cpus().is_empty());
        assert!(serde_json::to_string(&t).unwrap().contains("\"nodes\""));
    }
}
