//! `keel debug`: the deterministic replay debugger (`keel_devtools::debug`).
//!
//! `replay` re-executes one transaction — recorded (`--block H --tx I`, from the state before
//! it) or new (`--tx-file`, against the head) — on a VM built for debugging, which charges
//! exactly as a node, and prints its trace; with `--break` or `--stop-on-entry` it stops and
//! reads commands from stdin. `dap` serves the Debug Adapter Protocol on stdin/stdout.
//!
//! Exit codes: 0 done (a recorded transaction reproduced its receipt); 1 cannot replay;
//! 2 usage; 3 the replayed receipt differs from the recorded one.

use crate::cmd::chain::DataDir;
use anyhow::Context;
use clap::{Args, Subcommand};
use keel_devtools::debug::console::Console;
use keel_devtools::debug::replay::{Which, launch};
use keel_devtools::debug::trace::Event;
use keel_devtools::debug::{Breakpoint, Session, SessionConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a replay whose receipt differs from the record.
pub const EXIT_DIFFERS: u8 = 3;

#[derive(Subcommand)]
pub enum DebugCmd {
    /// Re-execute one transaction under the debugger and print its trace: every metering
    /// block with its gas, every host call with arguments and result, storage reads and
    /// writes, contract call frames, faults.
    Replay(ReplayArgs),
    /// Serve the Debug Adapter Protocol on stdin/stdout (for VS Code or any DAP client);
    /// `launch` takes {"data", "block", "tx"} or {"data", "txFile"}, plus "sideFiles" and
    /// "stopOnEntry".
    Dap,
}

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Height of the block holding the transaction.
    #[arg(long, requires = "tx", conflicts_with = "tx_file")]
    pub block: Option<u64>,
    /// Index of the transaction in its block (0-based).
    #[arg(long, requires = "block")]
    pub tx: Option<usize>,
    /// A signed transaction (hex, as `keel tx` prints it) to run against the head instead.
    #[arg(long, required_unless_present = "block")]
    pub tx_file: Option<PathBuf>,
    /// DWARF side file of a contract (`target/NAME.debug.wasm` of `keel contract build`), for
    /// source lines and function names; repeatable.
    #[arg(long = "side")]
    pub side: Vec<PathBuf>,
    /// Stop at a function (`add`), a source line (`counter.c:20`) or a module offset
    /// (`0x143`), then read commands from stdin (`help` lists them); repeatable.
    #[arg(long = "break")]
    pub breakpoints: Vec<Breakpoint>,
    /// Stop at the transaction's first block.
    #[arg(long)]
    pub stop_on_entry: bool,
    /// The receipt and the whole trace as one JSON document on stdout (byte-identical across
    /// runs).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: DebugCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DebugCmd::Replay(a) => replay(a),
        DebugCmd::Dap => {
            let stdin = std::io::BufReader::new(std::io::stdin());
            keel_devtools::debug::dap::serve(Box::new(stdin), Box::new(std::io::stdout()))
                .context("DAP session")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let which = match (a.block, a.tx, &a.tx_file) {
        (Some(block), Some(tx), _) => Which::Recorded { block, tx },
        (_, _, Some(path)) => Which::New {
            tx_hex: std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        },
        _ => anyhow::bail!("give --block and --tx, or --tx-file"),
    };
    let mut side_files = Vec::new();
    for p in &a.side {
        side_files.push(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let interactive = !a.breakpoints.is_empty() || a.stop_on_entry;
    let frontend: Option<Box<dyn keel_devtools::debug::Frontend>> = interactive.then(|| {
        let c = Console::new(
            Box::new(std::io::BufReader::new(std::io::stdin())),
            Box::new(std::io::stderr()),
        );
        Box::new(c) as _
    });
    let session = Session::new(SessionConfig {
        side_files,
        breakpoints: a.breakpoints,
        stop_on_entry: a.stop_on_entry,
        frontend,
    });
    let replayed = launch(&a.data.dir, &which, &session)?;
    for e in session.errors() {
        tracing::warn!("{e}");
    }
    let trace = session.trace();
    let matches = replayed.matches_record();
    if a.json {
        let doc = serde_json::json!({
            "block": replayed.block,
            "tx": replayed.tx,
            "receipt": replayed.receipt,
            "recorded": replayed.recorded,
            "matches_record": matches,
            "trace": trace,
        });
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        print_text(&replayed, &trace.events)?;
        if trace.truncated {
            println!("(trace truncated at {} events)", trace.events.len());
        }
    }
    Ok(match matches {
        Some(false) => ExitCode::from(EXIT_DIFFERS),
        _ => ExitCode::SUCCESS,
    })
}

fn print_text(r: &keel_devtools::debug::replay::Replayed, events: &[Event]) -> anyhow::Result<()> {
    let indent = |d: u32| "  ".repeat(d as usize);
    for e in events {
        let line = match e {
            Event::Frame {
                depth,
                contract,
                entry,
                ..
            } => format!("{}call {contract}.{entry}", indent(*depth)),
            Event::Block {
                depth,
                site,
                charge,
                gas_left,
                line,
                ..
            } => format!(
                "{}  block {site:#x} {} charge {charge} left {gas_left}",
                indent(*depth),
                line.as_deref().unwrap_or("")
            ),
            Event::Host {
                depth,
                func,
                args,
                ret,
                trap,
                gas,
                storage,
                ..
            } => format!(
                "{}  {} {args:?} -> {} gas {gas}{}",
                indent(*depth),
                func.name(),
                trap.clone()
                    .unwrap_or_else(|| ret.map_or_else(|| "()".into(), |v| v.to_string())),
                storage
                    .as_ref()
                    .map(|s| format!(" {}", serde_json::to_string(s).unwrap_or_default()))
                    .unwrap_or_default()
            ),
            Event::End {
                depth,
                returned,
                trap,
                gas_used,
                ..
            } => format!(
                "{}end {} gas {gas_used:?}",
                indent(*depth),
                trap.clone()
                    .or_else(|| returned.as_ref().map(|r| format!("returned {r}")))
                    .unwrap_or_default()
            ),
            Event::Fatal { depth, error } => format!("{}fatal: {error}", indent(*depth)),
        };
        println!("{line}");
    }
    let status = format!("{:?}", r.receipt.status);
    println!(
        "block {} tx {}: {status}, gas {:?}{}",
        r.block,
        r.tx,
        r.receipt.gas_used,
        match r.matches_record() {
            Some(true) => ", reproduces the recorded receipt",
            Some(false) => ", DIFFERS from the recorded receipt",
            None => "",
        }
    );
    Ok(())
}
