//! The wasmtime tier gives exactly wasmi's results: every contract, the deepest recursion the
//! profile allows, out-of-bounds accesses; tiering falls back to wasmi without a difference;
//! the compiled-artifact cache hits after a restart, misses when its key changes and refuses a
//! tampered artifact.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::engine::artifact_cache::CACHE_DIR;
use keel_vm::engine::choice::EngineChoice;
use keel_vm::engine::tiered::{JitMode, TierConfig, TieredEngine};
use keel_vm::{
    CallContext, CallOutcome, CallRequest, GasSchedule, GasVector, MemoryState, Profile, Vm,
    VmConfig,
};
use std::path::Path;

fn limits(compute: u64) -> GasVector {
    GasVector {
        compute,
        storage_bytes: 1 << 20,
        memory_pages: 64,
        bandwidth: 1 << 20,
    }
}

fn vm(choice: EngineChoice, dir: Option<&Path>) -> Vm {
    Vm::with_choice(VmConfig::default(), choice, dir).unwrap()
}

/// Everything a call's result consists of, comparable.
fn summary(out: &CallOutcome) -> String {
    let faults: Vec<String> = out
        .faults
        .iter()
        .map(|f| format!("{:?} {:?} {:?}", f.kind, f.trap, f.location))
        .collect();
    let result = match &out.result {
        Err(keel_vm::Trap::EngineLimit { .. }) => "engine limit".to_string(),
        r => format!("{r:?}"),
    };
    format!(
        "{result} gas={:?} writes={:?} events={:?} faults={faults:?}",
        out.gas_used, out.writes, out.events
    )
}

fn call(
    vm: &Vm,
    code: &[u8],
    entry: &str,
    input: &[u8],
    compute: u64,
    state: &MemoryState,
) -> CallOutcome {
    let req = CallRequest {
        entry: entry.into(),
        input: input.to_vec(),
        context: CallContext {
            caller: [7; 32],
            self_address: [9; 32],
            block_height: 10,
            block_timestamp: 1_700_000_000,
        },
        limits: limits(compute),
    };
    vm.call(code, req, Box::new(state.clone())).unwrap()
}

/// Runs a sequence of calls on both tiers, carrying state, and compares every outcome.
fn same_on_both(code: &[u8], calls: &[(&str, Vec<u8>, u64)]) {
    let (a, b) = (
        vm(EngineChoice::Wasmi, None),
        vm(EngineChoice::Wasmtime, None),
    );
    let (mut sa, mut sb) = (MemoryState::default(), MemoryState::default());
    for (entry, input, compute) in calls {
        let x = call(&a, code, entry, input, *compute, &sa);
        let y = call(&b, code, entry, input, *compute, &sb);
        assert_eq!(
            summary(&x),
            summary(&y),
            "tiers differ on {entry}({input:?})"
        );
        sa.apply(&[9; 32], &x.writes);
        sb.apply(&[9; 32], &y.writes);
    }
    assert!(
        b.prepare(code).unwrap().on_jit(),
        "the wasmtime VM ran on wasmi"
    );
}

#[test]
fn every_contract_gives_the_same_results_on_both_tiers() {
    for c in keel_contracts::all() {
        let mut calls = Vec::new();
        let mut n5 = 5u32.to_le_bytes().to_vec();
        for entry in c.entries {
            calls.push((*entry, Vec::new(), 20_000_000));
            calls.push((*entry, n5.clone(), 20_000_000));
            calls.push((*entry, 5u64.to_le_bytes().to_vec(), 20_000_000));
            let mut long = vec![0u8; 96];
            long[0] = 5;
            long[40] = 3;
            calls.push((*entry, long, 20_000_000));
            // Out of gas part-way: the trap offset and the gas vector must match too.
            calls.push((*entry, vec![0xff; 8], 300_000));
        }
        n5.clear();
        same_on_both(c.wasm, &calls);
    }
}

#[test]
fn benchmark_kernels_match_their_references_on_wasmtime() {
    let v = vm(EngineChoice::Wasmtime, None);
    let st = MemoryState::default();
    let out = call(
        &v,
        keel_contracts::FIB.wasm,
        "fib",
        &50u32.to_le_bytes(),
        10_000_000,
        &st,
    );
    let want = keel_contracts::reference::expected_fib(50)
        .to_le_bytes()
        .to_vec();
    assert_eq!(out.result.unwrap(), want);
}

/// `depth` nested calls of a function with `locals` i64 locals that are all live across the
/// call (so Cranelift must keep them in the frame).
fn recursion(locals: u32) -> Vec<u8> {
    let decl = "(local i64) ".repeat(locals as usize);
    let mut keep = String::new();
    let mut sum = String::new();
    for i in 0..locals {
        let l = i + 1;
        keep.push_str(&format!("(local.set {l} (i64.extend_i32_u (local.get 0)))"));
        sum.push_str(&format!("(drop (i64.add (local.get {l}) (i64.const {i})))"));
    }
    let text = format!(
        r#"(module
          (memory 1)
          (func $r (param i32) {decl}
            {keep}
            (if (local.get 0) (then (call $r (i32.add (local.get 0) (i32.const 1)))))
            {sum})
          (func (export "go") (call $r (i32.const 1))))"#
    );
    wat::parse_str(text).unwrap()
}

#[test]
fn the_deepest_recursion_the_profile_allows_hits_keels_stack_limit_on_both_tiers() {
    // Unbounded recursion stops at Keel's deterministic budget (StackOverflow at the same
    // offset, same gas) on both tiers, never at wasmtime's native limit (an engine limit).
    // Run on a thread with a small native stack: the tier must find itself room.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            for locals in [0, 1, 8, 64, 600] {
                let code = recursion(locals);
                let a = vm(EngineChoice::Wasmi, None);
                let b = vm(EngineChoice::Wasmtime, None);
                let st = MemoryState::default();
                let x = call(&a, &code, "go", &[], 4_000_000_000, &st);
                let y = call(&b, &code, "go", &[], 4_000_000_000, &st);
                assert_eq!(
                    x.result,
                    Err(keel_vm::Trap::StackOverflow),
                    "{locals} locals"
                );
                assert_eq!(summary(&x), summary(&y), "{locals} locals");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn out_of_bounds_accesses_trap_alike_on_both_tiers() {
    // Just past the end, far past it, with a static offset beyond the guard region, a store
    // straddling the end, and after a grow.
    for body in [
        "(drop (i32.load (i32.const 65536)))",
        "(drop (i32.load (i32.const 65533)))",
        "(drop (i64.load offset=4294967295 (i32.const 1)))",
        "(i64.store offset=40000000 (i32.const 0) (i64.const 1))",
        "(i32.store (i32.const -1) (i32.const 1))",
        "(drop (memory.grow (i32.const 1))) (i32.store8 (i32.const 131071) (i32.const 5)) (drop (i32.load8_u (i32.const 131072)))",
    ] {
        let text = format!(r#"(module (memory 1 4) (func (export "go") {body}))"#);
        let code = wat::parse_str(&text).unwrap();
        let (a, b) = (
            vm(EngineChoice::Wasmi, None),
            vm(EngineChoice::Wasmtime, None),
        );
        let st = MemoryState::default();
        let x = call(&a, &code, "go", &[], 1_000_000, &st);
        let y = call(&b, &code, "go", &[], 1_000_000, &st);
        assert!(
            matches!(
                x.result,
                Err(keel_vm::Trap::Wasm {
                    trap: keel_vm::WasmTrap::MemoryOutOfBounds
                })
            ),
            "{body}: {:?}",
            x.result
        );
        assert_eq!(summary(&x), summary(&y), "{body}");
    }
}

#[test]
fn segments_that_do_not_fit_trap_alike_at_instantiation_on_both_tiers() {
    // An active element or data segment past its table's or memory's end traps while the
    // instance is made (found by the differential property: wasmi reported an engine limit).
    for (module, want) in [
        (
            r#"(module (memory 1) (table 1 funcref) (func $f) (elem (i32.const 1) $f)
                 (func (export "go")))"#,
            keel_vm::WasmTrap::TableOutOfBounds,
        ),
        (
            r#"(module (memory 1) (table 2 funcref) (func $f) (elem (i32.const 1) $f $f $f)
                 (func (export "go")))"#,
            keel_vm::WasmTrap::TableOutOfBounds,
        ),
        (
            r#"(module (memory 1) (data (i32.const 65535) "ab") (func (export "go")))"#,
            keel_vm::WasmTrap::MemoryOutOfBounds,
        ),
    ] {
        let code = wat::parse_str(module).unwrap();
        for compute in [0, 1_000_000] {
            let (a, b) = (
                vm(EngineChoice::Wasmi, None),
                vm(EngineChoice::Wasmtime, None),
            );
            let st = MemoryState::default();
            let x = call(&a, &code, "go", &[], compute, &st);
            let y = call(&b, &code, "go", &[], compute, &st);
            assert_eq!(summary(&x), summary(&y), "{module} with {compute} gas");
            if compute > 0 {
                assert_eq!(
                    x.result,
                    Err(keel_vm::Trap::Wasm { trap: want }),
                    "{module}"
                );
            }
        }
    }
}

fn artifacts(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(CACHE_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[test]
fn a_compiled_artifact_is_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let code = keel_contracts::SHA256.wasm;
    let first = vm(EngineChoice::Wasmtime, Some(dir.path()));
    first.prepare(code).unwrap();
    let s = first.jit_stats().unwrap();
    assert_eq!((s.hits, s.misses, s.compiled), (0, 1, 1));
    assert_eq!(artifacts(dir.path()).len(), 1);
    drop(first);
    let second = vm(EngineChoice::Wasmtime, Some(dir.path()));
    let p = second.prepare(code).unwrap();
    assert!(p.on_jit());
    let s = second.jit_stats().unwrap();
    assert_eq!((s.hits, s.misses, s.compiled), (1, 0, 0));
    let st = MemoryState::default();
    let out = call(&second, code, "sha256", b"abc", 10_000_000, &st);
    let fresh = call(
        &vm(EngineChoice::Wasmi, None),
        code,
        "sha256",
        b"abc",
        10_000_000,
        &st,
    );
    assert_eq!(summary(&out), summary(&fresh));
}

#[test]
fn a_changed_schedule_profile_or_kill_set_misses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let code = keel_contracts::COUNTER.wasm;
    let v = vm(EngineChoice::Wasmtime, Some(dir.path()));
    v.prepare(code).unwrap();
    let mut schedule = GasSchedule::v1();
    schedule.version = 99;
    v.set_schedule(schedule);
    v.prepare(code).unwrap();
    v.set_schedule(GasSchedule::v1());
    let mut kills = keel_vm::KillSet::default();
    kills.opcodes.insert(keel_vm::OpcodeClass::MemoryGrow);
    v.set_kills(kills);
    v.prepare(code).unwrap();
    let s = v.jit_stats().unwrap();
    assert_eq!((s.hits, s.misses), (0, 3));
    assert_eq!(artifacts(dir.path()).len(), 3);
    // Back to the original rules in a new process: the first artifact is found again.
    let again = vm(EngineChoice::Wasmtime, Some(dir.path()));
    again.prepare(code).unwrap();
    assert_eq!(again.jit_stats().unwrap().hits, 1);
    let _ = Profile::V1;
}

#[test]
fn a_tampered_or_truncated_artifact_is_refused_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let code = keel_contracts::FIB.wasm;
    vm(EngineChoice::Wasmtime, Some(dir.path()))
        .prepare(code)
        .unwrap();
    let path = artifacts(dir.path()).pop().unwrap();
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    for damaged in [bad, good[..good.len() - 100].to_vec(), good[..20].to_vec()] {
        std::fs::write(&path, &damaged).unwrap();
        let v = vm(EngineChoice::Wasmtime, Some(dir.path()));
        let p = v.prepare(code).unwrap();
        let s = v.jit_stats().unwrap();
        assert_eq!(
            (s.hits, s.misses, s.compiled),
            (0, 1, 1),
            "a damaged artifact was loaded"
        );
        assert!(p.on_jit());
        assert_eq!(
            std::fs::read(&path).unwrap().len(),
            good.len(),
            "not rewritten"
        );
    }
    // An artifact MAC'd under another node's secret is refused too.
    std::fs::remove_file(dir.path().join(CACHE_DIR).join("secret.key")).unwrap();
    let v = vm(EngineChoice::Wasmtime, Some(dir.path()));
    v.prepare(code).unwrap();
    assert_eq!(v.jit_stats().unwrap().hits, 0);
}

#[test]
fn a_module_over_the_compile_budget_stays_on_wasmi_with_the_same_result() {
    let code = keel_contracts::SHA256.wasm;
    let mut config = TierConfig::new(JitMode::Eager, None);
    config.budget.max_code_bytes = 64;
    let small = TieredEngine::new(&Profile::V1, true, config).unwrap();
    let mut config = TierConfig::new(JitMode::Eager, None);
    config.budget.time = std::time::Duration::ZERO;
    let slow = TieredEngine::new(&Profile::V1, true, config).unwrap();
    let reference = vm(EngineChoice::Wasmi, None);
    let st = MemoryState::default();
    let want = summary(&call(&reference, code, "sha256", b"abc", 10_000_000, &st));
    for engine in [small, slow] {
        let v = Vm::with_engine(VmConfig::default(), Box::new(engine));
        let p = v.prepare(code).unwrap();
        assert!(!p.on_jit());
        assert_eq!(v.jit_stats().unwrap().over_budget, 1);
        assert_eq!(
            summary(&call(&v, code, "sha256", b"abc", 10_000_000, &st)),
            want
        );
    }
}

#[test]
fn background_tiering_switches_to_wasmtime_without_changing_results() {
    let code = keel_contracts::COREMARK.wasm;
    let v = vm(EngineChoice::Tiered, None);
    let reference = vm(EngineChoice::Wasmi, None);
    let st = MemoryState::default();
    let want = summary(&call(
        &reference,
        code,
        "coremark",
        &2u32.to_le_bytes(),
        50_000_000,
        &st,
    ));
    let p = v.prepare(code).unwrap();
    let mut saw_wasmi = false;
    for _ in 0..2000 {
        saw_wasmi |= !p.on_jit();
        let got = call(&v, code, "coremark", &2u32.to_le_bytes(), 50_000_000, &st);
        assert_eq!(summary(&got), want);
        if p.on_jit() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(p.on_jit(), "background compilation never finished");
    let got = call(&v, code, "coremark", &2u32.to_le_bytes(), 50_000_000, &st);
    assert_eq!(summary(&got), want);
    let _ = saw_wasmi;
}

/// A JIT bomb inside the admission profile: one function with `locals` i32 locals and `depth`
/// nested loops whose innermost body reads every local, each loop ending in a (never taken)
/// branch back to its header, so every local is live across every loop header.
fn loop_nest_bomb(locals: u32, depth: u32) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction,
        MemorySection, MemoryType, Module, TypeSection, ValType,
    };
    let mut f = Function::new([(locals, ValType::I32)]);
    for _ in 0..depth {
        f.instruction(&Instruction::Loop(wasm_encoder::BlockType::Empty));
    }
    for i in 0..locals {
        f.instruction(&Instruction::LocalGet(i))
            .instruction(&Instruction::LocalSet((i + 1) % locals));
    }
    for _ in 0..depth {
        f.instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::BrIf(0))
            .instruction(&Instruction::End);
    }
    f.instruction(&Instruction::End);
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: Some(1),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, 0);
    let mut code = CodeSection::new();
    code.function(&f);
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&memory)
        .section(&exports)
        .section(&code);
    m.finish()
}

#[test]
fn a_jit_bomb_inside_the_profile_is_refused_before_compiling_and_runs_on_wasmi() {
    // 1024 locals across 3000 loop headers: ~3 million SSA block parameters for Cranelift,
    // in an 18 KiB body the profile admits.
    let code = loop_nest_bomb(1024, 3000);
    let reference = vm(EngineChoice::Wasmi, None);
    let st = MemoryState::default();
    let want = summary(&call(&reference, &code, "run", b"", 10_000_000, &st));
    assert!(want.starts_with("Ok"), "{want}");
    let v = vm(EngineChoice::Wasmtime, None);
    let p = v.prepare(&code).unwrap();
    assert!(!p.on_jit(), "the bomb was compiled");
    let stats = v.jit_stats().unwrap();
    assert_eq!((stats.over_budget, stats.compiled), (1, 0));
    assert_eq!(summary(&call(&v, &code, "run", b"", 10_000_000, &st)), want);
    // The same shape at a harmless size is compiled: the bound is on the product.
    let small = loop_nest_bomb(64, 50);
    let p = v.prepare(&small).unwrap();
    assert!(p.on_jit());
    same_on_both(&small, &[("run", Vec::new(), 10_000_000)]);
}

/// Descriptors of this process that are memfd images made by wasmtime.
fn memfd_images() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("wasm-memory-image"))
        .count()
}

#[test]
fn instantiating_a_module_with_data_makes_no_memfd() {
    // A sandboxed worker may not call memfd_create: had wasmtime built its copy-on-write
    // memory image there, the call would end in an engine-limit trap where wasmi returns
    // (the demo's counter contract did, under `keel serve --sandbox`).
    let code = wat::parse_str(
        r#"(module (memory (export "memory") 1 1) (data (i32.const 16) "keel")
             (func (export "run") (drop (i32.load (i32.const 16)))))"#,
    )
    .unwrap();
    let before = memfd_images();
    same_on_both(&code, &[("run", Vec::new(), 1_000_000)]);
    let v = vm(EngineChoice::Wasmtime, None);
    let p = v.prepare(&code).unwrap();
    assert!(p.on_jit());
    let st = MemoryState::default();
    assert!(call(&v, &code, "run", b"", 1_000_000, &st).result.is_ok());
    assert_eq!(memfd_images(), before, "wasmtime made a memfd image");
}
