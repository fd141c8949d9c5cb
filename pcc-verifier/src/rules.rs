//! Versions of the checker's rules. The checker's verdict and worst-case count become chain state
//! when a routine activates, so its rules are consensus: a chain selects them by version (its
//! `pcc.checker` feature gate) and a node replays old activations under the rules in force then.

use crate::certificate::Certificate;
use crate::checker::{CheckError, CheckReport};
use crate::image::Image;

/// A version of the checker's rules that this build implements (construct with
/// [`CheckerRules::new`]; an unimplemented version cannot be represented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CheckerRules(u32);

impl CheckerRules {
    /// Rules version 1: the checker as specified in `FORMAT.md` (certificate format 2).
    pub const V1: CheckerRules = CheckerRules(1);

    /// Every rules version this build implements, oldest first. A change of the checker that can
    /// change a verdict or a worst-case count adds a version here; old versions stay.
    pub const SUPPORTED: &'static [u32] = &[1];

    /// The rules of `version`; `None` if this build does not implement it.
    pub fn new(version: u32) -> Option<CheckerRules> {
        Self::SUPPORTED
            .contains(&version)
            .then_some(CheckerRules(version))
    }

    /// The version number (as stored in the chain state).
    pub fn version(self) -> u32 {
        self.0
    }
}

/// [`crate::check_object`] under `rules`. Deterministic for a given rules version: the same
/// object, certificate and version give the same verdict and report in every build that
/// implements the version.
pub fn check_object_under(
    rules: CheckerRules,
    elf: &[u8],
    cert: &Certificate,
) -> Result<CheckReport, CheckError> {
    check_under(rules, &crate::link_for_check(elf)?, cert)
}

/// [`crate::check`] under `rules`, for a caller that has linked the object already.
pub fn check_under(
    rules: CheckerRules,
    image: &Image,
    cert: &Certificate,
) -> Result<CheckReport, CheckError> {
    // Version 1 is the only version so far: the current checker. A later version dispatches
    // on `rules` here and keeps version 1's path for replay.
    let CheckerRules(_version) = rules;
    crate::check(image, cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_implemented_rule_versions_can_be_named() {
        assert_eq!(CheckerRules::new(1), Some(CheckerRules::V1));
        assert_eq!(CheckerRules::new(0), None);
        assert_eq!(CheckerRules::new(2), None);
        assert_eq!(CheckerRules::V1.version(), 1);
    }
}
