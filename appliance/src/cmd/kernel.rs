//! `keel kernel …` and `keel bench kernel`: the kernel eBPF programs guarding the appliance.

use super::kernel_pins::{self, Instance};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KernelCmd {
    /// What is attached, by port: which daemon (pid, data dir) holds it, and its counters.
    /// Each daemon pins its programs under PIN_DIR/port-<its TCP port>.
    Status {
        /// Pin directory on bpffs.
        #[arg(long, default_value = keel_kernel_progs::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
        /// Only the programs guarding this port.
        #[arg(long)]
        port: Option<u16>,
        /// Prometheus text instead of a summary.
        #[arg(long, conflicts_with = "json")]
        metrics: bool,
        #[arg(long)]
        json: bool,
    },
    /// Detach pinned programs and remove their maps. A daemon keeps them pinned after it stops
    /// on purpose (no gap in admission at a restart); use this to take them away for good.
    /// Programs of a running daemon are not touched: stop it first. Exit 1 if any were refused.
    Detach {
        /// Pin directory on bpffs.
        #[arg(long, default_value = keel_kernel_progs::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
        /// Only the programs guarding this port (default: every port no daemon serves).
        #[arg(long)]
        port: Option<u16>,
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
            port,
            metrics,
            json,
        } => status(&pin_dir, port, metrics, json),
        KernelCmd::Detach { pin_dir, port } => detach(&pin_dir, port),
    }
}

fn selected(pin_dir: &std::path::Path, port: Option<u16>) -> Vec<Instance> {
    match port {
        Some(p) => vec![kernel_pins::instance(pin_dir, p)],
        None => kernel_pins::instances(pin_dir),
    }
}

fn status(
    pin_dir: &std::path::Path,
    port: Option<u16>,
    metrics: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let found: Vec<Instance> = selected(pin_dir, port)
        .into_iter()
        .filter(|i| i.pin_dir.exists())
        .collect();
    if json {
        let out: Vec<_> = found
            .iter()
            .map(|i| {
                serde_json::json!({
                    "port": i.port,
                    "pin_dir": i.pin_dir,
                    "owner": i.owner,
                    "status": keel_kernel_progs::read_pinned(&i.pin_dir),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if metrics {
        for i in &found {
            print!(
                "{}",
                keel_kernel_progs::render_prometheus(&keel_kernel_progs::read_pinned(&i.pin_dir))
            );
        }
    } else if found.is_empty() {
        println!("no kernel programs pinned under {}", pin_dir.display());
    } else {
        for i in &found {
            println!("{}", i.describe());
            println!("{}", keel_kernel_progs::read_pinned(&i.pin_dir));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn detach(pin_dir: &std::path::Path, port: Option<u16>) -> anyhow::Result<ExitCode> {
    let found: Vec<Instance> = selected(pin_dir, port)
        .into_iter()
        .filter(|i| i.pin_dir.exists())
        .collect();
    if found.is_empty() {
        println!("nothing pinned under {}", pin_dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut refused = false;
    for i in found {
        if i.owner.is_some() {
            println!("kept {}: stop that daemon first", i.describe());
            refused = true;
            continue;
        }
        // A pinned link holds its program attached; removing the last reference detaches it.
        std::fs::remove_dir_all(&i.pin_dir)
            .with_context(|| format!("cannot remove {}", i.pin_dir.display()))?;
        println!("detached: removed the pins under {}", i.pin_dir.display());
    }
    // The root goes once empty (pins of other tools stay).
    let _ = std::fs::remove_dir(pin_dir);
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn bench(a: BenchKernelArgs) -> anyhow::Result<ExitCode> {
    let b = keel_kernel_progs::bench_admission(a.repeat)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&b)?);
        return Ok(ExitCode::SUCCESS);
    }
    super::bench::compared(
        "the admission program",
        "a pass-through program on the same hook",
        "lower ns per packet is better; the speedup is below 1 by admission's cost",
    );
    println!(
        "admission path cost per packet ({} runs per case, BPF_PROG_TEST_RUN):",
        b.repeat
    );
    for c in &b.cases {
        println!(
            "  {:<44} {:>8.1} ns  (verdict {})",
            c.case, c.ns_per_packet, c.verdict
        );
    }
    let speedup = |ratio: f64| 1.0 / ratio.max(1e-12);
    println!(
        "speedup (pass-through ns ÷ admission ns): XDP allowlisted {:.2}x (+{:.1} ns), XDP denied {:.2}x, cgroup_skb allowlisted {:.2}x",
        speedup(b.xdp_ratio_allowed),
        b.xdp_overhead_ns,
        speedup(b.xdp_ratio_denied),
        speedup(b.skb_ratio_allowed)
    );
    Ok(ExitCode::SUCCESS)
}
