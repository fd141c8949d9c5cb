//! `keel hwtest run`: every selected path, conformance then performance, sized by the mode.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use keel_ebpf_bridge::Registry;
use keel_offload::Topology;
use serde::{Deserialize, Serialize};

use crate::error::HwtestError;
use crate::paths::bls::{
    BlsContext, ConformancePlan, PerfPlan, RandomSets, run_cpu_pool, run_subject,
};
use crate::paths::ebpf::{EbpfPlan, run_ebpf};
use crate::paths::{PathResult, kernel, sockets, vm};
use crate::plugin::{HostCommand, PluginSubject, sha256_file};
use crate::probe::Probe;
use crate::vectors::py_ecc_vectors;

/// An acceleration path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// BLS verification backends.
    Bls,
    /// eBPF engines.
    Ebpf,
    /// VM tiers.
    Vm,
    /// io_uring vs epoll.
    Sockets,
    /// Kernel programs.
    Kernel,
}

impl PathKind {
    /// Every path, in run order.
    pub const ALL: [PathKind; 5] = [Self::Bls, Self::Ebpf, Self::Vm, Self::Sockets, Self::Kernel];
}

impl FromStr for PathKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bls" => Ok(Self::Bls),
            "ebpf" => Ok(Self::Ebpf),
            "vm" => Ok(Self::Vm),
            "sockets" => Ok(Self::Sockets),
            "kernel" => Ok(Self::Kernel),
            o => Err(format!(
                "unknown path {o:?} (bls, ebpf, vm, sockets, kernel)"
            )),
        }
    }
}

/// How much to run. `quick` is sized for well under three minutes on a small machine;
/// `tiny` is for tests (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Seconds: CI tests.
    Tiny,
    /// `--quick`.
    Quick,
    /// The default: fuller curves.
    Full,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Paths, in order.
    pub paths: Vec<PathKind>,
    /// Size of the run.
    pub mode: Mode,
    /// `--soak`: keep running the paths this long afterwards, watching for drift and throttling.
    pub soak_secs: Option<u64>,
    /// Seed of every random input (recorded so a failure can be replayed).
    pub seed: u64,
    /// BLS plug-ins (shared objects) to qualify besides the CPU pool.
    #[serde(default)]
    pub plugins: Vec<PathBuf>,
    /// How long a plug-in may take to answer one call before its host is killed.
    #[serde(default = "default_plugin_timeout")]
    pub plugin_timeout_ms: u64,
}

fn default_plugin_timeout() -> u64 {
    30_000
}

/// Runs every selected path on this machine.
///
/// # Errors
/// Only when the built-in vectors or registries cannot be loaded; a path that fails is a
/// verdict in its [`PathResult`].
pub fn run_paths(
    config: &RunConfig,
    probe: &Probe,
    host: &HostCommand,
) -> Result<Vec<PathResult>, HwtestError> {
    let mut results = Vec::new();
    for path in &config.paths {
        tracing::info!(?path, "running");
        match path {
            PathKind::Bls => results.extend(run_bls(config, host)?),
            PathKind::Ebpf => {
                let registry =
                    Registry::builtin().map_err(|e| HwtestError::setup("eBPF registry", e))?;
                let plan = EbpfPlan {
                    random_inputs: pick(config.mode, 2, 8, 64),
                    time_per_engine: Duration::from_millis(pick(config.mode, 20, 150, 1000) as u64),
                    seed: config.seed,
                };
                results.extend(run_ebpf(&registry, &plan));
            }
            PathKind::Vm => results.extend(vm::run_vm(pick(config.mode, 1, 1, 20) as u32)),
            PathKind::Sockets => {
                let clients = match config.mode {
                    Mode::Tiny => vec![1, 4],
                    Mode::Quick => vec![1, 16],
                    Mode::Full => vec![1, 16, 64],
                };
                results.extend(sockets::run_sockets(
                    clients,
                    pick(config.mode, 200, 3000, 20_000),
                ));
            }
            PathKind::Kernel => {
                let can = probe.has_cap("CAP_BPF") || probe.has_cap("CAP_SYS_ADMIN");
                results.extend(kernel::run_kernel(
                    pick(config.mode, 1000, 20_000, 200_000) as u32,
                    pick(config.mode, 3, 30, 200) as u32,
                    can,
                ));
            }
        }
    }
    Ok(results)
}

fn pick(mode: Mode, tiny: usize, quick: usize, full: usize) -> usize {
    match mode {
        Mode::Tiny => tiny,
        Mode::Quick => quick,
        Mode::Full => full,
    }
}

/// The BLS path: the CPU pool, then each plug-in in its own host process.
fn run_bls(config: &RunConfig, host: &HostCommand) -> Result<Vec<PathResult>, HwtestError> {
    let vectors = py_ecc_vectors()?;
    let topology = Topology::discover();
    let sizes: Vec<usize> = match config.mode {
        Mode::Tiny => vec![1, 8, 32],
        Mode::Quick => vec![1, 4, 16, 64, 256],
        Mode::Full => vec![1, 4, 16, 64, 256, 1024, 4096],
    };
    let largest = sizes.last().copied().unwrap_or(1);
    let valid = RandomSets::new(config.seed, 64, Vec::new()).valid(largest, false);
    let all = topology.cpus().len().max(1);
    let mut worker_counts: Vec<usize> = std::iter::successors(Some(1usize), |w| w.checked_mul(2))
        .take_while(|&w| w < all)
        .collect();
    worker_counts.push(all);
    if config.mode != Mode::Full {
        worker_counts.retain(|&w| w == 1 || w == all);
    }
    let ctx = BlsContext {
        vectors: &vectors,
        conformance: ConformancePlan {
            random_sets: pick(config.mode, 6, 24, 200),
            max_set: pick(config.mode, 16, 128, 512),
            seed: config.seed,
        },
        perf: PerfPlan {
            batch_sizes: sizes,
            min_time: Duration::from_millis(pick(config.mode, 10, 200, 1000) as u64),
            min_calls: pick(config.mode, 2, 5, 5),
            max_calls: pick(config.mode, 20, 2000, 100_000),
        },
        valid: &valid,
        worker_counts,
        topology: &topology,
    };
    let mut results = vec![run_cpu_pool(&ctx)];
    let timeout = Duration::from_millis(config.plugin_timeout_ms.max(1));
    for plugin in &config.plugins {
        let label = format!("plugin:{}", plugin.display());
        let sha256 = sha256_file(plugin).ok();
        let mut r = match PluginSubject::start(host, plugin, timeout) {
            Ok(subject) => run_subject(&subject, &ctx),
            Err(e) => {
                let mut r = PathResult::new("bls", label);
                r.conformance.check(Err(e.to_string()));
                r.performance = crate::paths::Phase::skipped("the plug-in did not start");
                r
            }
        };
        r.artifact_sha256 = sha256;
        results.push(r);
    }
    Ok(results)
}
