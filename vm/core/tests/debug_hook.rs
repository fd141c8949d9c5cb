// The debugger's VM (`Vm::for_debugging`) against a node's: the same result, gas per
// dimension, writes, events and faults (with their locations) for every call, including calls
// that run out of gas at every possible block; and the hook sees every block, host call and
// frame.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::debug::{BlockEvent, DebugHook, Flow, FrameStart, HostCallEvent, HostReturn};
use keel_vm::{
    CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Vm, VmConfig, VmError,
};
use std::sync::{Arc, Mutex};

/// A loop over a helper that reads and writes storage, with locals of both widths.
const LOOPER: &str = r#"
(module
  (import "keel" "storage_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "keel" "storage_write" (func $write (param i32 i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "k")
  (func $bump (param $by i64) (result i64)
    (local $len i32)
    (local.set $len (call $read (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 8)))
    (if (i32.ne (local.get $len) (i32.const 8)) (then (i64.store (i32.const 8) (i64.const 0))))
    (i64.store (i32.const 8) (i64.add (i64.load (i32.const 8)) (local.get $by)))
    (call $write (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 8))
    (i64.load (i32.const 8)))
  (func (export "run")
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (call $bump (i64.extend_i32_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
    (i64.store (i32.const 16) (local.get $acc))
    (call $ret (i32.const 16) (i32.const 8)))
  (func (export "trap") (drop (i32.div_u (i32.const 1) (i32.const 0)))))
"#;

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
}

impl DebugHook for Recorder {
    fn frame_start(&self, f: &FrameStart<'_>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("frame {} {}", f.entry, f.depth));
    }
    fn block(&self, e: &BlockEvent<'_>) -> Flow {
        let line = format!("block {} {} {} {:?}", e.site, e.func, e.charge, e.locals);
        self.log.lock().unwrap().push(line);
        Flow::Continue
    }
    fn host_call(&self, e: &HostCallEvent<'_>) {
        let ret = match e.ret {
            HostReturn::Value(v) => format!("{v:?}"),
            HostReturn::Trap(t) => t.to_string(),
            HostReturn::Fatal(s) => s.to_string(),
        };
        let gas = e.gas_before - e.gas_after;
        let line = format!("host {:?} {:?} {ret} {gas}", e.func, e.args);
        self.log.lock().unwrap().push(line);
    }
    fn frame_end(&self, o: Result<&CallOutcome, &VmError>) {
        let r = o.map(|o| format!("{:?}", o.result)).unwrap_or_default();
        self.log.lock().unwrap().push(format!("end {r}"));
    }
}

fn request(entry: &str, compute: u64) -> CallRequest {
    CallRequest {
        entry: entry.into(),
        input: Vec::new(),
        context: CallContext::default(),
        limits: GasVector {
            compute,
            storage_bytes: 1 << 20,
            memory_pages: 64,
            bandwidth: 1 << 20,
        },
    }
}

fn call(vm: &Vm, entry: &str, compute: u64) -> CallOutcome {
    let code = wat::parse_str(LOOPER).unwrap();
    vm.call(
        &code,
        request(entry, compute),
        Box::new(MemoryState::default()),
    )
    .unwrap()
}

fn same(a: &CallOutcome, b: &CallOutcome, what: &str) {
    assert_eq!(a.result, b.result, "{what}: result");
    assert_eq!(a.gas_used, b.gas_used, "{what}: gas");
    assert_eq!(a.writes, b.writes, "{what}: writes");
    assert_eq!(a.events, b.events, "{what}: events");
    assert_eq!(a.faults, b.faults, "{what}: faults");
}

#[test]
fn the_debug_vm_charges_and_ends_every_call_exactly_as_a_node_does() {
    let node = Vm::new(VmConfig::default()).unwrap();
    let hook = Arc::new(Recorder::default());
    let debug = Vm::for_debugging(VmConfig::default(), hook.clone()).unwrap();
    let full = call(&node, "run", 10_000_000);
    assert!(full.result.is_ok());
    same(&full, &call(&debug, "run", 10_000_000), "run");
    same(
        &call(&node, "trap", 1_000_000),
        &call(&debug, "trap", 1_000_000),
        "trap",
    );
    // Out of gas at every point of the run: same trap, same gas, same fault location.
    for compute in (full.gas_used.compute.saturating_sub(400)..=full.gas_used.compute).step_by(7) {
        let what = format!("limit {compute}");
        same(
            &call(&node, "run", compute),
            &call(&debug, "run", compute),
            &what,
        );
    }
}

#[test]
fn the_hook_sees_frames_blocks_with_locals_host_calls_and_returns_after_calls() {
    let hook = Arc::new(Recorder::default());
    let debug = Vm::for_debugging(VmConfig::default(), hook.clone()).unwrap();
    let out = call(&debug, "run", 10_000_000);
    assert_eq!(out.result, Ok(10u64.to_le_bytes().to_vec()));
    let log = hook.log.lock().unwrap().clone();
    assert_eq!(log.first().unwrap(), "frame run 0");
    assert_eq!(
        log.last().unwrap(),
        &format!("end Ok({:?})", 10u64.to_le_bytes().to_vec())
    );
    let reads = log
        .iter()
        .filter(|l| l.starts_with("host StorageRead"))
        .count();
    let writes = log
        .iter()
        .filter(|l| l.starts_with("host StorageWrite"))
        .count();
    assert_eq!((reads, writes), (5, 5));
    // `bump`'s entry block shows its parameter ($by = the loop index) and zeroed local.
    assert!(
        log.iter()
            .any(|l| l.starts_with("block") && l.ends_with("[3, 0]")),
        "{log:?}"
    );
    // The loop body is re-entered each iteration; execution resuming after `call $bump`
    // is reported with charge 0.
    let resumed = log
        .iter()
        .filter(|l| l.starts_with("block") && l.split(' ').nth(3) == Some("0"));
    assert_eq!(resumed.count(), 5);
    assert!(
        log.iter()
            .any(|l| l.starts_with("host ReturnData [16, 8] None"))
    );
}

/// Entry `fwd`: calls `run` of the contract at input[0..32] with all gas and returns its
/// return data. Manifest: calls to any contract.
const CALLER_WAT: &str = r#"
(module
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "keel" "return_data_size" (func $rd_size (result i32)))
  (import "keel" "return_data_copy" (func $rd_copy (param i32 i32 i32)))
  (import "keel" "handle_for_contract" (func $handle (param i32) (result i32)))
  (@custom "keel.manifest" "\01\04")
  (memory 1 1)
  (data (i32.const 0) "run")
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (func (export "fwd")
    (local $rd i32)
    (call $input_copy (i32.const 1024) (i32.const 0) (i32.const 32))
    (drop (call $call (call $handle (i32.const 1024)) (i32.const 0) (i32.const 3)
                (i32.const 0) (i32.const 0) (i32.const 32) (i32.const 64) (i32.const 0) (i32.const 0)))
    (local.set $rd (call $rd_size))
    (call $rd_copy (i32.const 4096) (i32.const 0) (local.get $rd))
    (call $return_data (i32.const 4096) (local.get $rd))))
"#;

const CALLER: keel_vm::Address = [0xca; 32];
const CALLEE: keel_vm::Address = [0xce; 32];

/// Two contracts, the callee being [`LOOPER`]; nested contexts always open.
struct Env(std::collections::BTreeMap<keel_vm::Address, Vec<u8>>);

impl keel_vm::ContractEnv for Env {
    fn code(&self, c: &keel_vm::Address) -> Result<Option<Vec<u8>>, keel_vm::StateError> {
        Ok(self.0.get(c).cloned())
    }
    fn state_view(&self) -> Box<dyn keel_vm::StateView> {
        Box::new(MemoryState::default())
    }
    fn flush(
        &self,
        _: &keel_vm::Address,
        _: keel_vm::Writes,
    ) -> Result<Result<(), keel_vm::Trap>, keel_vm::StateError> {
        Ok(Ok(()))
    }
    fn enter(
        &self,
        _: &keel_vm::Address,
        _: &keel_vm::Address,
        _: &[u8; 32],
    ) -> Result<bool, keel_vm::StateError> {
        Ok(true)
    }
    fn leave(&self, _: bool) -> Result<(), keel_vm::StateError> {
        Ok(())
    }
}

fn forward(vm: &Vm) -> CallOutcome {
    let codes = [
        (CALLER, wat::parse_str(CALLER_WAT).unwrap()),
        (CALLEE, wat::parse_str(LOOPER).unwrap()),
    ];
    let env = Arc::new(Env(codes.into_iter().collect()));
    let mut req = request("fwd", 10_000_000);
    req.input = CALLEE.to_vec();
    req.context.self_address = CALLER;
    let code = env.0[&CALLER].clone();
    vm.call_with_env(&code, req, Box::new(MemoryState::default()), env)
        .unwrap()
}

#[test]
fn a_cross_contract_call_is_reported_as_a_nested_frame_and_charges_as_a_node() {
    let hook = Arc::new(Recorder::default());
    let debug = Vm::for_debugging(VmConfig::default(), Arc::clone(&hook) as _).unwrap();
    let node = Vm::new(VmConfig::default()).unwrap();
    let out = forward(&debug);
    same(&forward(&node), &out, "fwd");
    assert_eq!(out.result, Ok(10u64.to_le_bytes().to_vec()));
    let log = hook.log.lock().unwrap().clone();
    let frames: Vec<&String> = log.iter().filter(|l| l.starts_with("frame")).collect();
    assert_eq!(frames, ["frame fwd 0", "frame run 1"], "{log:?}");
    // The callee's frame ends (with its own return) before the caller's, which ends last.
    let ends: Vec<usize> = (0..log.len())
        .filter(|&i| log[i].starts_with("end"))
        .collect();
    assert_eq!(ends.len(), 2, "{log:?}");
    assert_eq!(ends[1], log.len() - 1);
    let call = log
        .iter()
        .position(|l| l.starts_with("host Call "))
        .unwrap();
    let callee = log.iter().position(|l| l == "frame run 1").unwrap();
    assert!(callee < ends[0] && ends[0] < call, "{log:?}");
    // The callee's storage traffic is reported inside its frame.
    let writes = log[callee..ends[0]]
        .iter()
        .filter(|l| l.starts_with("host StorageWrite"))
        .count();
    assert_eq!(writes, 5);
}
