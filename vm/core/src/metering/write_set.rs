//! Which 4 KiB chunks of linear memory a call's own code wrote: the record that lets a reused
//! instance be reset by restoring only those chunks (`engine/instance_pool.rs`) instead of
//! comparing its whole memory with the snapshot (about 2 µs for a 2-page contract, more than
//! half of a token transfer's VM call).
//!
//! The record is a bit set in an exported mutable `i64` global (`keel$written`): bit `i` set
//! means chunk `i` (bytes `i·4096 .. (i+1)·4096`) may have been written. It covers the first 64
//! chunks (256 KiB), the largest memory an instance is kept with (`MAX_POOLED_PAGES`). Inside a
//! function body the bits collect in one added i64 local and are or-ed into the global on every
//! way out of the function that returns normally (`return`, a branch to the function's own
//! label, the final `end`): a call that traps is never reset from the record (the engine then
//! compares the whole memory), so the record only has to be complete when the call returns.
//!
//! Before each integer store the pass emits, with the store's operands saved in scratch locals:
//! `mask |= 3 << ((u64(addr) + offset) >> 12)` — the chunk of the first byte and the next one,
//! which covers a store that straddles a chunk boundary (at most 8 bytes). Any other operator
//! that writes memory (none is admitted by the integer-only profile) sets every bit. Nothing is
//! charged for this code: gas is computed on the input operators. It changes no result: the
//! record is read only by the node-local reset, and a debug build checks after every recorded
//! reset that the whole memory equals the snapshot.

use crate::schedule::{OpClass, op_class};
use wasm_encoder::{Function, Instruction};
use wasmparser::Operator;

/// How `op` writes linear memory.
enum Write {
    /// Not at all.
    None,
    /// An integer store of this value type at this static offset.
    Store { wide: bool, offset: u64 },
    /// In a way the record does not follow: every chunk is marked.
    Unknown,
}

fn write_of(op: &Operator<'_>) -> Write {
    use Operator as O;
    match op {
        O::I32Store { memarg } | O::I32Store8 { memarg } | O::I32Store16 { memarg } => {
            Write::Store {
                wide: false,
                offset: memarg.offset,
            }
        }
        O::I64Store { memarg }
        | O::I64Store8 { memarg }
        | O::I64Store16 { memarg }
        | O::I64Store32 { memarg } => Write::Store {
            wide: true,
            offset: memarg.offset,
        },
        // `op_class` files every operator it does not know under `Call`: only real calls (whose
        // callee keeps its own record) are known not to write here.
        O::Call { .. } | O::CallIndirect { .. } => Write::None,
        op => match op_class(op) {
            OpClass::Store | OpClass::Call | OpClass::CallIndirect => Write::Unknown,
            _ => Write::None,
        },
    }
}

/// The added locals of one function body and the record's global.
pub(super) struct WriteSet {
    global: u32,
    /// i64: the chunks this activation wrote.
    mask: u32,
    /// i32: a store's address.
    addr: u32,
    /// i32 and i64: a store's value.
    value32: u32,
    value64: u32,
}

/// Locals the record adds to every function body, in order: mask (i64), address (i32), 32-bit
/// value (i32), 64-bit value (i64).
pub const LOCALS: [wasm_encoder::ValType; 4] = [
    wasm_encoder::ValType::I64,
    wasm_encoder::ValType::I32,
    wasm_encoder::ValType::I32,
    wasm_encoder::ValType::I64,
];

impl WriteSet {
    /// The record of a body whose added locals start at index `first`.
    pub(super) fn new(global: u32, first: u32) -> Self {
        WriteSet {
            global,
            mask: first,
            addr: first.saturating_add(1),
            value32: first.saturating_add(2),
            value64: first.saturating_add(3),
        }
    }

    /// Whether any operator of `ops` writes memory (bodies without one get no record code).
    pub(super) fn needed(ops: &[Operator<'_>]) -> bool {
        ops.iter().any(|op| !matches!(write_of(op), Write::None))
    }

    /// Before `op`: marks the chunks it may write. Stack-neutral.
    pub(super) fn before(&self, f: &mut Function, op: &Operator<'_>) {
        match write_of(op) {
            Write::None => {}
            Write::Unknown => {
                f.instruction(&Instruction::I64Const(-1))
                    .instruction(&Instruction::LocalSet(self.mask));
            }
            Write::Store { wide, offset } => self.mark(f, wide, offset),
        }
    }

    /// `value → local; addr → local; mask |= 3 << ((u64(addr) + offset) >> 12); addr; value`.
    fn mark(&self, f: &mut Function, wide: bool, offset: u64) {
        let value = if wide { self.value64 } else { self.value32 };
        // Memory offsets of a 32-bit memory are below 2^32: exact as an i64.
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        f.instruction(&Instruction::LocalSet(value))
            .instruction(&Instruction::LocalSet(self.addr))
            .instruction(&Instruction::LocalGet(self.mask))
            .instruction(&Instruction::I64Const(3))
            .instruction(&Instruction::LocalGet(self.addr))
            .instruction(&Instruction::I64ExtendI32U)
            .instruction(&Instruction::I64Const(offset))
            .instruction(&Instruction::I64Add)
            .instruction(&Instruction::I64Const(12))
            .instruction(&Instruction::I64ShrU)
            .instruction(&Instruction::I64Shl)
            .instruction(&Instruction::I64Or)
            .instruction(&Instruction::LocalSet(self.mask))
            .instruction(&Instruction::LocalGet(self.addr))
            .instruction(&Instruction::LocalGet(value));
    }

    /// `global |= mask`: before every way out of the function. Stack-neutral.
    pub(super) fn flush(&self, f: &mut Function) {
        f.instruction(&Instruction::GlobalGet(self.global))
            .instruction(&Instruction::LocalGet(self.mask))
            .instruction(&Instruction::I64Or)
            .instruction(&Instruction::GlobalSet(self.global));
    }
}

/// Length of the marking sequence before a store (the formal translator strips it).
pub const MARK_LEN: usize = 15;
/// Length of the flush sequence.
pub const FLUSH_LEN: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::test_ops::ops_of;

    #[test]
    fn every_store_is_followed_and_calls_and_loads_are_not_writes() {
        let ops = ops_of(
            "(module (memory 1) (func (local i64)
               (i32.store offset=5 (i32.const 0) (i32.const 1))
               (i64.store32 (i32.const 0) (local.get 0))
               (drop (i32.load (i32.const 0)))
               (call 0)))",
        );
        let kinds: Vec<_> = ops
            .iter()
            .map(|op| match write_of(op) {
                Write::None => 'n',
                Write::Store { wide: false, .. } => '4',
                Write::Store { wide: true, .. } => '8',
                Write::Unknown => '?',
            })
            .collect();
        // const const store | const local.get store | const load drop | call | end
        assert_eq!(kinds.iter().collect::<String>(), "nn4nn8nnnnn");
        assert!(WriteSet::needed(&ops));
        assert!(!WriteSet::needed(&ops_of("(module (func (call 0)))")));
    }

    #[test]
    fn the_sequences_have_the_lengths_the_translator_expects() {
        let w = WriteSet::new(9, 4);
        let mut f = Function::new([]);
        w.mark(&mut f, true, 7);
        let mut g = Function::new([]);
        w.flush(&mut g);
        let count = |f: &Function| {
            let mut bytes = Vec::new();
            wasm_encoder::Encode::encode(f, &mut bytes);
            let mut reader = wasmparser::BinaryReader::new(&bytes, 0);
            reader.read_var_u32().expect("body size");
            let body = wasmparser::FunctionBody::new(reader);
            let mut r = body.get_operators_reader().expect("ops");
            let mut n = 0;
            while !r.eof() {
                r.read().expect("op");
                n += 1;
            }
            n
        };
        assert_eq!(count(&f), MARK_LEN);
        assert_eq!(count(&g), FLUSH_LEN);
    }
}
