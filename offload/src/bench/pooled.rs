//! The blst-pooled baseline: a separate binary (`offload/bench-pooled/`) built outside the
//! workspace so that blst keeps its thread pool (the workspace builds blst with `no-threads`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::BenchError;
use crate::file::HexTriple;

/// Where the baseline binary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PooledBaseline {
    /// Build `manifest` with `cargo build --release --target-dir target_dir`, then run it.
    Build {
        /// `offload/bench-pooled/Cargo.toml`.
        manifest: PathBuf,
        /// Its own target directory (never the workspace's: features must not unify).
        target_dir: PathBuf,
    },
    /// Run an already built binary.
    Binary(PathBuf),
    /// Leave the baseline out of the report.
    Skip,
}

impl PooledBaseline {
    /// `KEEL_BENCH_POOLED=/path/to/keel-bench-pooled` if set; otherwise build from this crate's
    /// source tree (`offload/bench-pooled`) into `$CARGO_TARGET_DIR/bench-pooled` (or
    /// `offload/bench-pooled/target` without `CARGO_TARGET_DIR`).
    pub fn from_env() -> Self {
        if let Some(bin) = std::env::var_os("KEEL_BENCH_POOLED") {
            return Self::Binary(PathBuf::from(bin));
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-pooled");
        let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || dir.join("target"),
            |t| PathBuf::from(t).join("bench-pooled"),
        );
        Self::Build {
            manifest: dir.join("Cargo.toml"),
            target_dir,
        }
    }
}

/// One set handed to the baseline.
#[derive(Debug, Serialize)]
pub(super) struct InputSet<'a> {
    pub name: &'a str,
    pub reps: usize,
    pub items: &'a [HexTriple],
}

#[derive(Debug, Serialize)]
struct PooledInput<'a> {
    sets: Vec<InputSet<'a>>,
}

/// The baseline's answer for one set.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct SetResult {
    pub name: String,
    pub n: usize,
    pub samples_ns: Vec<u64>,
    pub all_valid: bool,
}

/// The baseline's whole answer.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct PooledOutput {
    pub threads: usize,
    pub results: Vec<SetResult>,
}

/// Locates or builds the binary; `None` when skipped.
pub(super) fn binary(baseline: &PooledBaseline) -> Result<Option<PathBuf>, BenchError> {
    match baseline {
        PooledBaseline::Skip => Ok(None),
        PooledBaseline::Binary(p) => Ok(Some(p.clone())),
        PooledBaseline::Build {
            manifest,
            target_dir,
        } => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            tracing::info!(manifest = %manifest.display(), "building the blst-pooled baseline");
            // Cargo's own progress goes to stderr: the first build takes minutes, and a
            // failure shows there with its cause.
            let status = Command::new(cargo)
                .args(["build", "--release", "--manifest-path"])
                .arg(manifest)
                .arg("--target-dir")
                .arg(target_dir)
                // A surrounding `cargo run` must not leak its target dir into this build.
                .env_remove("CARGO_TARGET_DIR")
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| BenchError::Baseline(format!("cannot run cargo: {e}")))?;
            if !status.success() {
                return Err(BenchError::Baseline(format!(
                    "building {} failed ({status}; cargo's output is above)",
                    manifest.display()
                )));
            }
            Ok(Some(target_dir.join("release").join("keel-bench-pooled")))
        }
    }
}

/// Runs the baseline binary on `sets` (the same inputs as the other paths).
pub(super) fn run(bin: &Path, sets: Vec<InputSet<'_>>) -> Result<PooledOutput, BenchError> {
    let dir = tempfile_dir()?;
    let input = dir.join("pooled-input.json");
    let json = serde_json::to_vec(&PooledInput { sets })
        .map_err(|e| BenchError::Baseline(format!("cannot encode inputs: {e}")))?;
    std::fs::write(&input, json)
        .map_err(|e| BenchError::Baseline(format!("{}: {e}", input.display())))?;
    let out = Command::new(bin)
        .arg(&input)
        .output()
        .map_err(|e| BenchError::Baseline(format!("cannot run {}: {e}", bin.display())));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    if !out.status.success() {
        return Err(BenchError::Baseline(format!(
            "{} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError::Baseline(format!("unreadable baseline output: {e}")))
}

/// A fresh private directory for the input file.
fn tempfile_dir() -> Result<PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("keel-bench-bls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::Baseline(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}
