//! `keel-bench`: Keel against peer engines, side by side in one process.
//!
//! `keel-bench erc20` runs Keel's `contracts/c/token.c` `transfer` through the chain executor
//! and revm running OpenZeppelin's ERC-20 `transfer` on the same workload, in interleaved
//! rounds (Keel, revm, Keel, …), and reports the best round of each side in µs per transaction
//! and their ratio (with the range of the per-round ratios), so load on a shared machine skews
//! both sides alike.

use keel_bench::{measure, peers, suite};

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "keel-bench",
    about = "Keel against peer engines, side by side in one process"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Token transfer: Keel's token.c through the chain executor against revm's OpenZeppelin
    /// ERC-20 (full transaction, raw VM call, read-only call, signature phase without pairings).
    Erc20(measure::Erc20Args),
    /// Every workload (micro rows, DeFi, Gaming, token) on Keel's wasmi and wasmtime tiers:
    /// throughput, p50/p99 latency, gas per dimension, ns per compute gas and its CV,
    /// hardware counters. The same as `keel bench suite`.
    Suite(suite::SuiteArgs),
    /// The macro workloads on Keel's tiers beside revm (Solidity) and other peers: throughput,
    /// p50/p99 latency, gas vs time, lines of contract code. The same as `keel bench peers`.
    Peers(peers::PeersArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Erc20(a) => measure::erc20(&a),
        Cmd::Peers(a) => peers::run(&a).and_then(|r| {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                peers::print_table(&r);
            }
            Ok(())
        }),
        Cmd::Suite(a) => suite::run(&a).and_then(|r| {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                suite::print_table(&r);
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
