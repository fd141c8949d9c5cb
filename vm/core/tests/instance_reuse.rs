// Reused instances against fresh ones: every call must see the just-instantiated state (memory
// contents and size, data segments, globals) and give the same result, gas, writes and events
// as on a fresh instance, after any earlier call — including ones that grew memory or trapped.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::engine::choice::EngineChoice;
use keel_vm::{CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Vm, VmConfig};

const SELF: [u8; 32] = [0x5e; 32];

/// `observe` returns what a call can see of the instance state, then changes all of it;
/// `grow` grows memory; `dirty_then_trap` changes state and traps.
const PROBE: &str = r#"
(module
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory (export "memory") 2 4)
  (global $counter (mut i32) (i32.const 7))
  (global $wide (mut i64) (i64.const -3))
  (data (i32.const 100) "fresh-data")
  (func (export "observe")
    (i32.store (i32.const 200) (global.get $counter))
    (i32.store (i32.const 204) (memory.size))
    (i64.store (i32.const 208) (i64.load (i32.const 100)))
    (i32.store (i32.const 216) (i32.load (i32.const 70000)))
    (i64.store (i32.const 220) (global.get $wide))
    (call $ret (i32.const 200) (i32.const 28))
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.set $wide (i64.const 42))
    (i64.store (i32.const 100) (i64.const -1))
    (i32.store (i32.const 70000) (i32.const 0xdead)))
  (func (export "grow")
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 100) (i32.const 0x55))
    (global.set $counter (i32.const 1000)))
  (func (export "dirty_then_trap")
    (global.set $counter (i32.const 99))
    (i32.store (i32.const 104) (i32.const 0x77))
    (i32.store (i32.const 131000) (i32.const 0x77))
    unreachable))
"#;

fn request(entry: &str, input: Vec<u8>) -> CallRequest {
    CallRequest {
        entry: entry.into(),
        input,
        context: CallContext {
            caller: [1; 32],
            self_address: SELF,
            block_height: 1,
            block_timestamp: 0,
        },
        limits: GasVector {
            compute: 10_000_000,
            storage_bytes: 1 << 20,
            memory_pages: 64,
            bandwidth: 1 << 20,
        },
    }
}

/// Both engine tiers keep instances; each test runs on each (wasmtime compiled before the
/// first call).
const ENGINES: [EngineChoice; 2] = [EngineChoice::Wasmi, EngineChoice::Wasmtime];

fn vm(engine: EngineChoice, reuse: bool) -> Vm {
    let config = VmConfig {
        reuse_instances: reuse,
        ..VmConfig::default()
    };
    Vm::with_choice(config, engine, None).unwrap()
}

fn call(vm: &Vm, code: &[u8], entry: &str, input: Vec<u8>, state: MemoryState) -> CallOutcome {
    vm.call(code, request(entry, input), Box::new(state))
        .unwrap()
}

fn same(a: &CallOutcome, b: &CallOutcome, what: &str) {
    assert_eq!(a.result, b.result, "{what}: result");
    assert_eq!(a.gas_used, b.gas_used, "{what}: gas");
    assert_eq!(a.writes, b.writes, "{what}: writes");
    assert_eq!(a.events, b.events, "{what}: events");
    assert_eq!(a.faults.len(), b.faults.len(), "{what}: faults");
}

#[test]
fn a_reused_instance_sees_fresh_memory_data_segments_and_globals_after_any_call() {
    let code = wat::parse_str(PROBE).unwrap();
    for engine in ENGINES {
        let (reused, fresh) = (vm(engine, true), vm(engine, false));
        let first = call(&fresh, &code, "observe", vec![], MemoryState::default());
        let seen = first.result.clone().unwrap();
        assert_eq!(&seen[0..4], &7i32.to_le_bytes());
        assert_eq!(&seen[4..8], &2i32.to_le_bytes());
        assert_eq!(&seen[8..16], b"fresh-da");
        assert_eq!(&seen[16..20], &[0; 4]);
        assert_eq!(&seen[20..28], &(-3i64).to_le_bytes());
        let sequence = [
            "observe",
            "observe",
            "dirty_then_trap",
            "observe",
            "grow",
            "observe",
            "observe",
            "dirty_then_trap",
            "dirty_then_trap",
            "observe",
        ];
        for (i, entry) in sequence.into_iter().enumerate() {
            let a = call(&reused, &code, entry, vec![], MemoryState::default());
            let b = call(&fresh, &code, entry, vec![], MemoryState::default());
            same(&a, &b, &format!("call {i} ({entry})"));
            if entry == "observe" {
                assert_eq!(
                    a.result.as_ref().unwrap(),
                    &seen,
                    "call {i} saw a used instance"
                );
            }
        }
        let prepared = reused.prepare(&code).unwrap();
        // Every call after the first and after each `grow` (whose instance is dropped) reused one.
        assert!(
            prepared.reused_instances() >= 7,
            "{}",
            prepared.reused_instances()
        );
        assert_eq!(fresh.prepare(&code).unwrap().reused_instances(), 0);
    }
}

/// `scatter` returns four words from four chunks of memory, then writes each of them a
/// different way the written-chunks record must follow: a store straddling chunks 0 and 1, a
/// host function writing across chunks 1 and 2, a callee's store with a large static offset
/// (chunk 16), and a store just before leaving through a branch to the function's label
/// (chunk 31, the last of two pages); `input_copy` writes the call's input at 40 000.
const SCATTER: &str = r#"
(module
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "caller" (func $caller (param i32)))
  (import "keel" "input_copy" (func $input (param i32 i32 i32)))
  (memory 2 4)
  (func $deep (param i32) (i64.store offset=65536 (local.get 0) (i64.const -1)))
  (func (export "scatter")
    (i32.store (i32.const 300) (i32.load (i32.const 4096)))
    (i32.store (i32.const 304) (i32.load (i32.const 8192)))
    (i32.store (i32.const 308) (i32.load (i32.const 65540)))
    (i32.store (i32.const 312) (i32.load (i32.const 126976)))
    (i32.store (i32.const 316) (i32.load (i32.const 40000)))
    (call $ret (i32.const 300) (i32.const 20))
    (i64.store (i32.const 4092) (i64.const -1))
    (call $caller (i32.const 8180))
    (call $deep (i32.const 4))
    (call $input (i32.const 40000) (i32.const 0) (i32.const 4))
    (block
      (i32.store (i32.const 126976) (i32.const 9))
      (br 1))))
"#;

#[test]
fn every_way_a_call_writes_memory_is_reset_on_a_reused_instance() {
    let code = wat::parse_str(SCATTER).unwrap();
    for engine in ENGINES {
        let (reused, fresh) = (vm(engine, true), vm(engine, false));
        for i in 0..4 {
            let a = call(
                &reused,
                &code,
                "scatter",
                vec![7; 4],
                MemoryState::default(),
            );
            let b = call(&fresh, &code, "scatter", vec![7; 4], MemoryState::default());
            same(&a, &b, &format!("{engine:?} call {i}"));
            assert_eq!(a.result.unwrap(), vec![0; 20], "{engine:?} call {i}");
        }
        assert!(reused.prepare(&code).unwrap().reused_instances() >= 3);
    }
}

#[test]
fn out_of_gas_and_memory_limits_are_identical_on_reused_instances() {
    let code = wat::parse_str(PROBE).unwrap();
    for engine in ENGINES {
        let (reused, fresh) = (vm(engine, true), vm(engine, false));
        for compute in [1, 50, 200, 400, 10_000_000] {
            for pages in [1, 2, 3, 64] {
                for entry in ["observe", "grow", "dirty_then_trap"] {
                    let mut req = request(entry, vec![]);
                    req.limits.compute = compute;
                    req.limits.memory_pages = pages;
                    let a = reused
                        .call(&code, req.clone(), Box::new(MemoryState::default()))
                        .unwrap();
                    let b = fresh
                        .call(&code, req, Box::new(MemoryState::default()))
                        .unwrap();
                    same(&a, &b, &format!("{entry} compute {compute} pages {pages}"));
                }
            }
        }
    }
}

#[test]
fn token_calls_are_identical_on_reused_and_fresh_instances() {
    let code = keel_contracts::TOKEN.wasm;
    for engine in ENGINES {
        let (reused, fresh) = (vm(engine, true), vm(engine, false));
        let mut state = MemoryState::default();
        let mut amount = [0u8; 32];
        amount[0] = 200;
        let mut calls: Vec<(&str, Vec<u8>)> = vec![("init", amount.to_vec())];
        for i in 0..12u8 {
            let mut args = [i; 32].to_vec();
            let mut v = [0u8; 32];
            // The last transfers exceed the balance left: the contract aborts.
            v[0] = 30;
            args.extend_from_slice(&v);
            calls.push(("transfer", args));
            calls.push(("balance_of", [1u8; 32].to_vec()));
        }
        calls.push(("total_supply", vec![]));
        calls.push(("no_such_entry", vec![]));
        for (i, (entry, input)) in calls.into_iter().enumerate() {
            let a = call(&reused, code, entry, input.clone(), state.clone());
            let b = call(&fresh, code, entry, input, state.clone());
            same(&a, &b, &format!("call {i} ({entry})"));
            state.apply(&SELF, &a.writes);
        }
        assert!(reused.prepare(code).unwrap().reused_instances() >= 20);
    }
}

#[test]
fn modules_with_a_large_initial_memory_always_run_on_fresh_instances() {
    // Five initial pages: above what the pool keeps (its memory bound).
    let code = wat::parse_str(PROBE.replace(
        "(memory (export \"memory\") 2 4)",
        "(memory (export \"memory\") 5 6)",
    ))
    .unwrap();
    for engine in ENGINES {
        let (reused, fresh) = (vm(engine, true), vm(engine, false));
        for entry in ["observe", "observe", "dirty_then_trap", "observe"] {
            let a = call(&reused, &code, entry, vec![], MemoryState::default());
            let b = call(&fresh, &code, entry, vec![], MemoryState::default());
            same(&a, &b, entry);
        }
        assert_eq!(reused.prepare(&code).unwrap().reused_instances(), 0);
    }
}

/// `scribble` writes 64 words at addresses drawn from its 8-byte input, clears part of a data
/// segment that straddles two 4 KiB chunks and writes into a chunk that starts zeroed;
/// `digest` returns a hash of the whole memory.
const SCRIBBLER: &str = r#"
(module
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory (export "memory") 2 2)
  (data (i32.const 4090) "straddles-a-chunk")
  (data (i32.const 70000) "second-page")
  (func (export "scribble")
    (local $x i64) (local $i i32)
    (call $copy (i32.const 0) (i32.const 0) (i32.const 8))
    (local.set $x (i64.load (i32.const 0)))
    (loop $l
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005))
                             (i64.const 1442695040888963407)))
      (i64.store
        (i32.rem_u (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 33))) (i32.const 131064))
        (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 64))))
    (i64.store (i32.const 4088) (i64.const 0))
    (i32.store (i32.const 8200) (i32.const 1)))
  (func (export "digest")
    (local $h i64) (local $p i32)
    (local.set $h (i64.const 1469598103934665603))
    (loop $l
      (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load (local.get $p)))
                             (i64.const 1099511628211)))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $p) (i32.const 131072))))
    (i64.store (i32.const 0) (local.get $h))
    (call $ret (i32.const 0) (i32.const 8))))
"#;

#[test]
fn a_reset_restores_zeroed_and_data_chunks_byte_for_byte() {
    let code = wat::parse_str(SCRIBBLER).unwrap();
    for engine in ENGINES {
        let (reused, fresh) = (vm(engine, true), vm(engine, false));
        let pristine = call(&fresh, &code, "digest", vec![], MemoryState::default());
        assert!(pristine.result.is_ok(), "{:?}", pristine.result);
        for seed in 0u64..24 {
            let input = seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .to_le_bytes()
                .to_vec();
            let a = call(
                &reused,
                &code,
                "scribble",
                input.clone(),
                MemoryState::default(),
            );
            let b = call(&fresh, &code, "scribble", input, MemoryState::default());
            same(&a, &b, &format!("scribble {seed}"));
            let a = call(&reused, &code, "digest", vec![], MemoryState::default());
            same(&a, &pristine, &format!("digest after scribble {seed}"));
        }
        assert!(reused.prepare(&code).unwrap().reused_instances() >= 40);
    }
}
