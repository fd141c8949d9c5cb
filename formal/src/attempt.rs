//! Proofs found by search rather than by construction: a lemma whose proof is a tactic that
//! may or may not finish (symbolic execution under a precondition) is written `Admitted`
//! first; [`settle`] then runs coqc on each attempt in a scratch file, with a time limit, and
//! only an attempt coqc accepts replaces its `Admitted`. What the tool lists as proved is
//! thus always what coqc checked; a failed or timed-out attempt stays listed as admitted.

use crate::error::FormalError;
use crate::lemmas::Status;
use crate::{Generated, project};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a lemma is still admitted before [`settle`] ran.
pub const NOT_ATTEMPTED: &str = "proof not attempted (it is searched for by running coqc)";
/// Why a lemma is still admitted after its attempt failed.
pub const FAILED: &str = "symbolic execution did not prove it (the precondition does not \
                          exclude every trap, or the run is beyond the tactic's reach)";
/// Time one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

const SCRATCH: &str = "Attempt.v";

/// A lemma and the tactic script to try on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub lemma: String,
    /// The statement, as after `Theorem NAME :`.
    pub statement: String,
    pub script: String,
}

/// The proof text of a lemma until its attempt succeeds.
pub fn placeholder(lemma: &str) -> String {
    format!("Proof.\n  (* attempt {lemma} *)\nAdmitted.")
}

/// Tries every attempt of `g` with coqc in `dir` (the project is written there first), and
/// turns each that checks into a proof in `g.contract_v`, listed proved. Deterministic for a
/// given coqc. Leaves the project written with the outcome.
///
/// # Errors
/// Writing the project, or coqc rejecting the model or the generated file as written.
pub fn settle(dir: &Path, g: &mut Generated) -> Result<(), FormalError> {
    project::write_project(dir, &g.contract_v, &g.audit_v)?;
    if g.attempts.is_empty() {
        return Ok(());
    }
    for f in project::files() {
        if f != project::AUDIT_FILE {
            crate::coqc::compile(dir, f)?;
        }
    }
    for a in std::mem::take(&mut g.attempts) {
        let proved = try_one(dir, &a)?;
        tracing::info!(lemma = %a.lemma, proved, "proof attempt");
        let status = if proved {
            g.contract_v = g.contract_v.replace(
                &placeholder(&a.lemma),
                &format!("Proof.\n  {}\nQed.", a.script),
            );
            Status::Proved
        } else {
            Status::Admitted(FAILED.into())
        };
        if let Some(l) = g.lemmas.iter_mut().find(|l| l.name == a.lemma) {
            l.status = status;
        }
    }
    g.audit_v = project::audit(&g.proved());
    project::write_project(dir, &g.contract_v, &g.audit_v)?;
    // The compiled Contract is of the file before settling: drop it, so nothing stale loads.
    remove_compiled(dir, "Contract");
    Ok(())
}

fn remove_compiled(dir: &Path, stem: &str) {
    for ext in ["vo", "vok", "vos", "glob"] {
        // Absent files are fine: only what coqc wrote is removed.
        let _ = std::fs::remove_file(dir.join(format!("{stem}.{ext}")));
    }
    let _ = std::fs::remove_file(dir.join(format!(".{stem}.aux")));
}

fn try_one(dir: &Path, a: &Attempt) -> Result<bool, FormalError> {
    let text = format!(
        "From Coq Require Import ZArith List Bool Lia.\n\
         From Keel Require Import Values Semantics Bound Hosts Features Symex.\n\
         From Top Require Import Contract.\nImport ListNotations.\nOpen Scope Z_scope.\n\n\
         Theorem attempt : {}.\nProof.\n  {}\nQed.\n",
        a.statement, a.script
    );
    let path = dir.join(SCRATCH);
    std::fs::write(&path, text).map_err(|source| FormalError::Io {
        path: path.clone(),
        source,
    })?;
    let mut child = Command::new("coqc")
        .current_dir(dir)
        .args(["-q", "-Q", ".", "Top", "-Q", "Keel", "Keel", SCRATCH])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(FormalError::CoqcMissing)?;
    let started = Instant::now();
    let ok = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Ok(None) if started.elapsed() > ATTEMPT_TIMEOUT => {
                // Best effort: a child that already exited cannot be killed, which is fine.
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(source) => {
                return Err(FormalError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    };
    let _ = std::fs::remove_file(&path);
    remove_compiled(dir, "Attempt");
    Ok(ok)
}
