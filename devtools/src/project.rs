//! A contract project: a directory with `keel.toml`.
//!
//! ```toml
//! [contract]
//! name = "counter"
//! sources = ["src/counter.c"]          # the contract
//! tests = ["tests/counter_test.c"]     # linked with the sources into the test module only
//!
//! [manifest]                           # optional: without it the build embeds the manifest
//! storage = true                       # effect typing infers; with it, the code is checked
//! ```

use crate::error::DevError;
use keel_vm::Manifest;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The manifest file's name.
pub const MANIFEST_FILE: &str = "keel.toml";
/// Largest `keel.toml` read.
const MAX_TOML: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectToml {
    contract: ContractToml,
    manifest: Option<ManifestToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractToml {
    name: String,
    sources: Vec<PathBuf>,
    #[serde(default)]
    tests: Vec<PathBuf>,
}

/// The `[manifest]` table: the capability manifest in words (see `vm/core/ABI.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    #[serde(default)]
    storage: bool,
    #[serde(default)]
    events: bool,
    #[serde(default)]
    value: bool,
    #[serde(default)]
    call_any: bool,
    /// 32-byte addresses, hex.
    #[serde(default)]
    call_contracts: Vec<String>,
    #[serde(default)]
    call_handles: bool,
    #[serde(default)]
    native_any: bool,
    #[serde(default)]
    native_routines: Vec<u32>,
    #[serde(default)]
    crypto: bool,
    #[serde(default)]
    reentrant: bool,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub name: String,
    /// Relative to `dir`.
    pub sources: Vec<PathBuf>,
    /// Relative to `dir`.
    pub tests: Vec<PathBuf>,
    /// The hand-written manifest, if `keel.toml` has one.
    pub manifest: Option<Manifest>,
}

impl Project {
    /// Reads `dir/keel.toml`.
    ///
    /// # Errors
    /// [`DevError::Io`] if it cannot be read, [`DevError::Project`] if it is malformed: unknown
    /// keys, an empty or non-identifier name, no sources, an absolute path, a bad address.
    pub fn load(dir: &Path) -> Result<Project, DevError> {
        let path = dir.join(MANIFEST_FILE);
        let bad = |message: String| DevError::Project {
            path: path.clone(),
            message,
        };
        let len = std::fs::metadata(&path).map_err(DevError::io(&path))?.len();
        if len > MAX_TOML {
            return Err(bad(format!("larger than {MAX_TOML} bytes")));
        }
        let text = std::fs::read_to_string(&path).map_err(DevError::io(&path))?;
        let t: ProjectToml = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        check_name(&t.contract.name).map_err(&bad)?;
        if t.contract.sources.is_empty() {
            return Err(bad("`contract.sources` lists no source file".into()));
        }
        for p in t.contract.sources.iter().chain(&t.contract.tests) {
            // Relative paths keep DWARF file names and the project portable.
            if p.is_absolute() {
                return Err(bad(format!(
                    "{}: use a path relative to the project",
                    p.display()
                )));
            }
        }
        let manifest = t.manifest.map(to_manifest).transpose().map_err(&bad)?;
        Ok(Project {
            dir: dir.to_owned(),
            name: t.contract.name,
            sources: t.contract.sources,
            tests: t.contract.tests,
            manifest,
        })
    }

    /// The build directory, `dir/target`.
    pub fn target_dir(&self) -> PathBuf {
        self.dir.join("target")
    }
}

/// A contract name: ASCII letters, digits, `_` and `-`, starting with a letter, at most 64.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "contract name `{name}` must start with a letter and hold only letters, digits, `_` and `-` (at most 64)"
        ))
    }
}

fn to_manifest(t: ManifestToml) -> Result<Manifest, String> {
    let mut call_contracts = std::collections::BTreeSet::new();
    for a in &t.call_contracts {
        let bytes = hex::decode(a.trim_start_matches("0x"))
            .map_err(|e| format!("call_contracts: `{a}`: {e}"))?;
        let addr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("call_contracts: `{a}` is not 32 bytes"))?;
        call_contracts.insert(addr);
    }
    let m = Manifest {
        storage: t.storage,
        events: t.events,
        value: t.value,
        call_any: t.call_any,
        call_contracts,
        call_handles: t.call_handles,
        native_any: t.native_any,
        native_routines: t.native_routines.into_iter().collect(),
        crypto: t.crypto,
        reentrant: t.reentrant,
    };
    // The same limits as on-chain decoding.
    Manifest::decode(&m.encode()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Project, DevError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), toml).unwrap();
        Project::load(dir.path())
    }

    #[test]
    fn a_malformed_keel_toml_is_a_project_error_saying_what() {
        for (toml, says) in [
            (
                "[contract]\nname = \"a\"\nsources = [\"a.c\"]\nextra = 1\n",
                "unknown field",
            ),
            (
                "[contract]\nname = \"1a\"\nsources = [\"a.c\"]\n",
                "must start with a letter",
            ),
            ("[contract]\nname = \"a\"\nsources = []\n", "no source"),
            (
                "[contract]\nname = \"a\"\nsources = [\"/etc/a.c\"]\n",
                "relative",
            ),
            (
                "[contract]\nname = \"a\"\nsources = [\"a.c\"]\n[manifest]\ncall_contracts = [\"00\"]\n",
                "not 32 bytes",
            ),
        ] {
            let e = load(toml).unwrap_err();
            assert!(matches!(e, DevError::Project { .. }), "{e}");
            assert!(e.to_string().contains(says), "{e} lacks {says}");
        }
    }

    #[test]
    fn the_manifest_table_becomes_the_manifest() {
        let p = load(&format!(
            "[contract]\nname = \"a\"\nsources = [\"a.c\"]\n[manifest]\nstorage = true\ncall_contracts = [\"{}\"]\n",
            "ab".repeat(32)
        ))
        .unwrap();
        let m = p.manifest.unwrap();
        assert!(m.storage && !m.events && m.may_call_contract(&[0xab; 32]));
    }
}
