//! Maintainer tooling for the pinned genesis routines (`GENESIS.md`): regenerate the pinned files
//! from this machine's build (`keel chain genesis-pin`), and compare this machine's build with
//! the pinned objects (`keel chain genesis-check`). Never on the chain's path: a chain uses only
//! the pinned files.

use crate::genesis_routines::{self, GenesisError, GenesisRoutine, PinnedManifest};
use crate::governance::RoutineSpec;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Why the pinned files cannot be produced or read.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The bridge's built-in routines do not load (a build defect).
    #[error("built-in routines: {0}")]
    Bridge(String),
    /// The certifier cannot prove a built-in routine: it cannot be pinned.
    #[error("routine {name} cannot be certified: {reason}")]
    Uncertifiable { name: String, reason: String },
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// Certifies every built-in routine as this machine built it and returns the files of a pinned
/// directory (`manifest.json`, objects, certificates). Each certificate is checked before it is
/// pinned. Errors: a routine the certifier cannot prove (nothing is silently left out).
pub fn pin_local_build() -> Result<Vec<(String, Vec<u8>)>, PinError> {
    let registry =
        keel_ebpf_bridge::Registry::builtin().map_err(|e| PinError::Bridge(e.to_string()))?;
    let rules = genesis_routines::genesis_rules()?;
    let mut routines = Vec::new();
    for manifest in registry.list() {
        let name = manifest.name.to_string();
        let object = keel_ebpf_bridge::sbpf_object(manifest.name)
            .ok_or_else(|| PinError::Bridge(format!("no sBPF object for {name}")))?;
        let cert =
            keel_pcc::certify_object(object, &keel_pcc::params_of(manifest)).map_err(|e| {
                PinError::Uncertifiable {
                    name: name.clone(),
                    reason: e.to_string(),
                }
            })?;
        let r = GenesisRoutine::new(RoutineSpec::of(manifest), object.to_vec(), cert.to_bytes());
        let checked = r.verify(rules)?;
        routines.push((r, checked.worst_case_instructions));
    }
    Ok(genesis_routines::to_files(
        rules,
        keel_pcc::CERTIFIER_ID,
        &routines,
    )?)
}

/// Writes pinned files into `dir` (created if needed), replacing files of the same name.
pub fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), PinError> {
    let io = |path: &Path, e: std::io::Error| PinError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Reads a pinned directory written by [`write_dir`] (file names in its manifest must be plain
/// names: no path separators).
pub fn read_dir(dir: &Path) -> Result<(PinnedManifest, Vec<GenesisRoutine>), GenesisError> {
    let file = |name: &str| {
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            && !name.starts_with('.');
        if plain {
            std::fs::read(dir.join(name)).ok()
        } else {
            None
        }
    };
    genesis_routines::from_files(&file)
}

/// How this machine's build of a pinned routine compares with the pinned object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildComparison {
    pub id: u32,
    pub name: String,
    #[serde(with = "crate::receipt::hex32")]
    pub pinned_sha256: [u8; 32],
    /// sha256 of the local build's object; `None` if this build has no routine of that name.
    pub local_sha256: Option<String>,
    /// Whether the bridge's manifest of the routine equals the pinned spec.
    pub spec_matches: bool,
}

impl BuildComparison {
    /// The local object and manifest are exactly the pinned ones.
    pub fn identical(&self) -> bool {
        self.spec_matches && self.local_sha256 == Some(hex::encode(self.pinned_sha256))
    }
}

/// Compares each pinned routine with this machine's build (`keel_ebpf_bridge`'s objects and
/// manifests). A difference is reported, never used: the chain runs the pinned object.
pub fn compare_local_build(pinned: &[GenesisRoutine]) -> Vec<BuildComparison> {
    let registry = keel_ebpf_bridge::Registry::builtin().ok();
    pinned
        .iter()
        .map(|r| {
            let local = keel_ebpf_bridge::sbpf_object(&r.spec.name);
            let spec_matches = registry
                .as_ref()
                .and_then(|reg| reg.find_by_name(&r.spec.name))
                .is_some_and(|l| RoutineSpec::of(l.manifest()) == r.spec);
            BuildComparison {
                id: r.spec.id,
                name: r.spec.name.clone(),
                pinned_sha256: r.object_sha256,
                local_sha256: local.map(|o| hex::encode(Sha256::digest(o))),
                spec_matches,
            }
        })
        .collect()
}
