//! Effect typing: which host capabilities each export can reach, over the call graph (direct
//! calls, and `call_indirect` to every table function of the matching type), and the manifest
//! that follows from it.

use crate::dwarf::SourceMap;
use crate::facts::Facts;
use crate::findings::{Finding, Pass, Severity};
use keel_vm::{Capability, HostFn, Manifest};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use wasmparser::Operator;

/// A call from contract code to a host function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSite {
    pub host: HostFn,
    /// Byte offset of the `call` instruction.
    pub offset: usize,
}

/// What one export can do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Effects {
    /// Capabilities the export needs (from the host functions it can reach).
    pub capabilities: BTreeSet<Capability>,
    /// Every reachable host call site, in offset order.
    pub sites: Vec<HostSite>,
}

/// Effects of every exported function, by export name.
pub fn of_exports(facts: &Facts<'_>) -> BTreeMap<String, Effects> {
    facts
        .exports
        .iter()
        .map(|(name, func)| (name.clone(), of_function(facts, *func)))
        .collect()
}

fn of_function(facts: &Facts<'_>, root: u32) -> Effects {
    let mut seen = BTreeSet::from([root]);
    let mut work = vec![root];
    let mut sites = BTreeSet::new();
    while let Some(f) = work.pop() {
        let Some(body) = facts.body(f) else { continue };
        for (op, offset) in &body.ops {
            let callees: Vec<u32> = match op {
                Operator::Call { function_index } => vec![*function_index],
                Operator::CallIndirect { type_index, .. } => {
                    facts.indirect_targets(*type_index).collect()
                }
                _ => continue,
            };
            for c in callees {
                if let Some(host) = facts.host(c) {
                    sites.insert((*offset, host));
                } else if seen.insert(c) {
                    work.push(c);
                }
            }
        }
    }
    let sites: Vec<HostSite> = sites
        .into_iter()
        .map(|(offset, host)| HostSite { host, offset })
        .collect();
    Effects {
        capabilities: sites
            .iter()
            .filter_map(|s| Manifest::required_for(s.host))
            .collect(),
        sites,
    }
}

/// The least manifest that grants what `effects` need. Calls need `call_any` when the code
/// creates handles (the targets are run-time data), else only `call_handles`; value transfer
/// and re-entrancy cannot be inferred and are never generated.
pub fn generate(effects: &BTreeMap<String, Effects>) -> Manifest {
    let hosts: BTreeSet<HostFn> = effects
        .values()
        .flat_map(|e| e.sites.iter().map(|s| s.host))
        .collect();
    let caps: BTreeSet<Capability> = effects
        .values()
        .flat_map(|e| e.capabilities.iter().copied())
        .collect();
    Manifest {
        storage: caps.contains(&Capability::Storage),
        events: caps.contains(&Capability::Events),
        crypto: caps.contains(&Capability::Crypto),
        native_any: caps.contains(&Capability::Native),
        call_any: hosts.contains(&HostFn::HandleForContract),
        call_handles: hosts.contains(&HostFn::Call) && !hosts.contains(&HostFn::HandleForContract),
        ..Manifest::default()
    }
}

/// Checks `declared` against what the exports reach: an error at each host call site whose
/// capability is not granted, a warning for each granted capability nothing uses.
pub fn check(
    effects: &BTreeMap<String, Effects>,
    declared: &Manifest,
    map: &SourceMap,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    for (export, e) in effects {
        for site in &e.sites {
            let Some(cap) = Manifest::required_for(site.host) else {
                continue;
            };
            if !declared.grants(cap) && reported.insert(site.offset) {
                out.push(Finding::at(
                    Pass::Effects,
                    Severity::Error,
                    Some(site.offset),
                    map,
                    format!(
                        "export `{export}` calls keel.{} which needs the `{cap}` capability, not granted by the manifest",
                        site.host.name()
                    ),
                ));
            }
        }
    }
    let used: BTreeSet<Capability> = effects
        .values()
        .flat_map(|e| e.capabilities.iter().copied())
        .collect();
    for cap in [
        Capability::Storage,
        Capability::Events,
        Capability::Calls,
        Capability::Native,
        Capability::Crypto,
    ] {
        if declared.grants(cap) && !used.contains(&cap) {
            out.push(Finding::at(
                Pass::Effects,
                Severity::Warning,
                None,
                map,
                format!("the manifest grants `{cap}` but no export uses it"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_flow_through_direct_and_indirect_calls_only_where_reachable() {
        let wasm = wat::parse_str(
            r#"(module
                (import "keel" "storage_remove" (func $rm (param i32 i32) (result i32)))
                (import "keel" "emit_event" (func $ev (param i32 i32 i32 i32)))
                (type $t (func))
                (memory 1 1)
                (table 1 1 funcref)
                (elem (i32.const 0) $emits)
                (func $emits (type $t) (call $ev (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
                (func $removes (drop (call $rm (i32.const 0) (i32.const 0))))
                (func (export "direct") (call $removes))
                (func (export "indirect") (call_indirect (type $t) (i32.const 0)))
                (func (export "pure")))"#,
        )
        .unwrap();
        let facts = Facts::read(&wasm).unwrap();
        let e = of_exports(&facts);
        let caps = |n: &str| e[n].capabilities.iter().copied().collect::<Vec<_>>();
        assert_eq!(caps("direct"), vec![Capability::Storage]);
        assert_eq!(caps("indirect"), vec![Capability::Events]);
        assert!(caps("pure").is_empty());
        let m = generate(&e);
        assert!(m.storage && m.events && !m.crypto && !m.may_call());
        // Checked against a manifest granting only storage: one error, at the event call.
        let f = check(
            &e,
            &Manifest {
                storage: true,
                ..Manifest::default()
            },
            &SourceMap::default(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].offset, e["indirect"].sites.first().map(|s| s.offset));
    }
}
