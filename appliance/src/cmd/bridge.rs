//! `keel bridge …` and `keel bench bridge`: native routines on the eBPF bridge.

use anyhow::Context;
use clap::{Args, Subcommand};
use keel_chain::native::BridgeRoutines;
use keel_ebpf_bridge::{Engine, Registry};
use keel_vm::{CallRequest, GasVector, MemoryState, Vm, VmConfig};
use serde::Serialize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BridgeCmd {
    /// The registered routines, their manifests and whether they are active.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run one routine directly and print its output, instruction count and gas.
    Run {
        /// Routine name (e.g. sha256) or id.
        routine: String,
        /// Input bytes, hex.
        #[arg(long, default_value = "")]
        input_hex: String,
        /// interp, jit or kernel.
        #[arg(long, default_value = "jit")]
        engine: Engine,
        /// Gas budget.
        #[arg(long, default_value_t = 100_000_000)]
        gas: u64,
        /// Print `{"ok", "output", "instructions", "gas"}` or `{"ok": false, "status", "error"}`.
        #[arg(long)]
        json: bool,
    },
}

fn find(reg: &Registry, routine: &str) -> anyhow::Result<u32> {
    if let Ok(id) = routine.parse::<u32>() {
        return Ok(id);
    }
    reg.find_by_name(routine)
        .map(|r| r.manifest().id)
        .with_context(|| format!("no routine named {routine} (see `keel bridge list`)"))
}

pub fn run(cmd: BridgeCmd) -> anyhow::Result<ExitCode> {
    let reg = Registry::builtin().context("cannot load the built-in routines")?;
    match cmd {
        BridgeCmd::List { json } => {
            if json {
                let rows: Vec<_> = reg
                    .list()
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "id": m.id, "name": m.name, "version": m.version,
                            "input": m.input.to_string(), "output_len": m.output_len,
                            "syscalls": m.syscalls, "max_gas_at_1KiB": m.cost.max_gas(1024), "summary": m.summary,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<4} {:<22} {:<4} {:<28} {:>6}  summary",
                    "id", "name", "ver", "input", "output"
                );
                for m in reg.list() {
                    println!(
                        "{:<4} {:<22} {:<4} {:<28} {:>6}  {}",
                        m.id,
                        m.name,
                        m.version,
                        m.input.to_string(),
                        m.output_len,
                        m.summary
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BridgeCmd::Run {
            routine,
            input_hex,
            engine,
            gas,
            json,
        } => {
            let id = find(&reg, &routine)?;
            let input = hex::decode(input_hex.trim_start_matches("0x"))
                .context("--input-hex is not hex")?;
            let out_len = reg
                .get(id)
                .map(|r| r.manifest().output_len)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match reg.run(id, &input, out_len, engine, gas) {
                Ok(r) if json => {
                    let answer = serde_json::json!({
                        "ok": true,
                        "output": hex::encode(&r.output),
                        "instructions": r.instructions,
                        "gas": r.gas,
                    });
                    println!("{answer}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) if json => {
                    let answer = serde_json::json!({
                        "ok": false,
                        "status": e.status_code(),
                        "error": e.to_string(),
                    });
                    println!("{answer}");
                    Ok(ExitCode::from(2))
                }
                Ok(r) => {
                    println!(
                        "output 0x{}\ninstructions {}\ngas {}",
                        hex::encode(&r.output),
                        r.instructions,
                        r.gas
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("error (status {}): {e}", e.status_code());
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

#[derive(Args)]
pub struct BenchBridgeArgs {
    #[arg(long)]
    pub json: bool,
    /// Input sizes for the hash routines.
    #[arg(long, value_delimiter = ',', default_value = "64,1024,4096")]
    pub sizes: Vec<usize>,
}

/// One row of `keel bench bridge` (times per call, microseconds).
#[derive(Debug, Serialize)]
pub struct BridgeRow {
    pub routine: String,
    pub input_bytes: usize,
    /// The same algorithm compiled to wasm, run as a contract on the VM (interpreter tier).
    /// For sha256: `contracts/c/sha256.c`, portable C (FIPS 180-4, 64-word schedule) built by
    /// clang -O2 for wasm32; the routine it is compared with is `ebpf-bridge/routines/sha256.h`,
    /// the same algorithm with its block function register-allocated by hand for BPF (inline
    /// asm). Both hash the whole input and pay one VM call each.
    pub wasm_on_vm_us: Option<f64>,
    pub native_call_interp_us: f64,
    pub native_call_jit_us: f64,
    pub native_rust_us: f64,
    pub wasm_over_jit: Option<f64>,
    pub interp_over_jit: f64,
    pub jit_over_rust: f64,
    pub gas_native_call: u64,
}

const CALLER: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "native_call" (func $native (param i32 i32 i32 i32 i32) (result i32)))
  (memory 2 2)
  (func (export "call")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (drop (call $native (i32.load (i32.const 0)) (i32.const 8) (i32.sub (call $size) (i32.const 8))
                        (i32.const 100000) (i32.load (i32.const 4))))
    (call $ret (i32.const 100000) (i32.load (i32.const 4)))))"#;

fn best(reps: u32, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    f()?;
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

fn vm_call(vm: &Vm, code: &[u8], entry: &str, input: Vec<u8>) -> anyhow::Result<(Vec<u8>, u64)> {
    let req = CallRequest {
        entry: entry.into(),
        input,
        limits: GasVector {
            compute: 1_000_000_000,
            storage_bytes: 0,
            memory_pages: 64,
            bandwidth: 1 << 20,
        },
        ..CallRequest::default()
    };
    let out = vm.call(code, req, Box::new(MemoryState::default()))?;
    let data = out.result.map_err(|t| anyhow::anyhow!("trap: {t}"))?;
    Ok((data, out.gas_used.compute))
}

fn routine_vm(engine: Engine) -> anyhow::Result<Vm> {
    let vm = Vm::new(VmConfig::default())?;
    let reg = Registry::builtin().context("cannot load the built-in routines")?;
    vm.set_native(Arc::new(BridgeRoutines::new(Arc::new(reg), engine)));
    Ok(vm)
}

pub fn bench(a: BenchBridgeArgs) -> anyhow::Result<ExitCode> {
    let rows = bench_rows(&a.sizes, !a.json)?;
    print_bench(a.json, &rows)
}

/// sha256 and keccak256 at each of `sizes` bytes and a BLS12-381 modmul: wasm on the VM,
/// native_call on the eBPF interpreter and JIT, native Rust (`progress`: name each case on
/// stderr). Also the native-routine micro rows of `keel bench suite`.
pub fn bench_rows(sizes: &[usize], progress: bool) -> anyhow::Result<Vec<BridgeRow>> {
    use sha2::Digest as _;
    let interp_vm = routine_vm(Engine::Interpreter)?;
    let jit_vm = routine_vm(Engine::Jit)?;
    let caller = wat::parse_str(CALLER)?;
    let mut rows = Vec::new();
    let mut cases: Vec<(&str, u32, usize, Vec<u8>)> = Vec::new();
    for &n in sizes {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
        cases.push(("sha256", keel_ebpf_bridge::SHA256, 32, data.clone()));
        cases.push(("keccak256", keel_ebpf_bridge::KECCAK256, 32, data));
    }
    // Modular multiplication in the BLS12-381 scalar field: two small field elements.
    let mut mm = vec![0u8; 64];
    mm[0] = 7;
    mm[32] = 9;
    cases.push((
        "modmul_bls12_381_fr",
        keel_ebpf_bridge::MODMUL_BLS12_381_FR,
        32,
        mm,
    ));
    for (name, id, out_len, data) in cases {
        if progress {
            eprintln!("{name} {} bytes…", data.len());
        }
        let mut input = id.to_le_bytes().to_vec();
        input.extend_from_slice(&(out_len as u32).to_le_bytes());
        input.extend_from_slice(&data);
        let reps = if data.len() > 2048 { 20 } else { 50 };
        let mut gas = 0;
        let interp = best(reps, || {
            vm_call(&interp_vm, &caller, "call", input.clone()).map(|_| ())
        })?;
        let jit = best(reps, || {
            gas = vm_call(&jit_vm, &caller, "call", input.clone())?.1;
            Ok(())
        })?;
        let rust = best(reps * 20, || {
            let d = match name {
                "sha256" => sha2::Sha256::digest(&data).to_vec(),
                "keccak256" => <sha3::Keccak256 as sha3::Digest>::digest(&data).to_vec(),
                _ => {
                    use ruint::aliases::U256;
                    let r = U256::from_str_radix(
                        "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001",
                        16,
                    )
                    .unwrap_or_default();
                    let x = U256::from_le_slice(&data[..32])
                        .mul_mod(U256::from_le_slice(&data[32..]), r);
                    x.to_le_bytes::<32>().to_vec()
                }
            };
            std::hint::black_box(d);
            Ok(())
        })?;
        let wasm = if name == "sha256" {
            Some(best(reps, || {
                vm_call(&jit_vm, keel_contracts::SHA256.wasm, "sha256", data.clone()).map(|_| ())
            })?)
        } else {
            None
        };
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        rows.push(BridgeRow {
            routine: name.to_string(),
            input_bytes: data.len(),
            wasm_on_vm_us: wasm.map(us),
            native_call_interp_us: us(interp),
            native_call_jit_us: us(jit),
            native_rust_us: us(rust),
            wasm_over_jit: wasm.map(|w| us(w) / us(jit).max(1e-9)),
            interp_over_jit: us(interp) / us(jit).max(1e-9),
            jit_over_rust: us(jit) / us(rust).max(1e-9),
            gas_native_call: gas,
        });
    }
    Ok(rows)
}

fn print_bench(json: bool, rows: &[BridgeRow]) -> anyhow::Result<ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "bench": "bridge", "rows": rows }))?
        );
    } else {
        super::bench::compared(
            "native routines on the eBPF JIT",
            "the same routine in wasm on the VM, and the eBPF interpreter",
            "lower µs is better; wasm/jit and interp/jit are speedups",
        );
        println!(
            "{:<20} {:>6} {:>12} {:>12} {:>12} {:>10} {:>12} {:>12} {:>10}",
            "routine",
            "bytes",
            "wasm µs",
            "interp µs",
            "jit µs",
            "rust µs",
            "wasm/jit",
            "interp/jit",
            "gas"
        );
        for r in rows {
            let w = r.wasm_on_vm_us.map_or("-".into(), |v| format!("{v:.1}"));
            let wj = r.wasm_over_jit.map_or("-".into(), |v| format!("{v:.2}"));
            println!(
                "{:<20} {:>6} {:>12} {:>12.1} {:>12.1} {:>10.2} {:>12} {:>12.2} {:>10}",
                r.routine,
                r.input_bytes,
                w,
                r.native_call_interp_us,
                r.native_call_jit_us,
                r.native_rust_us,
                wj,
                r.interp_over_jit,
                r.gas_native_call
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
