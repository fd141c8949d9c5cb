//! `coqc::check` (what `keel prove --check` runs) fails on a tampered project: a changed
//! charge or bound no longer proves, and a proof swapped for `Admitted` is caught by the audit.

mod common;

use keel_formal::FormalError;

fn counter_project() -> (keel_formal::Generated, tempfile::TempDir) {
    let c = keel_contracts::COUNTER;
    let g = common::generate(c.wasm, &["get"]);
    let dir = tempfile::tempdir().expect("tempdir");
    keel_formal::project::write_project(dir.path(), &g.contract_v, &g.audit_v).expect("write");
    (g, dir)
}

fn tamper(dir: &std::path::Path, from: &str, to: &str) {
    let path = dir.join(keel_formal::project::CONTRACT_FILE);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "nothing to tamper: {from}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn check_fails_when_a_stated_gas_bound_is_lowered() {
    if !common::coqc_or_skip("tamper bound") {
        return;
    }
    let (g, dir) = counter_project();
    let line = g
        .contract_v
        .lines()
        .find(|l| l.contains("out_le (invoke") && l.contains("(used s + "))
        .expect("a gas lemma")
        .to_string();
    let bound: u64 = line
        .rsplit("(used s + ")
        .next()
        .and_then(|t| t.trim_end_matches(").").parse().ok())
        .expect("bound");
    let lowered = line.replace(
        &format!("(used s + {bound})"),
        &format!("(used s + {})", bound - 1),
    );
    tamper(dir.path(), &line, &lowered);
    match keel_formal::coqc::check(dir.path(), &g.proved()) {
        Err(FormalError::CoqcRejected { file, .. }) => assert_eq!(file, "Contract.v"),
        other => panic!("a lowered bound was accepted: {other:?}"),
    }
}

#[test]
fn check_fails_when_a_charge_of_the_translation_is_changed() {
    if !common::coqc_or_skip("tamper charge") {
        return;
    }
    let (g, dir) = counter_project();
    // Raising any charge of `get`'s path past its bound breaks the proof by computation.
    let text = g.contract_v.clone();
    let charge = text
        .lines()
        .find(|l| l.trim_start().starts_with("Charge "))
        .expect("a charge")
        .to_string();
    tamper(
        dir.path(),
        &charge,
        &charge.replacen("Charge ", "Charge 100000000", 1),
    );
    assert!(keel_formal::coqc::check(dir.path(), &g.proved()).is_err());
}

#[test]
fn check_fails_when_a_proof_is_replaced_by_admitted() {
    if !common::coqc_or_skip("tamper proof") {
        return;
    }
    let (g, dir) = counter_project();
    tamper(
        dir.path(),
        "[exact Henv | vm_compute; reflexivity].\nQed.",
        "[exact Henv | vm_compute; reflexivity].\nAdmitted.",
    );
    match keel_formal::coqc::check(dir.path(), &g.proved()) {
        Err(FormalError::CoqcRejected { file, .. }) => assert_eq!(file, "Audit.v"),
        other => panic!("an admitted proof passed the audit: {other:?}"),
    }
}
