//! The translator: an admitted module, after Keel's metering pass, into the model's terms.
//!
//! The instrumented binary is read as the engines run it, so the model sees exactly the charges
//! the pass inserted. The shapes the pass emits are recognised and named: the charge
//! sequence on the function's gas local becomes `Charge k`, and the copies between that local
//! and the gas global (on entry, after calls, before anything observes the global) vanish, since
//! the model has one gas counter and the pass keeps the two equal wherever the global can be
//! observed (`keel_vm::metering`'s `gas_local.rs`); a host call that threads the gas local
//! through its signature (`gas_threading.rs`) becomes the model's host call; a call of
//! `keel_meter.stack_overflow` becomes
//! `TrapWith StackOverflow`, and `i32.const code; call keel_meter.killed` becomes
//! `TrapWith (Killed code)`. Everything else maps one operator to one constructor, blocks to
//! nested bodies (structured control flow kept). The stack-height global stays an ordinary
//! global, as in the binary. Anything outside the integer profile is refused by name.

use crate::error::FormalError;
use crate::ir::{Func, HelperTrap, Instr, Program, Ty, Val};
use keel_vm::admission::AdmittedModule;
use keel_vm::metering::HELPER_IMPORTS;
use keel_vm::profile::Profile;
use wasmparser::{
    BlockType, DataKind, ElementItems, ElementKind, FuncType, Operator, Parser, Payload, ValType,
};

/// What the body translator needs of the module.
struct Ctx {
    /// Host imports: the `HostFn` index of each, and its parameter/result counts.
    hosts: Vec<(u32, u32, u32)>,
    types: Vec<FuncType>,
    /// Canonical index of each type (first structurally equal one).
    canon: Vec<u32>,
    /// Type of each defined function.
    func_types: Vec<u32>,
    gas_global: u32,
}

impl Ctx {
    fn helper(&self, k: u32) -> u32 {
        (self.hosts.len() as u32).saturating_add(k)
    }

    fn first_defined(&self) -> u32 {
        self.helper(HELPER_IMPORTS)
    }

    fn block_arity(&self, bt: BlockType) -> Result<(u32, u32), FormalError> {
        Ok(match bt {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(t) => {
                let ft = self
                    .types
                    .get(t as usize)
                    .ok_or_else(|| FormalError::Wasm(format!("block type {t} out of range")))?;
                (ft.params().len() as u32, ft.results().len() as u32)
            }
        })
    }
}

/// Translates the instrumented bytes of `module` (as `keel_vm::metering::instrument` made
/// them under `profile`). Deterministic.
pub fn translate(
    module: &AdmittedModule,
    instrumented: &[u8],
    profile: &Profile,
) -> Result<Program, FormalError> {
    let hosts = module
        .imports
        .iter()
        .map(|(h, ty)| {
            let sig = module.types.get(*ty as usize);
            let (p, r) = sig.map_or((0, 0), |s| (s.params.len(), s.results.len()));
            (*h as u32, p as u32, r as u32)
        })
        .collect();
    let globals_defined = module
        .imported_globals
        .saturating_add(module.defined_globals);
    let mut ctx = Ctx {
        hosts,
        types: Vec::new(),
        canon: Vec::new(),
        func_types: Vec::new(),
        gas_global: globals_defined,
    };
    let mut prog = Program {
        funcs: Vec::new(),
        table: Vec::new(),
        globals: Vec::new(),
        stack_global: globals_defined.saturating_add(1),
        memory_pages: 0,
        memory_max_pages: 0,
        data: Vec::new(),
    };
    for payload in Parser::new(0).parse_all(instrumented) {
        match payload? {
            Payload::TypeSection(r) => {
                for ft in r.into_iter_err_on_gc_types() {
                    ctx.types.push(ft?);
                }
                ctx.canon = (0..ctx.types.len())
                    .map(|i| {
                        let first = ctx.types.iter().position(|t| Some(t) == ctx.types.get(i));
                        first.unwrap_or(i) as u32
                    })
                    .collect();
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    ctx.func_types.push(t?);
                }
            }
            Payload::MemorySection(r) => {
                if let Some(m) = r.into_iter().next() {
                    let m = m?;
                    let cap = u64::from(profile.max_memory_pages);
                    prog.memory_pages = m.initial;
                    prog.memory_max_pages = m.maximum.unwrap_or(cap).min(cap);
                }
            }
            Payload::GlobalSection(r) => {
                for g in r {
                    prog.globals.push(const_val(&g?.init_expr)?);
                }
            }
            Payload::ElementSection(r) => {
                for e in r {
                    read_element(&ctx, &mut prog, e?)?;
                }
            }
            Payload::DataSection(r) => {
                for d in r {
                    let d = d?;
                    if let DataKind::Active { offset_expr, .. } = d.kind {
                        let off = match const_val(&offset_expr)? {
                            Val::I32(v) => u64::from(v),
                            Val::I64(v) => v,
                        };
                        prog.data.push((off, d.data.to_vec()));
                    } else {
                        return Err(FormalError::Unsupported("passive data segment".into()));
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let index = prog.funcs.len();
                let ty = *ctx.func_types.get(index).ok_or_else(|| {
                    FormalError::Wasm("more bodies than declared functions".into())
                })?;
                prog.funcs.push(read_body(&ctx, ty, &body)?);
            }
            _ => {}
        }
    }
    Ok(prog)
}

fn const_val(expr: &wasmparser::ConstExpr<'_>) -> Result<Val, FormalError> {
    let mut r = expr.get_operators_reader();
    match r.read()? {
        Operator::I32Const { value } => Ok(Val::I32(value as u32)),
        Operator::I64Const { value } => Ok(Val::I64(value as u64)),
        op => Err(FormalError::Unsupported(format!(
            "constant expression {op:?}"
        ))),
    }
}

fn read_element(
    ctx: &Ctx,
    prog: &mut Program,
    e: wasmparser::Element<'_>,
) -> Result<(), FormalError> {
    let ElementKind::Active { offset_expr, .. } = e.kind else {
        return Err(FormalError::Unsupported(
            "passive or declared element segment".into(),
        ));
    };
    let Val::I32(off) = const_val(&offset_expr)? else {
        return Err(FormalError::Unsupported("64-bit table offset".into()));
    };
    let ElementItems::Functions(items) = e.items else {
        return Err(FormalError::Unsupported("element expressions".into()));
    };
    let mut at = off as usize;
    for f in items {
        let f = f?;
        let defined = f.checked_sub(ctx.first_defined()).ok_or_else(|| {
            FormalError::Unsupported(format!("imported function {f} in the table"))
        })?;
        // Admission bounds the table (profile.max_table_elements): the resize is small.
        if prog.table.len() <= at {
            prog.table.resize(at.saturating_add(1), None);
        }
        if let Some(slot) = prog.table.get_mut(at) {
            *slot = Some(defined);
        }
        at = at.saturating_add(1);
    }
    Ok(())
}

fn ty_of(v: ValType) -> Result<Ty, FormalError> {
    match v {
        ValType::I32 => Ok(Ty::T32),
        ValType::I64 => Ok(Ty::T64),
        other => Err(FormalError::Unsupported(format!("value type {other}"))),
    }
}

fn read_body(ctx: &Ctx, ty: u32, body: &wasmparser::FunctionBody<'_>) -> Result<Func, FormalError> {
    let ft = ctx
        .types
        .get(ty as usize)
        .ok_or_else(|| FormalError::Wasm(format!("function type {ty} out of range")))?;
    let mut locals = Vec::new();
    let mut lr = body.get_locals_reader()?;
    for _ in 0..lr.get_count() {
        let (n, t) = lr.read()?;
        let t = ty_of(t)?;
        // Admission bounds locals per function (profile.max_locals_per_function).
        locals.extend(std::iter::repeat_n(t, n as usize));
    }
    let mut ops = Vec::new();
    let mut r = body.get_operators_reader()?;
    while !r.eof() {
        ops.push(r.read()?);
    }
    let mut at = 0usize;
    // The metering pass's gas local is the function's last local.
    let scratch = (ft.params().len() as u32)
        .saturating_add(locals.len() as u32)
        .saturating_sub(1);
    let b = Body {
        ctx,
        ops: &ops,
        scratch,
    };
    b.open_frame(&mut at)?;
    let (body, _) = b.seq(&mut at, 0)?;
    b.close_frame(at)?;
    Ok(Func {
        sig: ctx.canon.get(ty as usize).copied().unwrap_or(ty),
        params: ft.params().len() as u32,
        results: ft.results().len() as u32,
        locals,
        body,
    })
}

struct Body<'a, 'o> {
    ctx: &'a Ctx,
    ops: &'a [Operator<'o>],
    /// Index of the gas local.
    scratch: u32,
}

/// How a sequence ended.
#[derive(PartialEq)]
enum End {
    End,
    Else,
}

impl Body<'_, '_> {
    /// Reads instructions from `*at` to the `end` (or `else`) closing the current construct.
    /// Skips the frame the metering pass opens around the body (`block $oog (result i32)`,
    /// `block $body`; see `keel_vm::metering`'s `body_frame.rs`).
    fn open_frame(&self, at: &mut usize) -> Result<(), FormalError> {
        use Operator as O;
        match self.ops.get(..2) {
            Some(
                [
                    O::Block {
                        blockty: BlockType::Type(ValType::I32),
                    },
                    O::Block { .. },
                ],
            ) => {
                *at = 2;
                Ok(())
            }
            _ => Err(FormalError::Unsupported(
                "body without the metering pass's frame".into(),
            )),
        }
    }

    /// Checks the frame's close after `$body`'s end: `return; end; call out_of_gas;
    /// unreachable; end`, and nothing after it.
    fn close_frame(&self, at: usize) -> Result<(), FormalError> {
        use Operator as O;
        let oog = self.ctx.helper(0);
        match self.ops.get(at..) {
            Some(
                [
                    O::Return,
                    O::End,
                    O::Call { function_index },
                    O::Unreachable,
                    O::End,
                ],
            ) if *function_index == oog => Ok(()),
            _ => Err(FormalError::Unsupported(
                "body frame not closed as the metering pass closes it".into(),
            )),
        }
    }

    /// Reads instructions from `*at` to the `end` (or `else`) closing the current construct;
    /// `depth` constructs of the input body are open around them.
    fn seq(&self, at: &mut usize, depth: u32) -> Result<(Vec<Instr>, End), FormalError> {
        let inner = depth.saturating_add(1);
        let mut out = Vec::new();
        while let Some(op) = self.ops.get(*at) {
            if let Some(k) = self.charge_at(*at, depth) {
                out.push(Instr::Charge(k));
                *at = at.saturating_add(CHARGE_LEN);
                continue;
            }
            if self.gas_copy_at(*at) {
                *at = at.saturating_add(GAS_COPY_LEN);
                continue;
            }
            if let Some(call) = self.threaded_call_at(*at) {
                out.push(call);
                *at = at.saturating_add(THREADED_CALL_LEN);
                continue;
            }
            if let Some(len) = self.record_at(*at) {
                *at = at.saturating_add(len);
                continue;
            }
            *at = at.saturating_add(1);
            match op {
                Operator::End => return Ok((out, End::End)),
                Operator::Else => return Ok((out, End::Else)),
                Operator::Block { blockty } => {
                    let (params, results) = self.ctx.block_arity(*blockty)?;
                    let (body, _) = self.seq(at, inner)?;
                    out.push(Instr::Block {
                        params,
                        results,
                        body,
                    });
                }
                Operator::Loop { blockty } => {
                    let (params, results) = self.ctx.block_arity(*blockty)?;
                    let (body, _) = self.seq(at, inner)?;
                    out.push(Instr::Loop {
                        params,
                        results,
                        body,
                    });
                }
                Operator::If { blockty } => {
                    let (params, results) = self.ctx.block_arity(*blockty)?;
                    let (then, end) = self.seq(at, inner)?;
                    let els = if end == End::Else {
                        self.seq(at, inner)?.0
                    } else {
                        Vec::new()
                    };
                    out.push(Instr::If {
                        params,
                        results,
                        then,
                        els,
                    });
                }
                Operator::Call { function_index } => self.call(*function_index, &mut out)?,
                op if branches_past(op, depth) => {
                    return Err(FormalError::Unsupported(
                        "a branch to the body frame outside a metering charge".into(),
                    ));
                }
                op => out.push(self.simple(op)?),
            }
        }
        Err(FormalError::Wasm("function body ends without `end`".into()))
    }

    fn call(&self, f: u32, out: &mut Vec<Instr>) -> Result<(), FormalError> {
        let ctx = self.ctx;
        if let Some(&(host, params, results)) = ctx.hosts.get(f as usize) {
            out.push(Instr::HostCall {
                host,
                params,
                results,
            });
        } else if f == ctx.helper(1) {
            out.push(Instr::Drop);
            out.push(Instr::TrapWith(HelperTrap::StackOverflow));
        } else if f == ctx.helper(2) {
            let code = match out.last() {
                Some(Instr::Const(Val::I32(c))) => *c as i32,
                _ => {
                    return Err(FormalError::Unsupported(
                        "killed helper without a code".into(),
                    ));
                }
            };
            out.push(Instr::TrapWith(HelperTrap::Killed(code)));
        } else if f == ctx.helper(0) {
            return Err(FormalError::Unsupported(
                "out_of_gas helper outside a charge sequence".into(),
            ));
        } else {
            out.push(Instr::Call(f.saturating_sub(ctx.first_defined())));
        }
        Ok(())
    }

    /// The charge the metering pass emits at `at`, if it starts there (see
    /// `keel_vm::metering`'s `GasLocal::charge`): its branch must leave for `$oog`, past the
    /// `depth` open constructs and `$body`.
    fn charge_at(&self, at: usize, depth: u32) -> Option<u64> {
        use Operator as O;
        let s = self.scratch;
        match self.ops.get(at..at.checked_add(CHARGE_LEN)?)? {
            [
                O::I32Const { .. },
                O::LocalGet { local_index: s1 },
                O::I64Const { value: cost },
                O::I64Sub,
                O::LocalTee { local_index: s2 },
                O::I64Const { value: 0 },
                O::I64LtS,
                O::BrIf { relative_depth },
                O::Drop,
            ] if *s1 == s
                && *s2 == s
                && Some(*relative_depth) == depth.checked_add(1)
                && *cost >= 0 =>
            {
                Some(*cost as u64)
            }
            _ => None,
        }
    }

    /// Whether a copy between the gas local and the gas global starts at `at`.
    fn gas_copy_at(&self, at: usize) -> bool {
        use Operator as O;
        let (g, s) = (self.ctx.gas_global, self.scratch);
        let Some(pair) = at
            .checked_add(GAS_COPY_LEN)
            .and_then(|end| self.ops.get(at..end))
        else {
            return false;
        };
        match pair {
            [O::GlobalGet { global_index }, O::LocalSet { local_index }]
            | [O::LocalGet { local_index }, O::GlobalSet { global_index }] => {
                *global_index == g && *local_index == s
            }
            _ => false,
        }
    }

    /// A host call with the gas threaded through its signature (`keel_vm::metering`'s
    /// `gas_threading.rs`) at `at`: `local.get $g; call host; local.set $g`. The host takes the
    /// gas local, which holds the model's one counter, and hands back the counter it charged,
    /// so the model's host call is the whole sequence.
    fn threaded_call_at(&self, at: usize) -> Option<Instr> {
        use Operator as O;
        let s = self.scratch;
        match self.ops.get(at..at.checked_add(THREADED_CALL_LEN)?)? {
            [
                O::LocalGet { local_index: s1 },
                O::Call { function_index },
                O::LocalSet { local_index: s2 },
            ] if *s1 == s && *s2 == s => {
                let &(host, params, results) = self.ctx.hosts.get(*function_index as usize)?;
                Some(Instr::HostCall {
                    host,
                    params,
                    results,
                })
            }
            _ => None,
        }
    }

    /// The local `k` (0..4) of the written-chunks record: mask, address, 32-bit and 64-bit
    /// value, just before the gas local (`keel_vm::metering`'s `write_set.rs`).
    fn record_local(&self, k: u32) -> Option<u32> {
        self.scratch.checked_sub(RECORD_LOCALS.checked_sub(k)?)
    }

    fn is_record_local(&self, i: u32) -> bool {
        (0..RECORD_LOCALS).any(|k| self.record_local(k) == Some(i))
    }

    /// The written-chunks global: after the gas, stack and site globals.
    fn written_global(&self) -> u32 {
        self.ctx.gas_global.saturating_add(3)
    }

    /// The length of the written-chunks record's code starting at `at`, if it starts there:
    /// the marking before a store or the flush before leaving. It computes nothing the input
    /// module can observe, so it is dropped like the charges.
    fn record_at(&self, at: usize) -> Option<usize> {
        use Operator as O;
        let [m, a, v32, v64] = [0, 1, 2, 3].map(|k| self.record_local(k));
        let (m, a) = (m?, a?);
        let w = self.written_global();
        if let Some(
            [
                O::GlobalGet { global_index: g1 },
                O::LocalGet { local_index: m1 },
                O::I64Or,
                O::GlobalSet { global_index: g2 },
            ],
        ) = self.ops.get(at..at.checked_add(FLUSH_LEN)?)
            && *g1 == w
            && *g2 == w
            && *m1 == m
        {
            return Some(FLUSH_LEN);
        }
        match self
            .ops
            .get(at..at.checked_add(MARK_LEN.checked_add(1)?)?)?
        {
            [
                O::LocalSet { local_index: v1 },
                O::LocalSet { local_index: a1 },
                O::LocalGet { local_index: m1 },
                O::I64Const { value: 3 },
                O::LocalGet { local_index: a2 },
                O::I64ExtendI32U,
                O::I64Const { value: offset },
                O::I64Add,
                O::I64Const { value: 12 },
                O::I64ShrU,
                O::I64Shl,
                O::I64Or,
                O::LocalSet { local_index: m2 },
                O::LocalGet { local_index: a3 },
                O::LocalGet { local_index: v2 },
                store,
            ] if (Some(*v1) == v32 || Some(*v1) == v64)
                && v1 == v2
                && [a1, a2, a3].iter().all(|x| **x == a)
                && *m1 == m
                && *m2 == m
                && *offset >= 0
                && memory_op(store).is_some_and(|i| matches!(i, Instr::Store { .. })) =>
            {
                Some(MARK_LEN)
            }
            _ => None,
        }
    }

    fn simple(&self, op: &Operator<'_>) -> Result<Instr, FormalError> {
        use Instr as I;
        use Operator as O;
        use Ty::{T32, T64};
        let (g, s) = (self.ctx.gas_global, self.scratch);
        Ok(match op {
            O::GlobalGet { global_index } | O::GlobalSet { global_index }
                if *global_index == self.written_global() =>
            {
                return Err(FormalError::Unsupported(
                    "written-chunks global used outside the record's code".into(),
                ));
            }
            O::LocalGet { local_index }
            | O::LocalSet { local_index }
            | O::LocalTee { local_index }
                if self.is_record_local(*local_index) =>
            {
                return Err(FormalError::Unsupported(
                    "written-chunks local used outside the record's code".into(),
                ));
            }
            O::GlobalGet { global_index } | O::GlobalSet { global_index } if *global_index == g => {
                return Err(FormalError::Unsupported(
                    "gas global used outside a metering charge".into(),
                ));
            }
            O::LocalGet { local_index }
            | O::LocalSet { local_index }
            | O::LocalTee { local_index }
                if *local_index == s =>
            {
                return Err(FormalError::Unsupported(
                    "gas local used outside a metering charge".into(),
                ));
            }
            O::Unreachable => I::Unreachable,
            O::Nop => I::Nop,
            O::Br { relative_depth } => I::Br(*relative_depth),
            O::BrIf { relative_depth } => I::BrIf(*relative_depth),
            O::BrTable { targets } => {
                let ts = targets.targets().collect::<Result<Vec<u32>, _>>()?;
                I::BrTable(ts, targets.default())
            }
            O::Return => I::Return,
            O::CallIndirect { type_index, .. } => I::CallIndirect(
                self.ctx
                    .canon
                    .get(*type_index as usize)
                    .copied()
                    .unwrap_or(*type_index),
            ),
            O::Drop => I::Drop,
            O::Select | O::TypedSelect { .. } => I::Select,
            O::LocalGet { local_index } => I::LocalGet(*local_index),
            O::LocalSet { local_index } => I::LocalSet(*local_index),
            O::LocalTee { local_index } => I::LocalTee(*local_index),
            O::GlobalGet { global_index } => I::GlobalGet(*global_index),
            O::GlobalSet { global_index } => I::GlobalSet(*global_index),
            O::I32Const { value } => I::Const(Val::I32(*value as u32)),
            O::I64Const { value } => I::Const(Val::I64(*value as u64)),
            O::MemorySize { .. } => I::MemorySize,
            O::MemoryGrow { .. } => I::MemoryGrow,
            O::I32WrapI64 => I::Cvt("WrapI64"),
            O::I64ExtendI32S => I::Cvt("ExtendI32S"),
            O::I64ExtendI32U => I::Cvt("ExtendI32U"),
            O::I32Eqz => I::Eqz(T32),
            O::I64Eqz => I::Eqz(T64),
            _ => {
                if let Some(i) = memory_op(op) {
                    return Ok(i);
                }
                return numeric_op(op)
                    .ok_or_else(|| FormalError::Unsupported(format!("operator {op:?}")));
            }
        })
    }
}

/// Whether `op` branches past the input body's own label (to the metering frame's `$oog`).
fn branches_past(op: &Operator<'_>, depth: u32) -> bool {
    match op {
        Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
            *relative_depth > depth
        }
        Operator::BrTable { targets } => {
            targets.default() > depth || targets.targets().any(|t| t.map_or(true, |t| t > depth))
        }
        _ => false,
    }
}

/// Length of the metering pass's charge sequence.
const CHARGE_LEN: usize = 9;

/// Locals the written-chunks record adds before the gas local.
const RECORD_LOCALS: u32 = keel_vm::metering::write_set::LOCALS.len() as u32;
use keel_vm::metering::write_set::{FLUSH_LEN, MARK_LEN};

/// Length of a copy between the gas local and the gas global.
const GAS_COPY_LEN: usize = 2;
/// Length of a threaded host call (`local.get $g; call host; local.set $g`).
const THREADED_CALL_LEN: usize = 3;

fn memory_op(op: &Operator<'_>) -> Option<Instr> {
    use Operator as O;
    use Ty::{T32, T64};
    let load = |ty, bytes, signed, m: &wasmparser::MemArg| Instr::Load {
        ty,
        bytes,
        signed,
        offset: m.offset,
    };
    let store = |ty, bytes, m: &wasmparser::MemArg| Instr::Store {
        ty,
        bytes,
        offset: m.offset,
    };
    Some(match op {
        O::I32Load { memarg } => load(T32, 4, false, memarg),
        O::I64Load { memarg } => load(T64, 8, false, memarg),
        O::I32Load8S { memarg } => load(T32, 1, true, memarg),
        O::I32Load8U { memarg } => load(T32, 1, false, memarg),
        O::I32Load16S { memarg } => load(T32, 2, true, memarg),
        O::I32Load16U { memarg } => load(T32, 2, false, memarg),
        O::I64Load8S { memarg } => load(T64, 1, true, memarg),
        O::I64Load8U { memarg } => load(T64, 1, false, memarg),
        O::I64Load16S { memarg } => load(T64, 2, true, memarg),
        O::I64Load16U { memarg } => load(T64, 2, false, memarg),
        O::I64Load32S { memarg } => load(T64, 4, true, memarg),
        O::I64Load32U { memarg } => load(T64, 4, false, memarg),
        O::I32Store { memarg } => store(T32, 4, memarg),
        O::I64Store { memarg } => store(T64, 8, memarg),
        O::I32Store8 { memarg } => store(T32, 1, memarg),
        O::I32Store16 { memarg } => store(T32, 2, memarg),
        O::I64Store8 { memarg } => store(T64, 1, memarg),
        O::I64Store16 { memarg } => store(T64, 2, memarg),
        O::I64Store32 { memarg } => store(T64, 4, memarg),
        _ => return None,
    })
}

/// The integer operators: one table row each (type, model constructor, operator name).
fn numeric_op(op: &Operator<'_>) -> Option<Instr> {
    use Instr::{Binop, Relop, Unop};
    use Operator as O;
    use Ty::{T32, T64};
    Some(match op {
        O::I32Clz => Unop(T32, "Clz"),
        O::I32Ctz => Unop(T32, "Ctz"),
        O::I32Popcnt => Unop(T32, "Popcnt"),
        O::I32Extend8S => Unop(T32, "Extend8S"),
        O::I32Extend16S => Unop(T32, "Extend16S"),
        O::I64Clz => Unop(T64, "Clz"),
        O::I64Ctz => Unop(T64, "Ctz"),
        O::I64Popcnt => Unop(T64, "Popcnt"),
        O::I64Extend8S => Unop(T64, "Extend8S"),
        O::I64Extend16S => Unop(T64, "Extend16S"),
        O::I64Extend32S => Unop(T64, "Extend32S"),
        O::I32Add => Binop(T32, "Add"),
        O::I32Sub => Binop(T32, "Sub"),
        O::I32Mul => Binop(T32, "Mul"),
        O::I32DivS => Binop(T32, "DivS"),
        O::I32DivU => Binop(T32, "DivU"),
        O::I32RemS => Binop(T32, "RemS"),
        O::I32RemU => Binop(T32, "RemU"),
        O::I32And => Binop(T32, "And"),
        O::I32Or => Binop(T32, "Or"),
        O::I32Xor => Binop(T32, "Xor"),
        O::I32Shl => Binop(T32, "Shl"),
        O::I32ShrS => Binop(T32, "ShrS"),
        O::I32ShrU => Binop(T32, "ShrU"),
        O::I32Rotl => Binop(T32, "Rotl"),
        O::I32Rotr => Binop(T32, "Rotr"),
        O::I64Add => Binop(T64, "Add"),
        O::I64Sub => Binop(T64, "Sub"),
        O::I64Mul => Binop(T64, "Mul"),
        O::I64DivS => Binop(T64, "DivS"),
        O::I64DivU => Binop(T64, "DivU"),
        O::I64RemS => Binop(T64, "RemS"),
        O::I64RemU => Binop(T64, "RemU"),
        O::I64And => Binop(T64, "And"),
        O::I64Or => Binop(T64, "Or"),
        O::I64Xor => Binop(T64, "Xor"),
        O::I64Shl => Binop(T64, "Shl"),
        O::I64ShrS => Binop(T64, "ShrS"),
        O::I64ShrU => Binop(T64, "ShrU"),
        O::I64Rotl => Binop(T64, "Rotl"),
        O::I64Rotr => Binop(T64, "Rotr"),
        O::I32Eq => Relop(T32, "Eq"),
        O::I32Ne => Relop(T32, "Ne"),
        O::I32LtS => Relop(T32, "LtS"),
        O::I32LtU => Relop(T32, "LtU"),
        O::I32GtS => Relop(T32, "GtS"),
        O::I32GtU => Relop(T32, "GtU"),
        O::I32LeS => Relop(T32, "LeS"),
        O::I32LeU => Relop(T32, "LeU"),
        O::I32GeS => Relop(T32, "GeS"),
        O::I32GeU => Relop(T32, "GeU"),
        O::I64Eq => Relop(T64, "Eq"),
        O::I64Ne => Relop(T64, "Ne"),
        O::I64LtS => Relop(T64, "LtS"),
        O::I64LtU => Relop(T64, "LtU"),
        O::I64GtS => Relop(T64, "GtS"),
        O::I64GtU => Relop(T64, "GtU"),
        O::I64LeS => Relop(T64, "LeS"),
        O::I64LeU => Relop(T64, "LeU"),
        O::I64GeS => Relop(T64, "GeS"),
        O::I64GeU => Relop(T64, "GeU"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_vm::GasSchedule;
    use keel_vm::metering::{block_charges, instrument};

    fn translated(wat: &str) -> (AdmittedModule, Program) {
        let wasm = wat::parse_str(wat).expect("wat");
        let module = keel_vm::admit(&wasm, &Profile::V1).expect("admitted");
        let inst = instrument(&module, &GasSchedule::v1(), &Profile::V1).expect("metered");
        let p = translate(&module, &inst.bytes, &Profile::V1).expect("translated");
        (module, p)
    }

    fn charges(body: &[Instr]) -> Vec<u64> {
        let mut out = Vec::new();
        for i in body {
            i.walk(&mut |i| {
                if let Instr::Charge(k) = i {
                    out.push(*k);
                }
            });
        }
        out
    }

    #[test]
    fn every_metering_charge_becomes_one_charge_in_block_order() {
        let (module, p) = translated(
            r#"(module (func (export "run") (local i32)
                 (block (br_if 0 (local.get 0)) (local.set 0 (i32.const 1)))
                 (loop (br_if 0 (i32.eqz (local.get 0))))
                 (if (local.get 0) (then nop) (else (local.set 0 (i32.const 2))))))"#,
        );
        let mut ops = Vec::new();
        for payload in Parser::new(0).parse_all(&module.bytes) {
            if let Ok(Payload::CodeSectionEntry(b)) = payload {
                let mut r = b.get_operators_reader().expect("ops");
                while !r.eof() {
                    ops.push(r.read().expect("op"));
                }
            }
        }
        let expected: Vec<u64> = block_charges(&ops, &GasSchedule::v1())
            .into_iter()
            .filter(|c| *c > 0)
            .collect();
        let f = p.funcs.first().expect("one function");
        assert_eq!(charges(&f.body), expected);
        assert!(f.body.iter().any(Instr::has_loop));
    }

    #[test]
    fn host_calls_helpers_and_the_scratch_local_are_named() {
        let (_, p) = translated(
            r#"(module (import "keel" "input_size" (func $s (result i32)))
                 (func $g (result i32) (call $s))
                 (func (export "run") (drop (call $g))))"#,
        );
        let run = p.funcs.get(1).expect("run");
        let mut seen = Vec::new();
        for i in &run.body {
            i.walk(&mut |i| seen.push(i.clone()));
        }
        // The direct call is to defined function 0, guarded by the stack meter's trap.
        assert!(seen.contains(&Instr::Call(0)));
        assert!(seen.contains(&Instr::TrapWith(HelperTrap::StackOverflow)));
        let g = p.funcs.first().expect("g");
        assert!(g.body.contains(&Instr::HostCall {
            host: keel_vm::HostFn::InputSize as u32,
            params: 0,
            results: 1
        }));
        // The metering pass's scratch local is the function's last local.
        assert_eq!(g.locals.last(), Some(&Ty::T64));
        assert_eq!(p.stack_global, 1);
    }

    #[test]
    fn the_gas_global_read_outside_a_charge_is_refused() {
        let wasm = wat::parse_str(r#"(module (func (export "run") (drop (i64.const 1)) (nop)))"#)
            .expect("wat");
        let module = keel_vm::admit(&wasm, &Profile::V1).expect("admitted");
        let inst = instrument(&module, &GasSchedule::v1(), &Profile::V1).expect("metered");
        let p = translate(&module, &inst.bytes, &Profile::V1).expect("translated");
        assert_eq!(p.funcs.len(), 1);
        // A body that reads the gas global (index 0 here) outside a charge is not Keel's output.
        let framed = |body: &str| {
            wat::parse_str(format!(
                r#"(module (import "keel_meter" "out_of_gas" (func (param i32)))
                     (global (mut i64) (i64.const 0))
                     (func (local i64) (block (result i32) (block {body}) (return))
                       (call 0) (unreachable)))"#
            ))
            .expect("wat")
        };
        let refused = |wasm: &[u8], why: &str| match translate(&module, wasm, &Profile::V1) {
            Err(FormalError::Unsupported(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected a refusal for {why}: {other:?}"),
        };
        assert!(translate(&module, &framed("(nop)"), &Profile::V1).is_ok());
        refused(&framed("(drop (global.get 0))"), "gas global");
        refused(&framed("(local.set 0 (i64.const 9))"), "gas local");
        refused(
            &framed("(drop (br_if 1 (i32.const 0) (i32.const 1)))"),
            "body frame",
        );
        refused(
            &wat::parse_str(
                r#"(module (import "keel_meter" "out_of_gas" (func (param i32)))
                 (global (mut i64) (i64.const 0)) (func (nop)))"#,
            )
            .expect("wat"),
            "frame",
        );
    }
}
