//! The interpreter: runs an instrumented module's entry point concretely, exactly as the wasmi
//! tier does (same traps, same gas through the module's own metering code and the shared host
//! functions), while carrying the symbolic shadow and recording the path condition.

use crate::expr::{self, CmpOp, E};
use crate::memory::{Memory, PAGE};
use crate::module::{Decoded, Import};
use crate::numeric::{self, Val};
use crate::ops::{Access, Num, Op};
use crate::trace::{FactKind, Site, Trace};
use keel_vm::host::HostState;
use keel_vm::{StateError, Trap, WasmTrap};

/// Deepest call stack the interpreter allows; Keel's deterministic stack budget (the
/// `keel$stack` global) always trips first, as wasmi's own limit is set above it.
pub const MAX_FRAMES: usize = 1 << 16;

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    Trap(Trap),
    Fatal(StateError),
}

impl From<WasmTrap> for Stop {
    fn from(trap: WasmTrap) -> Self {
        Stop::Trap(Trap::Wasm { trap })
    }
}

#[derive(Debug, Clone, Copy)]
struct Label {
    is_loop: bool,
    /// Instruction a branch to this label continues at.
    target: usize,
    /// Values a branch carries.
    arity: usize,
    /// Operand-stack height below the label's values.
    height: usize,
}

#[derive(Debug)]
struct Frame {
    /// Defined-function index (imports excluded).
    body: usize,
    pc: usize,
    locals: Vec<Val>,
    labels: Vec<Label>,
    results: usize,
}

/// One instance in the middle of a call.
pub struct Machine<'a> {
    pub module: &'a Decoded,
    pub globals: Vec<Val>,
    pub mem: Memory,
    pub table: Vec<Option<u32>>,
    pub host: HostState,
    pub trace: Trace,
    pub metered: bool,
    /// Whether input bytes and length are tracked symbolically.
    pub symbolic: bool,
    stack: Vec<Val>,
    frames: Vec<Frame>,
}

impl<'a> Machine<'a> {
    /// Instantiates: globals, memory (limited to `max_pages`), table, then element and data
    /// segments, in the spec's order. A segment out of range is the trap wasmi reports.
    pub fn instantiate(
        module: &'a Decoded,
        host: HostState,
        max_pages: u64,
        metered: bool,
    ) -> Result<Machine<'a>, Box<(Stop, HostState)>> {
        let globals = module.globals.iter().map(|g| Val::concrete(*g)).collect();
        let mut mem = Memory::default();
        if let Some((initial, declared)) = module.memory {
            let cap = declared.map_or(max_pages, |d| d.min(max_pages));
            mem.max_pages = cap;
            let bytes = initial.saturating_mul(PAGE);
            if initial > cap || bytes > (1u64 << 32) {
                let stop = Stop::Trap(engine_limit("initial memory over its limit"));
                return Err(Box::new((stop, host)));
            }
            mem.bytes = vec![0; bytes as usize];
        }
        let mut table = vec![None; module.table_size as usize];
        for (off, funcs) in &module.elements {
            let end = (*off as usize).checked_add(funcs.len());
            let Some(slots) = end.and_then(|e| table.get_mut(*off as usize..e)) else {
                return Err(Box::new((WasmTrap::TableOutOfBounds.into(), host)));
            };
            for (slot, f) in slots.iter_mut().zip(funcs) {
                *slot = Some(*f);
            }
        }
        for (off, data) in &module.data {
            let end = (*off as usize).checked_add(data.len());
            let Some(dst) = end.and_then(|e| mem.bytes.get_mut(*off as usize..e)) else {
                return Err(Box::new((WasmTrap::MemoryOutOfBounds.into(), host)));
            };
            dst.copy_from_slice(data);
        }
        Ok(Machine {
            module,
            globals,
            mem,
            table,
            host,
            trace: Trace::default(),
            metered,
            symbolic: false,
            stack: Vec::new(),
            frames: Vec::new(),
        })
    }

    /// Records that `cond` held (or, with `held` false, that it did not) at `site`.
    pub fn fact(&mut self, cond: E, held: bool, kind: FactKind, dir: u32) {
        let fact = if held { Some(cond) } else { expr::not(cond) };
        if let Some(f) = fact {
            let site = self.site();
            self.trace.push(f, kind, site, dir);
        }
    }

    /// Uses a symbolic value concretely: records `v == bits` as a pin.
    pub fn pin(&mut self, v: &Val, width: u32) {
        if let Some(s) = &v.sym
            && let Some(c) = expr::cmp(CmpOp::Eq, s.clone(), expr::konst(width, v.bits))
        {
            let site = self.site();
            self.trace.push(c, FactKind::Pin, site, 0);
        }
    }

    fn site(&self) -> Site {
        self.frames
            .last()
            .map_or(Site { func: 0, pc: 0 }, |f| Site {
                func: f.body as u32,
                pc: f.pc as u32,
            })
    }

    fn pop(&mut self) -> Result<Val, Stop> {
        self.stack
            .pop()
            .ok_or_else(|| Stop::Trap(engine_limit("operand stack underflow")))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Val>, Stop> {
        let at = self
            .stack
            .len()
            .checked_sub(n)
            .ok_or_else(|| Stop::Trap(engine_limit("operand stack underflow")))?;
        Ok(self.stack.split_off(at))
    }

    /// Calls function `index` with no arguments and runs until it returns.
    pub fn run(&mut self, index: u32) -> Result<(), Stop> {
        self.call(index)?;
        while !self.frames.is_empty() {
            self.step()?;
        }
        Ok(())
    }

    fn call(&mut self, index: u32) -> Result<(), Stop> {
        let module = self.module;
        let ty = module
            .func_type(index)
            .ok_or_else(|| Stop::Trap(engine_limit("call to an unknown function")))?;
        if let Some(import) = module.imports.get(index as usize) {
            let args = self.pop_n(ty.params.len())?;
            return match import {
                Import::Host(f) => {
                    let r = crate::host_model::call(self, *f, args)?;
                    self.stack.extend(r);
                    Ok(())
                }
                Import::HostGas(f) => {
                    // The gas argument is what the global would hold; the host model mirrors
                    // the global, which then holds the gas left (also on a fault).
                    let mut args = args;
                    let gas = args.pop().map_or(0, |g| g.bits);
                    self.set_gas(u64::try_from(gas as i64).unwrap_or(0));
                    let r = crate::host_model::call(self, *f, args)?;
                    self.stack.extend(r);
                    self.stack.push(Val::concrete(self.gas_left()));
                    Ok(())
                }
                Import::OutOfGas => Err(self.helper_trap(&args, Trap::OutOfGas)),
                Import::StackOverflow => Err(self.helper_trap(&args, Trap::StackOverflow)),
                Import::Killed => {
                    let code = args.get(1).map_or(0, |v| v.bits as i32);
                    let item = keel_vm::Killed::from_code(code)
                        .map_or_else(|| format!("unknown item {code}"), |k| k.to_string());
                    Err(self.helper_trap(&args, Trap::Killed { item }))
                }
            };
        }
        if self.frames.len() >= MAX_FRAMES {
            return Err(Stop::Trap(engine_limit("call stack too deep")));
        }
        let body_index = (index as usize).saturating_sub(module.imports.len());
        let body = module
            .bodies
            .get(body_index)
            .ok_or_else(|| Stop::Trap(engine_limit("call to an unknown function")))?;
        let mut locals = self.pop_n(ty.params.len())?;
        locals.extend(body.locals.iter().map(|_| Val::concrete(0)));
        let results = ty.results.len();
        let label = Label {
            is_loop: false,
            target: body.ops.len(),
            arity: results,
            height: self.stack.len(),
        };
        self.frames.push(Frame {
            body: body_index,
            pc: 0,
            locals,
            labels: vec![label],
            results,
        });
        Ok(())
    }

    fn helper_trap(&mut self, args: &[Val], trap: Trap) -> Stop {
        if let Some(offset) = args.first() {
            self.host.calls.fault_offset = Some(offset.bits as u32);
        }
        Stop::Trap(trap)
    }

    fn frame(&mut self) -> Result<&mut Frame, Stop> {
        self.frames
            .last_mut()
            .ok_or_else(|| Stop::Trap(engine_limit("no frame")))
    }

    /// Leaves the current function, keeping its results.
    fn ret(&mut self) -> Result<(), Stop> {
        let f = self
            .frames
            .pop()
            .ok_or_else(|| Stop::Trap(engine_limit("no frame")))?;
        let vals = self.pop_n(f.results)?;
        let base = f.labels.first().map_or(0, |l| l.height);
        self.stack.truncate(base);
        self.stack.extend(vals);
        Ok(())
    }

    fn branch(&mut self, depth: u32) -> Result<(), Stop> {
        let frame = self.frame()?;
        let idx = frame
            .labels
            .len()
            .checked_sub(1)
            .and_then(|top| top.checked_sub(depth as usize))
            .ok_or_else(|| Stop::Trap(engine_limit("branch past the function")))?;
        if idx == 0 {
            return self.ret();
        }
        let label = frame.labels[idx];
        frame
            .labels
            .truncate(if label.is_loop { idx + 1 } else { idx });
        frame.pc = label.target;
        let vals = self.pop_n(label.arity)?;
        self.stack.truncate(label.height);
        self.stack.extend(vals);
        Ok(())
    }

    fn step(&mut self) -> Result<(), Stop> {
        let module = self.module;
        let (body, pc) = {
            let f = self.frame()?;
            (f.body, f.pc)
        };
        let ops = &module.bodies[body].ops;
        let Some(op) = ops.get(pc) else {
            return self.ret();
        };
        self.frame()?.pc = pc + 1;
        match op {
            Op::Unreachable => return Err(WasmTrap::Unreachable.into()),
            Op::Nop => {}
            Op::Block { shape, end } => self.enter(false, *end + 1, shape.results, shape.params)?,
            Op::Loop { shape } => self.enter(true, pc + 1, shape.params, shape.params)?,
            Op::If { shape, else_, end } => {
                let c = self.pop()?;
                let taken = self.cond(&c, 32)?;
                self.enter(false, *end + 1, shape.results, shape.params)?;
                if !taken {
                    self.frame()?.pc = else_.map_or(*end, |e| e + 1);
                }
            }
            Op::Else { end } => self.frame()?.pc = *end,
            Op::End => {
                let f = self.frame()?;
                if f.labels.len() <= 1 {
                    return self.ret();
                }
                f.labels.pop();
            }
            Op::Br(d) => self.branch(*d)?,
            Op::BrIf(d) => {
                let c = self.pop()?;
                if self.cond(&c, 32)? {
                    self.branch(*d)?;
                }
            }
            Op::BrTable(targets, default) => {
                let i = self.pop()?;
                let n = targets.len() as u64;
                let k = i.bits & 0xffff_ffff;
                let depth = targets.get(k as usize).copied().unwrap_or(*default);
                if let Some(s) = &i.sym {
                    let (op, bound) = if k < n {
                        (CmpOp::Eq, k)
                    } else {
                        (CmpOp::GeU, n)
                    };
                    if let Some(c) = expr::cmp(op, s.clone(), expr::konst(32, bound)) {
                        self.fact(c, true, FactKind::Branch, k.min(n) as u32);
                    }
                }
                self.branch(depth)?;
            }
            Op::Return => self.ret()?,
            Op::Call(f) => self.call(*f)?,
            Op::CallIndirect(ty) => self.call_indirect(*ty)?,
            Op::Drop => {
                self.pop()?;
            }
            Op::Select => {
                let c = self.pop()?;
                let b = self.pop()?;
                let a = self.pop()?;
                let keep_a = self.cond(&c, 32)?;
                self.stack.push(if keep_a { a } else { b });
            }
            Op::LocalGet(i) => {
                let v = self.local(*i)?.clone();
                self.stack.push(v);
            }
            Op::LocalSet(i) => {
                let v = self.pop()?;
                *self.local(*i)? = v;
            }
            Op::LocalTee(i) => {
                let v = self.pop()?;
                *self.local(*i)? = v.clone();
                self.stack.push(v);
            }
            Op::GlobalGet(i) => {
                let v = self.global(*i)?.clone();
                self.stack.push(v);
            }
            Op::GlobalSet(i) => {
                let v = self.pop()?;
                *self.global(*i)? = v;
            }
            Op::Load(acc) => {
                let a = self.pop()?;
                let ea = self.address(&a, acc)?;
                let v = self.mem.load(ea, acc);
                self.stack.push(v);
            }
            Op::Store(acc) => {
                let v = self.pop()?;
                let a = self.pop()?;
                let ea = self.address(&a, acc)?;
                self.mem.store(ea, acc, &v);
            }
            Op::MemorySize => self.stack.push(Val::concrete(self.mem.pages())),
            Op::MemoryGrow => {
                let d = self.pop()?;
                self.pin(&d, 32);
                let r = self.mem.grow(d.bits & 0xffff_ffff);
                self.stack.push(Val::concrete(r));
            }
            Op::Const(_, v) => self.stack.push(Val::concrete(*v)),
            Op::Num(n) => self.numeric(*n)?,
        }
        Ok(())
    }

    fn enter(&mut self, is_loop: bool, target: usize, arity: u32, params: u32) -> Result<(), Stop> {
        let height = self
            .stack
            .len()
            .checked_sub(params as usize)
            .ok_or_else(|| Stop::Trap(engine_limit("operand stack underflow")))?;
        self.frame()?.labels.push(Label {
            is_loop,
            target,
            arity: arity as usize,
            height,
        });
        Ok(())
    }

    /// A condition value: records the branch if it is symbolic; returns whether it is non-zero.
    fn cond(&mut self, c: &Val, width: u32) -> Result<bool, Stop> {
        let taken = c.bits & expr::mask(width) != 0;
        if let Some(s) = &c.sym
            && let Some(nz) = expr::nonzero(s.clone())
        {
            self.fact(nz, taken, FactKind::Branch, u32::from(taken));
        }
        Ok(taken)
    }

    fn local(&mut self, i: u32) -> Result<&mut Val, Stop> {
        self.frame()?
            .locals
            .get_mut(i as usize)
            .ok_or_else(|| Stop::Trap(engine_limit("unknown local")))
    }

    fn global(&mut self, i: u32) -> Result<&mut Val, Stop> {
        self.globals
            .get_mut(i as usize)
            .ok_or_else(|| Stop::Trap(engine_limit("unknown global")))
    }

    /// The effective address of an access; records the bounds check when the address is
    /// symbolic (then pins it), and traps out of bounds.
    fn address(&mut self, a: &Val, acc: &Access) -> Result<u64, Stop> {
        let ea = (a.bits & 0xffff_ffff).saturating_add(acc.offset);
        let ok = self.mem.in_bounds(ea, u64::from(acc.bytes));
        if let Some(s) = &a.sym {
            let end = expr::extend(false, 32, s.clone()).and_then(|x| {
                expr::bin(
                    expr::BinOp::Add,
                    x,
                    expr::konst(64, acc.offset.saturating_add(u64::from(acc.bytes))),
                )
            });
            let len = self.mem.bytes.len() as u64;
            if let Some(c) = end.and_then(|e| expr::cmp(CmpOp::LeU, e, expr::konst(64, len))) {
                self.fact(c, ok, FactKind::TrapCheck, u32::from(ok));
            }
            self.pin(a, 32);
        }
        if !ok {
            return Err(WasmTrap::MemoryOutOfBounds.into());
        }
        Ok(ea)
    }

    fn numeric(&mut self, n: Num) -> Result<(), Stop> {
        let arity = match n {
            Num::Bin(..) | Num::Cmp(..) => 2,
            _ => 1,
        };
        let args = self.pop_n(arity)?;
        if let (Num::Bin(w, op), [a, b]) = (n, args.as_slice()) {
            for (c, held) in numeric::division_guards(w, op, a, b) {
                self.fact(c, held, FactKind::TrapCheck, u32::from(held));
            }
        }
        let v = numeric::eval(n, &args)?;
        self.stack.push(v);
        Ok(())
    }

    fn call_indirect(&mut self, ty: u32) -> Result<(), Stop> {
        let i = self.pop()?;
        let k = i.bits & 0xffff_ffff;
        if let Some(s) = &i.sym {
            let n = self.table.len() as u64;
            if let Some(c) = expr::cmp(CmpOp::LtU, s.clone(), expr::konst(32, n)) {
                self.fact(c, k < n, FactKind::TrapCheck, u32::from(k < n));
            }
            self.pin(&i, 32);
        }
        let slot = self
            .table
            .get(k as usize)
            .ok_or(Stop::from(WasmTrap::TableOutOfBounds))?;
        let f = slot.ok_or(Stop::from(WasmTrap::IndirectCallToNull))?;
        let module = self.module;
        let want = module.types.get(ty as usize);
        if want.is_none() || module.func_type(f) != want {
            return Err(WasmTrap::BadSignature.into());
        }
        self.call(f)
    }

    /// Reads the i64 gas global as remaining gas (negative reads as 0).
    pub fn gas_left(&self) -> u64 {
        self.module
            .gas_global
            .and_then(|g| self.globals.get(g as usize))
            .map_or(0, |v| u64::try_from(v.bits as i64).unwrap_or(0))
    }

    /// Sets the gas global.
    pub fn set_gas(&mut self, gas: u64) {
        if let Some(g) = self.module.gas_global
            && let Some(v) = self.globals.get_mut(g as usize)
        {
            *v = Val::concrete(i64::try_from(gas).unwrap_or(i64::MAX) as u64);
        }
    }

    /// The value of the `keel$site` global.
    pub fn site_offset(&self) -> Option<u32> {
        self.module
            .site_global
            .and_then(|g| self.globals.get(g as usize))
            .map(|v| v.bits as u32)
    }
}

pub fn engine_limit(message: &str) -> Trap {
    Trap::EngineLimit {
        message: message.to_string(),
    }
}
