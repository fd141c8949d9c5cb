//! Handle linearity ("borrow checking" for capabilities): a handle made by
//! `keel.handle_for_contract` has no copy right, so passing it to a callee (the `pass` array of
//! `keel.call`) moves it; using it afterwards traps at run time. This pass finds that statically,
//! and handles that are made and never used.
//!
//! Per function, one forward walk of a symbolic stack machine: values are handles, constants or
//! "some base plus a constant" (so a handle stored at `sp+8` and a `pass` pointer `sp+8` meet).
//! The two arms of an `if` are walked from the same state and joined (moved in either ⇒ moved).
//! Limits, by design: a loop body is walked once (a move in a later iteration is not fed back),
//! and a handle given to another defined function or stored at an unknown address is treated as
//! used there and no longer tracked.

use crate::dwarf::SourceMap;
use crate::facts::{Body, Facts};
use crate::findings::{Finding, Pass, Severity};
use keel_vm::HostFn;
use std::collections::BTreeMap;
use wasmparser::{BlockType, Operator};

/// Most handle indices one `pass` array is followed for (the VM's table holds 256).
const MAX_PASS: i64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    Const(i64),
    Handle(u32),
    /// An unknown value `base` plus a constant.
    Addr(u32, i64),
}

#[derive(Debug, Clone, Default)]
struct HandleState {
    made_at: usize,
    moved_at: Option<usize>,
    used: bool,
}

struct Frame {
    height: usize,
    results: usize,
    /// Handle states when an `if` was entered, and those at the end of its `then` arm.
    at_if: Option<Vec<HandleState>>,
    then_end: Option<Vec<HandleState>>,
}

struct Walk<'f, 'a> {
    facts: &'f Facts<'a>,
    map: &'f SourceMap,
    stack: Vec<Val>,
    locals: BTreeMap<u32, Val>,
    memory: BTreeMap<(u32, i64), Val>,
    handles: Vec<HandleState>,
    frames: Vec<Frame>,
    next_base: u32,
    findings: Vec<Finding>,
}

/// Findings of every defined function.
pub fn run(facts: &Facts<'_>, map: &SourceMap) -> Vec<Finding> {
    let mut out = Vec::new();
    for body in &facts.bodies {
        let mut w = Walk {
            facts,
            map,
            stack: Vec::new(),
            locals: BTreeMap::new(),
            memory: BTreeMap::new(),
            handles: Vec::new(),
            frames: Vec::new(),
            next_base: 0,
            findings: Vec::new(),
        };
        w.function(body);
        out.append(&mut w.findings);
    }
    out
}

impl Walk<'_, '_> {
    fn fresh(&mut self) -> Val {
        self.next_base = self.next_base.saturating_add(1);
        Val::Addr(self.next_base, 0)
    }

    fn pop(&mut self) -> Val {
        match self.stack.pop() {
            Some(v) => v,
            None => self.fresh(),
        }
    }

    fn push_fresh(&mut self, n: usize) {
        for _ in 0..n {
            let v = self.fresh();
            self.stack.push(v);
        }
    }

    fn function(&mut self, body: &Body<'_>) {
        for (op, offset) in &body.ops {
            self.step(op, *offset);
        }
        for h in &self.handles {
            if !h.used {
                self.findings.push(Finding::at(
                    Pass::Handles,
                    Severity::Warning,
                    Some(h.made_at),
                    self.map,
                    format!(
                        "handle made here (function {}) is never used: drop the handle_for_contract call",
                        body.func
                    ),
                ));
            }
        }
    }

    fn step(&mut self, op: &Operator<'_>, offset: usize) {
        use Operator as O;
        match op {
            O::I32Const { value } => self.stack.push(Val::Const(i64::from(*value))),
            O::I64Const { value } => self.stack.push(Val::Const(*value)),
            O::LocalGet { local_index } => {
                let v = match self.locals.get(local_index) {
                    Some(v) => *v,
                    None => {
                        let v = self.fresh();
                        self.locals.insert(*local_index, v);
                        v
                    }
                };
                self.stack.push(v);
            }
            O::LocalSet { local_index } => {
                let v = self.pop();
                self.locals.insert(*local_index, v);
            }
            O::LocalTee { local_index } => {
                let v = self.pop();
                self.locals.insert(*local_index, v);
                self.stack.push(v);
            }
            O::I32Add | O::I64Add | O::I32Sub | O::I64Sub => {
                let sub = matches!(op, O::I32Sub | O::I64Sub);
                let (b, a) = (self.pop(), self.pop());
                let v = self.arith(a, b, sub);
                self.stack.push(v);
            }
            O::I32Store { memarg } => {
                let (v, addr) = (self.pop(), self.pop());
                self.store(addr, memarg.offset, v);
            }
            O::I32Load { memarg } => {
                let addr = self.pop();
                let v = cell(addr, memarg.offset).and_then(|c| self.memory.get(&c).copied());
                match v {
                    Some(v) => self.stack.push(v),
                    None => self.push_fresh(1),
                }
            }
            O::Call { function_index } => self.call(*function_index, offset),
            O::GlobalSet { .. } => {
                let v = self.pop();
                self.escape(v);
            }
            O::Return => {
                while let Some(v) = self.stack.pop() {
                    self.escape(v);
                }
            }
            O::Block { blockty } | O::Loop { blockty } => self.enter(*blockty, false),
            O::If { blockty } => {
                self.pop();
                self.enter(*blockty, true);
            }
            O::Else => self.else_arm(),
            O::End => self.end(),
            _ => self.generic(op),
        }
    }

    fn arith(&mut self, a: Val, b: Val, sub: bool) -> Val {
        match (a, b) {
            (Val::Const(x), Val::Const(y)) => Val::Const(if sub {
                x.wrapping_sub(y)
            } else {
                x.wrapping_add(y)
            }),
            (Val::Addr(base, o), Val::Const(c)) => Val::Addr(
                base,
                if sub {
                    o.saturating_sub(c)
                } else {
                    o.saturating_add(c)
                },
            ),
            (Val::Const(c), Val::Addr(base, o)) if !sub => Val::Addr(base, o.saturating_add(c)),
            _ => self.fresh(),
        }
    }

    fn store(&mut self, addr: Val, offset: u64, v: Val) {
        match cell(addr, offset) {
            Some(c) => {
                self.memory.insert(c, v);
            }
            None => self.escape(v),
        }
    }

    /// A handle leaves what this walk can follow: count it as used.
    fn escape(&mut self, v: Val) {
        if let Val::Handle(h) = v
            && let Some(s) = self.handles.get_mut(h as usize)
        {
            s.used = true;
        }
    }

    fn enter(&mut self, blockty: BlockType, is_if: bool) {
        let results = match blockty {
            BlockType::Empty => 0,
            BlockType::Type(_) => 1,
            BlockType::FuncType(t) => self.facts.types.get(t as usize).map_or(0, |x| x.1) as usize,
        };
        self.frames.push(Frame {
            height: self.stack.len(),
            results,
            at_if: is_if.then(|| self.handles.clone()),
            then_end: None,
        });
    }

    fn else_arm(&mut self) {
        if let Some(f) = self.frames.last_mut() {
            self.stack.truncate(f.height);
            if let Some(start) = &f.at_if {
                // Handles made inside the `then` arm stay known (indices are never reused).
                let mut restored = start.clone();
                restored.extend(self.handles.iter().skip(start.len()).cloned());
                f.then_end = Some(std::mem::replace(&mut self.handles, restored));
            }
        }
    }

    fn end(&mut self) {
        let Some(f) = self.frames.pop() else {
            // The function's own `end`: whatever it returns leaves the function.
            while let Some(v) = self.stack.pop() {
                self.escape(v);
            }
            return;
        };
        if let Some(then) = f.then_end {
            for (i, t) in then.into_iter().enumerate() {
                if let Some(cur) = self.handles.get_mut(i) {
                    cur.moved_at = cur.moved_at.or(t.moved_at);
                    cur.used |= t.used;
                }
            }
        }
        self.stack.truncate(f.height);
        self.push_fresh(f.results);
    }

    fn generic(&mut self, op: &Operator<'_>) {
        let (pops, pushes) = match op {
            Operator::BrIf { .. } => (1, 0),
            Operator::BrTable { .. } => (1, 0),
            Operator::Drop => {
                // Dropping a handle is not using it.
                self.pop();
                return;
            }
            Operator::CallIndirect { type_index, .. } => {
                let (p, r) = self
                    .facts
                    .types
                    .get(*type_index as usize)
                    .copied()
                    .unwrap_or((0, 0));
                (p.saturating_add(1), r)
            }
            _ => op.operator_arity(&NoModule).unwrap_or((0, 0)),
        };
        for _ in 0..pops {
            let v = self.pop();
            // A handle consumed by a non-host operator (compared, selected…) is in use.
            self.escape(v);
        }
        self.push_fresh(pushes as usize);
    }

    fn call(&mut self, func: u32, offset: usize) {
        let (params, results) = self.facts.func_arity(func).unwrap_or((0, 0));
        let mut args: Vec<Val> = (0..params).map(|_| self.pop()).collect();
        args.reverse();
        match self.facts.host(func) {
            Some(HostFn::HandleForContract) => {
                let id = u32::try_from(self.handles.len()).unwrap_or(u32::MAX);
                self.handles.push(HandleState {
                    made_at: offset,
                    ..HandleState::default()
                });
                self.stack.push(Val::Handle(id));
                return;
            }
            Some(host @ (HostFn::Call | HostFn::HandleAttenuate | HostFn::HandleInfo)) => {
                if let Some(v) = args.first() {
                    self.use_handle(*v, host, offset);
                }
                if host == HostFn::Call
                    && let (Some(pass), Some(Val::Const(n))) = (args.get(7), args.get(8))
                {
                    self.pass(*pass, *n, offset);
                }
            }
            Some(_) => {}
            None => args.iter().for_each(|v| self.escape(*v)),
        }
        self.push_fresh(results as usize);
    }

    fn use_handle(&mut self, v: Val, host: HostFn, offset: usize) {
        let Val::Handle(h) = v else { return };
        let Some(s) = self.handles.get_mut(h as usize) else {
            return;
        };
        s.used = true;
        let (made_at, moved_at) = (s.made_at, s.moved_at);
        if let Some(moved) = moved_at {
            let (made, moved) = (self.where_(made_at), self.where_(moved));
            self.findings.push(Finding::at(
                Pass::Handles,
                Severity::Error,
                Some(offset),
                self.map,
                format!(
                    "keel.{} uses a handle (made at {made}) after it was moved to a callee at {moved}",
                    host.name()
                ),
            ));
        }
    }

    fn pass(&mut self, array: Val, n: i64, offset: usize) {
        let Some((base, start)) = cell(array, 0) else {
            return;
        };
        for k in 0..n.clamp(0, MAX_PASS) {
            let at = start.saturating_add(k.saturating_mul(4));
            if let Some(Val::Handle(h)) = self.memory.get(&(base, at)).copied() {
                self.use_handle(Val::Handle(h), HostFn::Call, offset);
                if let Some(s) = self.handles.get_mut(h as usize) {
                    s.moved_at.get_or_insert(offset);
                }
            }
        }
    }

    fn where_(&self, offset: usize) -> String {
        match self.map.locate(offset) {
            Some(loc) => loc.to_string(),
            None => format!("offset {offset:#x}"),
        }
    }
}

/// The memory cell an address value names: `(base, offset)`, base 0 for constant addresses
/// (symbolic bases start at 1).
fn cell(addr: Val, memarg_offset: u64) -> Option<(u32, i64)> {
    match addr {
        Val::Addr(b, o) => Some((b, add(o, memarg_offset))),
        Val::Const(c) => Some((0, add(c, memarg_offset))),
        Val::Handle(_) => None,
    }
}

fn add(o: i64, memarg_offset: u64) -> i64 {
    o.saturating_add(i64::try_from(memarg_offset).unwrap_or(i64::MAX))
}

/// Arity of operators that do not depend on the module (every variable-arity operator the
/// profile allows is handled before this is asked).
struct NoModule;

impl wasmparser::ModuleArity for NoModule {
    fn sub_type_at(&self, _: u32) -> Option<&wasmparser::SubType> {
        None
    }
    fn tag_type_arity(&self, _: u32) -> Option<(u32, u32)> {
        None
    }
    fn type_index_of_function(&self, _: u32) -> Option<u32> {
        None
    }
    fn func_type_of_cont_type(&self, _: &wasmparser::ContType) -> Option<&wasmparser::FuncType> {
        None
    }
    fn sub_type_of_ref_type(&self, _: &wasmparser::RefType) -> Option<&wasmparser::SubType> {
        None
    }
    fn control_stack_height(&self) -> u32 {
        0
    }
    fn label_block(&self, _: u32) -> Option<(BlockType, wasmparser::FrameKind)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"
        (import "keel" "handle_for_contract" (func $mk (param i32) (result i32)))
        (import "keel" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
        (memory 1 1)"#;

    fn findings(body: &str) -> Vec<(Severity, usize)> {
        let wasm = wat::parse_str(format!(
            "(module {HEADER} (func (export \"run\") (local $a i32) (local $b i32) {body}))"
        ))
        .unwrap();
        let facts = Facts::read(&wasm).unwrap();
        run(&facts, &SourceMap::default())
            .into_iter()
            .map(|f| (f.severity, f.offset.unwrap()))
            .collect()
    }

    /// `call(target, …, pass = 64, pass_len = n)`.
    fn call(target: &str, n: u32) -> String {
        format!(
            "(drop (call $call {target} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 64) (i32.const {n})))"
        )
    }

    const MAKE: &str = "(local.set $a (call $mk (i32.const 0))) (local.set $b (call $mk (i32.const 32))) (i32.store (i32.const 64) (local.get $b))";

    #[test]
    fn using_a_handle_after_passing_it_is_an_error() {
        let body = format!(
            "{MAKE} {} {}",
            call("(local.get $a)", 1),
            call("(local.get $b)", 0)
        );
        let f = findings(&body);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, Severity::Error);
    }

    #[test]
    fn passing_without_reuse_or_with_zero_length_is_fine() {
        assert!(findings(&format!("{MAKE} {}", call("(local.get $a)", 1))).is_empty());
        // pass_len 0 moves nothing.
        let body = format!(
            "{MAKE} {} {}",
            call("(local.get $a)", 0),
            call("(local.get $b)", 0)
        );
        assert!(findings(&body).is_empty());
    }

    #[test]
    fn a_move_in_one_if_arm_does_not_taint_the_other_but_does_taint_what_follows() {
        let other_arm = format!(
            "{MAKE} (if (local.get $a) (then {}) (else {}))",
            call("(local.get $a)", 1),
            call("(local.get $b)", 0)
        );
        assert!(findings(&other_arm).is_empty());
        let after = format!(
            "{MAKE} (if (local.get $a) (then {})) {}",
            call("(local.get $a)", 1),
            call("(local.get $b)", 0)
        );
        assert_eq!(findings(&after).len(), 1);
    }

    #[test]
    fn a_dropped_handle_is_never_used() {
        let f = findings("(drop (call $mk (i32.const 0)))");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, Severity::Warning);
    }
}
