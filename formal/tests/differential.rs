//! Differential test between the Coq model and Keel's VM: random small integer functions
//! (arithmetic with wrap-around, division traps, branches, a counted loop, memory, calls) run
//! on the VM and, translated by `keel-formal`, are evaluated by coqc (`Eval vm_compute`) on the
//! same inputs: the status (result or trap kind), the gas used and the result bytes must agree.
//! Each generated file also checks every gas lemma proved for the random functions.

mod common;

use keel_vm::host::MemoryState;
use keel_vm::{CallRequest, GasSchedule, GasVector, HostFn, Trap, Vm, VmConfig, WasmTrap};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::fmt::Write;

const I64_OPS: &[&str] = &[
    "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl", "shr_s",
    "shr_u", "rotl", "rotr",
];
const I64_UNOPS: &[&str] = &[
    "clz",
    "ctz",
    "popcnt",
    "extend8_s",
    "extend16_s",
    "extend32_s",
];
const I32_OPS: &[&str] = &[
    "add", "sub", "mul", "div_u", "rem_s", "and", "xor", "shl", "shr_s", "rotr",
];
const RELOPS: &[&str] = &["eq", "ne", "lt_s", "lt_u", "gt_s", "ge_u", "le_s"];

fn i64_const() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(0i64),
        Just(1),
        Just(-1),
        Just(i64::MIN),
        Just(i64::MAX),
        -300i64..300,
        any::<i64>()
    ]
    .prop_map(|v| format!("(i64.const {v})"))
}

/// Addresses in the data segment's neighbourhood or at the end of the page (out of bounds).
fn addr() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..128, 65_526u32..65_540]
}

fn i32_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just(0i32),
            Just(1),
            Just(-1),
            Just(i32::MIN),
            -40i32..40,
            any::<i32>()
        ]
        .prop_map(|v| format!("(i32.const {v})")),
        Just("(local.get 1)".to_string()),
        Just("(memory.size)".to_string()),
        (0u32..2).prop_map(|d| format!("(memory.grow (i32.const {d}))")),
        (addr(), 0u32..8).prop_map(|(a, o)| format!("(i32.load8_u offset={o} (i32.const {a}))")),
    ]
}

/// An i64 expression; `loops` says whether a counted loop may appear (never nested).
fn i64_expr(depth: u32, loops: bool) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        i64_const(),
        Just("(local.get 0)".to_string()),
        Just("(local.get 2)".to_string()),
        addr().prop_map(|a| format!("(i64.load (i32.const {a}))")),
    ]
    .boxed();
    if depth == 0 {
        return leaf;
    }
    let e = || i64_expr(depth - 1, loops);
    let c = || i32_expr(depth - 1);
    let mut options: Vec<BoxedStrategy<String>> = vec![
        leaf,
        (prop::sample::select(I64_OPS), e(), e())
            .prop_map(|(op, a, b)| format!("(i64.{op} {a} {b})"))
            .boxed(),
        (prop::sample::select(I64_UNOPS), e())
            .prop_map(|(op, a)| format!("(i64.{op} {a})"))
            .boxed(),
        (c(), e(), e())
            .prop_map(|(c, a, b)| format!("(if (result i64) {c} (then {a}) (else {b}))"))
            .boxed(),
        (e(), c(), e())
            .prop_map(|(a, c, b)| format!("(block (result i64) (drop (br_if 0 {a} {c})) {b})"))
            .boxed(),
        (e(), e(), c())
            .prop_map(|(a, b, c)| format!("(select {a} {b} {c})"))
            .boxed(),
        c().prop_map(|c| format!("(i64.extend_i32_s {c})")).boxed(),
        e().prop_map(|a| format!("(local.tee 2 {a})")).boxed(),
        e().prop_map(|a| format!("(call $g {a})")).boxed(),
        (addr(), e(), e())
            .prop_map(|(addr, a, b)| {
                format!("(block (result i64) (i64.store16 (i32.const {addr}) {a}) {b})")
            })
            .boxed(),
    ];
    if loops {
        options.push(
            (1u32..5, i64_expr(depth - 1, false))
                .prop_map(|(k, a)| {
                    format!(
                        "(block (result i64) (local.set 3 (i32.const {k})) \
                         (loop (local.set 2 (i64.add (local.get 2) {a})) \
                         (br_if 0 (local.tee 3 (i32.sub (local.get 3) (i32.const 1))))) \
                         (local.get 2))"
                    )
                })
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

fn i32_expr(depth: u32) -> BoxedStrategy<String> {
    if depth == 0 {
        return i32_leaf().boxed();
    }
    let e = || i64_expr(depth - 1, false);
    let c = || i32_expr(depth - 1);
    prop_oneof![
        i32_leaf(),
        (prop::sample::select(I32_OPS), c(), c())
            .prop_map(|(op, a, b)| format!("(i32.{op} {a} {b})")),
        (prop::sample::select(RELOPS), e(), e())
            .prop_map(|(op, a, b)| format!("(i64.{op} {a} {b})")),
        e().prop_map(|a| format!("(i32.wrap_i64 {a})")),
        e().prop_map(|a| format!("(i64.eqz {a})")),
        c().prop_map(|a| format!("(i32.extend8_s {a})")),
    ]
    .boxed()
}

/// One random case: the body of `$f`, its inputs and the gas limit.
#[derive(Debug, Clone)]
struct Case {
    body: String,
    a: i64,
    b: i32,
    limit: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        i64_expr(3, true),
        any::<i64>(),
        -5i32..5,
        prop_oneof![3 => Just(10_000_000u64), 1 => 1u64..3_000],
    )
        .prop_map(|(body, a, b, limit)| Case { body, a, b, limit })
}

fn module(c: &Case) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "keel" "return_data" (func $rd (param i32 i32)))
  (memory 1 1)
  (data (i32.const 100) "\01\02\03\04\05\06\07\08\ff\fe")
  (func $g (param i64) (result i64) (i64.mul (local.get 0) (i64.const 3)))
  (func $f (param i64 i32) (result i64) (local i64 i32)
    {})
  (func (export "run")
    (i64.store (i32.const 0) (call $f (i64.const {}) (i32.const {})))
    (call $rd (i32.const 0) (i32.const 8))))"#,
        c.body, c.a, c.b
    );
    match wat::parse_str(&wat) {
        Ok(w) => w,
        Err(e) => panic!("generated WAT does not parse: {e}\n{wat}"),
    }
}

/// The VM's answer in the model's summary form: status, gas, result bytes.
fn on_vm(vm: &Vm, wasm: &[u8], limit: u64) -> Vec<i128> {
    let req = CallRequest {
        entry: "run".into(),
        limits: GasVector::splat(limit),
        ..CallRequest::default()
    };
    let out = match vm.call(wasm, req, Box::new(MemoryState::default())) {
        Ok(o) => o,
        Err(e) => panic!("VM refused the module: {e}"),
    };
    let gas = i128::from(out.gas_used.compute);
    match out.result {
        Ok(bytes) => [0, gas]
            .into_iter()
            .chain(bytes.iter().map(|b| i128::from(*b)))
            .collect(),
        Err(t) => {
            let code = match t {
                Trap::Wasm { trap } => match trap {
                    WasmTrap::Unreachable => 2,
                    WasmTrap::IntegerDivisionByZero => 3,
                    WasmTrap::IntegerOverflow => 4,
                    WasmTrap::MemoryOutOfBounds => 5,
                    WasmTrap::TableOutOfBounds | WasmTrap::IndirectCallToNull => 6,
                    WasmTrap::BadSignature => 7,
                },
                Trap::OutOfGas => 8,
                Trap::StackOverflow => 9,
                other => panic!("unexpected trap {other:?}"),
            };
            vec![code, gas]
        }
    }
}

/// One Coq file evaluating every case in the model, as `Module CaseK`.
fn coq_file(cases: &[(Case, keel_formal::Generated)], schedule: &GasSchedule) -> String {
    let rd = schedule.host_cost(HostFn::ReturnData, 0);
    let per_byte = schedule.host_cost(HostFn::ReturnData, 1).saturating_sub(rd);
    let mut v = format!(
        "From Coq Require Import ZArith List Bool.\n\
         From Keel Require Import Values Semantics Bound Hosts Features Symex.\n\
         Import ListNotations.\nOpen Scope Z_scope.\n\n\
         (* return_data as the schedule prices it: base + per byte; other hosts fail. *)\n\
         Definition env0 : host_env := fun h args m pg =>\n  \
         match h, args with\n  | {}, [_; VI32 len] => HOk [] m ({rd} + {per_byte} * len)\n  \
         | _, _ => HFail 0\n  end.\n\n",
        HostFn::ReturnData as u32
    );
    for (k, (c, g)) in cases.iter().enumerate() {
        let body = g
            .contract_v
            .split_once("Open Scope Z_scope.\n")
            .map_or(g.contract_v.as_str(), |(_, b)| b);
        let _ = write!(
            v,
            "Module Case{k}.\n{body}\nEnd Case{k}.\n\
             Eval vm_compute in (summary (Case{k}.run_run env0 (Z.to_nat 50000) {}) 0 8).\n\n",
            c.limit
        );
    }
    v
}

#[test]
fn model_and_vm_agree_on_results_and_gas_of_random_integer_functions() {
    if !common::coqc_or_skip("differential") {
        return;
    }
    let schedule = GasSchedule::v1();
    let vm = match Vm::new(VmConfig::default()) {
        Ok(vm) => vm,
        Err(e) => panic!("vm: {e}"),
    };
    let model_dir = tempfile::tempdir().expect("tempdir");
    // The model once; each batch is one more file.
    keel_formal::project::write_project(model_dir.path(), "", "").expect("write model");
    for f in keel_formal::project::MODEL {
        keel_formal::coqc::compile(model_dir.path(), f.0).expect("model compiles");
    }
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("KEEL_DIFF_BATCHES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
        max_shrink_iters: 0,
        ..Config::default()
    });
    let batch_no = std::cell::Cell::new(0u32);
    let result = runner.run(&prop::collection::vec(case(), 16), |batch| {
        let mut cases = Vec::new();
        let mut expected = Vec::new();
        for c in batch {
            let wasm = module(&c);
            expected.push(on_vm(&vm, &wasm, c.limit));
            cases.push((c, common::generate(&wasm, &["run"])));
        }
        batch_no.set(batch_no.get().saturating_add(1));
        let file = format!("Diff{}.v", batch_no.get());
        std::fs::write(model_dir.path().join(&file), coq_file(&cases, &schedule)).expect("write");
        let started = std::time::Instant::now();
        let out = keel_formal::coqc::compile(model_dir.path(), &file)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        println!("batch {}: coqc {:?}", batch_no.get(), started.elapsed());
        let got =
            keel_formal::coqc::z_lists(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.len(), cases.len());
        let statuses: Vec<i128> = expected.iter().filter_map(|v| v.first().copied()).collect();
        println!("batch {}: VM statuses {statuses:?}", batch_no.get());
        for ((c, _), (vm, model)) in cases.iter().zip(expected.iter().zip(&got)) {
            // Out of gas: the VM reports the whole limit used; the model the charge that failed.
            if vm.first() == Some(&8) {
                prop_assert_eq!(model.first(), Some(&8), "case {:?}", c);
                prop_assert_eq!(vm.get(1).copied(), Some(i128::from(c.limit)));
                prop_assert!(model.get(1).copied() > Some(i128::from(c.limit)));
            } else {
                prop_assert_eq!(vm, model, "case {:?}", c);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
