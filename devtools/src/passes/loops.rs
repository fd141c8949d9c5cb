//! Loop bounds: the static gas bound per export (`keel_vm::analysis`) and every loop that is
//! not a proven counted loop, with its source line and the reason.

use crate::dwarf::SourceMap;
use crate::findings::{Finding, Pass, Severity};
use keel_vm::analysis::{GasBound, loop_verdicts, static_bounds};
use keel_vm::{AdmittedModule, GasSchedule, Profile};
use std::collections::BTreeMap;

/// Gas bounds per export, and a warning at each unbounded loop.
pub fn run(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
    map: &SourceMap,
) -> (BTreeMap<String, GasBound>, Vec<Finding>) {
    let bounds = static_bounds(module, schedule, profile);
    let findings = loop_verdicts(module)
        .into_iter()
        .filter_map(|v| {
            let why = v.iterations.err()?;
            Some(Finding::at(
                Pass::Loops,
                Severity::Warning,
                Some(v.offset),
                map,
                format!("unbounded loop in function {}: {why}", v.func),
            ))
        })
        .collect();
    (bounds, findings)
}
