//! `keel analyze …`: dynamic analyses of contracts (the concolic engine of `keel-concolic`).

use super::read_module;
use anyhow::Context;
use clap::{Args, Subcommand};
use keel_concolic::{Config, explore};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code when exploration found a trap, abort, assertion failure or out-of-gas.
pub const EXIT_FINDINGS: u8 = 2;

#[derive(Subcommand)]
pub enum AnalyzeCmd {
    /// Explore an entry point concolically and report inputs that trap, abort, fail an
    /// assertion, run out of gas, or use the most gas.
    ///
    /// The contract is admitted and instrumented exactly as the VM does (so gas is the VM's),
    /// then run in Keel's concolic interpreter, which tracks the call input symbolically
    /// (bytes and length) through integer instructions, locals, globals and memory, and the
    /// u256 compare/add/sub intrinsics. At every branch and trapping check (division, memory
    /// and input bounds) it records the path condition; z3 negates each condition to get the
    /// input of a new path. Runs go in a deterministic order (generational search, first in
    /// first out) within --max-runs and --time-budget. Storage starts empty; the caller is
    /// the zero address, as for `keel vm exec`.
    ///
    /// Every finding comes with its input as hex and a `keel vm exec` command that replays
    /// it on the real VM. An abort whose message starts with "assertion failed" (KEEL_ASSERT)
    /// is reported as an assertion failure.
    ///
    /// Exit status: 0 no findings, 2 findings, 1 the module was rejected or the arguments
    /// were unusable.
    Concolic(ConcolicArgs),
}

#[derive(Args)]
pub struct ConcolicArgs {
    /// The contract: a `.wasm` binary or a `.wat` text file.
    pub file: PathBuf,
    /// Entry point to explore (an exported `() -> ()` function).
    #[arg(long)]
    pub call: String,
    /// Compute gas limit of each call; running out of it is reported.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub gas: u64,
    /// Most runs (calls of the entry point) in all.
    #[arg(long, default_value_t = 256)]
    pub max_runs: u64,
    /// Longest input considered, in bytes.
    #[arg(long, default_value_t = 256)]
    pub max_input: u32,
    /// Limit of one z3 query, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub solver_timeout_ms: u32,
    /// Limit of the whole exploration, in seconds.
    #[arg(long, default_value_t = 60)]
    pub time_budget: u64,
    /// An input to start from, hex (repeatable; default: the empty input).
    #[arg(long = "seed")]
    pub seeds: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: AnalyzeCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AnalyzeCmd::Concolic(a) => concolic(a),
    }
}

fn concolic(a: ConcolicArgs) -> anyhow::Result<ExitCode> {
    let code = read_module(&a.file)?;
    let mut seeds = Vec::new();
    for s in &a.seeds {
        seeds.push(hex::decode(s.trim_start_matches("0x")).context("--seed is not valid hex")?);
    }
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    let cfg = Config {
        entry: a.call.clone(),
        gas_limit: a.gas,
        max_runs: a.max_runs,
        max_input_len: a.max_input,
        solver_timeout_ms: a.solver_timeout_ms,
        time_budget: Duration::from_secs(a.time_budget),
        seeds,
        file_label: a.file.display().to_string(),
        ..Config::default()
    };
    let report = explore(&code, &cfg)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(if !report.findings.is_empty() {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}
