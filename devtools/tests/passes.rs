//! Each pass on a purpose-built contract, asserting the exact source line it reports. The
//! expected line is found from a `@marker` comment in the fixture, not from the tool.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_devtools::project::Project;
use keel_devtools::toolchain::build;
use keel_devtools::{Finding, Pass, Severity};
use keel_vm::{Capability, GasBound, GasSchedule, Profile};
use std::path::Path;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A one-source project in a temp dir, built.
fn build_fixture(
    file: &str,
    manifest: &str,
) -> (tempfile::TempDir, keel_devtools::toolchain::Built) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join(file),
        dir.path().join("src").join(file),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("keel.toml"),
        format!("[contract]\nname = \"fixture\"\nsources = [\"src/{file}\"]\n{manifest}"),
    )
    .unwrap();
    let project = Project::load(dir.path()).unwrap();
    let built = build(
        &project,
        false,
        &Profile::default(),
        &GasSchedule::default(),
    )
    .unwrap();
    (dir, built)
}

/// `src/FILE:LINE` of the line holding `marker` in the fixture.
fn marked(file: &str, marker: &str) -> String {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join(file)).unwrap();
    let line = text.lines().position(|l| l.contains(marker)).unwrap() + 1;
    format!("src/{file}:{line}")
}

fn located(findings: &[Finding], pass: Pass) -> Vec<(Severity, String)> {
    findings
        .iter()
        .filter(|f| f.pass == pass)
        .map(|f| {
            (
                f.severity,
                f.location
                    .as_ref()
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_float_is_reported_at_its_source_line_and_the_module_is_not_written() {
    let (_dir, built) = build_fixture("float_at_line.c", "");
    let r = &built.report;
    assert!(!r.admitted);
    let at = located(&r.findings, Pass::Admission);
    let want = marked("float_at_line.c", "@float");
    assert!(!at.is_empty());
    assert!(
        at.iter().all(|(s, l)| *s == Severity::Error && *l == want),
        "{at:?} vs {want}"
    );
    assert!(
        !built.wasm_path.exists(),
        "a failed build leaves no module behind"
    );
    assert!(built.debug_path.exists());
}

#[test]
fn a_capability_the_manifest_does_not_grant_is_reported_where_it_is_used() {
    let (_dir, built) = build_fixture("undeclared_capability.c", "[manifest]\nstorage = true\n");
    let r = &built.report;
    let errors: Vec<_> = located(&r.findings, Pass::Effects)
        .into_iter()
        .filter(|(s, _)| *s == Severity::Error)
        .collect();
    let at = marked("undeclared_capability.c", "@emit");
    assert_eq!(errors, vec![(Severity::Error, at.clone())]);
    // Admission refuses the module for the same reason, at the same line.
    assert_eq!(
        located(&r.findings, Pass::Admission),
        vec![(Severity::Error, at)]
    );
    assert_eq!(
        r.effects["announce"]
            .capabilities
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![Capability::Events]
    );
    assert_eq!(
        r.effects["put"]
            .capabilities
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![Capability::Storage]
    );
    assert!(r.generated_manifest.storage && r.generated_manifest.events);
    assert!(!r.generated_manifest.crypto && !r.generated_manifest.may_call());
}

#[test]
fn without_a_manifest_table_the_build_embeds_the_inferred_one() {
    let (_dir, built) = build_fixture("undeclared_capability.c", "");
    assert!(built.manifest_generated);
    assert_eq!(built.report.errors(), 0, "{:?}", built.report.findings);
    let module = keel_vm::admit(&built.wasm, &Profile::default()).unwrap();
    let _ = module;
    let facts = keel_devtools::facts::Facts::read(&built.wasm).unwrap();
    let m = keel_vm::Manifest::decode(facts.manifest.unwrap()).unwrap();
    assert_eq!(m, built.report.generated_manifest);
    assert!(built.wasm_path.exists());
}

#[test]
fn an_unbounded_loop_is_listed_at_its_line_and_a_counted_one_is_bounded() {
    let (_dir, built) = build_fixture("unbounded_loop.c", "");
    let r = &built.report;
    assert!(r.admitted);
    let loops = located(&r.findings, Pass::Loops);
    assert_eq!(
        loops,
        vec![(Severity::Warning, marked("unbounded_loop.c", "@spin"))]
    );
    assert!(matches!(r.gas_bounds["spin"], GasBound::Unbounded { .. }));
    assert!(
        matches!(r.gas_bounds["hash64"], GasBound::Bounded { .. }),
        "{:?}",
        r.gas_bounds
    );
}

#[test]
fn a_handle_used_after_it_was_moved_and_a_handle_never_used_are_reported() {
    let (_dir, built) = build_fixture("handle_after_move.c", "[manifest]\ncall_any = true\n");
    let r = &built.report;
    let mut got = located(&r.findings, Pass::Handles);
    got.sort();
    let mut want = vec![
        (Severity::Error, marked("handle_after_move.c", "@use")),
        (Severity::Warning, marked("handle_after_move.c", "@leak")),
    ];
    want.sort();
    assert_eq!(got, want);
    let msg = &r
        .findings
        .iter()
        .find(|f| f.pass == Pass::Handles && f.severity == Severity::Error)
        .unwrap()
        .message;
    assert!(
        msg.contains(&marked("handle_after_move.c", "@move")),
        "{msg}"
    );
}

/// Non-custom sections, in order: what the chain executes.
fn executable_sections(wasm: &[u8]) -> Vec<(u8, Vec<u8>)> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|p| {
            let (id, range) = p.unwrap().as_section()?;
            (id != 0).then(|| (id, wasm[range.start as usize..range.end as usize].to_vec()))
        })
        .collect()
}

#[test]
fn the_build_uses_exactly_the_contracts_flags_so_token_compiles_to_the_same_code() {
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::copy(contracts.join("c/token.c"), dir.path().join("src/token.c")).unwrap();
    std::fs::write(
        dir.path().join("keel.toml"),
        "[contract]\nname = \"token\"\nsources = [\"src/token.c\"]\n",
    )
    .unwrap();
    let project = Project::load(dir.path()).unwrap();
    let built = build(
        &project,
        false,
        &Profile::default(),
        &GasSchedule::default(),
    )
    .unwrap();
    assert_eq!(built.report.errors(), 0, "{:?}", built.report.findings);
    assert_eq!(
        executable_sections(&built.wasm),
        executable_sections(keel_contracts::TOKEN.wasm)
    );
    // The deployable module has no DWARF; the side file does, over the same code.
    assert!(
        !built
            .report
            .findings
            .iter()
            .any(|f| f.pass == Pass::Admission)
    );
    assert!(built.report.has_source_lines);
    let custom = |w: &[u8]| -> Vec<String> {
        wasmparser::Parser::new(0)
            .parse_all(w)
            .filter_map(|p| match p.unwrap() {
                wasmparser::Payload::CustomSection(c) => Some(c.name().to_owned()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(custom(&built.wasm), vec!["keel.manifest".to_owned()]);
    assert!(custom(&built.debug).iter().any(|n| n == ".debug_line"));
}
