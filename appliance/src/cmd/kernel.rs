//! `keel kernel …` and `keel bench kernel`: the kernel eBPF programs guarding the appliance.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KernelCmd {
    /// What is attached (from the pins under the bpffs directory) and its counters.
    Status {
        /// Pin directory on bpffs.
        #[arg(long, default_value = keel_kernel_progs::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
        /// Prometheus text instead of a summary.
        #[arg(long, conflicts_with = "json")]
        metrics: bool,
        #[arg(long)]
        json: bool,
    },
    /// Detach the pinned programs and remove their maps. The daemon keeps them pinned across
    /// restarts on purpose (no gap in admission); use this to take them away for good.
    Detach {
        /// Pin directory on bpffs.
        #[arg(long, default_value = keel_kernel_progs::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
}

#[derive(Args)]
pub struct BenchKernelArgs {
    /// Program runs per measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub repeat: u32,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: KernelCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KernelCmd::Status {
            pin_dir,
            metrics,
            json,
        } => {
            let status = keel_kernel_progs::read_pinned(&pin_dir);
            if metrics {
                print!("{}", keel_kernel_progs::render_prometheus(&status));
            } else if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{status}");
            }
            Ok(ExitCode::SUCCESS)
        }
        KernelCmd::Detach { pin_dir } => {
            if !pin_dir.exists() {
                println!("nothing pinned under {}", pin_dir.display());
                return Ok(ExitCode::SUCCESS);
            }
            // A pinned link holds its program attached; removing the last reference detaches it.
            std::fs::remove_dir_all(&pin_dir)
                .with_context(|| format!("cannot remove {}", pin_dir.display()))?;
            println!("detached: removed the pins under {}", pin_dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn bench(a: BenchKernelArgs) -> anyhow::Result<ExitCode> {
    let b = keel_kernel_progs::bench_admission(a.repeat)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&b)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "admission path cost per packet ({} runs per case, BPF_PROG_TEST_RUN):",
        b.repeat
    );
    for c in &b.cases {
        println!(
            "  {:<44} {:>8.1} ns  ({:?})",
            c.case, c.ns_per_packet, c.verdict
        );
    }
    println!(
        "XDP allowlisted / pass-through: {:.2}x (+{:.1} ns); denied / pass-through: {:.2}x; cgroup_skb allowlisted / pass-through: {:.2}x",
        b.xdp_ratio_allowed, b.xdp_overhead_ns, b.xdp_ratio_denied, b.skb_ratio_allowed
    );
    Ok(ExitCode::SUCCESS)
}
