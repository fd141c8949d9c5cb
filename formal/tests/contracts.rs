//! coqc checks the generated projects of the example contracts as written; gas bounds of
//! loop-free exports are proved (not admitted), and what is admitted is listed as such.

mod common;

use keel_formal::{Generated, Status};

fn generate_and_check(name: &str, wasm: &[u8], exports: &[&str]) -> Generated {
    let g = common::generate(wasm, exports);
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    if let Err(e) = common::write_and_check(&g, dir.path()) {
        panic!("{name}: {e}");
    }
    println!(
        "{name}: coqc {:?} for {} exports",
        started.elapsed(),
        exports.len()
    );
    g
}

fn status(g: &Generated, lemma: &str) -> Status {
    match g.lemmas.iter().find(|l| l.name == lemma) {
        Some(l) => l.status.clone(),
        None => panic!("no lemma {lemma}"),
    }
}

#[test]
fn counter_exports_check_with_every_lemma_proved() {
    if !common::coqc_or_skip("counter") {
        return;
    }
    let c = keel_contracts::COUNTER;
    let g = generate_and_check(c.name, c.wasm, c.entries);
    assert_eq!(g.lemmas.len(), 3 * c.entries.len());
    for l in &g.lemmas {
        assert_eq!(l.status, Status::Proved, "{l:?}");
    }
}

#[test]
fn fib_checks_and_its_input_driven_loop_has_no_gas_lemma() {
    if !common::coqc_or_skip("fib") {
        return;
    }
    let c = keel_contracts::FIB;
    let g = generate_and_check(c.name, c.wasm, c.entries);
    assert!(matches!(
        status(&g, "fib_gas_bound"),
        Status::NotApplicable(_)
    ));
    assert_eq!(status(&g, "fib_capabilities"), Status::Proved);
    assert_eq!(status(&g, "fib_feature_gate"), Status::Proved);
}

#[test]
fn token_checks_with_its_helpers_translated_and_capabilities_proved() {
    if !common::coqc_or_skip("token") {
        return;
    }
    let c = keel_contracts::TOKEN;
    let g = generate_and_check(c.name, c.wasm, c.entries);
    // Every defined function (the u256 and key helpers included) is in the checked program.
    assert!(g.program.funcs.len() > c.entries.len());
    for l in &g.lemmas {
        match (&l.status, l.kind) {
            (Status::Proved, _) => {}
            (Status::Admitted(_) | Status::NotApplicable(_), "gas_bound") => {
                println!("{}: {:?}", l.name, l.status)
            }
            _ => panic!("{l:?}"),
        }
    }
    // Keel's analysis finds no static bound for token's exports (their key-hashing loops are
    // not counted loops), so none is claimed: each is listed as not applicable, with why.
    assert!(
        g.lemmas
            .iter()
            .filter(|l| l.kind == "capabilities")
            .all(|l| l.status == Status::Proved)
    );
}

#[test]
fn a_counted_loop_from_a_constant_start_gets_its_gas_bound_proved() {
    if !common::coqc_or_skip("loops") {
        return;
    }
    let wasm = wat::parse_str(include_str!("fixtures/loops.wat")).expect("fixture parses");
    let g = generate_and_check("loops", &wasm, &["sum8", "tail"]);
    assert_eq!(status(&g, "sum8_gas_bound"), Status::Proved);
    assert!(
        g.contract_v.contains("symex."),
        "proved by symbolic execution"
    );
    // An input-driven start is not claimed: listed as admitted, with why.
    match status(&g, "tail_gas_bound") {
        Status::Admitted(why) => assert!(why.contains("constant"), "{why}"),
        other => panic!("tail_gas_bound: {other:?}"),
    }
    assert!(!g.proved().contains(&"tail_gas_bound".to_string()));
}
