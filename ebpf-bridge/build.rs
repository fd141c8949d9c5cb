//! Compiles the C routines under `routines/` to BPF objects with clang.
//!
//! Each routine is built for solana-sbpf (`<name>.sbpf.o`) and, unless it is a test-only fault
//! routine, for the kernel (`<name>.kern.o`, `-DKEEL_TARGET_KERNEL`). `-mcpu=v1` keeps clang to
//! 64-bit ALU instructions: SBPF v0 sign-extends 32-bit ALU results where the kernel zero-extends.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const NONE: &[&str] = &[];

/// (source stem, extra clang flags of the sBPF build, kernel build: None = not built,
/// Some(extra clang defines))
type Routine = (
    &'static str,
    &'static [&'static str],
    Option<&'static [&'static str]>,
);

/// Source-order block layout: with it the block loop of keccak256 keeps its own head ahead of
/// the permutation's round loop (LLVM's block placement otherwise rotates the block loop so
/// that both loops share one head, which the PCC certificate cannot bound).
const SOURCE_LAYOUT: &[&str] = &["-mllvm", "-disable-block-placement"];

const ROUTINES: &[Routine] = &[
    ("sha256", NONE, Some(NONE)),
    // The kernel verifier walks every loop iteration within a 1M-instruction budget: keccak256
    // at 3 KiB exceeds it (2 KiB takes ~0.8M), so the kernel build caps the input
    // (KERNEL_KECCAK_MAX_INPUT in builtin.rs).
    (
        "keccak256",
        SOURCE_LAYOUT,
        Some(&["-DKECCAK_MAX_INPUT=2048"]),
    ),
    ("merkle_sha256", NONE, Some(NONE)),
    ("modmul_bls12_381_fr", NONE, Some(NONE)),
    ("fault_spin", NONE, None),
    ("fault_oob", NONE, None),
];

const HEADERS: &[&str] = &["keel_routine.h", "keel_entry.h", "sha256.h"];

fn main() -> Result<(), String> {
    let clang = env::var("KEEL_CLANG").unwrap_or_else(|_| "clang".to_owned());
    println!("cargo:rerun-if-env-changed=KEEL_CLANG");
    check_clang(&clang)?;

    let src_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?).join("routines");
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    for header in HEADERS {
        println!("cargo:rerun-if-changed={}", src_dir.join(header).display());
    }
    for (stem, sbpf_flags, kernel) in ROUTINES {
        let source = src_dir.join(format!("{stem}.c"));
        println!("cargo:rerun-if-changed={}", source.display());
        let output = out_dir.join(format!("{stem}.sbpf.o"));
        compile(&clang, &source, &output, sbpf_flags, None)?;
        if let Some(defines) = kernel {
            let output = out_dir.join(format!("{stem}.kern.o"));
            compile(&clang, &source, &output, NONE, Some(defines))?;
        }
    }
    Ok(())
}

fn check_clang(clang: &str) -> Result<(), String> {
    match Command::new(clang).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "keel-ebpf-bridge: `{clang} --version` failed ({}); the BPF routines need clang \
             (>= 14, with the BPF target). Install clang or point KEEL_CLANG at it.",
            out.status
        )),
        Err(e) => Err(format!(
            "keel-ebpf-bridge: cannot run `{clang}` ({e}); the BPF routines need clang (>= 14, \
             with the BPF target). Install clang (apt-get install clang) or set KEEL_CLANG."
        )),
    }
}

/// `flags`: extra clang flags; `kernel`: `Some(extra defines)` builds the kernel variant.
fn compile(
    clang: &str,
    source: &Path,
    output: &Path,
    flags: &[&str],
    kernel: Option<&[&str]>,
) -> Result<(), String> {
    let mut cmd = Command::new(clang);
    cmd.args([
        "-target",
        "bpf",
        "-O2",
        "-mcpu=v1",
        "-Wall",
        "-Werror",
        "-fno-builtin",
    ])
    .args(["-ffreestanding", "-nostdinc"])
    .args(flags);
    if let Some(defines) = kernel {
        cmd.arg("-DKEEL_TARGET_KERNEL").args(defines);
    }
    cmd.arg("-c").arg(source).arg("-o").arg(output);
    let out = cmd.output().map_err(|e| {
        format!(
            "keel-ebpf-bridge: running clang on {}: {e}",
            source.display()
        )
    })?;
    if !out.status.success() {
        return Err(format!(
            "keel-ebpf-bridge: clang failed on {}:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
