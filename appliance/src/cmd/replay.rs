//! `keel replay`: re-execute a recorded chain from its genesis in a fresh database (a temporary
//! directory) on a chosen engine, verifier and worker count, and compare every block's state
//! root, receipts root and receipts with the recorded ones; `--threads` picks the executor
//! (0 = the sequential reference, n = the parallel executor on n threads) (`keel_chain::replay`).
//!
//! Exit codes: 0 every block reproduced; 1 the replay could not run (no chain, no genesis or
//! block record, I/O); 2 bad arguments; 3 a block differs (the first one is reported).

use crate::cmd::chain::DataDir;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use keel_chain::Chain;
use keel_chain::replay::{Mismatch, ReplayOptions, ReplayReport, replay};
use keel_crypto::{SignatureVerifier, SingleVerifier};
use keel_ebpf_bridge::Engine;
use keel_vm::engine::choice::EngineChoice;
use std::process::ExitCode;

/// Exit code of a replay that found a difference.
pub const EXIT_DIFFERS: u8 = 3;

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Engine of the native routines.
    #[arg(long, value_enum, default_value_t = EngineArg::Jit)]
    pub engine: EngineArg,
    /// Engine tier of the contract VM: the wasmi interpreter, wasmtime (every module compiled
    /// before its first call; wasmi for any it cannot compile) or tiered (wasmi until a
    /// background compilation is ready).
    #[arg(long, value_enum, default_value_t = VmEngineArg::Wasmi)]
    pub vm_engine: VmEngineArg,
    /// Signature verification: one signature at a time, or batched on worker threads.
    #[arg(long, value_enum, default_value_t = VerifierArg::Batch)]
    pub verifier: VerifierArg,
    /// Worker threads of the batch verifier (the offload pool).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Executor threads: 0 runs the sequential reference executor, n ≥ 1 the parallel
    /// (Block-STM style) executor on n worker threads. Every value must reproduce every root.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub threads: u16,
    /// First block whose receipts are compared (earlier blocks are re-executed to rebuild the
    /// state; only their roots are checked).
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Last block to replay (default: the recorded head).
    #[arg(long)]
    pub to: Option<u64>,
    /// Close and reopen the replaying database after this block, as a restarted node would.
    #[arg(long)]
    pub restart_after: Option<u64>,
    /// One JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum EngineArg {
    Interp,
    Jit,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum VmEngineArg {
    Wasmi,
    Wasmtime,
    Tiered,
}

impl VmEngineArg {
    pub fn choice(self) -> EngineChoice {
        match self {
            VmEngineArg::Wasmi => EngineChoice::Wasmi,
            VmEngineArg::Wasmtime => EngineChoice::Wasmtime,
            VmEngineArg::Tiered => EngineChoice::Tiered,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum VerifierArg {
    Single,
    Batch,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if !args.data.dir.join(keel_state::DB_FILE_NAME).exists() {
        bail!("no chain in {}", args.data.dir.display());
    }
    let recorded = Chain::open(&args.data.dir, Box::new(SingleVerifier))
        .with_context(|| format!("cannot open the chain in {}", args.data.dir.display()))?;
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let workers = usize::from(args.workers);
    let make_verifier = || -> Box<dyn SignatureVerifier> {
        match args.verifier {
            VerifierArg::Single => Box::new(SingleVerifier),
            VerifierArg::Batch => batch_verifier(workers),
        }
    };
    let started = std::time::Instant::now();
    let mut progress = |h: u64, last: u64| {
        if h.is_multiple_of(50) || h == last {
            eprintln!("replayed block {h}/{last}");
        }
    };
    let report = replay(
        &recorded,
        work.path(),
        ReplayOptions {
            engine: match args.engine {
                EngineArg::Interp => Engine::Interpreter,
                EngineArg::Jit => Engine::Jit,
            },
            vm_engine: args.vm_engine.choice(),
            from: args.from,
            to: args.to,
            restart_after: args.restart_after,
            verifier: &make_verifier,
            exec: keel_chain::ExecMode::from_threads(usize::from(args.threads)),
            progress: &mut progress,
        },
    )?;
    let elapsed_ms = started.elapsed().as_millis();
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["elapsed_ms"] = serde_json::json!(elapsed_ms);
        v["identical"] = serde_json::json!(report.mismatch.is_none());
        println!("{v}");
    } else {
        print_text(&report, elapsed_ms);
    }
    Ok(match report.mismatch {
        None => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(EXIT_DIFFERS),
    })
}

/// The batch verifier on `workers` unpinned threads (replay shares the machine with others).
fn batch_verifier(workers: usize) -> Box<dyn SignatureVerifier> {
    let topology = keel_offload::Topology::discover();
    let config = keel_offload::PoolConfig {
        max_workers: Some(workers),
        pin: false,
        ..keel_offload::PoolConfig::default()
    };
    match keel_offload::CpuBackend::new(&topology, &config) {
        Ok(backend) => Box::new(keel_offload::BatchVerifier::new(backend)),
        Err(e) => {
            // The verdicts are the same; only speed differs.
            eprintln!("cannot start {workers} verifier workers ({e}); verifying one by one");
            Box::new(SingleVerifier)
        }
    }
}

fn print_text(r: &ReplayReport, elapsed_ms: u128) {
    match &r.mismatch {
        None => println!(
            "identical: blocks 1..={} ({} transactions) reproduced every state root and \
             receipts root, and blocks {}..={} every receipt; final root {} ({elapsed_ms} ms)",
            r.to,
            r.transactions,
            r.from.max(1),
            r.to,
            hex::encode(r.final_root)
        ),
        Some(m) => print_mismatch(m),
    }
}

fn print_mismatch(m: &Mismatch) {
    println!("DIFFERS at block {}", m.height);
    let [a, b] = &m.state_root;
    println!("  state root     recorded {a}\n                 replayed {b}");
    let [a, b] = &m.receipts_root;
    println!("  receipts root  recorded {a}\n                 replayed {b}");
    for d in &m.diffs {
        let tx = d
            .tx_index
            .map_or("block".to_string(), |i| format!("tx {i}"));
        println!(
            "  {tx} {}:\n    recorded {}\n    replayed {}",
            d.field, d.recorded, d.replayed
        );
    }
}
