//! `keel vm …`: run and inspect contracts.

use super::read_module;
use anyhow::Context;
use clap::{Args, Subcommand};
use keel_vm::{CallContext, CallRequest, GasBound, GasVector, MemoryState, Vm, VmConfig};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a call that trapped (including running out of gas).
pub const EXIT_TRAP: u8 = 2;

#[derive(Subcommand)]
pub enum VmCmd {
    /// Admit, instrument and run one entry point of a contract.
    ///
    /// Exit status: 0 if the call returned, 2 if it trapped (including out of gas),
    /// 1 if the module was rejected or the input was unusable.
    Exec(ExecArgs),
    /// Show the admission verdict, imports, entry points and static gas bound per export.
    Inspect(InspectArgs),
    /// The JIT tier's compiled-artifact cache in the data directory.
    #[command(subcommand)]
    Cache(super::vm_cache::CacheCmd),
}

#[derive(Args)]
pub struct ExecArgs {
    /// The contract: a `.wasm` binary or a `.wat` text file.
    pub file: PathBuf,
    /// Entry point to call (an exported `() -> ()` function).
    #[arg(long)]
    pub call: String,
    /// Call input, hex-encoded (read by the contract with `keel.input_copy`).
    #[arg(long, default_value = "")]
    pub args_hex: String,
    /// Compute gas limit.
    #[arg(long, default_value_t = 10_000_000_000)]
    pub gas: u64,
    /// Storage-bytes limit.
    #[arg(long, default_value_t = 1 << 20)]
    pub storage_limit: u64,
    /// Peak memory limit in 64 KiB pages.
    #[arg(long, default_value_t = 256)]
    pub memory_limit: u64,
    /// Bandwidth limit in bytes (input + return data + events).
    #[arg(long, default_value_t = 1 << 20)]
    pub bandwidth_limit: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The contract: a `.wasm` binary or a `.wat` text file.
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: VmCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        VmCmd::Exec(a) => exec(a),
        VmCmd::Inspect(a) => inspect(a),
        VmCmd::Cache(c) => super::vm_cache::run(c),
    }
}

fn exec(a: ExecArgs) -> anyhow::Result<ExitCode> {
    let code = read_module(&a.file)?;
    let input =
        hex::decode(a.args_hex.trim_start_matches("0x")).context("--args-hex is not valid hex")?;
    let vm = Vm::new(VmConfig::default())?;
    let request = CallRequest {
        entry: a.call.clone(),
        input,
        context: CallContext::default(),
        limits: GasVector {
            compute: a.gas,
            storage_bytes: a.storage_limit,
            memory_pages: a.memory_limit,
            bandwidth: a.bandwidth_limit,
        },
    };
    let out = match vm.call(&code, request, Box::new(MemoryState::default())) {
        Ok(o) => o,
        Err(e @ keel_vm::VmError::Admission(_)) => {
            if a.json {
                println!(
                    "{}",
                    json!({ "status": "rejected", "error": e.to_string() })
                );
            } else {
                eprintln!("rejected: {e}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let gas = &out.gas_used;
    if a.json {
        let v = match &out.result {
            Ok(data) => json!({
                "status": "ok", "return_hex": hex::encode(data), "gas": gas,
                "events": out.events, "writes": out.writes.len(),
            }),
            Err(trap) => {
                json!({ "status": "trap", "trap": trap, "message": trap.to_string(), "gas": gas })
            }
        };
        println!("{v}");
    } else {
        match &out.result {
            Ok(data) => {
                println!("result: 0x{}", hex::encode(data));
                for e in &out.events {
                    println!(
                        "event: topic={} data=0x{}",
                        super::receipt_text::topic_text(&e.topic),
                        hex::encode(&e.data)
                    );
                }
            }
            Err(trap) => println!("trap: {trap}"),
        }
        println!("gas: {gas}");
    }
    Ok(if out.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_TRAP)
    })
}

fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let code = read_module(&a.file)?;
    let vm = Vm::new(VmConfig::default())?;
    let profile = &vm.config().profile;
    let module = match keel_vm::admit(&code, profile) {
        Ok(m) => m,
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    json!({ "admitted": false, "error": e.to_string(), "profile_version": profile.version })
                );
            } else {
                println!("profile v{}: REJECTED: {e}", profile.version);
            }
            return Ok(ExitCode::from(1));
        }
    };
    let bounds = vm.static_bounds(&code)?;
    let prepared = vm.prepare(&code)?;
    let imports: Vec<_> = module
        .imports
        .iter()
        .map(|(f, _)| format!("keel.{}", f.name()))
        .collect();
    if a.json {
        let exports: Vec<_> = module
            .exports
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "entry_point": prepared.entries.contains_key(&e.name),
                    "frame_slots": prepared.entries.get(&e.name),
                    "static_gas": bounds.get(&e.name),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "admitted": true, "profile_version": profile.version,
                "code_hash": hex::encode(module.code_hash), "size": code.len(),
                "functions": module.functions.len(), "imports": imports, "exports": exports,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("profile v{}: ADMITTED", profile.version);
    println!("code hash: {}", hex::encode(module.code_hash));
    println!(
        "size: {} bytes, {} functions",
        code.len(),
        module.functions.len()
    );
    println!("imports ({}): {}", imports.len(), imports.join(", "));
    println!("exports:");
    for e in &module.exports {
        let kind = match prepared.entries.get(&e.name) {
            Some(frame) => format!("entry point, frame {frame} slots"),
            None => "not an entry point (signature is not () -> ())".to_string(),
        };
        let bound = match bounds.get(&e.name) {
            Some(GasBound::Bounded {
                compute,
                from_host_data,
            }) if *from_host_data > 0 => {
                format!(
                    "static gas ≤ {compute} (of which ≤ {from_host_data} from data-sized host calls at maximum memory)"
                )
            }
            Some(GasBound::Bounded { compute, .. }) => format!("static gas ≤ {compute}"),
            Some(GasBound::Unbounded { reason }) => format!("static gas unbounded: {reason}"),
            None => "no bound".into(),
        };
        println!("  {}: {kind}; {bound}", e.name);
    }
    Ok(ExitCode::SUCCESS)
}
