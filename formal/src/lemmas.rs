//! The generated lemmas of one export, and what became of each: proved by tactic, emitted as
//! an `Admitted` goal (listed, never silently claimed), refuted, or not applicable.

use crate::ir::{Instr, Program};
use keel_vm::GasBound;
use keel_vm::admission::AdmittedModule;
use keel_vm::manifest::Manifest;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;

/// What the generator did with a lemma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "why")]
pub enum Status {
    /// Proved in the generated file (no axiom: `Audit.v` checks it).
    Proved,
    /// Stated and left `Admitted`, with the reason automation does not reach it.
    Admitted(String),
    /// The property does not hold; no lemma is emitted.
    Refuted(String),
    /// Nothing to state (e.g. no static gas bound exists).
    NotApplicable(String),
}

/// One generated lemma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lemma {
    /// Its Coq name.
    pub name: String,
    /// `gas_bound`, `capabilities`, `feature_gate` or `no_trap`.
    pub kind: &'static str,
    pub status: Status,
    /// The statement in words.
    pub claim: String,
}

/// What the lemma generator reads besides the program.
pub struct LemmaCtx<'a> {
    pub module: &'a AdmittedModule,
    pub program: &'a Program,
    pub export: &'a str,
    /// Index of the export among defined functions.
    pub entry: u32,
    pub bound: &'a GasBound,
    pub manifest: &'a Manifest,
}

/// Defined functions reachable from `entry` (direct calls, and indirect calls through any
/// table element of the called signature), sorted.
pub fn reachable(p: &Program, entry: u32) -> BTreeSet<u32> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![entry];
    while let Some(f) = todo.pop() {
        if !seen.insert(f) {
            continue;
        }
        let Some(func) = p.funcs.get(f as usize) else {
            continue;
        };
        for i in &func.body {
            i.walk(&mut |i| match i {
                Instr::Call(g) => todo.push(*g),
                Instr::CallIndirect(sig) => {
                    for g in p.table.iter().flatten() {
                        if p.funcs.get(*g as usize).is_some_and(|h| h.sig == *sig) {
                            todo.push(*g);
                        }
                    }
                }
                _ => {}
            });
        }
    }
    seen
}

/// Host functions (`HostFn as u32`) called by the functions in `funcs`.
pub fn hosts_called(p: &Program, funcs: &BTreeSet<u32>) -> BTreeSet<u32> {
    let mut hosts = BTreeSet::new();
    for f in funcs.iter().filter_map(|f| p.funcs.get(*f as usize)) {
        for i in &f.body {
            i.walk(&mut |i| {
                if let Instr::HostCall { host, .. } = i {
                    hosts.insert(*host);
                }
            });
        }
    }
    hosts
}

/// Host functions the manifest lets the contract call (those needing no capability included).
pub fn granted_hosts(module: &AdmittedModule, manifest: &Manifest) -> BTreeSet<u32> {
    module
        .imports
        .iter()
        .map(|(h, _)| *h)
        .filter(|h| Manifest::required_for(*h).is_none_or(|c| manifest.grants(c)))
        .map(|h| h as u32)
        .collect()
}

/// A Coq identifier for an export name.
pub fn ident(export: &str) -> String {
    export
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    format!("[{}]", v.join("; "))
}

/// The gas lemma: `invoke` of the export charges at most the static bound of `analysis.rs`,
/// for every input, memory, globals and host answers within the schedule.
pub fn gas_lemma(c: &LemmaCtx<'_>, out: &mut String) -> Lemma {
    let name = format!("{}_gas_bound", ident(c.export));
    let (compute, why_not) = match c.bound {
        GasBound::Bounded { compute, .. } => (*compute, None),
        GasBound::Unbounded { reason } => (0, Some(reason.clone())),
    };
    let claim = format!("every call of `{}` uses at most {compute} gas", c.export);
    if let Some(reason) = why_not {
        return Lemma {
            name,
            kind: "gas_bound",
            claim: format!("`{}` has no static gas bound", c.export),
            status: Status::NotApplicable(reason),
        };
    }
    let reach = reachable(c.program, c.entry);
    let looping = reach.iter().any(|f| {
        c.program
            .funcs
            .get(*f as usize)
            .is_some_and(|f| f.body.iter().any(Instr::has_loop))
    });
    let depth = c.program.funcs.len().saturating_add(1);
    let _ = write!(
        out,
        "(* {claim}: from any store, whatever the host answers within the schedule. *)\n\
         Theorem {name} : forall env fuel s, host_bounded env hmax ->\n  \
         out_le (invoke env program fuel entry_charge entry_{id} s) (used s + {compute}).\n",
        id = ident(c.export)
    );
    if looping {
        return match crate::unroll::unrolled_iterations(c.program, &reach) {
            Ok(turns) => {
                let _ = write!(
                    out,
                    "Proof.\n  (* counted loops, {turns} iterations unrolled by symbolic execution *)\n  \
                     intros env fuel s Henv. unfold entry_charge. symex.\nQed.\n\n"
                );
                Lemma {
                    name,
                    kind: "gas_bound",
                    claim,
                    status: Status::Proved,
                }
            }
            Err(why) => {
                out.push_str(
                    "Proof.\n  (* a loop symbolic execution cannot unroll *)\nAdmitted.\n\n",
                );
                Lemma {
                    name,
                    kind: "gas_bound",
                    claim,
                    status: Status::Admitted(format!(
                        "the export reaches a loop symbolic execution does not unroll: {why}"
                    )),
                }
            }
        };
    }
    let _ = write!(
        out,
        "Proof.\n  intros env fuel s Henv.\n  \
         apply (check_bound_sound env program hmax {depth}%nat entry_{id} entry_charge {compute}); \
         [exact Henv | vm_compute; reflexivity].\nQed.\n\n",
        id = ident(c.export)
    );
    Lemma {
        name,
        kind: "gas_bound",
        claim,
        status: Status::Proved,
    }
}

/// The capability lemma: every host call a run of the export can make is one the manifest
/// grants.
pub fn capability_lemma(c: &LemmaCtx<'_>, out: &mut String) -> Lemma {
    let name = format!("{}_capabilities", ident(c.export));
    let reach = reachable(c.program, c.entry);
    let called = hosts_called(c.program, &reach);
    let granted = granted_hosts(c.module, c.manifest);
    let missing: Vec<&str> = called
        .difference(&granted)
        .filter_map(|h| keel_vm::abi::HOST_FUNCTIONS.get(*h as usize))
        .map(|s| s.name)
        .collect();
    let claim = format!(
        "every host call `{}` can reach is granted by the manifest",
        c.export
    );
    if !missing.is_empty() {
        return Lemma {
            name,
            kind: "capabilities",
            claim,
            status: Status::Refuted(format!("reachable but not granted: {}", missing.join(", "))),
        };
    }
    let id = ident(c.export);
    let _ = write!(
        out,
        "Definition reach_{id} : list nat := {}.\n\
         (* {claim}. *)\n\
         Theorem {name} : forall env fuel s,\n  \
         out_covers granted s (invoke env program fuel entry_charge entry_{id} s).\n\
         Proof.\n  intros. apply invoke_hosts with (F := reach_{id}); vm_compute; reflexivity.\nQed.\n\n",
        list(reach.iter().map(|f| format!("{f}%nat"))),
    );
    Lemma {
        name,
        kind: "capabilities",
        claim,
        status: Status::Proved,
    }
}

/// The most a host function may charge, as `analysis.rs` bounds it: at most two buffers per
/// call, each clamped to the largest memory the module may have.
pub fn hmax_definition(
    module: &AdmittedModule,
    schedule: &keel_vm::GasSchedule,
    max_memory_bytes: u64,
) -> String {
    let mut arms = String::new();
    let mut seen = BTreeSet::new();
    for (h, _) in &module.imports {
        if seen.insert(*h as u32) {
            let cost = schedule.host_cost(*h, max_memory_bytes.saturating_mul(2));
            let _ = writeln!(arms, "  | {} => {cost} (* {} *)", *h as u32, h.name());
        }
    }
    format!(
        "(* The most each imported host function charges (schedule v{}). *)\n\
         Definition hmax (h : Z) : Z :=\n  match h with\n{arms}  | _ => 0\n  end.\n\n",
        schedule.version
    )
}

/// Definitions every export's lemmas share: the hosts the manifest grants and the feature
/// gate the module was admitted under.
pub fn shared_definitions(module: &AdmittedModule, req: &crate::Request<'_>) -> String {
    let granted = granted_hosts(module, &module.manifest);
    let names: Vec<&str> = granted
        .iter()
        .filter_map(|h| keel_vm::abi::HOST_FUNCTIONS.get(*h as usize))
        .map(|s| s.name)
        .collect();
    let codes: Vec<i32> = (req
        .kills
        .opcodes
        .iter()
        .map(|c| keel_vm::Killed::Opcode(*c)))
    .chain(
        req.kills
            .host_fns
            .iter()
            .map(|h| keel_vm::Killed::HostFn(*h)),
    )
    .map(|k| k.code())
    .collect();
    format!(
        "(* Host functions the manifest grants: {}. *)\n\
         Definition granted : list Z := {}.\n\
         Definition admitted_gate : gate := {{| profile_version := {}; schedule_version := {}; \
         killed := {} |}}.\n\n",
        names.join(", "),
        list(&granted),
        req.profile.version,
        req.schedule.version,
        list(codes.iter().map(|c| format!("({c})"))),
    )
}

/// The export's entry index, the store its call starts from, and a runner for `Compute`.
pub fn entry_definitions(c: &LemmaCtx<'_>, frame: u32) -> String {
    let id = ident(c.export);
    format!(
        "(* Export `{}`. *)\n\
         Definition entry_{id} : nat := {}%nat.\n\
         Definition init_{id} (limit : Z) : store :=\n  \
         initial globals0 stack_global {frame} data0 pages0 max_pages0 limit.\n\
         Definition run_{id} (env : host_env) (fuel : nat) (limit : Z) : outcome :=\n  \
         invoke env program fuel entry_charge entry_{id} (init_{id} limit).\n\n",
        c.export, c.entry
    )
}

/// The feature-gate lemma: the export runs identically (results, gas, traps) under every
/// later gate that only adds features to the one it was admitted under.
pub fn gate_lemma(c: &LemmaCtx<'_>, out: &mut String) -> Lemma {
    let name = format!("{}_feature_gate", ident(c.export));
    let id = ident(c.export);
    let claim = format!(
        "`{}` runs identically under any later profile that only adds features",
        c.export
    );
    let _ = write!(
        out,
        "(* {claim}. *)\n\
         Theorem {name} : forall g', extends admitted_gate g' = true ->\n  \
         forall env fuel s, invoke env (gate_prog g' program) fuel entry_charge entry_{id} s =\n    \
         invoke env program fuel entry_charge entry_{id} s.\n\
         Proof.\n  intros g' He env fuel s.\n  \
         rewrite (gate_extends admitted_gate g' program); \
         [reflexivity | vm_compute; reflexivity | exact He].\nQed.\n\n"
    );
    Lemma {
        name,
        kind: "feature_gate",
        claim,
        status: Status::Proved,
    }
}
