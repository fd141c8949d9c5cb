//! `keel offload verify FILE`: a JSON list of `{pk, msg, sig}` hex triples.

use std::path::Path;

use keel_crypto::{CryptoError, PublicKey, Signature, SignatureVerifier, Verdict, VerifyItem};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One entry of the file: hex strings, with or without a `0x` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HexTriple {
    /// 48-byte compressed public key.
    pub pk: String,
    /// The signed message.
    pub msg: String,
    /// 96-byte compressed signature.
    pub sig: String,
}

/// Why a file could not be verified (an invalid signature is a verdict, not an error).
#[derive(Debug, Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a JSON list of `{pk, msg, sig}` objects.
    #[error("{path} is not a JSON list of {{pk, msg, sig}} objects: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The file (`.yaml`/`.yml`) is not a YAML list of `{pk, msg, sig}` mappings.
    #[error("{path} is not a YAML list of {{pk, msg, sig}} mappings: {source}")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's error.
        source: serde_norway::Error,
    },
    /// A field is not hex.
    #[error("entry {index}: field {field} is not hex")]
    Hex {
        /// Position in the list.
        index: usize,
        /// `pk`, `msg` or `sig`.
        field: &'static str,
    },
    /// A key or signature is malformed.
    #[error("entry {index}: {source}")]
    Crypto {
        /// Position in the list.
        index: usize,
        /// The decoding error.
        source: CryptoError,
    },
}

/// The verdict for each entry of a file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// One verdict per entry.
    pub verdicts: Vec<bool>,
    /// Number of valid entries.
    pub valid: usize,
    /// Number of invalid entries.
    pub invalid: usize,
}

fn unhex(s: &str, index: usize, field: &'static str) -> Result<Vec<u8>, FileError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s).map_err(|_| FileError::Hex { index, field })
}

/// Decodes triples into verification items.
///
/// # Errors
/// [`FileError::Hex`] or [`FileError::Crypto`] for the first bad entry: a malformed entry makes
/// the whole input unusable rather than silently becoming a verdict.
pub fn decode_triples(triples: &[HexTriple]) -> Result<Vec<VerifyItem>, FileError> {
    triples
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let crypto = |source| FileError::Crypto { index, source };
            let pk = PublicKey::from_bytes(&unhex(&t.pk, index, "pk")?).map_err(crypto)?;
            let sig = Signature::from_bytes(&unhex(&t.sig, index, "sig")?).map_err(crypto)?;
            Ok(VerifyItem::new(pk, unhex(&t.msg, index, "msg")?, sig))
        })
        .collect()
}

/// Reads `path` and verifies every entry with `verifier`.
///
/// # Errors
/// [`FileError`] for unreadable files, bad JSON/YAML (`.yaml`/`.yml` files are YAML, others
/// JSON), bad hex or malformed keys/signatures.
pub fn verify_file(path: &Path, verifier: &dyn SignatureVerifier) -> Result<FileReport, FileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: shown.clone(),
        source,
    })?;
    let yaml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let triples: Vec<HexTriple> = if yaml {
        serde_norway::from_str(&text).map_err(|source| FileError::Yaml {
            path: shown,
            source,
        })?
    } else {
        serde_json::from_str(&text).map_err(|source| FileError::Json {
            path: shown,
            source,
        })?
    };
    let items = decode_triples(&triples)?;
    let verdicts: Vec<bool> = verifier
        .verify_batch(&items)
        .into_iter()
        .map(Verdict::is_valid)
        .collect();
    let valid = verdicts.iter().filter(|v| **v).count();
    Ok(FileReport {
        invalid: verdicts.len() - valid,
        valid,
        verdicts,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use keel_crypto::{SecretKey, SingleVerifier};

    fn triple(seed: u8, msg: &[u8], signed: &[u8]) -> HexTriple {
        let sk = SecretKey::from_seed(&[seed; 32]).unwrap();
        HexTriple {
            pk: hex::encode(sk.public_key().to_bytes()),
            msg: hex::encode(msg),
            sig: format!("0x{}", hex::encode(sk.sign(signed).to_bytes())),
        }
    }

    #[test]
    fn a_file_yields_one_verdict_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sigs.json");
        let list = vec![triple(1, b"a", b"a"), triple(2, b"b", b"c")];
        std::fs::write(&path, serde_json::to_string(&list).unwrap()).unwrap();
        let report = verify_file(&path, &SingleVerifier).unwrap();
        assert_eq!(report.verdicts, vec![true, false]);
        assert_eq!((report.valid, report.invalid), (1, 1));
    }

    #[test]
    fn malformed_entries_are_typed_errors() {
        let mut t = triple(1, b"a", b"a");
        t.sig = "zz".into();
        assert!(matches!(
            decode_triples(&[t]),
            Err(FileError::Hex {
                index: 0,
                field: "sig"
            })
        ));
        let mut t = triple(1, b"a", b"a");
        t.pk = hex::encode([0u8; 47]);
        assert!(matches!(
            decode_triples(&[t]),
            Err(FileError::Crypto {
                index: 0,
                source: CryptoError::WrongLength { .. }
            })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"pk\": 1}").unwrap();
        assert!(matches!(
            verify_file(&path, &SingleVerifier),
            Err(FileError::Json { .. })
        ));
    }

    #[test]
    fn yaml_files_are_read_as_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sigs.yaml");
        let list = [
            triple(1, b"a", b"a"),
            triple(2, b"b", b"c"),
            triple(3, b"d", b"d"),
        ];
        let yaml: String = list
            .iter()
            .map(|t| {
                format!(
                    "- pk: \"{}\"\n  msg: \"{}\"\n  sig: \"{}\"\n",
                    t.pk, t.msg, t.sig
                )
            })
            .collect();
        std::fs::write(&path, yaml).unwrap();
        let report = verify_file(&path, &SingleVerifier).unwrap();
        assert_eq!(report.verdicts, vec![true, false, true]);
        let bad = dir.path().join("bad.yml");
        std::fs::write(&bad, "pk: [").unwrap();
        assert!(matches!(
            verify_file(&bad, &SingleVerifier),
            Err(FileError::Yaml { .. })
        ));
    }
}
