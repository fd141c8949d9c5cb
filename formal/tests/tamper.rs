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

#[test]
fn a_counted_loop_bound_proves_down_to_the_real_path_and_no_lower() {
    if !common::coqc_or_skip("tamper loop bound") {
        return;
    }
    let wasm = wat::parse_str(include_str!("fixtures/loops.wat")).expect("fixture parses");
    let g = common::generate(&wasm, &["sum8"]);
    let dir = tempfile::tempdir().expect("tempdir");
    keel_formal::project::write_project(dir.path(), &g.contract_v, &g.audit_v).expect("write");
    for f in keel_formal::project::MODEL.map(|(f, _)| f) {
        keel_formal::coqc::compile(dir.path(), f).expect("the model compiles");
    }
    let line = g
        .contract_v
        .lines()
        .find(|l| l.contains("entry_sum8 s) (used s + "))
        .expect("sum8's gas lemma")
        .to_string();
    let bound: u64 = line
        .rsplit("(used s + ")
        .next()
        .and_then(|t| t.trim_end_matches(").").parse().ok())
        .expect("bound");
    // The analysis allows 9 turns of the 14-gas body (`lt_u`: 1 + ceil(N / S)); the loop runs
    // 8 from its constant start, which symbolic execution sees: 14 below still proves, 15 not.
    let with = |b: u64| {
        let path = dir.path().join(keel_formal::project::CONTRACT_FILE);
        let text = g.contract_v.replacen(
            &line,
            &line.replace(&format!("+ {bound})"), &format!("+ {b})")),
            1,
        );
        std::fs::write(path, text).expect("write");
        keel_formal::coqc::compile(dir.path(), keel_formal::project::CONTRACT_FILE)
    };
    assert!(with(bound - 14).is_ok(), "the real path's gas is provable");
    match with(bound - 15) {
        Err(FormalError::CoqcRejected { file, .. }) => assert_eq!(file, "Contract.v"),
        other => panic!("a bound below the real path was accepted: {other:?}"),
    }
}
