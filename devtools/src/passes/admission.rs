//! Admission with source lines: the profile's verdict, and every float instruction located.

use crate::dwarf::SourceMap;
use crate::facts::Facts;
use crate::findings::{Finding, Pass, Severity};
use keel_vm::admission::is_float_op;
use keel_vm::{AdmissionError, AdmittedModule, Profile};

/// Admits `wasm` under `profile`. On rejection the findings say where: every float
/// instruction at its line (admission itself stops at the first), or the admission error at its
/// offset.
pub fn run(
    wasm: &[u8],
    facts: &Facts<'_>,
    profile: &Profile,
    map: &SourceMap,
) -> (Option<AdmittedModule>, Vec<Finding>) {
    let err = match keel_vm::admit(wasm, profile) {
        Ok(m) => return (Some(m), Vec::new()),
        Err(e) => e,
    };
    let mut out = Vec::new();
    if matches!(
        err,
        AdmissionError::FloatInstruction { .. } | AdmissionError::FloatType { .. }
    ) {
        for body in &facts.bodies {
            for (op, offset) in &body.ops {
                if is_float_op(op) {
                    let name = format!("{op:?}");
                    let name = name.split([' ', '{']).next().unwrap_or_default().to_owned();
                    out.push(Finding::at(
                        Pass::Admission,
                        Severity::Error,
                        Some(*offset),
                        map,
                        format!(
                            "float instruction `{name}` in function {} (the profile has no floats)",
                            body.func
                        ),
                    ));
                }
            }
        }
    }
    if out.is_empty() {
        let offset = error_offset(&err).or_else(|| first_call_to_import(facts, &err));
        out.push(Finding::at(
            Pass::Admission,
            Severity::Error,
            offset,
            map,
            format!("rejected by profile v{}: {err}", profile.version),
        ));
    }
    (None, out)
}

fn error_offset(e: &AdmissionError) -> Option<usize> {
    match e {
        AdmissionError::Invalid { offset, .. }
        | AdmissionError::FloatInstruction { offset, .. } => Some(*offset),
        AdmissionError::Killed { offset, .. } => *offset,
        _ => None,
    }
}

/// For an import the manifest does not allow: the first call to it, so the error has a line.
fn first_call_to_import(facts: &Facts<'_>, e: &AdmissionError) -> Option<usize> {
    let AdmissionError::CapabilityMissing { import, .. } = e else {
        return None;
    };
    let host = keel_vm::HostFn::by_name(import)?;
    let index = facts.imports.iter().position(|h| *h == Some(host))?;
    let index = u32::try_from(index).ok()?;
    facts.bodies.iter().find_map(|b| {
        b.ops.iter().find_map(|(op, at)| {
            matches!(op, wasmparser::Operator::Call { function_index } if *function_index == index)
                .then_some(*at)
        })
    })
}
