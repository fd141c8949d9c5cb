// The wasmi ⇄ wasmtime differential property, shared by `tests/jit_differential.rs` (proptest,
// bounded, runs in CI) and the cargo-fuzz target `fuzz/fuzz_targets/jit_differential.rs`.
//
// For any module admission accepts: every entry point, run on both tiers from the same
// instrumented bytes with the same input, gas and memory limit, ends the same way (return or
// the same trap), at the same fault offset, with the same compute gas left, the same
// non-compute gas vector, the same memory size and contents, the same return data, storage
// writes and events.

use keel_vm::engine::wasmi_tier::WasmiEngine;
use keel_vm::engine::wasmtime_tier::WasmtimeEngine;
use keel_vm::engine::{CompiledModule, Completion, Ending, Invocation};
use keel_vm::host::HostState;
use keel_vm::{CallContext, CallState, GasSchedule, GasVector, MemoryState, Profile};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Both tiers, built once per test.
pub struct Tiers {
    pub wasmi: WasmiEngine,
    pub wasmtime: WasmtimeEngine,
}

impl Tiers {
    pub fn new() -> Tiers {
        Tiers {
            wasmi: WasmiEngine::new(&Profile::V1, false).expect("wasmi starts"),
            wasmtime: WasmtimeEngine::new().expect("wasmtime starts on this platform"),
        }
    }
}

/// wasm-smith settings: the profile's (`module_property.rs`), with three `() -> ()` entry
/// points always present (random exports almost never have that type).
pub fn config(profile_config: wasm_smith::Config) -> wasm_smith::Config {
    let exports = wasm_encoder_exports();
    wasm_smith::Config {
        exports: Some(exports),
        export_everything: false,
        ..profile_config
    }
}

fn wasm_encoder_exports() -> Vec<u8> {
    use wasm_encoder::{CodeSection, ExportKind, ExportSection, Function, FunctionSection};
    use wasm_encoder::{Instruction, Module, TypeSection};
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut funcs = FunctionSection::new();
    let mut exports = ExportSection::new();
    let mut code = CodeSection::new();
    for (i, name) in ["e0", "e1", "e2"].iter().enumerate() {
        funcs.function(0);
        exports.export(name, ExportKind::Func, i as u32);
        let mut f = Function::new([]);
        f.instruction(&Instruction::End);
        code.function(&f);
    }
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    m.finish()
}

/// What a call ended with, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
pub struct Observed {
    pub ending: String,
    pub fault_offset: Option<u32>,
    pub gas_left: u64,
    pub used: GasVector,
    pub memory_pages: u64,
    pub memory_digest: Option<[u8; 32]>,
    pub return_data: Vec<u8>,
    pub writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub events: usize,
}

fn observe(c: Completion) -> Observed {
    let ending = match c.ending {
        Ending::Returned => "returned".to_string(),
        // The message of an engine limit is engine-specific (and never reached): kind only.
        Ending::Trapped(keel_vm::Trap::EngineLimit { .. }) => "engine limit".to_string(),
        Ending::Trapped(t) => format!("trap: {t:?}"),
        Ending::Fatal(e) => format!("fatal: {e}"),
    };
    Observed {
        ending,
        fault_offset: c.host.calls.fault_offset,
        gas_left: c.gas_left,
        used: c.host.used,
        memory_pages: c.memory_pages,
        memory_digest: c.memory_digest,
        return_data: c.host.return_data,
        writes: c.host.writes.into_iter().collect(),
        events: c.host.events.len(),
    }
}

fn invocation(entry: &str, frame: u32, gas: u64, input: &[u8]) -> Invocation {
    let host = HostState {
        context: CallContext::default(),
        input: input.to_vec(),
        return_data: Vec::new(),
        state: Box::new(MemoryState::default()),
        writes: BTreeMap::new(),
        events: Vec::new(),
        used: GasVector::default(),
        limits: GasVector {
            compute: gas,
            storage_bytes: 4096,
            memory_pages: 16,
            bandwidth: 4096,
        },
        gas,
        schedule: Arc::new(GasSchedule::v1()),
        metered: true,
        native: None,
        calls: CallState::default(),
        memory_written: Default::default(),
    };
    Invocation {
        entry: entry.to_string(),
        entry_frame: frame,
        gas,
        max_memory_pages: 16,
        metered: true,
        digest_memory: true,
        host,
    }
}

/// Runs every entry of `bytes` on both tiers and asserts they agree; returns how many entries
/// ran (0 when the module is not admitted).
pub fn check_module(tiers: &Tiers, bytes: &[u8], gas: u64) -> usize {
    let profile = Profile::V1;
    let Ok(module) = keel_vm::admit(bytes, &profile) else {
        return 0;
    };
    let inst = keel_vm::metering::instrument(&module, &GasSchedule::v1(), &profile)
        .expect("an admitted module always instruments");
    let a: Arc<dyn CompiledModule> =
        keel_vm::Engine::compile(&tiers.wasmi, &inst).expect("wasmi compiles admitted modules");
    let b: Arc<dyn CompiledModule> = tiers
        .wasmtime
        .compile(&inst)
        .expect("wasmtime compiles admitted modules");
    let mut ran = 0;
    for (entry, frame) in &inst.entry_frames {
        let is_entry = module
            .export(entry)
            .and_then(|e| module.func_sig(e.func_index))
            .is_some_and(|s| s.is_entry());
        if !is_entry {
            continue;
        }
        let input = [7u8, 1, 2, 3];
        let x = observe(a.invoke(invocation(entry, *frame, gas, &input)));
        let y = observe(b.invoke(invocation(entry, *frame, gas, &input)));
        assert_eq!(x, y, "wasmi and wasmtime differ on entry {entry}");
        ran += 1;
    }
    ran
}
