//! Compiles the kernel programs under `bpf/` to BPF objects with clang (`-target bpf -O2 -g`).
//!
//! `-g` is required, not cosmetic: it emits the BTF that carries the CO-RE relocations of the
//! tracepoint records and the map definitions libbpf reads. libbpf's own headers
//! (`bpf/bpf_helpers.h`, …) come from libbpf-sys (`DEP_BPF_INCLUDE`); the kernel UAPI headers
//! (`linux/bpf.h`, …) from the system (Debian's linux-libc-dev).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: &[&str] = &["admission", "observe"];
const HEADERS: &[&str] = &["admission.h", "observe.h"];

fn main() -> Result<(), String> {
    let clang = env::var("KEEL_CLANG").unwrap_or_else(|_| "clang".to_owned());
    println!("cargo:rerun-if-env-changed=KEEL_CLANG");
    check_clang(&clang)?;

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let src_dir = manifest.join("bpf");
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let libbpf_include = env::var("DEP_BPF_INCLUDE").map_err(|_| {
        "keel-kernel-progs: DEP_BPF_INCLUDE is not set; libbpf-sys must be a direct dependency"
            .to_owned()
    })?;
    let arch = env::var("CARGO_CFG_TARGET_ARCH").map_err(|e| e.to_string())?;
    // Debian keeps asm/types.h (pulled in by linux/types.h) under the multiarch directory.
    let multiarch = format!("/usr/include/{arch}-linux-gnu");

    for header in HEADERS {
        println!("cargo:rerun-if-changed={}", src_dir.join(header).display());
    }
    for stem in PROGRAMS {
        let source = src_dir.join(format!("{stem}.bpf.c"));
        println!("cargo:rerun-if-changed={}", source.display());
        let includes = [
            src_dir.as_path(),
            Path::new(&libbpf_include),
            Path::new(&multiarch),
        ];
        compile(
            &clang,
            &source,
            &out_dir.join(format!("{stem}.bpf.o")),
            &includes,
        )?;
    }
    Ok(())
}

fn check_clang(clang: &str) -> Result<(), String> {
    match Command::new(clang).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "keel-kernel-progs: `{clang} --version` failed ({}); the kernel programs need clang \
             (>= 14, with the BPF target). Install clang or point KEEL_CLANG at it.",
            out.status
        )),
        Err(e) => Err(format!(
            "keel-kernel-progs: cannot run `{clang}` ({e}); the kernel programs need clang \
             (>= 14, with the BPF target). Install clang (apt-get install clang) or set \
             KEEL_CLANG."
        )),
    }
}

fn compile(clang: &str, source: &Path, output: &Path, includes: &[&Path]) -> Result<(), String> {
    let mut cmd = Command::new(clang);
    cmd.args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"]);
    for dir in includes {
        cmd.arg("-I").arg(dir);
    }
    cmd.arg("-c").arg(source).arg("-o").arg(output);
    let out = cmd.output().map_err(|e| {
        format!(
            "keel-kernel-progs: running clang on {}: {e}",
            source.display()
        )
    })?;
    if !out.status.success() {
        return Err(format!(
            "keel-kernel-progs: clang failed on {}:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
