//! The appliance's signature over a report: BLS (Keel's ciphersuite) over a domain-separated
//! hash of the report's JSON without its signature field.

use std::path::Path;

use keel_crypto::{PublicKey, SECRET_KEY_LEN, SecretKey, Signature};
use sha2::{Digest, Sha256};

use super::{Report, ReportSignature};
use crate::error::HwtestError;

/// Domain tag: a report signature can never be replayed as a transaction or block signature.
const DOMAIN: &[u8] = b"KEEL-HWTEST-REPORT-V1";

/// What signature checking found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Signed by this public key (hex) and intact.
    Valid(String),
    /// No signature.
    Unsigned,
    /// The signature or key does not decode, or does not match the content.
    Invalid(String),
}

/// The message signed: `DOMAIN ‖ SHA-256(JSON of the report with signature = null)`.
pub fn signing_message(report: &Report) -> Vec<u8> {
    let mut unsigned = report.clone();
    unsigned.signature = None;
    // Serialising our own types cannot fail; an empty body would still be domain-separated.
    let body = serde_json::to_vec(&unsigned).unwrap_or_default();
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(&body));
    m
}

/// Signs `report` in place with `key`.
pub fn sign_report(report: &mut Report, key: &SecretKey) {
    report.signature = None;
    let sig = key.sign(&signing_message(report));
    report.signature = Some(ReportSignature {
        public_key: hex::encode(key.public_key().to_bytes()),
        signature: hex::encode(sig.to_bytes()),
    });
}

/// Checks a report's signature against its content.
pub fn verify_report(report: &Report) -> SignatureCheck {
    let Some(s) = &report.signature else {
        return SignatureCheck::Unsigned;
    };
    let pk = hex::decode(&s.public_key)
        .ok()
        .and_then(|b| PublicKey::from_bytes(&b).ok());
    let sig = hex::decode(&s.signature)
        .ok()
        .and_then(|b| Signature::from_bytes(&b).ok());
    match (pk, sig) {
        (Some(pk), Some(sig)) if keel_crypto::verify(&pk, &signing_message(report), &sig) => {
            SignatureCheck::Valid(s.public_key.clone())
        }
        (Some(_), Some(_)) => SignatureCheck::Invalid("signature does not match the report".into()),
        _ => SignatureCheck::Invalid("public key or signature does not decode".into()),
    }
}

/// The appliance's hwtest key: a hex secret key in `path`, created (mode 0600, from the OS's
/// random source) when the file does not exist.
///
/// # Errors
/// [`HwtestError::Key`] when the file is unreadable, malformed, or cannot be created.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey, HwtestError> {
    let err = |reason: String| HwtestError::Key {
        path: path.into(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| err(e.to_string()))?;
            SecretKey::from_bytes(&bytes).map_err(|e| err(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; SECRET_KEY_LEN];
            rand::fill(&mut seed);
            let key = SecretKey::from_seed(&seed).map_err(|e| err(e.to_string()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            use std::io::Write;
            let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
            f.write_all(hex::encode(key.to_bytes()).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| err(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}
