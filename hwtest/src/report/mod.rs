//! The result file of `keel hwtest run`: schema-versioned JSON carrying the probe, the Keel
//! version, every path's verdicts, metrics and curves, and a BLS signature by the appliance's
//! key. `DIR/report.json` and `DIR/report.html` are the names `keel hwtest run --out DIR` uses.

mod html;
mod plot;
pub use plot::render_svg;
mod sign;

pub use html::render_html;
pub use sign::{SignatureCheck, load_or_create_key, sign_report, verify_report};

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::HwtestError;
use crate::paths::PathResult;
use crate::probe::Probe;
use crate::run::RunConfig;

/// The schema identifier; a reader refuses any other (bump it when a field changes meaning).
pub const SCHEMA: &str = "keel-hwtest-report/1";
/// File name of the JSON report inside `--out DIR`.
pub const JSON_NAME: &str = "report.json";
/// File name of the HTML report inside `--out DIR`.
pub const HTML_NAME: &str = "report.html";
/// Reports larger than this are refused when read (a report is tens of KiB).
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// The appliance's signature over the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSignature {
    /// Compressed BLS public key, hex.
    pub public_key: String,
    /// BLS signature (Keel's ciphersuite) over [`sign::signing_message`], hex.
    pub signature: String,
}

/// A run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// `keel` version that produced it.
    pub keel_version: String,
    /// Seconds since the Unix epoch when the run finished (informational).
    pub created_unix: u64,
    /// What was run.
    pub config: RunConfig,
    /// The machine.
    pub probe: Probe,
    /// Every path's result.
    pub results: Vec<PathResult>,
    /// Whether every phase passed or was skipped.
    pub passed: bool,
    /// The appliance's signature (absent only before signing).
    pub signature: Option<ReportSignature>,
}

impl Report {
    /// An unsigned report.
    pub fn new(
        keel_version: &str,
        config: RunConfig,
        probe: Probe,
        results: Vec<PathResult>,
    ) -> Self {
        Self {
            schema: SCHEMA.into(),
            keel_version: keel_version.into(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            passed: !results.iter().any(PathResult::failed),
            config,
            probe,
            results,
            signature: None,
        }
    }

    /// Reads and schema-checks a report (the signature is checked by [`verify_report`]).
    ///
    /// # Errors
    /// [`HwtestError::Io`], or [`HwtestError::BadReport`] for oversized files, invalid JSON or
    /// another schema.
    pub fn read(path: &Path) -> Result<Self, HwtestError> {
        use std::io::Read;
        let bad = |reason: String| HwtestError::BadReport {
            path: path.into(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| HwtestError::io(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_REPORT_BYTES.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| HwtestError::io(path, e))?;
        if bytes.len() as u64 > MAX_REPORT_BYTES {
            return Err(bad(format!("larger than {MAX_REPORT_BYTES} bytes")));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => {
                return Err(bad(format!("schema {other:?}, this keel reads {SCHEMA:?}")));
            }
            None => return Err(bad("no schema field".into())),
        }
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))
    }

    /// Writes `DIR/report.json` and `DIR/report.html` (creating `DIR`), each through a
    /// temporary file renamed into place so a crash never leaves half a report.
    ///
    /// # Errors
    /// [`HwtestError::Io`], [`HwtestError::Plot`].
    pub fn write(&self, dir: &Path) -> Result<(), HwtestError> {
        std::fs::create_dir_all(dir).map_err(|e| HwtestError::io(dir, e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| HwtestError::Plot(e.to_string()))?;
        write_atomic(&dir.join(JSON_NAME), &json)?;
        write_atomic(&dir.join(HTML_NAME), render_html(self)?.as_bytes())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HwtestError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| HwtestError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| HwtestError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HwtestError::io(path, e))
}
