//! What the passes need to know about a module, read once with wasmparser: imports as host
//! functions, function types, bodies with byte offsets, exports, table contents and the
//! manifest section. Works on modules admission would reject, so every pass can still point
//! at source lines.

use crate::error::DevError;
use keel_vm::HostFn;
use keel_vm::abi::HOST_MODULE;
use keel_vm::manifest::MANIFEST_SECTION;
use wasmparser::{ElementItems, ExternalKind, Operator, Parser, Payload, TypeRef};

/// One defined function's code.
pub struct Body<'a> {
    /// Function index (imports first).
    pub func: u32,
    /// Operators with the byte offset of each in the module.
    pub ops: Vec<(Operator<'a>, usize)>,
}

/// The facts of one module.
#[derive(Default)]
pub struct Facts<'a> {
    /// Function imports in order: the host function, or `None` for anything outside the ABI.
    pub imports: Vec<Option<HostFn>>,
    /// (params, results) counts per type index.
    pub types: Vec<(u32, u32)>,
    /// Type index of each function (imports first).
    pub func_types: Vec<u32>,
    pub bodies: Vec<Body<'a>>,
    /// Exported functions: name and function index.
    pub exports: Vec<(String, u32)>,
    /// Functions placed in tables (targets of `call_indirect`).
    pub table_funcs: Vec<u32>,
    /// Contents of the `keel.manifest` section, if any.
    pub manifest: Option<&'a [u8]>,
}

impl<'a> Facts<'a> {
    /// Reads `wasm`. Validation is admission's job; this only needs the module to parse.
    ///
    /// # Errors
    /// [`DevError::Wasm`] if it does not parse.
    pub fn read(wasm: &'a [u8]) -> Result<Facts<'a>, DevError> {
        let mut f = Facts::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(r) => {
                    for ty in r.into_iter_err_on_gc_types() {
                        let ty = ty?;
                        f.types.push((len32(ty.params()), len32(ty.results())));
                    }
                }
                Payload::ImportSection(r) => f.read_imports(r)?,
                Payload::FunctionSection(r) => {
                    for t in r {
                        f.func_types.push(t?);
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e?;
                        if e.kind == ExternalKind::Func {
                            f.exports.push((e.name.to_owned(), e.index));
                        }
                    }
                }
                Payload::ElementSection(r) => {
                    for el in r {
                        if let ElementItems::Functions(items) = el?.items {
                            for i in items {
                                f.table_funcs.push(i?);
                            }
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let func = len32(&f.imports).saturating_add(len32(&f.bodies));
                    let mut r = body.get_operators_reader()?;
                    let mut ops = Vec::new();
                    while !r.eof() {
                        let (op, at) = r.read_with_offset()?;
                        ops.push((op, usize::try_from(at).unwrap_or(usize::MAX)));
                    }
                    f.bodies.push(Body { func, ops });
                }
                Payload::CustomSection(c) if c.name() == MANIFEST_SECTION => {
                    f.manifest = Some(c.data());
                }
                _ => {}
            }
        }
        Ok(f)
    }

    fn read_imports(&mut self, r: wasmparser::ImportSectionReader<'a>) -> Result<(), DevError> {
        for imp in r.into_imports() {
            let imp = imp?;
            if let TypeRef::Func(t) = imp.ty {
                let host = (imp.module == HOST_MODULE)
                    .then(|| HostFn::by_name(imp.name))
                    .flatten();
                self.imports.push(host);
                self.func_types.push(t);
            }
        }
        Ok(())
    }

    /// The host function `func` names, if it is an import.
    pub fn host(&self, func: u32) -> Option<HostFn> {
        self.imports.get(func as usize).copied().flatten()
    }

    /// The body of defined function `func`.
    pub fn body(&self, func: u32) -> Option<&Body<'a>> {
        let i = (func as usize).checked_sub(self.imports.len())?;
        self.bodies.get(i)
    }

    /// (params, results) of function `func`.
    pub fn func_arity(&self, func: u32) -> Option<(u32, u32)> {
        let t = *self.func_types.get(func as usize)?;
        self.types.get(t as usize).copied()
    }

    /// Functions `call_indirect` through type `type_index` may reach.
    pub fn indirect_targets(&self, type_index: u32) -> impl Iterator<Item = u32> + '_ {
        let want = self.types.get(type_index as usize).copied();
        self.table_funcs.iter().copied().filter(move |&f| {
            want.is_some()
                && self
                    .func_types
                    .get(f as usize)
                    .and_then(|t| self.types.get(*t as usize))
                    .copied()
                    == want
        })
    }
}

fn len32<T>(v: &[T]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}
