//! `keel demo`: the bundled contracts on the VM, one line per call with its gas vector.

use clap::Args;
use keel_vm::{CallContext, CallRequest, GasVector, MemoryState, Vm, VmConfig};
use std::process::ExitCode;

#[derive(Args)]
pub struct DemoArgs {
    /// How many counter increments to run.
    #[arg(long, default_value_t = 3)]
    pub increments: u32,
}

fn limits() -> GasVector {
    GasVector {
        compute: 50_000_000,
        storage_bytes: 64 * 1024,
        memory_pages: 64,
        bandwidth: 64 * 1024,
    }
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let vm = Vm::new(VmConfig::default())?;
    let mut state = MemoryState::default();
    let ctx = CallContext {
        caller: [0xaa; 32],
        self_address: [0x01; 32],
        block_height: 1,
        block_timestamp: 1_700_000_000,
    };
    let call = |code: &[u8],
                entry: &str,
                input: Vec<u8>,
                state: &mut MemoryState|
     -> anyhow::Result<bool> {
        let req = CallRequest {
            entry: entry.into(),
            input,
            context: ctx.clone(),
            limits: limits(),
        };
        let out = vm.call(code, req, Box::new(state.clone()))?;
        match &out.result {
            Ok(data) => println!(
                "{entry:<12} ok    return=0x{:<20} gas: {}",
                hex::encode(data),
                out.gas_used
            ),
            Err(t) => println!("{entry:<12} TRAP  {t}; gas: {}", out.gas_used),
        }
        state.apply(&ctx.self_address, &out.writes);
        Ok(out.result.is_ok())
    };
    println!(
        "counter contract ({} bytes):",
        keel_contracts::COUNTER.wasm.len()
    );
    for _ in 0..a.increments {
        call(
            keel_contracts::COUNTER.wasm,
            "increment",
            vec![],
            &mut state,
        )?;
    }
    call(keel_contracts::COUNTER.wasm, "get", vec![], &mut state)?;
    println!("fib contract:");
    call(
        keel_contracts::FIB.wasm,
        "fib",
        90u32.to_le_bytes().to_vec(),
        &mut state,
    )?;
    println!("sha256 contract:");
    call(
        keel_contracts::SHA256.wasm,
        "sha256",
        b"keel".to_vec(),
        &mut state,
    )?;
    println!("out-of-gas is a deterministic trap:");
    let req = CallRequest {
        entry: "fib".into(),
        input: 1_000_000u32.to_le_bytes().to_vec(),
        context: ctx.clone(),
        limits: GasVector {
            compute: 100_000,
            ..limits()
        },
    };
    let out = vm.call(keel_contracts::FIB.wasm, req, Box::new(state.clone()))?;
    match out.result {
        Ok(_) => println!("fib(1e6) unexpectedly fit in 100k gas"),
        Err(t) => println!("fib(1e6) with 100k gas: {t}; gas: {}", out.gas_used),
    }
    Ok(ExitCode::SUCCESS)
}
