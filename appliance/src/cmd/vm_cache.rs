//! `keel vm cache stats|clear`: the compiled-artifact cache of the JIT tier
//! (`<data>/vm-cache/`, see `keel_vm::engine::artifact_cache`).

use crate::cmd::chain::DataDir;
use clap::{Args, Subcommand};
use keel_vm::engine::artifact_cache::{CACHE_DIR, clear_dir, disk_stats};
use keel_vm::engine::tiered::{WASMTIME_VERSION, cpu_features};
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CacheCmd {
    /// Number and size of the compiled artifacts, and what they are keyed by on this host.
    Stats(StatsArgs),
    /// Delete every compiled artifact (they are recompiled on next use; the MAC secret stays).
    /// Safe while no node uses the data directory; a running node only recompiles.
    Clear(ClearArgs),
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ClearArgs {
    #[command(flatten)]
    pub data: DataDir,
}

pub fn run(cmd: CacheCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CacheCmd::Stats(a) => {
            let dir = a.data.dir.join(CACHE_DIR);
            let s = disk_stats(&dir)?;
            if a.json {
                let v = json!({
                    "dir": dir.display().to_string(),
                    "artifacts": s.artifacts,
                    "bytes": s.bytes,
                    "wasmtime_version": WASMTIME_VERSION,
                    "cpu_features": cpu_features(),
                });
                println!("{v}");
            } else {
                println!("vm cache   {}", dir.display());
                println!("artifacts  {} ({} bytes)", s.artifacts, s.bytes);
                println!("wasmtime   {WASMTIME_VERSION}");
                println!("cpu        {}", cpu_features());
            }
        }
        CacheCmd::Clear(a) => {
            let dir = a.data.dir.join(CACHE_DIR);
            let n = clear_dir(&dir)?;
            println!("deleted {n} compiled artifacts from {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
