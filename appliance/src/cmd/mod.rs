//! One module per command group.

pub mod analyze;
pub mod attacks;
pub mod audit;
pub mod beacon;
pub mod bench;
pub mod bench_attack;
pub mod bench_crypto;
pub mod bench_crypto_beacon;
pub mod bench_exec;
pub mod bench_jit;
pub mod bench_pipeline;
pub mod bench_state;
pub mod bench_suite;
pub mod bridge;
pub mod chain;
pub mod client;
pub mod client_conn;
pub mod client_pool;
pub mod client_state;
pub mod contract;
pub mod debug;
pub mod demo;
pub mod exit;
pub mod gas;
pub mod genesis;
pub mod gov;
pub mod hwtest;
pub mod kernel;
pub mod kernel_pins;
pub mod module;
pub mod offload;
pub mod prove;
pub mod proven;
pub mod receipt_text;
pub mod replay;
pub mod sandbox;
pub mod serve;
pub mod state_check;
pub mod via_daemon;
pub mod vm;
pub mod vm_cache;

use anyhow::Context;
use std::path::Path;

/// Reads a contract from a `.wasm` binary or a `.wat` text file.
pub fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_text = path.extension().is_some_and(|e| e == "wat") || !bytes.starts_with(b"\0asm");
    if is_text {
        wat::parse_bytes(&bytes)
            .map(|c| c.into_owned())
            .with_context(|| format!("{} is neither a wasm binary nor valid WAT", path.display()))
    } else {
        Ok(bytes)
    }
}
