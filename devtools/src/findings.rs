//! What the passes report: findings located by byte offset and, with DWARF, by source line.

use crate::dwarf::{SourceLoc, SourceMap};
use serde::Serialize;

/// The pass that produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    Admission,
    Effects,
    Loops,
    Handles,
}

impl std::fmt::Display for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pass::Admission => "admission",
            Pass::Effects => "effects",
            Pass::Loops => "loops",
            Pass::Handles => "handles",
        })
    }
}

/// Errors fail `build` and `check`; warnings are reported only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub pass: Pass,
    pub severity: Severity,
    /// Byte offset of the instruction in the module, when the finding has one.
    pub offset: Option<usize>,
    /// Source line of that instruction, when DWARF covers it.
    pub location: Option<SourceLoc>,
    pub message: String,
}

impl Finding {
    /// A finding at `offset`, located through `map`.
    pub fn at(
        pass: Pass,
        severity: Severity,
        offset: Option<usize>,
        map: &SourceMap,
        message: String,
    ) -> Finding {
        Finding {
            pass,
            severity,
            offset,
            location: offset.and_then(|o| map.locate(o)),
            message,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.location, self.offset) {
            (Some(loc), _) => write!(f, "{loc}: ")?,
            (None, Some(o)) => write!(f, "offset {o:#x}: ")?,
            (None, None) => {}
        }
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]: {}", self.pass, self.message)
    }
}
