//! The kernel: version, the build options and sysctls Keel's kernel-facing paths depend on
//! (BPF JIT, BTF, io_uring) and the clocksource.

use serde::{Deserialize, Serialize};

use super::memory::selected;
use super::root::SysRoot;

/// Build options worth reporting, read from `/boot/config-<release>` when present.
pub const CONFIG_KEYS: [&str; 8] = [
    "CONFIG_BPF_JIT",
    "CONFIG_BPF_JIT_ALWAYS_ON",
    "CONFIG_BPF_SYSCALL",
    "CONFIG_DEBUG_INFO_BTF",
    "CONFIG_IO_URING",
    "CONFIG_XDP_SOCKETS",
    "CONFIG_CGROUP_BPF",
    "CONFIG_NUMA",
];

/// What the kernel offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInfo {
    /// `/proc/sys/kernel/osrelease`.
    pub release: Option<String>,
    /// `CONFIG_*` → `y`/`m`/value or `not set`, for [`CONFIG_KEYS`]; empty when no config file.
    pub config: Vec<(String, String)>,
    /// Where the config came from (`None`: not found).
    pub config_source: Option<String>,
    /// `net/core/bpf_jit_enable` (0 off, 1 on, 2 on with debug output).
    pub bpf_jit_enable: Option<u64>,
    /// `net/core/bpf_jit_harden` (0 off, 1 unprivileged, 2 all: blinding costs some speed).
    pub bpf_jit_harden: Option<u64>,
    /// `kernel/unprivileged_bpf_disabled` (0 allowed, 1 or 2 disabled).
    pub unprivileged_bpf_disabled: Option<u64>,
    /// `/sys/kernel/btf/vmlinux` exists.
    pub btf: bool,
    /// `kernel/io_uring_disabled` (0 allowed, 1 restricted to a group, 2 disabled; missing on
    /// kernels before 6.6, where io_uring is always allowed).
    pub io_uring_disabled: Option<u64>,
    /// Current clocksource (`tsc`, `kvm-clock`, `hpet`, …).
    pub clocksource: Option<String>,
    /// Clocksources the kernel could switch to.
    pub clocksources_available: Vec<String>,
}

/// Reads the kernel description under `root`.
pub fn probe_kernel(root: &SysRoot) -> KernelInfo {
    let release = root.read("proc/sys/kernel/osrelease");
    let (config, config_source) = match release
        .as_ref()
        .map(|r| format!("boot/config-{r}"))
        .and_then(|p| root.read(&p).map(|c| (c, p)))
    {
        Some((text, path)) => (parse_config(&text), Some(format!("/{path}"))),
        None => (Vec::new(), None),
    };
    let cs = "sys/devices/system/clocksource/clocksource0";
    KernelInfo {
        release,
        config,
        config_source,
        bpf_jit_enable: root.read_u64("proc/sys/net/core/bpf_jit_enable"),
        bpf_jit_harden: root.read_u64("proc/sys/net/core/bpf_jit_harden"),
        unprivileged_bpf_disabled: root.read_u64("proc/sys/kernel/unprivileged_bpf_disabled"),
        btf: root.exists("sys/kernel/btf/vmlinux"),
        io_uring_disabled: root.read_u64("proc/sys/kernel/io_uring_disabled"),
        clocksource: root
            .read(&format!("{cs}/current_clocksource"))
            .map(|s| selected(&s).unwrap_or(s)),
        clocksources_available: root
            .read(&format!("{cs}/available_clocksource"))
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

fn parse_config(text: &str) -> Vec<(String, String)> {
    CONFIG_KEYS
        .iter()
        .map(|key| {
            let value = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k == *key).then(|| v.to_string())
                })
                .unwrap_or_else(|| "not set".into());
            ((*key).to_string(), value)
        })
        .collect()
}
