//! The post-link passes, one per file, and [`check`] that runs them all on a module.

pub mod admission;
pub mod effects;
pub mod handles;
pub mod loops;

use crate::dwarf::SourceMap;
use crate::error::DevError;
use crate::facts::Facts;
use crate::findings::{Finding, Severity};
use effects::Effects;
use keel_vm::{GasBound, GasSchedule, Manifest, Profile};
use serde::Serialize;
use std::collections::BTreeMap;

/// Largest module or debug side file the passes read (their tables grow with it).
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Which manifest the effects are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestSource {
    /// The module's own `keel.manifest` section.
    Module,
    /// None in the module: the chain applies `Manifest::legacy_default`.
    LegacyDefault,
    /// Given by the caller (a project's `keel.toml`).
    Declared,
}

/// Everything the passes found about one module.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub admitted: bool,
    /// Whether DWARF was available to locate findings.
    pub has_source_lines: bool,
    pub manifest_source: ManifestSource,
    /// The manifest checked against.
    pub manifest: Manifest,
    /// The least manifest the code needs (effect typing).
    pub generated_manifest: Manifest,
    pub effects: BTreeMap<String, Effects>,
    /// Static gas bound per export (empty when the module was not admitted).
    pub gas_bounds: BTreeMap<String, GasBound>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Number of error findings (what fails `build` and `check`).
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// What to check a module with.
pub struct CheckInput<'a> {
    pub wasm: &'a [u8],
    /// A module carrying the `.debug_*` sections for `wasm` (its side file), if any.
    pub debug: Option<&'a [u8]>,
    /// A manifest to check against instead of the module's own.
    pub declared: Option<Manifest>,
    pub profile: &'a Profile,
    pub schedule: &'a GasSchedule,
}

/// Runs admission, effect typing, loop bounds and handle linearity on a module. Deterministic:
/// the same input gives the same report.
///
/// # Errors
/// The module or its side file is larger than [`MAX_INPUT_BYTES`] or does not parse, or the
/// module's manifest section is malformed.
pub fn check(input: &CheckInput<'_>) -> Result<Report, DevError> {
    for (what, len) in [
        ("module", Some(input.wasm.len())),
        ("debug file", input.debug.map(<[u8]>::len)),
    ] {
        if len.is_some_and(|l| l > MAX_INPUT_BYTES) {
            return Err(DevError::TooLarge {
                what,
                limit: MAX_INPUT_BYTES,
            });
        }
    }
    let facts = Facts::read(input.wasm)?;
    let map = SourceMap::from_wasm(input.debug.unwrap_or(input.wasm))?;
    let (manifest_source, manifest) = match (&input.declared, facts.manifest) {
        (Some(m), _) => (ManifestSource::Declared, m.clone()),
        (None, Some(bytes)) => (ManifestSource::Module, Manifest::decode(bytes)?),
        (None, None) => (ManifestSource::LegacyDefault, Manifest::legacy_default()),
    };
    let (module, mut findings) = admission::run(input.wasm, &facts, input.profile, &map);
    let effects = effects::of_exports(&facts);
    findings.extend(effects::check(&effects, &manifest, &map));
    let mut gas_bounds = BTreeMap::new();
    if let Some(module) = &module {
        let (bounds, loops) = loops::run(module, input.schedule, input.profile, &map);
        gas_bounds = bounds;
        findings.extend(loops);
    }
    findings.extend(handles::run(&facts, &map));
    // A capability the manifest lacks is reported by admission (its first use) and by effects
    // (every use, with the export): the first says why the chain refuses, the second where.
    findings.sort_by(|a, b| {
        (a.severity, &a.location, a.offset).cmp(&(b.severity, &b.location, b.offset))
    });
    Ok(Report {
        admitted: module.is_some(),
        has_source_lines: !map.is_empty(),
        manifest_source,
        manifest,
        generated_manifest: effects::generate(&effects),
        effects,
        gas_bounds,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(wasm: &[u8]) -> Result<Report, DevError> {
        check(&CheckInput {
            wasm,
            debug: Some(wasm),
            declared: None,
            profile: &Profile::default(),
            schedule: &GasSchedule::default(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Hostile bytes (random, or a valid module with bytes flipped) are a typed error or a
        /// report, never a panic.
        #[test]
        fn any_bytes_give_a_report_or_an_error(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            flip in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        ) {
            let _ = input(&bytes);
            let mut m = keel_contracts::TOKEN.wasm.to_vec();
            for (i, b) in flip {
                let at = i.index(m.len());
                m[at] ^= b;
            }
            let _ = input(&m);
        }
    }

    #[test]
    fn a_module_without_a_manifest_is_checked_against_the_legacy_default() {
        let r = input(keel_contracts::COUNTER.wasm).unwrap();
        assert_eq!(r.manifest_source, ManifestSource::LegacyDefault);
        assert!(r.admitted && !r.has_source_lines);
        assert_eq!(r.errors(), 0);
    }
}
