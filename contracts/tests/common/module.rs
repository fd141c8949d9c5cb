//! A flat summary of a Wasm module, read with wasmparser, for the profile tests.

use wasmparser::{ExternalKind, MemoryType, Parser, Payload, TypeRef, ValType};

/// A function signature as (params, results).
pub type Sig = (Vec<ValType>, Vec<ValType>);

#[derive(Default)]
pub struct Summary {
    pub types: Vec<Sig>,
    /// (module, name, type index) of every imported function.
    pub func_imports: Vec<(String, String, u32)>,
    /// Imports of anything other than a function (tables, memories, globals, tags).
    pub other_imports: Vec<String>,
    /// Type index of every defined function, in order.
    pub defined_funcs: Vec<u32>,
    /// (name, kind, index) of every export.
    pub exports: Vec<(String, ExternalKind, u32)>,
    pub memories: Vec<MemoryType>,
    /// Value types of globals and of every function's locals.
    pub value_types: Vec<ValType>,
    /// Debug names of operators that touch floats or vectors (should stay empty).
    pub float_or_vector_ops: Vec<String>,
}

impl Summary {
    pub fn read(wasm: &[u8]) -> wasmparser::Result<Self> {
        let mut s = Self::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(r) => {
                    for ty in r.into_iter_err_on_gc_types() {
                        let ty = ty?;
                        s.types.push((ty.params().to_vec(), ty.results().to_vec()));
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.into_imports() {
                        let import = import?;
                        match import.ty {
                            TypeRef::Func(t) => s.func_imports.push((
                                import.module.to_owned(),
                                import.name.to_owned(),
                                t,
                            )),
                            other => s
                                .other_imports
                                .push(format!("{}.{}: {other:?}", import.module, import.name)),
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        s.defined_funcs.push(t?);
                    }
                }
                Payload::MemorySection(r) => {
                    for m in r {
                        s.memories.push(m?);
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        s.value_types.push(g?.ty.content_type);
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e?;
                        s.exports.push((e.name.to_owned(), e.kind, e.index));
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    for local in body.get_locals_reader()? {
                        s.value_types.push(local?.1);
                    }
                    let mut ops = body.get_operators_reader()?;
                    while !ops.eof() {
                        let name = format!("{:?}", ops.read()?);
                        if ["F32", "F64", "V128", "I8x16", "I16x8", "I32x4", "I64x2"]
                            .iter()
                            .any(|marker| name.contains(marker))
                        {
                            s.float_or_vector_ops.push(name);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(s)
    }

    /// Signature of function `index` in the function index space (imports first).
    pub fn func_sig(&self, index: u32) -> Option<&Sig> {
        let index = index as usize;
        let type_index = match self.func_imports.get(index) {
            Some((_, _, t)) => *t,
            None => *self.defined_funcs.get(index - self.func_imports.len())?,
        };
        self.types.get(type_index as usize)
    }
}
