//! Compiles this crate's unsafe corpus (`corpus/*.c`) with the clang flags of
//! `keel-ebpf-bridge`'s sBPF builds (the bridge's own routines come from the bridge itself).

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// An identity of this crate's sources (`KEEL_PCC_SOURCE_ID`): provenance of certifier output
/// (the pinned genesis manifest records it). Not a security boundary — certificates are always
/// re-checked.
fn source_id(manifest: &std::path::Path) -> Result<String, String> {
    use std::hash::{Hash, Hasher};
    let src = manifest.join("src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .map_err(|e| format!("{}: {e}", src.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.file_name().hash(&mut h);
        std::fs::read(&f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .hash(&mut h);
    }
    println!("cargo:rerun-if-changed={}", src.display());
    Ok(format!("{:016x}", h.finish()))
}

fn main() -> Result<(), String> {
    let clang = env::var("KEEL_CLANG").unwrap_or_else(|_| "clang".to_owned());
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    println!(
        "cargo:rustc-env=KEEL_PCC_SOURCE_ID={}",
        source_id(&manifest_dir)?
    );
    println!("cargo:rerun-if-env-changed=KEEL_CLANG");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let bridge = manifest.join("../ebpf-bridge/routines");
    let corpus = manifest.join("corpus");
    let mut jobs: Vec<(PathBuf, PathBuf)> = Vec::new();
    // The corpus includes the bridge's headers.
    println!("cargo:rerun-if-changed={}", bridge.display());
    println!("cargo:rerun-if-changed={}", corpus.display());
    let mut entries: Vec<_> = std::fs::read_dir(&corpus)
        .map_err(|e| format!("{}: {e}", corpus.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    entries.sort();
    for src in entries {
        let stem = src
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        jobs.push((src, out.join(format!("corpus_{stem}.o"))));
    }
    for (src, obj) in jobs {
        println!("cargo:rerun-if-changed={}", src.display());
        let o = Command::new(&clang)
            .args([
                "-target",
                "bpf",
                "-O2",
                "-mcpu=v1",
                "-Wall",
                "-Werror",
                "-fno-builtin",
            ])
            .args(["-ffreestanding", "-nostdinc", "-I"])
            .arg(&bridge)
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .output()
            .map_err(|e| format!("keel-pcc: cannot run {clang}: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "keel-pcc: clang failed on {}:\n{}",
                src.display(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    Ok(())
}
