//! Ad-hoc timing of sha256 over 1 KiB: interpreter vs JIT vs native Rust (sha2).
//! Run with `cargo run --release -p keel-ebpf-bridge --example sha256_timing`.

use keel_ebpf_bridge::{Engine, Registry, SHA256};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn time(iterations: u32, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::builtin()?;
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 31) as u8).collect();
    let run = registry.run(SHA256, &data, 32, Engine::Interpreter, u64::MAX)?;
    assert_eq!(run.output, Sha256::digest(&data).to_vec());
    let jit_run = registry.run(SHA256, &data, 32, Engine::Jit, u64::MAX);
    assert_eq!(jit_run.as_ref(), Ok(&run), "JIT must match the interpreter");
    let interp = time(200, || {
        black_box(registry.run(SHA256, black_box(&data), 32, Engine::Interpreter, u64::MAX)).ok();
    });
    let jit = time(2_000, || {
        black_box(registry.run(SHA256, black_box(&data), 32, Engine::Jit, u64::MAX)).ok();
    });
    let native = time(20_000, || {
        black_box(Sha256::digest(black_box(&data)));
    });
    println!(
        "sha256 of 1 KiB: {} sBPF instructions, gas {}",
        run.instructions, run.gas
    );
    println!("  interpreter {interp:?}");
    println!(
        "  JIT         {jit:?}  ({:.1}x faster than interpreter)",
        interp.as_secs_f64() / jit.as_secs_f64()
    );
    println!(
        "  native Rust {native:?}  (JIT is {:.1}x slower)",
        jit.as_secs_f64() / native.as_secs_f64()
    );
    Ok(())
}
