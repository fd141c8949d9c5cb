//! `keel prove FILE --export NAME --out DIR [--check]`: write a self-contained Coq project of
//! the generated lemmas for contract exports (see formal/README.md), and optionally check it.

use anyhow::Context;
use clap::Args;
use keel_formal::{Request, Status};
use keel_vm::{GasSchedule, KillSet, Profile};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes: 0 written (and, with --check, checked); 1 error, or --check failed (coqc
/// rejected a file, or a lemma claimed proved depends on an axiom); 2 a lemma is refuted
/// (e.g. the export reaches a host call its manifest does not grant).
#[derive(Args)]
pub struct ProveArgs {
    /// The contract (.wasm, or .wat text), as it would be deployed.
    pub file: PathBuf,
    /// Export to state lemmas for; repeat for several (one project, one copy of the program).
    #[arg(long = "export", required = true)]
    pub exports: Vec<String>,
    /// Directory of the Coq project (created; files of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Run coqc on the project as written; fail when it does not check.
    #[arg(long)]
    pub check: bool,
    /// Admission profile version.
    #[arg(long, default_value_t = 1)]
    pub profile: u32,
    /// Print the lemmas and their status as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: ProveArgs) -> anyhow::Result<ExitCode> {
    let wasm = super::read_module(&a.file)?;
    let profile = Profile::by_version(a.profile)
        .with_context(|| format!("profile v{} is not implemented by this build", a.profile))?;
    let exports: Vec<&str> = a.exports.iter().map(String::as_str).collect();
    let req = Request {
        wasm: &wasm,
        exports: &exports,
        profile: &profile,
        schedule: &GasSchedule::v1(),
        kills: &KillSet::default(),
    };
    let mut g = keel_formal::generate(&req)?;
    if keel_formal::coqc::available() {
        // Proofs found by search (no-trap lemmas) are tried with coqc; only those it
        // accepts are listed proved.
        keel_formal::attempt::settle(&a.out, &mut g)?;
    } else {
        keel_formal::project::write_project(&a.out, &g.contract_v, &g.audit_v)?;
    }
    let checked = if a.check {
        Some(keel_formal::coqc::check(&a.out, &g.proved()).map_err(anyhow::Error::from))
    } else {
        None
    };
    if a.json {
        let v = serde_json::json!({
            "out": a.out,
            "lemmas": g.lemmas,
            "checked": checked.as_ref().map(|c| c.is_ok()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "wrote {} (coqc files: {})",
            a.out.display(),
            keel_formal::project::files().join(" ")
        );
        for l in &g.lemmas {
            let (tag, why) = match &l.status {
                Status::Proved => ("proved", String::new()),
                Status::Admitted(w) => ("ADMITTED", format!(": {w}")),
                Status::Refuted(w) => ("REFUTED", format!(": {w}")),
                Status::NotApplicable(w) => ("n/a", format!(": {w}")),
            };
            println!("  {tag:9} {} — {}{why}", l.name, l.claim);
        }
    }
    if let Some(c) = checked {
        c.context("coqc check failed")?;
        if !a.json {
            println!("coqc: checked; proved lemmas depend on no axiom");
        }
    }
    if g.lemmas
        .iter()
        .any(|l| matches!(l.status, Status::Refuted(_)))
    {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
