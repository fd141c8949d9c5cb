//! Planted deep bugs (`contracts/wat/planted/*.wat`): concolic exploration finds each within
//! its budget; random inputs of the right length, given the same number of runs, do not.

use keel_concolic::{Config, FindingKind, Report, explore, limits};
use keel_vm::{CallRequest, MemoryState, Trap, Vm, VmConfig, WasmTrap};
use rand::{Rng, SeedableRng};
use std::time::Duration;

fn module(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../contracts/wat/planted/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config(entry: &str) -> Config {
    Config {
        entry: entry.into(),
        gas_limit: 1_000_000,
        max_runs: 64,
        time_budget: Duration::from_secs(60),
        ..Config::default()
    }
}

/// Runs `input` on the wasmi tier.
fn replay(code: &[u8], entry: &str, input: &[u8], gas: u64) -> keel_vm::CallOutcome {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let request = CallRequest {
        entry: entry.into(),
        input: input.to_vec(),
        limits: limits(gas),
        ..CallRequest::default()
    };
    vm.call(code, request, Box::new(MemoryState::default()))
        .expect("call")
}

/// Every finding replays on the real VM with the same trap and gas.
fn assert_findings_replay(code: &[u8], cfg: &Config, report: &Report) {
    for f in &report.findings {
        let input = hex::decode(&f.case.input_hex).expect("hex");
        let o = replay(code, &cfg.entry, &input, cfg.gas_limit);
        let trap = o.result.as_ref().err().map(|t| t.to_string());
        assert_eq!(trap.as_deref(), Some(f.detail.as_str()), "{f:?}");
        assert_eq!(o.gas_used.compute, f.case.gas_used, "{f:?}");
        assert!(f.case.command.contains(&f.case.input_hex));
    }
}

/// `runs` random inputs of `len` bytes on the real VM: does any hit `trap`?
fn random_finds(code: &[u8], entry: &str, len: usize, runs: u64, trap: &Trap) -> bool {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65656c);
    (0..runs).any(|_| {
        let input: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        replay(code, entry, &input, 1_000_000).result.as_ref().err() == Some(trap)
    })
}

#[test]
fn concolic_finds_the_magic_value_trap_that_random_inputs_miss() {
    let code = module("magic");
    let cfg = config("check");
    let report = explore(&code, &cfg).expect("explore");
    println!("{report}");
    let hit = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Unreachable)
        .unwrap_or_else(|| panic!("not found:\n{report}"));
    assert_eq!(hit.case.input_hex, hex::encode(0x4b45454cu32.to_le_bytes()));
    assert!(report.findings.iter().any(|f| f.kind == FindingKind::Abort));
    assert_findings_replay(&code, &cfg, &report);
    let unreachable = Trap::Wasm {
        trap: WasmTrap::Unreachable,
    };
    assert!(!random_finds(&code, "check", 4, cfg.max_runs, &unreachable));
}

#[test]
fn concolic_finds_the_division_by_zero_behind_a_checksum_that_random_inputs_miss() {
    let code = module("checksum");
    let cfg = config("parse");
    let report = explore(&code, &cfg).expect("explore");
    println!("{report}");
    let hit = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Division)
        .unwrap_or_else(|| panic!("not found:\n{report}"));
    let input = hex::decode(&hit.case.input_hex).expect("hex");
    assert_eq!(input.len(), 16);
    assert_eq!(input[0], 0x7f);
    assert_eq!(&input[4..8], &0x01020304u32.to_le_bytes());
    assert_findings_replay(&code, &cfg, &report);
    let div0 = Trap::Wasm {
        trap: WasmTrap::IntegerDivisionByZero,
    };
    assert!(!random_finds(&code, "parse", 16, cfg.max_runs, &div0));
}

#[test]
fn the_explored_maximum_gas_is_the_vms_gas_for_that_input() {
    let code = module("checksum");
    let cfg = config("parse");
    let report = explore(&code, &cfg).expect("explore");
    let max = report.max_gas.as_ref().expect("max gas");
    let input = hex::decode(&max.input_hex).expect("hex");
    assert_eq!(
        replay(&code, "parse", &input, cfg.gas_limit)
            .gas_used
            .compute,
        max.gas_used
    );
}

#[test]
fn out_of_gas_within_the_limit_is_reported_with_its_input() {
    let cfg = Config {
        entry: "fib".into(),
        gas_limit: 20_000,
        max_runs: 16,
        seeds: vec![vec![0; 4], 100_000u32.to_le_bytes().to_vec()],
        ..Config::default()
    };
    let report = explore(keel_contracts::FIB.wasm, &cfg).expect("explore");
    let oog = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::OutOfGas)
        .unwrap_or_else(|| panic!("no out-of-gas:\n{report}"));
    assert_eq!(oog.case.gas_used, 20_000);
}

/// The order of runs is fixed; the bytes z3 leaves unconstrained may differ between solver
/// contexts, so two explorations agree on what was found, where and at which run.
#[test]
fn exploration_order_is_deterministic() {
    let code = module("checksum");
    let cfg = config("parse");
    let a = explore(&code, &cfg).expect("explore");
    let b = explore(&code, &cfg).expect("explore");
    let shape = |r: &Report| -> Vec<_> {
        r.findings
            .iter()
            .map(|f| (f.kind, f.detail.clone(), f.offset, f.run, f.case.gas_used))
            .collect()
    };
    assert_eq!(shape(&a), shape(&b));
    assert_eq!((a.runs, a.paths), (b.runs, b.paths));
}

/// A user assertion (the message `KEEL_ASSERT` produces) that fails only when two 16-bit
/// halves of the input sum to 0x10000.
const ASSERTING: &str = r#"
(module
  (import "keel" "input_size" (func $input_size (result i32)))
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 64) "assertion failed: a + b != 0x10000")
  (func (export "sum")
    (if (i32.lt_u (call $input_size) (i32.const 4)) (then return))
    (call $input_copy (i32.const 0) (i32.const 0) (i32.const 4))
    (if (i32.eq (i32.add (i32.load16_u (i32.const 0)) (i32.load16_u (i32.const 2)))
                (i32.const 0x10000))
      (then (call $abort (i32.const 64) (i32.const 34))))))
"#;

#[test]
fn a_failing_user_assertion_is_reported_as_such() {
    let code = wat::parse_str(ASSERTING).expect("wat");
    let cfg = config("sum");
    let report = explore(&code, &cfg).expect("explore");
    let hit = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Assertion)
        .unwrap_or_else(|| panic!("not found:\n{report}"));
    let input = hex::decode(&hit.case.input_hex).expect("hex");
    let half = |i: usize| u32::from(u16::from_le_bytes([input[i], input[i + 1]]));
    assert_eq!(half(0) + half(2), 0x10000);
    assert_findings_replay(&code, &cfg, &report);
}
