//! Builds every contract into OUT_DIR: `c/*.c` with clang (wasm32, integer-only MVP profile,
//! linked with the shared `c/runtime/keel_runtime.c`) and `wat/*.wat` with the `wat` crate.
//! A missing clang or wasm-ld fails the build with one line saying what to install: the
//! contracts are part of the VM's test vectors, so silently skipping them would hide gaps.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

// The flags live in `src/toolchain.rs`, shared with `keel contract build`.
#[allow(dead_code)]
#[path = "src/toolchain.rs"]
mod toolchain;

use toolchain::{COMPILE_FLAGS, LINK_FLAGS, RUNTIME_SOURCE as RUNTIME, STRIP_FLAG};

const INSTALL_HINT: &str =
    "install `clang lld` (e.g. `apt-get install clang lld`; the repo's setup does this)";

enum BuildError {
    Io(PathBuf, std::io::Error),
    ToolMissing(&'static str),
    Clang(PathBuf, String),
    Wat(PathBuf, String),
    Env(&'static str),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Self::ToolMissing(tool) => {
                write!(f, "`{tool}` not found or not working; {INSTALL_HINT}")
            }
            Self::Clang(p, msg) => {
                write!(f, "clang failed on {}: {msg}", p.display())
            }
            Self::Wat(p, msg) => write!(f, "{}: {msg}", p.display()),
            Self::Env(var) => write!(f, "cargo did not set {var}"),
        }
    }
}

fn main() {
    if let Err(e) = run() {
        // One line per message: cargo prints it as the build's error.
        for line in e.to_string().lines() {
            println!("cargo::error={line}");
        }
        std::process::exit(1);
    }
}

fn run() -> Result<(), BuildError> {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or(BuildError::Env("CARGO_MANIFEST_DIR"))?,
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::Env("OUT_DIR"))?);
    let clang = std::env::var("KEEL_CLANG").unwrap_or_else(|_| "clang".to_owned());
    println!("cargo::rerun-if-env-changed=KEEL_CLANG");
    println!(
        "cargo::rerun-if-changed={}",
        manifest.join("src/toolchain.rs").display()
    );
    for dir in ["include", "c", "c/runtime", "wat"] {
        println!("cargo::rerun-if-changed={}", manifest.join(dir).display());
    }

    let c_sources = sources(&manifest.join("c"), "c")?;
    let wat_sources = sources(&manifest.join("wat"), "wat")?;
    for src in c_sources
        .iter()
        .chain(&wat_sources)
        .chain([&manifest.join(RUNTIME)])
    {
        println!("cargo::rerun-if-changed={}", src.display());
    }
    for header in [
        manifest.join("include/keel.h"),
        manifest.join("c/runtime/keel_runtime.h"),
    ] {
        println!("cargo::rerun-if-changed={}", header.display());
    }

    if !c_sources.is_empty() {
        check_tool(&clang, "clang")?;
        check_tool("wasm-ld", "wasm-ld")?;
    }
    for src in &c_sources {
        compile_c(&clang, &manifest, src, &out.join(wasm_name(src)))?;
    }
    for src in &wat_sources {
        let bytes =
            wat::parse_file(src).map_err(|e| BuildError::Wat(src.clone(), e.to_string()))?;
        let dst = out.join(wasm_name(src));
        fs::write(&dst, bytes).map_err(|e| BuildError::Io(dst, e))?;
    }
    Ok(())
}

/// Files directly in `dir` with extension `ext`, sorted so the build order is stable.
fn sources(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, BuildError> {
    let entries = fs::read_dir(dir).map_err(|e| BuildError::Io(dir.to_owned(), e))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| BuildError::Io(dir.to_owned(), e))?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == ext) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn wasm_name(src: &Path) -> PathBuf {
    src.with_extension("wasm")
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn check_tool(program: &str, name: &'static str) -> Result<(), BuildError> {
    match Command::new(program).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(BuildError::ToolMissing(name)),
    }
}

fn compile_c(clang: &str, manifest: &Path, src: &Path, dst: &Path) -> Result<(), BuildError> {
    let output = Command::new(clang)
        .args(COMPILE_FLAGS)
        .args(LINK_FLAGS)
        .arg(STRIP_FLAG)
        .arg("-I")
        .arg(manifest.join("include"))
        .arg("-I")
        .arg(manifest.join("c/runtime"))
        .arg("-o")
        .arg(dst)
        .arg(src)
        .arg(manifest.join(RUNTIME))
        .output()
        .map_err(|e| BuildError::Io(src.to_owned(), e))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // wasm-ld missing shows up as clang failing to exec the linker.
    if stderr.contains("wasm-ld")
        && (stderr.contains("not found") || stderr.contains("No such file"))
    {
        return Err(BuildError::ToolMissing("wasm-ld"));
    }
    Err(BuildError::Clang(src.to_owned(), stderr.into_owned()))
}
