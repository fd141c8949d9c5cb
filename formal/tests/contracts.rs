//! coqc checks the generated projects of the example contracts; gas bounds of loop-free
//! exports are proved, not admitted.

mod common;

use keel_formal::Status;

fn check_all(name: &str, wasm: &[u8], exports: &[&str]) -> Vec<(String, Vec<keel_formal::Lemma>)> {
    let mut out = Vec::new();
    for export in exports {
        let g = common::generate(wasm, export);
        let dir = tempfile::tempdir().expect("tempdir");
        let started = std::time::Instant::now();
        if let Err(e) = common::write_and_check(&g, dir.path()) {
            panic!("{name}.{export}: {e}");
        }
        println!("{name}.{export}: coqc {:?}", started.elapsed());
        out.push((export.to_string(), g.lemmas));
    }
    out
}

#[test]
fn counter_exports_check_with_their_gas_bounds_and_capabilities_proved() {
    if !common::coqc_or_skip("counter") {
        return;
    }
    let c = keel_contracts::COUNTER;
    for (export, lemmas) in check_all(c.name, c.wasm, c.entries) {
        for l in lemmas {
            assert_eq!(l.status, Status::Proved, "counter.{export}: {l:?}");
        }
    }
}
