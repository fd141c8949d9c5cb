//! Where a function keeps its remaining gas while it runs.
//!
//! The gas global is the truth between functions and for the host: the engine reads it when a
//! call ends (returned or trapped), host functions read and charge it, and a callee starts from
//! it. Inside a function body the metering pass keeps the remaining gas in the function's i64
//! scratch local instead:
//!
//! * **loaded** from the global on entry and again after every call (defined, indirect or host),
//!   since the callee or the host changed the global; a host import that threads the gas
//!   through its signature (`gas_threading.rs`) takes the local as its last argument and
//!   returns the new value instead, without touching the global;
//! * **decremented** by each metering block's charge, with the out-of-gas test on the local;
//! * **written back** to the global before anything that can observe it: a call (the callee
//!   reads it; the stack-height check before it may trap), an operator that can trap (memory
//!   access, division and remainder, `memory.grow`, `unreachable`, and anything outside the
//!   pure integer classes of [`op_class`]), and every way out of the function (`return`, a
//!   branch to the function's own label, the final `end`).
//!
//! Between those points nothing can read the global, so every observation sees exactly the
//! value that updating the global at each charge would have left: gas used, out-of-gas and
//! other traps, fault sites and host-visible gas are unchanged (the replay fixture pins this).
//! What changes is the cost: a loop with no call and no trapping operator keeps its gas in a
//! register (Cranelift) or a register slot (wasmi) rather than loading and storing a global on
//! every iteration. A write-back is emitted only while the local may differ from the global
//! ("dirty": after a charge, and conservatively at every join point), so a block of memory
//! accesses writes back once, before its first access.

use crate::schedule::{OpClass, op_class};
use wasm_encoder::{Function, Instruction};
use wasmparser::Operator;

/// The gas local of one function body being instrumented.
pub(super) struct GasLocal {
    /// Index of the gas global.
    global: u32,
    /// Index of the function's scratch i64 local that holds the gas.
    local: u32,
    /// Whether the local may differ from the global at the current point.
    dirty: bool,
    /// Write back after every charge: the debugger's hooks read the global after each charge.
    eager: bool,
    /// Constructs (`block`, `loop`, `if`) open around the current operator; a branch of this
    /// relative depth targets the function's own label, i.e. leaves the function.
    depth: u32,
}

impl GasLocal {
    pub(super) fn new(global: u32, local: u32, eager: bool) -> Self {
        GasLocal {
            global,
            local,
            dirty: false,
            eager,
            depth: 0,
        }
    }

    /// `local = global`: on entry and after every call.
    pub(super) fn load(&mut self, f: &mut Function) {
        f.instruction(&Instruction::GlobalGet(self.global))
            .instruction(&Instruction::LocalSet(self.local));
        self.dirty = false;
    }

    /// `local -= cost; if local < 0 { br $oog(offset) }` — stack-neutral: the block's offset
    /// (its first operator in the input module) goes to the body frame's out-of-gas exit (see
    /// `body_frame.rs`) when the branch is taken and is dropped when it is not. Remaining gas
    /// never exceeds i64::MAX (the host sets it from a clamped limit), so the signed test is
    /// exact; on the trap the host reports zero gas left whatever the global holds.
    pub(super) fn charge(&mut self, f: &mut Function, cost: u64, offset: i32) {
        // Costs are sums of small schedule numbers; a block can never reach i64::MAX, but clamp
        // so the encoding stays exact even for an absurd schedule.
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        f.instruction(&Instruction::I32Const(offset))
            .instruction(&Instruction::LocalGet(self.local))
            .instruction(&Instruction::I64Const(cost))
            .instruction(&Instruction::I64Sub)
            .instruction(&Instruction::LocalTee(self.local))
            .instruction(&Instruction::I64Const(0))
            .instruction(&Instruction::I64LtS)
            // Past the open constructs and `$body`: `$oog`.
            .instruction(&Instruction::BrIf(self.depth.saturating_add(1)))
            .instruction(&Instruction::Drop);
        self.dirty = true;
        if self.eager {
            self.sync(f);
        }
    }

    /// Before a call to a host import that threads the gas (`gas_threading.rs`): the gas
    /// goes as the last argument; the global is not written back, the host does not read it.
    pub(super) fn pass(&self, f: &mut Function) {
        f.instruction(&Instruction::LocalGet(self.local));
    }

    /// After a threaded host call: the last result is the gas left, now ahead of the global.
    pub(super) fn take(&mut self, f: &mut Function) {
        f.instruction(&Instruction::LocalSet(self.local));
        self.dirty = true;
    }

    /// `global = local`, if they may differ.
    pub(super) fn sync(&mut self, f: &mut Function) {
        if self.dirty {
            f.instruction(&Instruction::LocalGet(self.local))
                .instruction(&Instruction::GlobalSet(self.global));
            self.dirty = false;
        }
    }

    /// Before `op` (after its block's charge): writes back if `op` can observe the global.
    /// `last` marks the body's final `end`.
    pub(super) fn before(&mut self, f: &mut Function, op: &Operator<'_>, last: bool) {
        if last || self.observes(op) {
            self.sync(f);
        }
    }

    /// After `op`: tracks the open constructs and the join points, where the local may come
    /// from a path that did not write back.
    pub(super) fn after(&mut self, op: &Operator<'_>) {
        match op {
            Operator::Block { .. } | Operator::If { .. } => {
                self.depth = self.depth.saturating_add(1);
            }
            Operator::Loop { .. } => {
                self.depth = self.depth.saturating_add(1);
                self.dirty = true;
            }
            Operator::Else => self.dirty = true,
            Operator::End => {
                self.depth = self.depth.saturating_sub(1);
                self.dirty = true;
            }
            _ => {}
        }
    }

    /// Whether `op` leaves the function normally (`return`, a branch that may target the
    /// function's own label, or the body's final `end` when `last`).
    pub(super) fn leaves(&self, op: &Operator<'_>, last: bool) -> bool {
        match op {
            Operator::Return => true,
            Operator::Br { .. } | Operator::BrIf { .. } | Operator::BrTable { .. } => {
                self.branches_out(op)
            }
            _ => last,
        }
    }

    /// Whether a branch `op` may target the function's own label.
    fn branches_out(&self, op: &Operator<'_>) -> bool {
        match op {
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                *relative_depth >= self.depth
            }
            Operator::BrTable { targets } => {
                targets.default() >= self.depth
                    || targets
                        .targets()
                        .any(|t| t.map_or(true, |t| t >= self.depth))
            }
            _ => false,
        }
    }

    /// Whether `op` can let anything read the gas global: call, trap, or leave the function.
    fn observes(&self, op: &Operator<'_>) -> bool {
        match op {
            Operator::Return | Operator::Unreachable => true,
            Operator::Br { .. } | Operator::BrIf { .. } | Operator::BrTable { .. } => {
                self.branches_out(op)
            }
            op => !matches!(
                op_class(op),
                OpClass::Structural
                    | OpClass::Simple
                    | OpClass::Global
                    | OpClass::Mul
                    | OpClass::Branch
                    | OpClass::MemorySize
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::test_ops::ops_of;

    fn observed(module: &str) -> Vec<bool> {
        let mut g = GasLocal::new(0, 0, false);
        ops_of(module)
            .iter()
            .map(|op| {
                let o = g.observes(op);
                g.after(op);
                o
            })
            .collect()
    }

    #[test]
    fn pure_integer_operators_do_not_observe_gas_and_trapping_ones_do() {
        let seen = observed(
            "(module (func (local i32) (drop (i32.add (local.get 0) (i32.const 1)))
               (drop (i32.div_u (local.get 0) (local.get 0)))))",
        );
        // local.get const add drop | local.get local.get div_u drop | end
        assert_eq!(
            seen,
            [false, false, false, false, false, false, true, false, false]
        );
        let seen = observed(
            "(module (memory 1) (func (drop (memory.grow (i32.const 0)))
               (drop (i32.load (i32.const 0))) (drop (memory.size))))",
        );
        // const grow drop | const load drop | size drop | end
        assert_eq!(
            seen,
            [false, true, false, false, true, false, false, false, false]
        );
        let seen = observed("(module (func (call 0) (unreachable)))");
        assert_eq!(seen, [true, true, false]);
    }

    #[test]
    fn a_branch_observes_gas_only_when_it_leaves_the_function() {
        // block; loop; br_if 1 (to the block: stays); br_if 2 (to the function: leaves)
        let seen = observed(
            "(module (func (local i32)
               (block (loop (br_if 1 (local.get 0)) (br_if 2 (local.get 0)) (br 0)))))",
        );
        // block loop | local.get br_if1 | local.get br_if2 | br0 | end end | end
        assert_eq!(
            seen,
            [
                false, false, false, false, false, true, false, false, false, false
            ]
        );
        let seen = observed("(module (func (local i32) (br_table 0 0 (local.get 0))))");
        assert_eq!(seen, [false, true, false]);
        let seen = observed("(module (func (local i32) (block (br_table 0 1 (local.get 0)))))");
        assert_eq!(seen, [false, false, true, false, false]);
        let seen = observed("(module (func (local i32) (block (br_table 0 0 (local.get 0)))))");
        assert_eq!(seen, [false, false, false, false, false]);
    }

    #[test]
    fn join_points_make_the_local_dirty_and_a_sync_writes_back_once() {
        let mut g = GasLocal::new(7, 3, false);
        let mut f = Function::new([(1, wasm_encoder::ValType::I64)]);
        g.load(&mut f);
        assert!(!g.dirty);
        g.charge(&mut f, 5, 0);
        assert!(g.dirty);
        g.sync(&mut f);
        assert!(!g.dirty);
        g.after(&Operator::End);
        assert!(
            g.dirty,
            "a join point may be reached from a path that did not write back"
        );
        let mut eager = GasLocal::new(7, 3, true);
        eager.charge(&mut f, 5, 0);
        assert!(
            !eager.dirty,
            "the debugger's flavor writes back after every charge"
        );
    }
}
