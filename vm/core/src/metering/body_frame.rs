//! The frame the metering pass puts around every instrumented function body, so that the
//! out-of-gas path leaves the hot code instead of sitting in it.
//!
//! ```text
//! block $oog (result i32)        ;; the failing block's offset arrives here
//!   block $body (result R…)      ;; R… = the function's results; the input body's label
//!     …the input body, charges branching to $oog…
//!   end
//!   return
//! end
//! call $out_of_gas               ;; traps
//! unreachable
//! ```
//!
//! A charge is `i32.const offset; <gas < 0>; br_if $oog; drop`: when gas lasts the conditional
//! branch falls through, so compiled code (Cranelift lays an `if`'s then-block right after the
//! test, which made every charge a taken jump over the call) runs straight on. The input body's
//! branches to its function label now target `$body`, whose end returns: the same behaviour.
//! A body with two or more results needs a block type `[] -> [R…]`; those are appended to the
//! type section after the helpers' types.

use crate::admission::AdmittedModule;
use std::collections::BTreeMap;
use wasm_encoder::{BlockType, Function, Instruction, TypeSection, ValType};

/// Block types for bodies with several results: one `[] -> [R…]` type per distinct result list.
pub(super) struct BodyTypes {
    /// Type index of each multi-result list.
    multi: BTreeMap<Vec<ValType>, u32>,
}

impl BodyTypes {
    /// The types the module's defined functions need, numbered from `first`.
    pub(super) fn new(module: &AdmittedModule, first: u32) -> Result<Self, super::MeteringError> {
        let mut multi = BTreeMap::new();
        let mut next = first;
        for f in &module.functions {
            let Some(sig) = module.types.get(f.type_index as usize) else {
                continue;
            };
            if sig.results.len() < 2 {
                continue;
            }
            let results = results_of(&sig.results)?;
            if let std::collections::btree_map::Entry::Vacant(e) = multi.entry(results) {
                e.insert(next);
                // The profile caps types and functions far below u32::MAX.
                next = next.saturating_add(1);
            }
        }
        Ok(BodyTypes { multi })
    }

    /// How many types [`BodyTypes::add_to`] appends.
    pub(super) fn len(&self) -> u32 {
        self.multi.len() as u32 // at most one per defined function
    }

    /// Appends the multi-result block types, in index order.
    pub(super) fn add_to(&self, s: &mut TypeSection) {
        let mut by_index: Vec<(&u32, &Vec<ValType>)> =
            self.multi.iter().map(|(r, i)| (i, r)).collect();
        by_index.sort();
        for (_, results) in by_index {
            s.ty().function([], results.iter().copied());
        }
    }

    /// The block type of `$body` for a function with these results.
    fn block_type(
        &self,
        results: &[wasmparser::ValType],
    ) -> Result<BlockType, super::MeteringError> {
        let results = results_of(results)?;
        Ok(match results.as_slice() {
            [] => BlockType::Empty,
            [one] => BlockType::Result(*one),
            many => BlockType::FunctionType(self.multi.get(many).copied().ok_or_else(|| {
                super::MeteringError::Reencode("a body's result type was not collected".into())
            })?),
        })
    }

    /// Opens `$oog` and `$body` for a function with `results`.
    pub(super) fn open(
        &self,
        f: &mut Function,
        results: &[wasmparser::ValType],
    ) -> Result<(), super::MeteringError> {
        f.instruction(&Instruction::Block(BlockType::Result(ValType::I32)))
            .instruction(&Instruction::Block(self.block_type(results)?));
        Ok(())
    }
}

/// After the input body's own final `end` (which closes `$body`): return its results, and
/// the out-of-gas exit.
pub(super) fn close(f: &mut Function, out_of_gas: u32) {
    f.instruction(&Instruction::Return)
        .instruction(&Instruction::End)
        .instruction(&Instruction::Call(out_of_gas))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End);
}

fn results_of(results: &[wasmparser::ValType]) -> Result<Vec<ValType>, super::MeteringError> {
    use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
    results
        .iter()
        .map(|t| {
            RoundtripReencoder
                .val_type(*t)
                .map_err(super::MeteringError::from)
        })
        .collect()
}
