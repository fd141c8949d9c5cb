//! Rust reference implementations and helpers shared by the integration tests.
#![allow(dead_code)]

use keel_ebpf_bridge::{
    BridgeError, Engine, Registry, Routine, RunResult, differential, kernel_support,
};
use ruint::aliases::U256;
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use std::io::Write;
use std::sync::{Arc, OnceLock};

/// Generous budget: every built-in's cost bound fits.
pub const BUDGET: u64 = 10_000_000;

pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::builtin().expect("built-in routines load");
        registry
            .register_fault_fixtures()
            .expect("fault fixtures load");
        registry
    })
}

pub fn routine(id: u32) -> &'static Arc<Routine> {
    registry().get(id).expect("registered")
}

pub fn sha256_ref(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

pub fn keccak256_ref(data: &[u8]) -> Vec<u8> {
    Keccak256::digest(data).to_vec()
}

/// BLS12-381 scalar field order r.
pub fn fr_modulus() -> U256 {
    U256::from_str_radix(
        "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001",
        16,
    )
    .expect("valid hex")
}

pub fn modmul_ref(a: U256, b: U256) -> Vec<u8> {
    a.mul_mod(b, fr_modulus()).to_le_bytes::<32>().to_vec()
}

pub fn modmul_input(a: U256, b: U256) -> Vec<u8> {
    let mut input = a.to_le_bytes::<32>().to_vec();
    input.extend_from_slice(&b.to_le_bytes::<32>());
    input
}

/// Root of the path from `leaf` at `index` through `siblings` (bottom first).
pub fn merkle_root_ref(leaf: [u8; 32], index: u32, siblings: &[[u8; 32]]) -> [u8; 32] {
    let mut node = leaf;
    for (level, sibling) in siblings.iter().enumerate() {
        let mut h = Sha256::new();
        if (index >> level) & 1 == 1 {
            h.update(sibling);
            h.update(node);
        } else {
            h.update(node);
            h.update(sibling);
        }
        node = h.finalize().into();
    }
    node
}

pub fn merkle_input(root: [u8; 32], leaf: [u8; 32], index: u32, siblings: &[[u8; 32]]) -> Vec<u8> {
    let mut input = Vec::with_capacity(72 + 32 * siblings.len());
    input.extend_from_slice(&root);
    input.extend_from_slice(&leaf);
    input.extend_from_slice(&index.to_le_bytes());
    input.extend_from_slice(&(siblings.len() as u32).to_le_bytes());
    for s in siblings {
        input.extend_from_slice(s);
    }
    input
}

/// Runs `id` on every engine available here and checks they agree with `expected`:
/// same output everywhere, same instruction count and gas on interpreter and JIT.
/// Returns the interpreter's result. The kernel engine is skipped (loudly) only when this host
/// cannot run it at all; a kernel that can but refuses the routine fails the test.
pub fn check_all_engines(id: u32, input: &[u8], expected: &[u8]) -> RunResult {
    let registry = registry();
    let out_len = expected.len();
    let interp = registry
        .run(id, input, out_len, Engine::Interpreter, BUDGET)
        .expect("interp runs");
    assert_eq!(
        interp.output, expected,
        "interpreter output differs from the reference"
    );
    // The library's differential check (shared with hwtest) for interpreter = JIT.
    if let Err(d) = differential::compare_engines(routine(id), input, BUDGET, false) {
        panic!("JIT result (output, instructions, gas) differs from interpreter: {d}");
    }
    let kernel_cap = routine(id).kernel_max_input().unwrap_or(0);
    match kernel_available(id) {
        Ok(()) if input.len() > kernel_cap => {}
        Ok(()) => {
            let kernel = registry
                .run(id, input, out_len, Engine::Kernel, BUDGET)
                .expect("kernel runs");
            assert_eq!(
                kernel.output, expected,
                "kernel output differs from the reference"
            );
        }
        Err(e) => {
            if kernel_support().is_ok() && routine(id).kernel_max_input().is_some() {
                panic!(
                    "the kernel runs BPF_PROG_TYPE_SYSCALL programs here but refused {}: {e}",
                    routine(id).manifest().name
                );
            }
            skip_kernel_loudly(id, &e)
        }
    }
    interp
}

pub fn kernel_available(id: u32) -> Result<(), BridgeError> {
    routine(id).engine_available(Engine::Kernel)
}

/// Prints the SKIPPED line once per routine per test binary.
pub fn skip_kernel_loudly(id: u32, e: &BridgeError) {
    static SKIPPED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
    let mut skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    if !skipped.contains(&id) {
        skipped.push(id);
        // Straight to stderr, past the test harness's capture, so the skip is always seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED[bpf]: kernel engine for routine {} ({}) because {e}",
            id,
            routine(id).manifest().name
        );
    }
}
