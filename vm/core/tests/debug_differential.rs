//! Differential property: the replay debugger's VM (`Vm::for_debugging`) ends every call on a
//! profile-shaped random module exactly as a node's VM does (result or trap, gas per
//! dimension, writes, events, faults with their locations), at full gas and out of gas.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "support/differential.rs"]
#[allow(dead_code)] // only the generator's settings are used here
mod differential;
#[path = "support/module_property.rs"]
#[allow(dead_code)]
mod property;

use arbitrary::Unstructured;
use keel_vm::debug::{BlockEvent, DebugHook, Flow, FrameStart, HostCallEvent};
use keel_vm::{
    CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Vm, VmConfig, VmError,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Counts blocks, so the property cannot pass with the hook never called.
#[derive(Default)]
struct Counter(AtomicU64);

impl DebugHook for Counter {
    fn frame_start(&self, _: &FrameStart<'_>) {}
    fn block(&self, _: &BlockEvent<'_>) -> Flow {
        self.0.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }
    fn host_call(&self, _: &HostCallEvent<'_>) {}
    fn frame_end(&self, _: Result<&CallOutcome, &VmError>) {}
}

struct Vms {
    node: Vm,
    debug: Vm,
    blocks: Arc<Counter>,
}

fn vms() -> &'static Vms {
    static V: OnceLock<Vms> = OnceLock::new();
    V.get_or_init(|| {
        let blocks = Arc::new(Counter::default());
        let hook: Arc<dyn DebugHook> = Arc::clone(&blocks) as _;
        Vms {
            node: Vm::new(VmConfig::default()).unwrap(),
            debug: Vm::for_debugging(VmConfig::default(), hook).unwrap(),
            blocks,
        }
    })
}

fn call(vm: &Vm, code: &[u8], entry: &str, compute: u64) -> Result<CallOutcome, String> {
    let request = CallRequest {
        entry: entry.into(),
        input: vec![7, 1, 2, 3],
        context: CallContext::default(),
        limits: GasVector {
            compute,
            storage_bytes: 4096,
            memory_pages: 16,
            bandwidth: 4096,
        },
    };
    vm.call(code, request, Box::new(MemoryState::default()))
        .map_err(|e| e.to_string())
}

/// Runs `e0..e2` of `code` on both VMs; returns how many calls ran to an outcome.
fn check(code: &[u8], compute: u64) -> usize {
    let mut ran = 0;
    for entry in ["e0", "e1", "e2"] {
        let a = call(&vms().node, code, entry, compute);
        let b = call(&vms().debug, code, entry, compute);
        match (&a, &b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.result, b.result, "{entry}: result");
                assert_eq!(a.gas_used, b.gas_used, "{entry}: gas");
                assert_eq!(a.writes, b.writes, "{entry}: writes");
                assert_eq!(a.events, b.events, "{entry}: events");
                assert_eq!(a.faults, b.faults, "{entry}: faults");
                ran += 1;
            }
            _ => assert_eq!(a.err(), b.err(), "{entry}: error"),
        }
    }
    ran
}

fn module(seed: &[u8]) -> Option<Vec<u8>> {
    let config = differential::config(property::profile_config(property::keel_imports_module()));
    let mut u = Unstructured::new(seed);
    wasm_smith::Module::new(config, &mut u)
        .ok()
        .map(|m| m.to_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_debug_vm_ends_random_profile_modules_as_a_node_does(
        seed in prop::collection::vec(any::<u8>(), 64..4096),
        compute in prop_oneof![Just(0u64), 1u64..5_000, Just(200_000u64)],
    ) {
        if let Some(code) = module(&seed) {
            check(&code, compute);
        }
    }
}

#[test]
fn the_property_runs_calls_and_the_hook_sees_their_blocks() {
    // Guards the property above against comparing nothing.
    let mut ran = 0;
    for s in 0u64..40 {
        let seed: Vec<u8> = (0..2048u64)
            .map(|i| (s.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i.wrapping_mul(0xbf58_476d)) as u8)
            .map(|b| b.rotate_left((s % 7) as u32))
            .collect();
        if let Some(code) = module(&seed) {
            ran += check(&code, 200_000);
        }
    }
    assert!(ran >= 10, "only {ran} calls ran");
    assert!(vms().blocks.0.load(Ordering::Relaxed) > 0);
}
