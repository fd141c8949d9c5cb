//! `keel hwtest probe`: what this machine offers, and what Keel will use on it and why.
//!
//! Everything except io_uring's live checks and the eBPF kernel-engine check is read from procfs
//! and sysfs under a [`SysRoot`], so tests run on fake trees; a missing file leaves its field
//! empty (`None`, `[]`), never fails the probe.

mod caps;
mod choices;
mod cpu;
mod devices;
mod kernel;
mod memory;
mod root;
mod text;
mod uring;

pub use caps::{CAPABILITIES, Capability, probe_caps};
pub use choices::{Choice, choose};
pub use cpu::{Cache, CpuFreq, CpuInfo, FEATURES, cpufreq, probe_cpu};
pub use devices::{Accelerators, Nic, probe_accelerators, probe_nics};
pub use kernel::{CONFIG_KEYS, KernelInfo, probe_kernel};
pub use memory::{HugePages, MemoryInfo, Node, probe_memory};
pub use root::{SysRoot, parse_list};
pub use uring::{UringInfo, probe_uring};

use serde::{Deserialize, Serialize};

/// Checks that ask the running kernel rather than read files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChecks {
    /// io_uring opcodes, setup flags, SQPOLL.
    pub io_uring: UringInfo,
    /// Why the kernel eBPF engine cannot run here (`None`: it can).
    pub bpf_kernel_engine: Option<String>,
    /// Whether solana-sbpf's JIT targets this architecture.
    pub sbpf_jit: bool,
}

impl LiveChecks {
    /// Asks this kernel.
    pub fn run() -> Self {
        Self {
            io_uring: probe_uring(),
            bpf_kernel_engine: keel_ebpf_bridge::kernel_support()
                .err()
                .map(|e| e.to_string()),
            sbpf_jit: cfg!(target_arch = "x86_64"),
        }
    }
}

/// Everything the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// `uname -n`-like host name (`/proc/sys/kernel/hostname`).
    pub hostname: Option<String>,
    /// CPU model, features, cores, caches, frequency scaling.
    pub cpu: CpuInfo,
    /// Memory, hugepages, NUMA.
    pub memory: MemoryInfo,
    /// Kernel version, options, sysctls, clocksource.
    pub kernel: KernelInfo,
    /// Network interfaces and their XDP modes.
    pub nics: Vec<Nic>,
    /// GPUs and accelerators.
    pub accelerators: Accelerators,
    /// This process's capabilities.
    pub capabilities: Vec<Capability>,
    /// Live kernel checks (`None` when probing a fake tree).
    pub live: Option<LiveChecks>,
    /// What Keel will use, with the reason for each choice.
    pub choices: Vec<Choice>,
}

impl Probe {
    /// Probes the tree under `root`; with `live`, also asks the running kernel.
    pub fn collect(root: &SysRoot, live: bool) -> Self {
        let mut probe = Self {
            hostname: root.read("proc/sys/kernel/hostname"),
            cpu: probe_cpu(root),
            memory: probe_memory(root),
            kernel: probe_kernel(root),
            nics: probe_nics(root),
            accelerators: probe_accelerators(root),
            capabilities: probe_caps(root),
            live: live.then(LiveChecks::run),
            choices: Vec::new(),
        };
        probe.choices = choose(&probe);
        probe
    }

    /// This machine, live checks included.
    pub fn this_machine() -> Self {
        Self::collect(&SysRoot::new("/"), true)
    }

    /// Whether the process has capability `name` (`false` when unknown).
    pub fn has_cap(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.name == name && c.effective)
    }
}
