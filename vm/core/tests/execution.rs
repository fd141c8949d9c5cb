//! Metering, traps and limits: what a call costs and how it fails, deterministically.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::{
    CallContext, CallRequest, Dimension, GasBound, GasSchedule, GasVector, MemoryState, Trap, Vm,
    VmConfig, WasmTrap,
};

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test WAT parses")
}

fn big() -> GasVector {
    GasVector {
        compute: 1_000_000_000,
        storage_bytes: 1 << 20,
        memory_pages: 64,
        bandwidth: 1 << 20,
    }
}

fn run_with(
    vm: &Vm,
    code: &[u8],
    entry: &str,
    input: &[u8],
    limits: GasVector,
) -> keel_vm::CallOutcome {
    let req = CallRequest {
        entry: entry.into(),
        input: input.to_vec(),
        context: CallContext::default(),
        limits,
    };
    vm.call(code, req, Box::new(MemoryState::default()))
        .expect("admitted")
}

fn run(code: &[u8], entry: &str, input: &[u8], limits: GasVector) -> keel_vm::CallOutcome {
    run_with(
        &Vm::new(VmConfig::default()).unwrap(),
        code,
        entry,
        input,
        limits,
    )
}

fn trap_of(out: &keel_vm::CallOutcome) -> Trap {
    out.result.clone().expect_err("call must trap")
}

#[test]
fn compute_gas_is_exactly_the_schedule_sum_of_the_input_wasm() {
    let code =
        wasm(r#"(module (func (export "run") (drop (i32.add (i32.const 1) (i32.const 2)))))"#);
    let out = run(&code, "run", &[], big());
    assert!(out.result.is_ok());
    let s = GasSchedule::v1();
    // const + const + add + drop, one metering block; `end` is structural.
    let body = 4 * s.instructions.simple;
    assert_eq!(
        out.gas_used.compute,
        s.call_base + s.code_cost(code.len()) + body
    );
}

#[test]
fn a_loop_is_charged_once_per_iteration() {
    let code = wasm(
        r#"(module
            (import "keel" "input_size" (func $n (result i32)))
            (func (export "run") (local $i i32)
              (local.set $i (call $n))
              (block $done
                (loop $top
                  (br_if $done (i32.eqz (local.get $i)))
                  (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                  (br $top)))))"#,
    );
    let gas = |n: usize| run(&code, "run", &vec![0; n], big()).gas_used.compute;
    let per_iteration = gas(11) - gas(10);
    assert!(per_iteration > 0);
    assert_eq!(gas(21) - gas(20), per_iteration);
    assert_eq!(gas(30) - gas(10), 20 * per_iteration);
}

#[test]
fn gas_and_results_are_identical_across_runs_and_with_or_without_the_cache() {
    let cached = Vm::new(VmConfig::default()).unwrap();
    let uncached = Vm::new(VmConfig {
        cache_capacity: 0,
        ..VmConfig::default()
    })
    .unwrap();
    let cases: [(&[u8], &str, Vec<u8>); 4] = [
        (
            keel_contracts::FIB.wasm,
            "fib",
            1000u32.to_le_bytes().to_vec(),
        ),
        (keel_contracts::SHA256.wasm, "sha256", vec![0xab; 300]),
        (
            keel_contracts::COREMARK.wasm,
            "coremark",
            3u32.to_le_bytes().to_vec(),
        ),
        (keel_contracts::COUNTER.wasm, "increment", vec![]),
    ];
    for (code, entry, input) in cases {
        let first = run_with(&cached, code, entry, &input, big());
        for vm in [&cached, &cached, &uncached, &uncached] {
            let again = run_with(vm, code, entry, &input, big());
            assert_eq!(again.result, first.result, "{entry}");
            assert_eq!(again.gas_used, first.gas_used, "{entry}");
            assert_eq!(again.writes, first.writes, "{entry}");
            assert_eq!(again.events, first.events, "{entry}");
        }
    }
    let stats = cached.cache_stats();
    assert!(stats.hits >= 8 && stats.misses == 4, "{stats:?}");
    assert_eq!(uncached.cache_stats().entries, 0);
}

#[test]
fn running_out_of_gas_is_a_deterministic_trap_that_consumes_the_limit() {
    let limits = GasVector {
        compute: 50_000,
        ..big()
    };
    let outs: Vec<_> = (0..3)
        .map(|_| {
            run(
                keel_contracts::FIB.wasm,
                "fib",
                &1_000_000u32.to_le_bytes(),
                limits,
            )
        })
        .collect();
    for out in &outs {
        assert_eq!(trap_of(out), Trap::OutOfGas);
        assert_eq!(out.gas_used.compute, 50_000);
        assert!(out.writes.is_empty() && out.events.is_empty());
    }
    // A limit below the per-call base charge traps before any code runs.
    let out = run(
        keel_contracts::FIB.wasm,
        "fib",
        &[1, 0, 0, 0],
        GasVector {
            compute: 10,
            ..big()
        },
    );
    assert_eq!(trap_of(&out), Trap::OutOfGas);
    assert_eq!(out.gas_used.compute, 10);
}

#[test]
fn unbounded_recursion_is_a_typed_stack_overflow_not_an_engine_error() {
    let code = wasm(r#"(module (func $f (export "run") (call $f)))"#);
    let out = run(&code, "run", &[], big());
    assert_eq!(trap_of(&out), Trap::StackOverflow);
    // The same depth budget gives the same trap at the same gas, every time.
    let again = run(&code, "run", &[], big());
    assert_eq!(again.gas_used, out.gas_used);
}

#[test]
fn bounded_recursion_within_the_budget_runs() {
    let code = wasm(
        r#"(module
            (func $down (param i32) (result i32)
              (if (result i32) (i32.eqz (local.get 0))
                (then (i32.const 0))
                (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
            (func (export "run") (drop (call $down (i32.const 1000)))))"#,
    );
    assert!(run(&code, "run", &[], big()).result.is_ok());
}

#[test]
fn wasm_traps_map_to_typed_engine_independent_traps() {
    let cases = [
        ("(func (export \"run\") unreachable)", WasmTrap::Unreachable),
        (
            "(func (export \"run\") (drop (i32.div_u (i32.const 1) (i32.const 0))))",
            WasmTrap::IntegerDivisionByZero,
        ),
        (
            "(func (export \"run\") (drop (i32.div_s (i32.const -2147483648) (i32.const -1))))",
            WasmTrap::IntegerOverflow,
        ),
        (
            "(memory 1 1) (func (export \"run\") (drop (i32.load (i32.const 65535))))",
            WasmTrap::MemoryOutOfBounds,
        ),
        (
            "(table 1 funcref) (type $t (func)) (func (export \"run\") (call_indirect (type $t) (i32.const 0)))",
            WasmTrap::IndirectCallToNull,
        ),
        (
            "(table 1 funcref) (type $t (func)) (func (export \"run\") (call_indirect (type $t) (i32.const 5)))",
            WasmTrap::TableOutOfBounds,
        ),
    ];
    for (body, want) in cases {
        let code = wasm(&format!("(module {body})"));
        let out = run(&code, "run", &[], big());
        assert_eq!(trap_of(&out), Trap::Wasm { trap: want }, "{body}");
    }
}

#[test]
fn abort_carries_the_contracts_message() {
    let code = wasm(
        r#"(module
            (import "keel" "abort" (func $abort (param i32 i32)))
            (memory 1 1) (data (i32.const 0) "no funds")
            (func (export "run") (call $abort (i32.const 0) (i32.const 8))))"#,
    );
    let out = run(&code, "run", &[], big());
    assert_eq!(
        trap_of(&out),
        Trap::Abort {
            message: "no funds".into()
        }
    );
}

#[test]
fn host_calls_with_out_of_bounds_pointers_trap_without_touching_the_host() {
    let code = wasm(
        r#"(module
            (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
            (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
            (memory 1 1)
            (func (export "copy") (call $copy (i32.const 65530) (i32.const 0) (i32.const 8)))
            (func (export "write") (call $w (i32.const 0) (i32.const 1) (i32.const -1) (i32.const 2))))"#,
    );
    let out = run(&code, "copy", &[0; 8], big());
    assert!(matches!(
        trap_of(&out),
        Trap::HostOutOfBounds {
            ptr: 65530,
            len: 8,
            ..
        }
    ));
    let out = run(&code, "write", &[], big());
    assert!(matches!(trap_of(&out), Trap::HostOutOfBounds { .. }));
    assert!(out.writes.is_empty());
}

#[test]
fn a_trapped_call_discards_its_writes_and_events() {
    let code = wasm(
        r#"(module
            (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
            (import "keel" "emit_event" (func $e (param i32 i32 i32 i32)))
            (memory 1 1)
            (func (export "run")
              (call $w (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
              (call $e (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
              unreachable))"#,
    );
    let out = run(&code, "run", &[], big());
    assert_eq!(
        trap_of(&out),
        Trap::Wasm {
            trap: WasmTrap::Unreachable
        }
    );
    assert!(out.writes.is_empty() && out.events.is_empty());
    // Gas is still charged for the work done, including the storage bytes written.
    assert!(out.gas_used.compute > 2_000);
    assert_eq!(out.gas_used.storage_bytes, 8);
}

#[test]
fn each_gas_dimension_has_its_own_enforced_limit() {
    let code = wasm(
        r#"(module
            (import "keel" "storage_write" (func $w (param i32 i32 i32 i32)))
            (import "keel" "return_data" (func $r (param i32 i32)))
            (memory 1 4)
            (func (export "store") (call $w (i32.const 0) (i32.const 10) (i32.const 0) (i32.const 100)))
            (func (export "ret") (call $r (i32.const 0) (i32.const 1000)))
            (func (export "grow") (local i32)
              (local.set 0 (memory.grow (i32.const 2)))
              (i32.store (i32.const 0) (local.get 0))
              (call $r (i32.const 0) (i32.const 4))))"#,
    );
    let limited = |d: Dimension, v: u64| {
        let mut l = big();
        *l.get_mut(d) = v;
        l
    };
    let out = run(&code, "store", &[], limited(Dimension::StorageBytes, 109));
    assert_eq!(
        trap_of(&out),
        Trap::LimitExceeded {
            dimension: Dimension::StorageBytes
        }
    );
    assert!(
        run(&code, "store", &[], limited(Dimension::StorageBytes, 110))
            .result
            .is_ok()
    );

    let out = run(&code, "ret", &[], limited(Dimension::Bandwidth, 999));
    assert_eq!(
        trap_of(&out),
        Trap::LimitExceeded {
            dimension: Dimension::Bandwidth
        }
    );
    let out = run(&code, "ret", &[0; 10], limited(Dimension::Bandwidth, 1009));
    assert_eq!(
        trap_of(&out),
        Trap::LimitExceeded {
            dimension: Dimension::Bandwidth
        }
    );
    let out = run(&code, "ret", &[0; 10], limited(Dimension::Bandwidth, 1010));
    assert_eq!(out.gas_used.bandwidth, 1010);

    // memory.grow past the memory limit fails the wasm way (-1), deterministically.
    let out = run(&code, "grow", &[], limited(Dimension::MemoryPages, 2));
    assert_eq!(out.result.unwrap(), (-1i32).to_le_bytes());
    assert_eq!(out.gas_used.memory_pages, 1);
    let out = run(&code, "grow", &[], limited(Dimension::MemoryPages, 3));
    assert_eq!(out.result.unwrap(), 1i32.to_le_bytes());
    assert_eq!(out.gas_used.memory_pages, 3);
    // A module whose initial memory is over the limit does not start.
    let out = run(&code, "ret", &[], limited(Dimension::MemoryPages, 0));
    assert_eq!(
        trap_of(&out),
        Trap::LimitExceeded {
            dimension: Dimension::MemoryPages
        }
    );
}

#[test]
fn calling_a_missing_or_non_entry_export_traps() {
    let code = wasm(r#"(module (func (export "f") (param i32)))"#);
    assert!(matches!(
        trap_of(&run(&code, "f", &[], big())),
        Trap::NoSuchEntry { .. }
    ));
    assert!(matches!(
        trap_of(&run(&code, "nope", &[], big())),
        Trap::NoSuchEntry { .. }
    ));
}

#[test]
fn static_bound_covers_actual_gas_for_loop_free_code_and_refuses_loops_and_recursion() {
    let code = wasm(
        r#"(module
            (import "keel" "input_size" (func $n (result i32)))
            (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
            (func (export "branchy") (local i32)
              (local.set 0 (call $n))
              (if (i32.gt_u (local.get 0) (i32.const 3))
                (then (drop (call $sq (local.get 0))) (drop (call $sq (i32.const 2))))
                (else (drop (call $sq (i32.const 7))))))
            (func (export "loops") (loop (br_if 0 (i32.eqz (call $n)))))
            (func $r (export "recurses") (call $r)))"#,
    );
    let vm = Vm::new(VmConfig::default()).unwrap();
    let bounds = vm.static_bounds(&code).unwrap();
    let GasBound::Bounded { compute, .. } = bounds["branchy"] else {
        panic!("branchy must be bounded: {:?}", bounds["branchy"]);
    };
    for n in [0usize, 2, 5, 9] {
        let used = run_with(&vm, &code, "branchy", &vec![0; n], big())
            .gas_used
            .compute;
        assert!(used <= compute, "input {n}: used {used} > bound {compute}");
    }
    assert!(matches!(bounds["loops"], GasBound::Unbounded { .. }));
    assert!(matches!(bounds["recurses"], GasBound::Unbounded { .. }));
}

#[test]
fn instrumented_contracts_still_validate() {
    let vm = Vm::new(VmConfig::default()).unwrap();
    for c in keel_contracts::all() {
        let m = keel_vm::admit(c.wasm, &vm.config().profile).unwrap();
        let inst =
            keel_vm::metering::instrument(&m, &GasSchedule::v1(), &vm.config().profile).unwrap();
        let mut v = wasmparser::Validator::new_with_features(keel_vm::Profile::wasm_features());
        v.validate_all(&inst.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    }
}

/// Gas used when a call ends at each kind of observation point right after a 100-iteration
/// loop without calls or trapping operators (where the metering pass keeps gas in a local):
/// the figure must count every iteration, computed here from the input's metering blocks.
#[test]
fn gas_observed_after_a_loop_counts_every_iteration_at_each_kind_of_exit() {
    let s = GasSchedule::v1();
    let enders = [
        ("(drop (i32.div_u (i32.const 1) (local.get 0)))", false), // division by zero
        ("(drop (i32.load (i32.const 1000000)))", false),          // out of bounds
        ("(unreachable)", false),
        ("(return)", true),
        ("(br 0)", true), // a branch to the function's own label
        ("(nop)", true),  // the final `end`
    ];
    for (ender, returns) in enders {
        let text = format!(
            r#"(module (memory 1)
                 (func (export "run") (local i32)
                   (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                         (br_if 0 (i32.lt_u (local.get 0) (i32.const 100))))
                   (local.set 0 (i32.const 0))
                   {ender}))"#
        );
        let code = wasm(&text);
        let out = run(&code, "run", &[], big());
        assert_eq!(out.result.is_ok(), returns, "{ender}: {:?}", out.result);
        // The input's metering blocks: those inside the loop run 100 times, the rest once.
        let body = module_body_ops(&code);
        let charges = keel_vm::metering::block_charges(&body, &s);
        let first = body
            .iter()
            .position(|op| matches!(op, wasmparser::Operator::Loop { .. }))
            .unwrap();
        let end = first
            + body[first..]
                .iter()
                .position(|op| matches!(op, wasmparser::Operator::End))
                .unwrap();
        let per_run: u64 = charges
            .iter()
            .enumerate()
            .map(|(i, c)| if i > first && i < end { 100 * c } else { *c })
            .sum();
        assert!(
            charges[first + 1] > 0 && charges[end + 1] > 0,
            "{charges:?}"
        );
        let expected = s.call_base + s.code_cost(code.len()) + per_run;
        assert_eq!(out.gas_used.compute, expected, "{ender}");
    }
}

/// The operators of the only function body of `code`.
fn module_body_ops(code: &[u8]) -> Vec<wasmparser::Operator<'_>> {
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(b)) = payload {
            return b
                .get_operators_reader()
                .unwrap()
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
        }
    }
    panic!("no function body")
}

/// Functions with no, one and several results keep their results through the metering pass's
/// body frame, including a branch with values to the function's own label.
#[test]
fn results_of_every_arity_survive_the_body_frame() {
    let code = wasm(
        r#"(module
            (import "keel" "return_data" (func $ret (param i32 i32)))
            (memory 1)
            (func $pair (param $x i32) (result i32 i64)
              (if (i32.eqz (local.get $x)) (then (br 1 (i32.const 7) (i64.const 9))))
              (local.get $x) (i64.extend_i32_u (i32.mul (local.get $x) (i32.const 3))))
            (func $one (param $x i32) (result i32)
              (drop (br_if 0 (i32.const 40) (i32.eqz (local.get $x))))
              (i32.add (local.get $x) (i32.const 1)))
            (func (export "run") (local $a i32) (local $b i64)
              (call $pair (i32.const 5)) (local.set $b) (local.set $a)
              (i32.store (i32.const 0) (local.get $a))
              (i64.store (i32.const 4) (local.get $b))
              (call $pair (i32.const 0)) (local.set $b) (local.set $a)
              (i32.store (i32.const 12) (local.get $a))
              (i64.store (i32.const 16) (local.get $b))
              (i32.store (i32.const 24) (call $one (i32.const 0)))
              (i32.store (i32.const 28) (call $one (i32.const 2)))
              (call $ret (i32.const 0) (i32.const 32))))"#,
    );
    let out = run(&code, "run", &[], big());
    let data = out.result.expect("returns");
    let word = |at: usize, n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&data[at..at + n]);
        u64::from_le_bytes(b)
    };
    assert_eq!(
        [
            word(0, 4),
            word(4, 8),
            word(12, 4),
            word(16, 8),
            word(24, 4),
            word(28, 4)
        ],
        [5, 15, 7, 9, 40, 3]
    );
}
