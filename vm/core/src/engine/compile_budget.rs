//! The JIT's compile budget (JIT bombs, CosmWasm #31): what Cranelift may be asked to compile,
//! checked on the instrumented module *before* compiling, so a hostile module costs one linear
//! parse and stays on wasmi (same result) instead of taking unbounded memory or time.
//!
//! Cranelift compiles one function at a time (this build has no parallel compilation), so its
//! peak memory is that of the largest function, and its time is the sum over functions. Both
//! grow with a function's body and, worse than linearly, with how many of its locals flow
//! through how many control merges: every local read after a `block`/`loop`/`if` can become a
//! block parameter of that block (SSA construction), so `locals × control blocks` block
//! parameters and their edge arguments. A 1024-local function with a few thousand nested loops
//! is admitted by the profile yet asks for millions of them. The budget bounds each function's
//! body and that product, the module's function count, code size and summed product; a
//! compilation that still takes longer than [`CompileBudget::time`] is discarded (Cranelift
//! cannot be interrupted: the static bounds are what bound the work).

use std::time::Duration;
use wasmparser::{Operator, Parser, Payload};

/// Limits on a module the JIT compiles. Defaults ([`CompileBudget::default`]) leave every
/// contract in `contracts/` far inside (the largest use under a tenth of each bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileBudget {
    /// Largest instrumented module, in bytes.
    pub max_code_bytes: usize,
    /// Most defined functions.
    pub max_functions: u32,
    /// Largest instrumented function body, in bytes.
    pub max_body_bytes: u32,
    /// Largest `locals × control blocks` of one function (bounds its SSA block parameters).
    pub max_function_merges: u64,
    /// Largest sum of `locals × control blocks` over the module (bounds total compile work).
    pub max_module_merges: u64,
    /// Longest compilation whose result is used.
    pub time: Duration,
}

impl Default for CompileBudget {
    /// 1 MiB of code, 4096 functions, 256 KiB per body, 2^20 merges per function, 2^22 per
    /// module, 2 s.
    fn default() -> Self {
        CompileBudget {
            max_code_bytes: 1 << 20,
            max_functions: 4096,
            max_body_bytes: 256 << 10,
            max_function_merges: 1 << 20,
            max_module_merges: 1 << 22,
            time: Duration::from_secs(2),
        }
    }
}

/// Why a module is not compiled by the JIT (it runs on wasmi instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    #[error("{bytes} bytes of code exceed the JIT's {max}")]
    CodeBytes { bytes: usize, max: usize },
    #[error("{count} functions exceed the JIT's {max}")]
    Functions { count: u32, max: u32 },
    #[error("function {index} has a {bytes}-byte body, over the JIT's {max}")]
    BodyBytes { index: u32, bytes: u32, max: u32 },
    #[error(
        "function {index}: {locals} locals across {blocks} control blocks exceed the JIT's {max} merges"
    )]
    FunctionMerges {
        index: u32,
        locals: u64,
        blocks: u64,
        max: u64,
    },
    #[error("{merges} merges over the module exceed the JIT's {max}")]
    ModuleMerges { merges: u64, max: u64 },
    /// The instrumented module does not parse (never for an admitted module): not compiled.
    #[error("module does not parse: {0}")]
    Malformed(String),
}

/// What the budget measured of a module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModuleShape {
    pub functions: u32,
    pub largest_body: u32,
    pub largest_function_merges: u64,
    pub module_merges: u64,
}

impl CompileBudget {
    /// Measures `bytes` (an instrumented module) and checks it against the budget, stopping at
    /// the first bound exceeded. Linear in the module size; allocates only the type table.
    pub fn check(&self, bytes: &[u8]) -> Result<ModuleShape, OverBudget> {
        if bytes.len() > self.max_code_bytes {
            return Err(OverBudget::CodeBytes {
                bytes: bytes.len(),
                max: self.max_code_bytes,
            });
        }
        let mut walk = Walk::default();
        for payload in Parser::new(0).parse_all(bytes) {
            walk.payload(self, payload.map_err(malformed)?)?;
        }
        Ok(walk.shape)
    }
}

fn malformed(e: wasmparser::BinaryReaderError) -> OverBudget {
    OverBudget::Malformed(e.to_string())
}

/// The state of one pass over a module.
#[derive(Default)]
struct Walk {
    /// Parameter count of each type.
    type_params: Vec<u64>,
    /// Type index of each defined function, in order.
    func_types: Vec<u32>,
    shape: ModuleShape,
}

impl Walk {
    fn payload(&mut self, budget: &CompileBudget, p: Payload<'_>) -> Result<(), OverBudget> {
        match p {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    let params = ty.map_err(malformed)?.params().len();
                    self.type_params
                        .push(u64::try_from(params).unwrap_or(u64::MAX));
                }
            }
            Payload::FunctionSection(r) => {
                if r.count() > budget.max_functions {
                    return Err(OverBudget::Functions {
                        count: r.count(),
                        max: budget.max_functions,
                    });
                }
                for t in r {
                    self.func_types.push(t.map_err(malformed)?);
                }
            }
            Payload::CodeSectionEntry(body) => self.function(budget, &body)?,
            _ => {}
        }
        Ok(())
    }

    fn function(
        &mut self,
        budget: &CompileBudget,
        body: &wasmparser::FunctionBody<'_>,
    ) -> Result<(), OverBudget> {
        let index = self.shape.functions;
        self.shape.functions = index.saturating_add(1);
        let range = body.range();
        let size = u32::try_from(range.end.saturating_sub(range.start)).unwrap_or(u32::MAX);
        if size > budget.max_body_bytes {
            return Err(OverBudget::BodyBytes {
                index,
                bytes: size,
                max: budget.max_body_bytes,
            });
        }
        self.shape.largest_body = self.shape.largest_body.max(size);
        let params = usize::try_from(index)
            .ok()
            .and_then(|i| self.func_types.get(i))
            .and_then(|&t| self.type_params.get(usize::try_from(t).ok()?))
            .copied()
            .unwrap_or(0);
        let mut locals = params;
        for decl in body.get_locals_reader().map_err(malformed)? {
            let (count, _) = decl.map_err(malformed)?;
            locals = locals.saturating_add(u64::from(count));
        }
        let mut blocks = 1u64;
        let mut ops = body.get_operators_reader().map_err(malformed)?;
        while !ops.eof() {
            if let Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } =
                ops.read().map_err(malformed)?
            {
                blocks = blocks.saturating_add(1);
            }
        }
        let merges = locals.saturating_mul(blocks);
        if merges > budget.max_function_merges {
            return Err(OverBudget::FunctionMerges {
                index,
                locals,
                blocks,
                max: budget.max_function_merges,
            });
        }
        let shape = &mut self.shape;
        shape.largest_function_merges = shape.largest_function_merges.max(merges);
        shape.module_merges = shape.module_merges.saturating_add(merges);
        if shape.module_merges > budget.max_module_merges {
            return Err(OverBudget::ModuleMerges {
                merges: shape.module_merges,
                max: budget.max_module_merges,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design
    use super::*;
    use crate::{GasSchedule, Profile};

    fn instrumented(code: &[u8]) -> Vec<u8> {
        let module = crate::admit(code, &Profile::V1).unwrap();
        crate::metering::instrument(&module, &GasSchedule::v1(), &Profile::V1)
            .unwrap()
            .bytes
    }

    fn wat(src: &str) -> Vec<u8> {
        instrumented(&wat::parse_str(src).unwrap())
    }

    #[test]
    fn every_contract_is_far_inside_the_default_budget() {
        let budget = CompileBudget::default();
        for c in keel_contracts::all() {
            let shape = budget.check(&instrumented(c.wasm)).unwrap();
            assert!(
                u64::from(shape.largest_body) * 10 < u64::from(budget.max_body_bytes)
                    && shape.largest_function_merges * 10 < budget.max_function_merges
                    && shape.module_merges * 10 < budget.max_module_merges,
                "{}: {shape:?}",
                c.name
            );
        }
    }

    #[test]
    fn merges_count_locals_and_parameters_times_control_blocks() {
        let m = wat(r#"(module (memory 1)
            (func $f (param i32 i32) (local i64 i64 i64)
              (block (loop (if (local.get 0) (then nop)))))
            (func (export "e") (call $f (i32.const 0) (i32.const 0))))"#);
        let shape = CompileBudget::default().check(&m).unwrap();
        // $f: 5 locals, its body plus 3 blocks (the instrumentation adds none to a loop-free
        // function's control, but may add locals: at least 5 × 4).
        assert!(shape.largest_function_merges >= 20, "{shape:?}");
        assert_eq!(shape.functions, 2);
    }

    #[test]
    fn each_bound_refuses_what_exceeds_it() {
        let m = wat(r#"(module (memory 1)
            (func (export "e") (local i32 i32 i32 i32)
              (block (block (block (nop))))))"#);
        let shape = CompileBudget::default().check(&m).unwrap();
        let tight = |f: &dyn Fn(&mut CompileBudget)| {
            let mut b = CompileBudget::default();
            f(&mut b);
            b.check(&m).unwrap_err()
        };
        let err = tight(&|b| b.max_code_bytes = m.len() - 1);
        assert!(matches!(err, OverBudget::CodeBytes { .. }), "{err}");
        let err = tight(&|b| b.max_functions = 0);
        assert!(matches!(err, OverBudget::Functions { .. }), "{err}");
        let err = tight(&|b| b.max_body_bytes = shape.largest_body - 1);
        assert!(
            matches!(err, OverBudget::BodyBytes { index: 0, .. }),
            "{err}"
        );
        let err = tight(&|b| b.max_function_merges = shape.largest_function_merges - 1);
        assert!(matches!(err, OverBudget::FunctionMerges { .. }), "{err}");
        let err = tight(&|b| b.max_module_merges = shape.module_merges - 1);
        assert!(matches!(err, OverBudget::ModuleMerges { .. }), "{err}");
        assert!(matches!(
            CompileBudget::default().check(b"\0asm\x01\0\0\0\x01\xff"),
            Err(OverBudget::Malformed(_))
        ));
    }
}
