//! What Keel will use on a probed machine, and why: one [`Choice`] per acceleration path.

use serde::{Deserialize, Serialize};

use super::Probe;

/// A path's chosen implementation and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The path (`bls`, `ebpf`, `vm`, `transport`, `kernel-programs`, `accelerators`, `cpufreq`).
    pub path: String,
    /// What will be used.
    pub uses: String,
    /// Why.
    pub reason: String,
}

fn choice(path: &str, uses: impl Into<String>, reason: impl Into<String>) -> Choice {
    Choice {
        path: path.into(),
        uses: uses.into(),
        reason: reason.into(),
    }
}

/// The choices for `p`.
pub fn choose(p: &Probe) -> Vec<Choice> {
    vec![
        bls(p),
        ebpf(p),
        vm(),
        transport(p),
        kernel_programs(p),
        accelerators(p),
        cpufreq(p),
    ]
}

fn bls(p: &Probe) -> Choice {
    let nodes = p.memory.nodes.len();
    let cpus: usize = p.memory.nodes.iter().map(|n| n.cpus.len()).sum();
    let arith = if p.cpu.has("adx") && p.cpu.has("bmi2") {
        "blst selects its ADX/BMI2 (mulx) assembly at run time"
    } else {
        "no ADX/BMI2: blst runs its portable assembly (slower field multiplication)"
    };
    choice(
        "bls",
        format!("CPU pool: {cpus} pinned workers on {nodes} NUMA node(s)"),
        format!("{arith}; one worker per CPU, node by node, first-touch scratch memory"),
    )
}

fn ebpf(p: &Probe) -> Choice {
    let Some(live) = &p.live else {
        return choice("ebpf", "unknown", "live checks were not run");
    };
    let uses = if live.sbpf_jit {
        "sBPF JIT"
    } else {
        "sBPF interpreter"
    };
    let jit = if live.sbpf_jit {
        "solana-sbpf's JIT targets x86-64"
    } else {
        "no JIT for this architecture; the interpreter gives identical results"
    };
    let kernel = match &live.bpf_kernel_engine {
        None => "the kernel engine is available for cross-checks".to_string(),
        Some(why) => format!("no kernel cross-check engine: {why}"),
    };
    choice("ebpf", uses, format!("{jit}; {kernel}"))
}

fn vm() -> Choice {
    choice(
        "vm",
        "wasmi",
        "the only engine tier built in; wasmtime is not available yet",
    )
}

fn transport(p: &Probe) -> Choice {
    let disabled = p.kernel.io_uring_disabled.unwrap_or(0);
    let ring_error = p.live.as_ref().and_then(|l| l.io_uring.unavailable.clone());
    match (disabled, ring_error) {
        (2, _) => choice("transport", "epoll", "kernel.io_uring_disabled = 2"),
        (_, Some(e)) => choice("transport", "epoll", format!("io_uring rings fail: {e}")),
        _ => {
            let sqpoll = p.live.as_ref().is_some_and(|l| {
                l.io_uring
                    .setup_flags
                    .iter()
                    .any(|(f, ok)| f == "SQPOLL" && *ok)
            });
            choice(
                "transport",
                "io_uring",
                format!(
                    "rings can be created{}",
                    if sqpoll {
                        "; SQPOLL permitted"
                    } else {
                        "; SQPOLL not permitted"
                    }
                ),
            )
        }
    }
}

fn kernel_programs(p: &Probe) -> Choice {
    let bpf = p.has_cap("CAP_BPF") || p.has_cap("CAP_SYS_ADMIN");
    if bpf && p.has_cap("CAP_NET_ADMIN") {
        let harden = match p.kernel.bpf_jit_harden {
            Some(0) | None => "",
            Some(_) => " (JIT hardening on: constant blinding costs some speed)",
        };
        choice(
            "kernel-programs",
            "admission + observability",
            format!("CAP_BPF and CAP_NET_ADMIN present{harden}"),
        )
    } else {
        choice(
            "kernel-programs",
            "none",
            "missing CAP_BPF/CAP_SYS_ADMIN or CAP_NET_ADMIN: the daemon runs without them",
        )
    }
}

fn accelerators(p: &Probe) -> Choice {
    let a = &p.accelerators;
    let found = a.nvidia_devices.len() + a.drm_cards.len() + a.accel_devices.len();
    if found == 0 {
        choice(
            "accelerators",
            "none",
            "no GPU, DRM card or accel device found",
        )
    } else {
        choice(
            "accelerators",
            "CPU pool until a plug-in qualifies",
            format!(
                "{found} device(s) found; a BLS plug-in backend must pass `keel hwtest run --plugin` first"
            ),
        )
    }
}

fn cpufreq(p: &Probe) -> Choice {
    let governors: std::collections::BTreeSet<&str> = p
        .cpu
        .freq
        .iter()
        .filter_map(|f| f.governor.as_deref())
        .collect();
    match governors.iter().next() {
        None => choice("cpufreq", "n/a", "no cpufreq interface (common in VMs)"),
        Some(_) if governors.len() == 1 && governors.contains("performance") => choice(
            "cpufreq",
            "performance",
            "every CPU runs the performance governor",
        ),
        Some(_) => choice(
            "cpufreq",
            governors.into_iter().collect::<Vec<_>>().join(","),
            "not `performance`: measurements may vary with frequency scaling",
        ),
    }
}
