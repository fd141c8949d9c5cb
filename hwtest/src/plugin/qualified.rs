//! A plug-in as the daemon's verification backend — only once hwtest qualified it: the
//! appliance's own signed report must hold a passing `bls` result for a file with exactly this
//! plug-in's SHA-256.

use std::io::Read;
use std::path::Path;

use keel_crypto::{SignatureVerifier, SingleVerifier, Verdict, VerifyItem};
use keel_offload::{Priority, PriorityVerifier};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::PluginSubject;
use crate::paths::Verdict as PhaseVerdict;
use crate::paths::bls::BlsSubject;
use crate::report::{Report, SignatureCheck, verify_report};
use crate::vectors::RawTriple;

/// Why a plug-in may not serve.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QualificationError {
    /// The report's signature is missing or does not match its content.
    #[error("the qualification report is not validly signed: {0}")]
    Signature(String),
    /// Signed by a key other than this appliance's.
    #[error("the qualification report was signed by {found}, not by this appliance ({expected})")]
    Signer {
        /// The appliance's public key (hex).
        expected: String,
        /// The report's signer (hex).
        found: String,
    },
    /// No passing result for this file.
    #[error("the report holds no passing BLS qualification of a plug-in with SHA-256 {0}")]
    NotQualified(String),
}

/// SHA-256 of a file, hex.
///
/// # Errors
/// The I/O error.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Checks that `report`, signed by `appliance_key` (hex public key), qualified the plug-in whose
/// file hashes to `sha256`: both phases of its `bls` result passed.
///
/// # Errors
/// [`QualificationError`].
pub fn check_qualification(
    report: &Report,
    sha256: &str,
    appliance_key: &str,
) -> Result<(), QualificationError> {
    match verify_report(report) {
        SignatureCheck::Valid(pk) if pk == appliance_key => {}
        SignatureCheck::Valid(pk) => {
            return Err(QualificationError::Signer {
                expected: appliance_key.into(),
                found: pk,
            });
        }
        SignatureCheck::Unsigned => return Err(QualificationError::Signature("unsigned".into())),
        SignatureCheck::Invalid(why) => return Err(QualificationError::Signature(why)),
    }
    let passed = report.results.iter().any(|r| {
        r.path == "bls"
            && r.artifact_sha256.as_deref() == Some(sha256)
            && r.conformance.verdict == PhaseVerdict::Pass
            && r.performance.verdict == PhaseVerdict::Pass
    });
    if passed {
        Ok(())
    } else {
        Err(QualificationError::NotQualified(sha256.into()))
    }
}

/// A qualified plug-in as a [`PriorityVerifier`] for the daemon's batching service. If the
/// plug-in fails at run time (error, crash, hang), the items are verified on the reference path
/// instead, so a verdict is always given and it is the reference's.
pub struct PluginVerifier {
    subject: PluginSubject,
}

impl PluginVerifier {
    /// Wraps a running plug-in (check [`check_qualification`] first).
    pub fn new(subject: PluginSubject) -> Self {
        Self { subject }
    }
}

impl PriorityVerifier for PluginVerifier {
    fn verify_at(&self, _priority: Priority, items: &[VerifyItem]) -> Vec<Verdict> {
        let triples: Vec<RawTriple> = items
            .iter()
            .map(|i| RawTriple {
                pk: i.pk.to_bytes().to_vec(),
                msg: i.msg.clone(),
                sig: i.sig.to_bytes().to_vec(),
            })
            .collect();
        match self.subject.verify(&triples) {
            Ok(v) if v.len() == items.len() => v.into_iter().map(Verdict::from).collect(),
            Ok(_) | Err(_) => {
                tracing::warn!(plugin = %self.subject.name(), "plug-in failed; using the single-signature path");
                SingleVerifier.verify_batch(items)
            }
        }
    }
}
