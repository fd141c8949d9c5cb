//! "No trap for inputs satisfying P": the lemma is proved when the precondition excludes the
//! trap, and stays admitted (never claimed) when it does not; a malformed precondition is an
//! error naming the line.

mod common;

use keel_formal::{FormalError, Status, attempt};

#[test]
fn a_nonzero_divisor_precondition_proves_no_trap_and_a_wrong_one_is_not_claimed() {
    if !common::coqc_or_skip("preconditions") {
        return;
    }
    let wasm = wat::parse_str(include_str!("fixtures/div.wat")).expect("fixture parses");
    let mut g = common::generate(&wasm, &["div", "half"]);
    let before = |g: &keel_formal::Generated, n: &str| {
        g.lemmas
            .iter()
            .find(|l| l.name == n)
            .map(|l| l.status.clone())
    };
    assert_eq!(
        before(&g, "div_no_trap"),
        Some(Status::Admitted(attempt::NOT_ATTEMPTED.into()))
    );
    let dir = tempfile::tempdir().expect("tempdir");
    attempt::settle(dir.path(), &mut g).expect("settled");
    assert_eq!(before(&g, "div_no_trap"), Some(Status::Proved));
    assert_eq!(
        before(&g, "half_no_trap"),
        Some(Status::Admitted(attempt::FAILED.into()))
    );
    assert!(
        g.contract_v
            .contains("(* attempt half_no_trap *)\nAdmitted.")
    );
    // The settled project checks as written, proved lemmas closed (no axiom).
    if let Err(e) = common::write_and_check(&g, dir.path()) {
        panic!("{e}");
    }
    assert!(g.proved().contains(&"div_no_trap".to_string()));
    assert!(!g.proved().contains(&"half_no_trap".to_string()));
}

#[test]
fn a_malformed_precondition_is_a_clear_error() {
    let wat = r#"(module (memory 1 1)
      (@custom "keel.preconditions" "f(d: u32): d !! 0\n")
      (func (export "f")))"#;
    let wasm = wat::parse_str(wat).expect("parses");
    let req = keel_formal::Request {
        wasm: &wasm,
        exports: &["f"],
        profile: &keel_vm::Profile::V1,
        schedule: &keel_vm::GasSchedule::v1(),
        kills: &keel_vm::KillSet::default(),
    };
    match keel_formal::generate(&req) {
        Err(FormalError::Precondition(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("line 1") && msg.contains("comparison"),
                "{msg}"
            );
        }
        other => panic!(
            "expected a precondition error, got {:?}",
            other.map(|g| g.lemmas)
        ),
    }
}
