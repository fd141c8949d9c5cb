//! The routines active from block 0 are data, not a build product: their sBPF objects and PCC
//! certificates are pinned files in `vm/chain/genesis/`, listed with their sha256 in
//! `manifest.json` and embedded in the binary. Chain init verifies each file against its pinned
//! hash and each certificate with the trusted checker; it never runs clang or the certifier, so
//! every machine derives the same genesis. Format, checks and regeneration: `GENESIS.md`.

use crate::governance::{CheckedRoutine, RoutineSpec, check_routine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the pinned manifest format (`GENESIS.md`).
pub const PINNED_FORMAT: u32 = 1;
/// Name of the manifest in a pinned directory.
pub const MANIFEST_FILE: &str = "manifest.json";

macro_rules! pinned {
    ($file:literal) => {
        (
            $file,
            include_bytes!(concat!("../genesis/", $file)).as_slice(),
        )
    };
}

/// Every file of `vm/chain/genesis/`, embedded (a test checks this list against the directory).
pub const PINNED_FILES: &[(&str, &[u8])] = &[
    pinned!("manifest.json"),
    pinned!("sha256.sbpf.o"),
    pinned!("sha256.cert"),
    pinned!("keccak256.sbpf.o"),
    pinned!("keccak256.cert"),
    pinned!("merkle_sha256.sbpf.o"),
    pinned!("merkle_sha256.cert"),
    pinned!("modmul_bls12_381_fr.sbpf.o"),
    pinned!("modmul_bls12_381_fr.cert"),
];

/// Why the genesis routines cannot be used. Chain init stops on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The pinned manifest does not decode or is inconsistent.
    #[error("pinned genesis manifest: {0}")]
    Manifest(String),
    /// The manifest names a file that is not pinned.
    #[error("pinned genesis file {0} is missing")]
    MissingFile(String),
    /// A routine's object is not the pinned one.
    #[error("genesis routine {id} ({name}): object sha256 {actual}, pinned {pinned}")]
    ObjectHash {
        id: u32,
        name: String,
        pinned: String,
        actual: String,
    },
    /// A routine's certificate is not the pinned one.
    #[error("genesis routine {id} ({name}): certificate sha256 {actual}, pinned {pinned}")]
    CertificateHash {
        id: u32,
        name: String,
        pinned: String,
        actual: String,
    },
    /// The checker (or the manifest/loader checks of activation) refuses a routine.
    #[error("genesis routine {id} ({name}) fails activation: {reason}")]
    Checker {
        id: u32,
        name: String,
        reason: String,
    },
    /// The genesis version of the `pcc.checker` gate is not implemented (a build defect).
    #[error("this build implements no genesis version of the checker rules")]
    NoCheckerRules,
    /// The genesis balances sum to more than a u256 (credits could then overflow).
    #[error("the genesis balances sum to more than a u256")]
    SupplyOverflow,
    /// Writing the genesis state failed.
    #[error("genesis state: {0}")]
    State(String),
}

/// The checker rules genesis routines are verified under: the genesis version of the
/// `pcc.checker` gate. Errors: this build implements none (a build defect).
pub fn genesis_rules() -> Result<keel_pcc::CheckerRules, GenesisError> {
    crate::governance::genesis_feature_version("pcc.checker")
        .and_then(keel_pcc::CheckerRules::new)
        .ok_or(GenesisError::NoCheckerRules)
}

/// A routine activated at genesis: its manifest, its sBPF object and PCC certificate, and the
/// sha256 of both as pinned (init refuses bytes that do not match).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisRoutine {
    pub spec: RoutineSpec,
    #[serde(with = "crate::receipt::hex32")]
    pub object_sha256: [u8; 32],
    #[serde(with = "crate::receipt::hex32")]
    pub certificate_sha256: [u8; 32],
    #[serde(with = "crate::tx::hex_serde")]
    pub object: Vec<u8>,
    #[serde(with = "crate::tx::hex_serde")]
    pub certificate: Vec<u8>,
}

/// One routine of the pinned manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedEntry {
    /// Id, name, version, input/output lengths and the cost model (the gas ceiling).
    pub spec: RoutineSpec,
    /// File name of the sBPF object, and its sha256.
    pub object: String,
    #[serde(with = "crate::receipt::hex32")]
    pub object_sha256: [u8; 32],
    /// File name of the certificate, and its sha256.
    pub certificate: String,
    #[serde(with = "crate::receipt::hex32")]
    pub certificate_sha256: [u8; 32],
    /// The checker's worst-case instruction count when pinned (under `checker_rules`).
    pub worst_case_instructions: u64,
}

/// `manifest.json` of a pinned directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedManifest {
    /// [`PINNED_FORMAT`].
    pub format: u32,
    /// The checker rules the certificates were checked under when pinned.
    pub checker_rules: u32,
    /// Provenance only: the certifier build that produced the certificates (never trusted).
    pub certifier: String,
    pub routines: Vec<PinnedEntry>,
}

impl GenesisRoutine {
    /// A genesis routine pinned to these exact bytes (for a custom genesis).
    pub fn new(spec: RoutineSpec, object: Vec<u8>, certificate: Vec<u8>) -> GenesisRoutine {
        GenesisRoutine {
            spec,
            object_sha256: Sha256::digest(&object).into(),
            certificate_sha256: Sha256::digest(&certificate).into(),
            object,
            certificate,
        }
    }

    /// The routines pinned in the repository (`vm/chain/genesis/`, embedded), in manifest order.
    /// Errors: the manifest does not decode or names a file that is not embedded. Hashes and
    /// certificates are verified by [`GenesisRoutine::verify`] at chain init.
    pub fn pinned() -> Result<Vec<GenesisRoutine>, GenesisError> {
        let file = |name: &str| {
            PINNED_FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, bytes)| bytes.to_vec())
        };
        Ok(from_files(&file)?.1)
    }

    /// Checks the object and certificate against their pinned sha256, then runs activation's
    /// trusted checks (the PCC checker under `rules`, the manifest's gas ceiling, the sBPF
    /// loader). Deterministic: depends only on these bytes and the rules version.
    pub fn verify(&self, rules: keel_pcc::CheckerRules) -> Result<CheckedRoutine, GenesisError> {
        let (id, name) = (self.spec.id, self.spec.name.clone());
        let object: [u8; 32] = Sha256::digest(&self.object).into();
        if object != self.object_sha256 {
            return Err(GenesisError::ObjectHash {
                id,
                name,
                pinned: hex::encode(self.object_sha256),
                actual: hex::encode(object),
            });
        }
        let certificate: [u8; 32] = Sha256::digest(&self.certificate).into();
        if certificate != self.certificate_sha256 {
            return Err(GenesisError::CertificateHash {
                id,
                name,
                pinned: hex::encode(self.certificate_sha256),
                actual: hex::encode(certificate),
            });
        }
        check_routine(rules, &self.spec, &self.object, &self.certificate)
            .map_err(|reason| GenesisError::Checker { id, name, reason })
    }
}

/// Reads a pinned set through `file` (file name → bytes): the manifest and its routines.
/// Errors: an undecodable or inconsistent manifest, a missing file.
pub fn from_files(
    file: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<(PinnedManifest, Vec<GenesisRoutine>), GenesisError> {
    let bytes =
        file(MANIFEST_FILE).ok_or_else(|| GenesisError::MissingFile(MANIFEST_FILE.into()))?;
    let manifest: PinnedManifest =
        serde_json::from_slice(&bytes).map_err(|e| GenesisError::Manifest(e.to_string()))?;
    if manifest.format != PINNED_FORMAT {
        return Err(GenesisError::Manifest(format!(
            "format {} (this build reads format {PINNED_FORMAT})",
            manifest.format
        )));
    }
    let mut routines = Vec::with_capacity(manifest.routines.len());
    for e in &manifest.routines {
        if routines
            .iter()
            .any(|r: &GenesisRoutine| r.spec.id == e.spec.id)
        {
            return Err(GenesisError::Manifest(format!(
                "routine id {} is listed twice",
                e.spec.id
            )));
        }
        let read = |name: &str| file(name).ok_or_else(|| GenesisError::MissingFile(name.into()));
        routines.push(GenesisRoutine {
            spec: e.spec.clone(),
            object_sha256: e.object_sha256,
            certificate_sha256: e.certificate_sha256,
            object: read(&e.object)?,
            certificate: read(&e.certificate)?,
        });
    }
    Ok((manifest, routines))
}

/// The files of a pinned directory for `routines` (each checked under `rules` with this
/// report): `manifest.json` first, then `<name>.sbpf.o` and `<name>.cert` per routine.
pub fn to_files(
    rules: keel_pcc::CheckerRules,
    certifier: &str,
    routines: &[(GenesisRoutine, u64)],
) -> Result<Vec<(String, Vec<u8>)>, GenesisError> {
    let mut entries = Vec::with_capacity(routines.len());
    let mut files = Vec::with_capacity(routines.len().saturating_mul(2).saturating_add(1));
    for (r, worst_case_instructions) in routines {
        let (object, certificate) = (
            format!("{}.sbpf.o", r.spec.name),
            format!("{}.cert", r.spec.name),
        );
        entries.push(PinnedEntry {
            spec: r.spec.clone(),
            object: object.clone(),
            object_sha256: r.object_sha256,
            certificate: certificate.clone(),
            certificate_sha256: r.certificate_sha256,
            worst_case_instructions: *worst_case_instructions,
        });
        files.push((object, r.object.clone()));
        files.push((certificate, r.certificate.clone()));
    }
    let manifest = PinnedManifest {
        format: PINNED_FORMAT,
        checker_rules: rules.version(),
        certifier: certifier.to_string(),
        routines: entries,
    };
    let mut json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| GenesisError::Manifest(e.to_string()))?;
    json.push(b'\n');
    files.insert(0, (MANIFEST_FILE.to_string(), json));
    Ok(files)
}
