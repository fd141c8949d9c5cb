//! Metering instrumentation on the input WebAssembly.
//!
//! The pass rewrites an admitted module so that it charges its own gas and stack:
//!
//! * **Compute gas** lives in an exported mutable `i64` global (`keel$gas`, remaining gas).
//!   Code is cut into *metering blocks*: a block starts at the function entry, after `loop`
//!   (once per iteration), after `if` and `else`, after the `end` of an `if`, of a `loop`, or of a
//!   `block` that some branch targets, and after `br`, `br_table`, `return` and `unreachable`.
//!   A block is charged in full, from the schedule, when it is entered; a `br_if` inside it does
//!   not cut it (the remainder is prepaid). The charge is subtracted and, if the result is
//!   negative, a branch leaves for the body's out-of-gas exit, where the imported
//!   `keel_meter.out_of_gas` traps (`body_frame.rs`: the hot path falls through). The charge therefore depends only on
//!   the input Wasm and the schedule, never on an engine's IR (wasmi issue #1088). Inside a
//!   function the remaining gas lives in one added i64 local, loaded from the global on entry
//!   and after calls and written back before anything can observe the global (calls, operators
//!   that can trap, leaving the function): see `gas_local.rs`. A host import the module only
//!   calls directly is imported from `keel$gas` with the gas threaded through its signature
//!   instead (one more i64 parameter and result): see `gas_threading.rs`.
//! * **Stack height** lives in an exported `i32` global (`keel$stack`): every direct call to a
//!   defined function adds the callee's static frame size (parameters + locals + maximum operand
//!   stack height + overhead, from admission) before the call, traps through
//!   `keel_meter.stack_overflow` if the profile's budget would be exceeded, and subtracts it after
//!   the call returns. An indirect call charges the largest frame of any table function with
//!   the called type. This is the scheme of NEAR's finite-wasm and Arbitrum's depth checker.
//!
//! * **Written chunks** (`write_set.rs`): before each store, the 4 KiB chunks it may write are
//!   or-ed into a function's record local, and the local into the exported `keel$written`
//!   global on every normal way out of the function; a kept instance is then reset by restoring
//!   only those chunks. Uncharged, and read by nothing that decides a result.
//!
//! The first two helpers take one `i32`: the byte offset, in the input module, of the metering
//! block (out of gas) or call site (stack overflow), pushed only on the failing path. Every call
//! to a host import is preceded by a store of its offset into a third global (`keel$site`), so a
//! fault raised inside a host function is located exactly too (see `fault.rs`). The third
//! helper, `killed(offset, code)`, replaces operators and host calls that governance switched
//! off (see `kills.rs`); it is only called from modules compiled under a non-empty kill set.
//!
//! The three helper imports are added after the module's own imports, so defined functions shift
//! by three in the function index space; every reference (calls, exports, element segments) is
//! remapped. The `name` custom section is dropped (its indices would be stale).

use crate::abi::{
    self, GAS_GLOBAL_EXPORT, METER_MODULE, SITE_GLOBAL_EXPORT, STACK_GLOBAL_EXPORT,
    WRITTEN_GLOBAL_EXPORT,
};
use crate::admission::{AdmittedModule, FRAME_OVERHEAD_SLOTS};
use crate::kills::KillSet;
use crate::profile::Profile;
use crate::schedule::GasSchedule;
use std::collections::BTreeMap;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataCountSection, ExportKind, ExportSection, Function,
    GlobalSection, GlobalType, ImportSection, Instruction, TypeSection, ValType,
};
use wasmparser::{Operator, Parser, Payload};

mod body_frame;
mod data_chunks;
pub(crate) use data_chunks::data_chunks;
mod gas_local;
mod gas_threading;
pub mod write_set;

/// Operators of WAT snippets, for the pass's unit tests.
#[cfg(test)]
mod test_ops {
    use wasmparser::Operator;

    /// The operators of the first function body of a module given in WAT.
    pub(super) fn ops_of(module: &str) -> Vec<Operator<'static>> {
        let wasm = wat::parse_str(module).expect("wat");
        let wasm: &'static [u8] = Box::leak(wasm.into_boxed_slice());
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            if let Ok(wasmparser::Payload::CodeSectionEntry(b)) = payload {
                let r = b.get_operators_reader().expect("ops");
                return r.into_iter().collect::<Result<_, _>>().expect("ops");
            }
        }
        panic!("no function body in {module}");
    }
}
use body_frame::BodyTypes;
use gas_local::GasLocal;
use gas_threading::ThreadedImports;
use write_set::WriteSet;

/// Export name of the module's memory, added so the host can reach it whatever the module
/// exports itself.
pub const MEMORY_EXPORT: &str = "keel$memory";

/// Number of helper imports the pass adds (`out_of_gas`, `stack_overflow`, `killed`).
pub const HELPER_IMPORTS: u32 = 3;

/// Imports a debug build adds after the helpers (`keel_debug.block`, `keel_debug.local`).
const DEBUG_IMPORTS: u32 = 2;

/// Why instrumentation failed. Admitted modules never fail; this guards against misuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeteringError {
    #[error("module could not be re-encoded: {0}")]
    Reencode(String),
    #[error("module has a start section, which admission should have rejected")]
    StartSection,
}

impl<E: std::fmt::Display> From<wasm_encoder::reencode::Error<E>> for MeteringError {
    fn from(e: wasm_encoder::reencode::Error<E>) -> Self {
        MeteringError::Reencode(e.to_string())
    }
}

impl From<wasmparser::BinaryReaderError> for MeteringError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        MeteringError::Reencode(e.to_string())
    }
}

/// An instrumented module, ready for any engine tier.
#[derive(Debug, Clone)]
pub struct InstrumentedModule {
    /// The rewritten binary.
    pub bytes: Vec<u8>,
    /// Static frame size of each exported function, charged by the host before the call.
    pub entry_frames: BTreeMap<String, u32>,
    /// Whether the module has a memory (exported as [`MEMORY_EXPORT`]).
    pub has_memory: bool,
    /// Which 4 KiB chunks of a fresh instance's memory the data segments write (bit `i` =
    /// chunk `i`), `None` if not known statically: engines keeping instances read only these
    /// when they take a fresh instance's image (see `engine/instance_pool.rs`).
    pub data_chunks: Option<u64>,
}

/// Shifts defined-function indices past the helper imports.
struct Shift {
    imported_funcs: u32,
    helpers: u32,
}

impl Reencode for Shift {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, wasm_encoder::reencode::Error> {
        Ok(if func < self.imported_funcs {
            func
        } else {
            func.saturating_add(self.helpers)
        })
    }
}

/// What the body rewriter needs to know about the whole module.
struct Ctx<'m> {
    module: &'m AdmittedModule,
    schedule: &'m GasSchedule,
    max_stack: u32,
    gas_global: u32,
    stack_global: u32,
    site_global: u32,
    /// The written-chunks record (`write_set.rs`).
    written_global: u32,
    oog_func: u32,
    overflow_func: u32,
    killed_func: u32,
    /// Opcode classes and host functions replaced by a `killed` trap.
    kills: &'m KillSet,
    /// Largest frame among table functions, per type index (for `call_indirect`).
    indirect_frames: BTreeMap<u32, u32>,
    /// False for the unmetered baseline: same rewrite (helpers, exports) but no charges.
    meter: bool,
    /// The `keel_debug` imports, in a module built for the debugger only.
    debug: Option<DebugFuncs>,
    /// Block types of multi-result bodies (`body_frame.rs`).
    body_types: BodyTypes,
    /// Host imports that take and return the gas (`gas_threading.rs`).
    threaded: ThreadedImports,
}

/// Function indices of `keel_debug.block` and `keel_debug.local`.
#[derive(Clone, Copy)]
struct DebugFuncs {
    block: u32,
    local: u32,
}

/// What kind of module [`rewrite`] produces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Metered,
    Unmetered,
    Debug,
}

/// Instruments an admitted module with gas and stack metering under `schedule` and `profile`.
/// Deterministic: the same inputs always give the same bytes.
pub fn instrument(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
) -> Result<InstrumentedModule, MeteringError> {
    rewrite(
        module,
        schedule,
        profile,
        &KillSet::default(),
        Flavor::Metered,
    )
}

/// [`instrument_with_kills`] plus the debugger's hooks (see `debug.rs`): after each metering
/// block's charge, `keel_debug.local(value)` for each of the function's first
/// [`crate::debug::MAX_DEBUG_LOCALS`] locals and `keel_debug.block(site, func, charge)`.
/// Charges are exactly those of [`instrument_with_kills`] (the injected calls are not charged).
/// For the replay debugger only: a node never runs such a module.
pub fn instrument_for_debugging(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
    kills: &KillSet,
) -> Result<InstrumentedModule, MeteringError> {
    rewrite(module, schedule, profile, kills, Flavor::Debug)
}

/// [`instrument`], with every operator and host call that `kills` switches off replaced by a
/// call to `keel_meter.killed(offset, code)` and `unreachable` (see `kills.rs`). Charges are
/// unchanged: they are computed on the input operators.
pub fn instrument_with_kills(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
    kills: &KillSet,
) -> Result<InstrumentedModule, MeteringError> {
    rewrite(module, schedule, profile, kills, Flavor::Metered)
}

/// The same rewrite without any gas or stack charges: the unmetered baseline that
/// `keel bench vm` compares against. Never used to execute transactions.
pub fn rewrite_unmetered(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
) -> Result<InstrumentedModule, MeteringError> {
    rewrite(
        module,
        schedule,
        profile,
        &KillSet::default(),
        Flavor::Unmetered,
    )
}

fn rewrite(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
    kills: &KillSet,
    flavor: Flavor,
) -> Result<InstrumentedModule, MeteringError> {
    let debug = flavor == Flavor::Debug;
    let imported_funcs = module.imports.len() as u32;
    let index = |base: u32, k: u32| {
        base.checked_add(k)
            .ok_or_else(|| MeteringError::Reencode("index space overflows u32".into()))
    };
    let total_globals = index(module.imported_globals, module.defined_globals)?;
    let helper_type = module.types.len() as u32;
    let helper_count = helper_types(debug).len() as u32;
    let body_types = BodyTypes::new(module, index(helper_type, helper_count)?)?;
    let threaded_types = index(index(helper_type, helper_count)?, body_types.len())?;
    let ctx = Ctx {
        threaded: ThreadedImports::new(module, threaded_types, flavor == Flavor::Metered)?,
        body_types,
        module,
        schedule,
        max_stack: profile.max_stack_slots,
        gas_global: total_globals,
        stack_global: index(total_globals, 1)?,
        site_global: index(total_globals, 2)?,
        written_global: index(total_globals, 3)?,
        oog_func: imported_funcs,
        overflow_func: index(imported_funcs, 1)?,
        killed_func: index(imported_funcs, 2)?,
        kills,
        indirect_frames: indirect_frames(module),
        meter: flavor != Flavor::Unmetered,
        debug: match debug {
            true => Some(DebugFuncs {
                block: index(imported_funcs, HELPER_IMPORTS)?,
                local: index(imported_funcs, HELPER_IMPORTS.saturating_add(1))?,
            }),
            false => None,
        },
    };
    let helpers = match debug {
        true => HELPER_IMPORTS.saturating_add(DEBUG_IMPORTS),
        false => HELPER_IMPORTS,
    };
    let mut re = Shift {
        imported_funcs,
        helpers,
    };
    let mut out = wasm_encoder::Module::new();
    let mut done = Emitted::default();
    let mut code: Option<CodeSection> = None;
    let mut body_index = 0usize;

    for payload in Parser::new(0).parse_all(&module.bytes) {
        let payload = payload?;
        match payload {
            Payload::Version { .. } => {}
            Payload::TypeSection(r) => {
                let mut s = TypeSection::new();
                re.parse_type_section(&mut s, r)?;
                add_helper_types(&mut s, debug);
                if ctx.meter {
                    ctx.body_types.add_to(&mut s);
                    ctx.threaded.add_types(&mut s);
                }
                out.section(&s);
                done.types = true;
            }
            Payload::ImportSection(r) => {
                done.ensure_types(&mut out, debug);
                let mut s = ImportSection::new();
                ctx.threaded.add_imports(&mut re, &mut s, r)?;
                add_helper_imports(&mut s, helper_type, debug);
                out.section(&s);
                done.imports = true;
            }
            Payload::FunctionSection(r) => {
                done.ensure_imports(&mut out, helper_type, debug);
                let mut s = wasm_encoder::FunctionSection::new();
                re.parse_function_section(&mut s, r)?;
                out.section(&s);
            }
            Payload::TableSection(r) => {
                done.ensure_imports(&mut out, helper_type, debug);
                let mut s = wasm_encoder::TableSection::new();
                re.parse_table_section(&mut s, r)?;
                out.section(&s);
            }
            Payload::MemorySection(r) => {
                done.ensure_imports(&mut out, helper_type, debug);
                let mut s = wasm_encoder::MemorySection::new();
                re.parse_memory_section(&mut s, r)?;
                out.section(&s);
            }
            Payload::GlobalSection(r) => {
                done.ensure_imports(&mut out, helper_type, debug);
                let mut s = GlobalSection::new();
                re.parse_global_section(&mut s, r)?;
                add_meter_globals(&mut s);
                out.section(&s);
                done.globals = true;
            }
            Payload::ExportSection(r) => {
                done.ensure_globals(&mut out, helper_type, debug);
                let mut s = ExportSection::new();
                re.parse_export_section(&mut s, r)?;
                add_meter_exports(&mut s, &ctx);
                out.section(&s);
                done.exports = true;
            }
            Payload::StartSection { .. } => return Err(MeteringError::StartSection),
            Payload::ElementSection(r) => {
                done.ensure_exports(&mut out, helper_type, &ctx);
                let mut s = wasm_encoder::ElementSection::new();
                re.parse_element_section(&mut s, r)?;
                out.section(&s);
            }
            Payload::DataCountSection { count, .. } => {
                done.ensure_exports(&mut out, helper_type, &ctx);
                out.section(&DataCountSection { count });
            }
            Payload::CodeSectionStart { .. } => {
                done.ensure_exports(&mut out, helper_type, &ctx);
                code = Some(CodeSection::new());
            }
            Payload::CodeSectionEntry(body) => {
                let info = module.functions.get(body_index).ok_or_else(|| {
                    MeteringError::Reencode("more bodies than admitted functions".into())
                })?;
                let func = index(imported_funcs, body_index as u32)?;
                let f = instrument_body(&mut re, &ctx, &body, info.locals, func)?;
                if let Some(c) = code.as_mut() {
                    c.function(&f);
                }
                body_index = body_index.saturating_add(1); // bounded by the bodies
            }
            Payload::DataSection(r) => {
                done.ensure_exports(&mut out, helper_type, &ctx);
                if let Some(c) = code.take() {
                    out.section(&c);
                }
                let mut s = wasm_encoder::DataSection::new();
                re.parse_data_section(&mut s, r)?;
                out.section(&s);
            }
            Payload::CustomSection(c) => {
                if let Some(cs) = code.take() {
                    out.section(&cs);
                }
                if c.name() != "name" {
                    out.section(&wasm_encoder::CustomSection {
                        name: c.name().into(),
                        data: c.data().into(),
                    });
                }
            }
            Payload::End(_) => {
                done.ensure_exports(&mut out, helper_type, &ctx);
                if let Some(c) = code.take() {
                    out.section(&c);
                }
            }
            _ => {}
        }
    }

    let mut entry_frames = BTreeMap::new();
    for e in &module.exports {
        if let Some(f) = module.defined(e.func_index) {
            entry_frames.insert(e.name.clone(), f.frame_slots());
        }
    }
    let bytes = out.finish();
    Ok(InstrumentedModule {
        data_chunks: data_chunks(&bytes),
        bytes,
        entry_frames,
        has_memory: module.memory.is_some(),
    })
}

/// Which synthetic sections have been written, so missing ones are added in order.
#[derive(Default)]
struct Emitted {
    types: bool,
    imports: bool,
    globals: bool,
    exports: bool,
}

impl Emitted {
    fn ensure_types(&mut self, out: &mut wasm_encoder::Module, debug: bool) {
        if !self.types {
            let mut s = TypeSection::new();
            add_helper_types(&mut s, debug);
            out.section(&s);
            self.types = true;
        }
    }

    fn ensure_imports(&mut self, out: &mut wasm_encoder::Module, helper_type: u32, debug: bool) {
        self.ensure_types(out, debug);
        if !self.imports {
            let mut s = ImportSection::new();
            add_helper_imports(&mut s, helper_type, debug);
            out.section(&s);
            self.imports = true;
        }
    }

    fn ensure_globals(&mut self, out: &mut wasm_encoder::Module, helper_type: u32, debug: bool) {
        self.ensure_imports(out, helper_type, debug);
        if !self.globals {
            let mut s = GlobalSection::new();
            add_meter_globals(&mut s);
            out.section(&s);
            self.globals = true;
        }
    }

    fn ensure_exports(&mut self, out: &mut wasm_encoder::Module, helper_type: u32, ctx: &Ctx) {
        self.ensure_globals(out, helper_type, ctx.debug.is_some());
        if !self.exports {
            let mut s = ExportSection::new();
            add_meter_exports(&mut s, ctx);
            out.section(&s);
            self.exports = true;
        }
    }
}

/// The helpers' types, appended after the module's: `(i32) -> ()` (out of gas, stack overflow)
/// and `(i32, i32) -> ()` (killed: offset, code).
/// Parameters of the helper imports' types, appended after the module's own types (none has
/// results): `out_of_gas` and `stack_overflow`, `killed`, then the debugger's `block` and `local`.
const HELPER_TYPES: [&[ValType]; 4] = [
    &[ValType::I32],
    &[ValType::I32, ValType::I32],
    &[ValType::I32, ValType::I32, ValType::I64],
    &[ValType::I64],
];

/// The helper types a module gets: the debugger's two only in a module built for it.
fn helper_types(debug: bool) -> &'static [&'static [ValType]] {
    if debug {
        &HELPER_TYPES
    } else {
        &HELPER_TYPES[..2]
    }
}

fn add_helper_types(s: &mut TypeSection, debug: bool) {
    for params in helper_types(debug) {
        s.ty().function(params.iter().copied(), []);
    }
}

fn add_helper_imports(s: &mut ImportSection, helper_type: u32, debug: bool) {
    s.import(
        METER_MODULE,
        "out_of_gas",
        wasm_encoder::EntityType::Function(helper_type),
    );
    s.import(
        METER_MODULE,
        "stack_overflow",
        wasm_encoder::EntityType::Function(helper_type),
    );
    s.import(
        METER_MODULE,
        "killed",
        // Type counts are capped by the profile: far below u32::MAX.
        wasm_encoder::EntityType::Function(helper_type.saturating_add(1)),
    );
    if debug {
        s.import(
            crate::debug::DEBUG_MODULE,
            "block",
            wasm_encoder::EntityType::Function(helper_type.saturating_add(2)),
        );
        s.import(
            crate::debug::DEBUG_MODULE,
            "local",
            wasm_encoder::EntityType::Function(helper_type.saturating_add(3)),
        );
    }
}

fn add_meter_globals(s: &mut GlobalSection) {
    let mutable = |val_type| GlobalType {
        val_type,
        mutable: true,
        shared: false,
    };
    s.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
    s.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
    s.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
    s.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
}

fn add_meter_exports(s: &mut ExportSection, ctx: &Ctx) {
    s.export(GAS_GLOBAL_EXPORT, ExportKind::Global, ctx.gas_global);
    s.export(STACK_GLOBAL_EXPORT, ExportKind::Global, ctx.stack_global);
    s.export(SITE_GLOBAL_EXPORT, ExportKind::Global, ctx.site_global);
    // Only code that keeps the record exports it: an engine resets a kept instance from the
    // record only when the module has it.
    if ctx.meter {
        s.export(
            WRITTEN_GLOBAL_EXPORT,
            ExportKind::Global,
            ctx.written_global,
        );
    }
    if ctx.module.memory.is_some() {
        s.export(MEMORY_EXPORT, ExportKind::Memory, 0);
    }
    // Admission bounds the number of globals (profile), so these names stay few.
    for g in 0..ctx.module.defined_globals {
        let name = format!("{}{g}", abi::DEFINED_GLOBAL_EXPORT_PREFIX);
        s.export(
            &name,
            ExportKind::Global,
            ctx.module.imported_globals.saturating_add(g),
        );
    }
    debug_assert!(GAS_GLOBAL_EXPORT.starts_with(abi::RESERVED_EXPORT_PREFIX));
    debug_assert!(abi::DEFINED_GLOBAL_EXPORT_PREFIX.starts_with(abi::RESERVED_EXPORT_PREFIX));
}

fn indirect_frames(module: &AdmittedModule) -> BTreeMap<u32, u32> {
    let mut by_sig: BTreeMap<u32, u32> = BTreeMap::new();
    for &f in &module.table_functions {
        let (Some(info), Some(sig)) = (module.defined(f), module.func_sig(f)) else {
            continue;
        };
        // Key by every type index with a structurally equal signature, since call_indirect
        // checks signatures structurally.
        for (ti, t) in module.types.iter().enumerate() {
            if t == sig {
                let e = by_sig.entry(ti as u32).or_insert(0);
                *e = (*e).max(info.frame_slots());
            }
        }
    }
    by_sig
}

/// The metering blocks of one function body: `charges[i]` is the gas charged just before
/// operator `i` (0 where no block starts or the block is free).
pub fn block_charges(ops: &[Operator<'_>], schedule: &GasSchedule) -> Vec<u64> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Block,
        Loop,
        If,
    }
    // Pass 1: which `block`s are branch targets (their `end` is a join point).
    let mut targeted = Vec::new();
    let mut stack: Vec<(Kind, usize)> = Vec::new();
    let mark = |stack: &Vec<(Kind, usize)>, targeted: &mut Vec<bool>, depth: u32| {
        if let Some(&(_, id)) = stack
            .len()
            .checked_sub((depth as usize).saturating_add(1))
            .and_then(|i| stack.get(i))
            && let Some(t) = targeted.get_mut(id)
        {
            *t = true;
        }
    };
    for op in ops {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                let kind = match op {
                    Operator::Block { .. } => Kind::Block,
                    Operator::Loop { .. } => Kind::Loop,
                    _ => Kind::If,
                };
                stack.push((kind, targeted.len()));
                targeted.push(false);
            }
            Operator::End => {
                stack.pop();
            }
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                mark(&stack, &mut targeted, *relative_depth);
            }
            Operator::BrTable { targets } => {
                mark(&stack, &mut targeted, targets.default());
                for t in targets.targets().flatten() {
                    mark(&stack, &mut targeted, t);
                }
            }
            _ => {}
        }
    }
    // Pass 2: cut blocks and sum their costs.
    let mut charges = vec![0u64; ops.len()];
    let mut current: Option<usize> = None;
    let mut stack: Vec<(Kind, usize)> = Vec::new();
    let mut next_id = 0usize;
    for (i, op) in ops.iter().enumerate() {
        let start = *current.get_or_insert(i);
        if let Some(c) = charges.get_mut(start) {
            *c = c.saturating_add(schedule.op_cost(op));
        }
        match op {
            Operator::Block { .. } => {
                stack.push((Kind::Block, next_id));
                next_id = next_id.saturating_add(1); // at most one per operator
            }
            Operator::Loop { .. } | Operator::If { .. } => {
                let kind = if matches!(op, Operator::Loop { .. }) {
                    Kind::Loop
                } else {
                    Kind::If
                };
                stack.push((kind, next_id));
                next_id = next_id.saturating_add(1); // at most one per operator
                current = None;
            }
            Operator::Else => current = None,
            Operator::End => {
                if let Some((kind, id)) = stack.pop() {
                    let join = match kind {
                        Kind::If | Kind::Loop => true,
                        Kind::Block => targeted.get(id).copied().unwrap_or(true),
                    };
                    if join {
                        current = None;
                    }
                }
            }
            Operator::Br { .. }
            | Operator::BrTable { .. }
            | Operator::Return
            | Operator::Unreachable => current = None,
            _ => {}
        }
    }
    charges
}

fn instrument_body(
    re: &mut Shift,
    ctx: &Ctx<'_>,
    body: &wasmparser::FunctionBody<'_>,
    scratch: u32,
    func: u32,
) -> Result<Function, MeteringError> {
    let mut local_types = Vec::new();
    let mut f = if ctx.meter {
        // The module's locals, the written-chunks record's four (from index `scratch` = params
        // + locals), then one i64 local that holds the function's remaining gas between
        // observation points (`gas_local.rs`).
        let mut locals = Vec::new();
        let mut reader = body.get_locals_reader()?;
        if ctx.debug.is_some() {
            let params = ctx.module.func_sig(func).map(|s| s.params.as_slice());
            local_types.extend(params.unwrap_or_default().iter().copied());
        }
        for _ in 0..reader.get_count() {
            let (count, ty) = reader.read()?;
            locals.push((count, RoundtripReencoder.val_type(ty)?));
            if ctx.debug.is_some() {
                let room = crate::debug::MAX_DEBUG_LOCALS.saturating_sub(local_types.len());
                local_types.extend(std::iter::repeat_n(ty, room.min(count as usize)));
            }
        }
        // Then the written-chunks record's locals (`write_set.rs`), then the gas local: the
        // gas local stays the last one.
        locals.extend(write_set::LOCALS.iter().map(|&t| (1, t)));
        locals.push((1, ValType::I64));
        Function::new(locals)
    } else {
        RoundtripReencoder.new_function_with_parsed_locals(body)?
    };
    let mut reader = body.get_operators_reader()?;
    let mut ops = Vec::new();
    let mut offsets = Vec::new();
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        ops.push(op);
        // Input modules are at most `max_code_bytes` long, far below i32::MAX.
        offsets.push(i32::try_from(offset).unwrap_or(i32::MAX));
    }
    if !ctx.meter {
        for op in ops {
            f.instruction(&re.instruction(op)?);
        }
        return Ok(f);
    }
    let charges = block_charges(&ops, ctx.schedule);
    let imported = ctx.module.imports.len() as u32;
    let results = ctx.module.func_sig(func).map(|s| s.results.as_slice());
    ctx.body_types.open(&mut f, results.unwrap_or_default())?;
    let written = WriteSet::new(ctx.written_global, scratch);
    let record = WriteSet::needed(&ops);
    let gas_local = scratch.saturating_add(write_set::LOCALS.len() as u32);
    let mut gas = GasLocal::new(ctx.gas_global, gas_local, ctx.debug.is_some());
    gas.load(&mut f);
    let last = ops.len().saturating_sub(1);
    for (i, ((op, &charge), &offset)) in ops.iter().zip(&charges).zip(&offsets).enumerate() {
        // Where execution resumes after a call: the debugger reports it (charge 0) so that
        // `next` and `finish` can stop in the caller; calls do not end a metering block.
        let after = offsets.get(i.saturating_add(1)).copied().unwrap_or(offset);
        if charge > 0 {
            gas.charge(&mut f, charge, offset);
            if let Some(d) = ctx.debug {
                emit_debug_block(&mut f, d, &local_types, [offset, func as i32], charge);
            }
        }
        if record && gas.leaves(op, i == last) {
            written.flush(&mut f);
        }
        // A threaded host call passes the gas instead (`emit_operator`).
        let threaded = threads_gas(ctx, op);
        if !threaded {
            gas.before(&mut f, op, i == last);
        }
        if record {
            // Right before the store it marks for (the formal translator expects it there).
            written.before(&mut f, op);
        }
        emit_operator(&mut f, re, ctx, &mut gas, op, offset)?;
        if let (Operator::Call { .. } | Operator::CallIndirect { .. }, false) = (op, threaded) {
            // The callee or the host changed the gas global.
            gas.load(&mut f);
            let host =
                matches!(op, Operator::Call { function_index } if *function_index < imported);
            if let (Some(d), false) = (ctx.debug, host) {
                emit_debug_block(&mut f, d, &local_types, [after, func as i32], 0);
            }
        }
        gas.after(op);
    }
    body_frame::close(&mut f, ctx.oog_func);
    Ok(f)
}

/// One input operator, rewritten: killed, a host call with its site, a call with its stack
/// charge, or copied as is.
fn emit_operator(
    f: &mut Function,
    re: &mut Shift,
    ctx: &Ctx<'_>,
    gas: &mut GasLocal,
    op: &Operator<'_>,
    offset: i32,
) -> Result<(), MeteringError> {
    let imported = ctx.module.imports.len() as u32;
    if let Some(k) = killed(ctx, op) {
        // The `killed` trap reads the gas global. The operands stay on the stack; after
        // `unreachable` the rest of the block is stack-polymorphic, so the function still
        // validates.
        gas.sync(f);
        f.instruction(&Instruction::I32Const(offset))
            .instruction(&Instruction::I32Const(k.code()))
            .instruction(&Instruction::Call(ctx.killed_func))
            .instruction(&Instruction::Unreachable);
        return Ok(());
    }
    match op {
        Operator::Call { function_index } if *function_index < imported => {
            // Host call: record its site so a host-raised fault can be located exactly.
            f.instruction(&Instruction::I32Const(offset))
                .instruction(&Instruction::GlobalSet(ctx.site_global));
            if ctx.threaded.is_threaded(*function_index) {
                gas.pass(f);
                f.instruction(&re.instruction(op.clone())?);
                gas.take(f);
            } else {
                f.instruction(&re.instruction(op.clone())?);
            }
        }
        Operator::Call { function_index } => {
            match ctx.module.defined(*function_index).map(|i| i.frame_slots()) {
                Some(frame) => {
                    emit_stack_enter(f, ctx, frame, offset);
                    f.instruction(&re.instruction(op.clone())?);
                    emit_stack_leave(f, ctx, frame);
                }
                None => {
                    f.instruction(&re.instruction(op.clone())?);
                }
            }
        }
        Operator::CallIndirect { type_index, .. } => {
            let frame = ctx
                .indirect_frames
                .get(type_index)
                .copied()
                .unwrap_or(FRAME_OVERHEAD_SLOTS);
            emit_stack_enter(f, ctx, frame, offset);
            f.instruction(&re.instruction(op.clone())?);
            emit_stack_leave(f, ctx, frame);
        }
        _ => {
            f.instruction(&re.instruction(op.clone())?);
        }
    }
    Ok(())
}

/// What `kills` switches off at `op`: the operator's class or the host function it calls.
fn killed(ctx: &Ctx<'_>, op: &Operator<'_>) -> Option<crate::kills::Killed> {
    match op {
        Operator::Call { function_index }
            if (*function_index as usize) < ctx.module.imports.len() =>
        {
            ctx.module
                .imports
                .get(*function_index as usize)
                .and_then(|(h, _)| ctx.kills.kills_host(*h))
        }
        _ => ctx.kills.kills_op(op),
    }
}

/// Whether `op` is a call to a host import that threads the gas (`gas_threading.rs`) and is
/// not switched off.
fn threads_gas(ctx: &Ctx<'_>, op: &Operator<'_>) -> bool {
    matches!(op, Operator::Call { function_index } if ctx.threaded.is_threaded(*function_index))
        && killed(ctx, op).is_none()
}

/// The debugger's hook calls (see `debug.rs`): each local as an i64, then the block's site,
/// function and charge. Stack-neutral, uncharged.
fn emit_debug_block(
    f: &mut Function,
    d: DebugFuncs,
    locals: &[wasmparser::ValType],
    [site, func]: [i32; 2],
    charge: u64,
) {
    for (i, ty) in locals
        .iter()
        .take(crate::debug::MAX_DEBUG_LOCALS)
        .enumerate()
    {
        let i = i as u32; // below MAX_DEBUG_LOCALS
        match ty {
            wasmparser::ValType::I32 => {
                f.instruction(&Instruction::LocalGet(i))
                    .instruction(&Instruction::I64ExtendI32U);
            }
            wasmparser::ValType::I64 => {
                f.instruction(&Instruction::LocalGet(i));
            }
            _ => {
                f.instruction(&Instruction::I64Const(0));
            }
        }
        f.instruction(&Instruction::Call(d.local));
    }
    f.instruction(&Instruction::I32Const(site))
        .instruction(&Instruction::I32Const(func))
        .instruction(&Instruction::I64Const(
            i64::try_from(charge).unwrap_or(i64::MAX),
        ))
        .instruction(&Instruction::Call(d.block));
}

/// `if stack > max - frame { stack_overflow(offset) } stack += frame`, `offset` being the call
/// site in the input module.
fn emit_stack_enter(f: &mut Function, ctx: &Ctx<'_>, frame: u32, offset: i32) {
    match ctx.max_stack.checked_sub(frame) {
        Some(room) => {
            f.instruction(&Instruction::GlobalGet(ctx.stack_global))
                .instruction(&Instruction::I32Const(room as i32))
                .instruction(&Instruction::I32GtU)
                .instruction(&Instruction::If(BlockType::Empty))
                .instruction(&Instruction::I32Const(offset))
                .instruction(&Instruction::Call(ctx.overflow_func))
                .instruction(&Instruction::End);
        }
        None => {
            f.instruction(&Instruction::I32Const(offset))
                .instruction(&Instruction::Call(ctx.overflow_func));
        }
    }
    f.instruction(&Instruction::GlobalGet(ctx.stack_global))
        .instruction(&Instruction::I32Const(frame as i32))
        .instruction(&Instruction::I32Add)
        .instruction(&Instruction::GlobalSet(ctx.stack_global));
}

/// `stack -= frame` after a call returns.
fn emit_stack_leave(f: &mut Function, ctx: &Ctx<'_>, frame: u32) {
    f.instruction(&Instruction::GlobalGet(ctx.stack_global))
        .instruction(&Instruction::I32Const(frame as i32))
        .instruction(&Instruction::I32Sub)
        .instruction(&Instruction::GlobalSet(ctx.stack_global));
}
