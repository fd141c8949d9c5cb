//! What the debugger knows statically about one contract's code: its metering blocks, function
//! names, local types and (with a DWARF side file) source lines.

use crate::dwarf::{SourceLoc, SourceMap};
use crate::error::DevError;
use keel_vm::GasSchedule;
use keel_vm::debug::MAX_DEBUG_LOCALS;
use std::collections::BTreeMap;
use wasmparser::{KnownCustom, Name, Parser, Payload, TypeRef, ValType};

/// One defined function.
#[derive(Debug, Clone)]
pub struct FuncCode {
    /// Index in the module's function space (imports first).
    pub index: u32,
    pub name: String,
    /// Module offsets of its metering blocks' first operators, ascending (the places the
    /// debugger can stop).
    pub blocks: Vec<u32>,
    /// Types of the reported locals (parameters first), at most [`MAX_DEBUG_LOCALS`].
    pub locals: Vec<ValType>,
    /// Number of parameters.
    pub params: usize,
    /// Byte range of the body in the module.
    pub body: std::ops::Range<u32>,
}

/// A contract's code as the debugger sees it.
#[derive(Debug, Clone, Default)]
pub struct CodeInfo {
    pub funcs: Vec<FuncCode>,
    pub source: SourceMap,
}

impl CodeInfo {
    /// Reads `wasm` (the deployed code) and, when given, its DWARF side file `debug` (names
    /// and lines come from there).
    ///
    /// # Errors
    /// [`DevError::Wasm`] if either module does not parse; [`DevError::Dwarf`] for bad DWARF.
    pub fn new(wasm: &[u8], debug: Option<&[u8]>) -> Result<CodeInfo, DevError> {
        let mut types: Vec<Vec<ValType>> = Vec::new();
        let mut func_types: Vec<u32> = Vec::new();
        let mut imported = 0u32;
        let mut names: BTreeMap<u32, String> = BTreeMap::new();
        let mut code_start = 0usize;
        let mut funcs = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(r) => {
                    for t in r.into_iter_err_on_gc_types() {
                        types.push(t?.params().to_vec());
                    }
                }
                Payload::ImportSection(r) => {
                    for i in r.into_imports() {
                        if matches!(i?.ty, TypeRef::Func(_)) {
                            imported = imported.saturating_add(1);
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        func_types.push(t?);
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e?;
                        if e.kind == wasmparser::ExternalKind::Func {
                            names.entry(e.index).or_insert_with(|| e.name.to_owned());
                        }
                    }
                }
                Payload::CodeSectionStart {
                    unchecked_range: range,
                    ..
                } => {
                    code_start = usize::try_from(range.start).unwrap_or(0);
                }
                Payload::CodeSectionEntry(body) => {
                    let index = imported.saturating_add(funcs.len() as u32);
                    let params = func_types
                        .get(funcs.len())
                        .and_then(|t| types.get(*t as usize))
                        .cloned()
                        .unwrap_or_default();
                    funcs.push(func_code(index, &body, params)?);
                }
                _ => {}
            }
        }
        let mut source = SourceMap::default();
        if let Some(debug) = debug {
            names.extend(function_names(debug)?);
            source = SourceMap::from_wasm(debug)?.rebased(code_start);
        }
        for f in &mut funcs {
            if let Some(n) = names.get(&f.index) {
                f.name.clone_from(n);
            }
        }
        Ok(CodeInfo { funcs, source })
    }

    pub fn func(&self, index: u32) -> Option<&FuncCode> {
        self.funcs.iter().find(|f| f.index == index)
    }

    /// The function whose body holds `offset`.
    pub fn func_at(&self, offset: u32) -> Option<&FuncCode> {
        self.funcs.iter().find(|f| f.body.contains(&offset))
    }

    /// The metering block holding `offset`: the last block start at or before it in its
    /// function.
    pub fn block_at(&self, offset: u32) -> Option<u32> {
        let f = self.func_at(offset)?;
        let i = f.blocks.partition_point(|&b| b <= offset);
        f.blocks.get(i.checked_sub(1)?).copied()
    }

    pub fn line(&self, offset: u32) -> Option<SourceLoc> {
        self.source.locate(offset as usize)
    }

    /// A function by exported or DWARF-side-file name, or by `#index`.
    pub fn func_named(&self, name: &str) -> Option<&FuncCode> {
        if let Some(i) = name.strip_prefix('#').and_then(|i| i.parse::<u32>().ok()) {
            return self.func(i);
        }
        self.funcs.iter().find(|f| f.name == name)
    }
}

fn func_code(
    index: u32,
    body: &wasmparser::FunctionBody<'_>,
    params: Vec<ValType>,
) -> Result<FuncCode, DevError> {
    let mut locals = params.clone();
    let mut reader = body.get_locals_reader()?;
    for _ in 0..reader.get_count() {
        let (count, ty) = reader.read()?;
        let room = MAX_DEBUG_LOCALS.saturating_sub(locals.len());
        locals.extend(std::iter::repeat_n(ty, room.min(count as usize)));
    }
    locals.truncate(MAX_DEBUG_LOCALS);
    let mut ops = Vec::new();
    let mut offsets = Vec::new();
    let mut r = body.get_operators_reader()?;
    while !r.eof() {
        let (op, offset) = r.read_with_offset()?;
        ops.push(op);
        offsets.push(u32::try_from(offset).unwrap_or(u32::MAX));
    }
    // Where blocks start does not depend on prices (every price is at least 1).
    let charges = keel_vm::metering::block_charges(&ops, &GasSchedule::v1());
    let blocks = charges
        .iter()
        .zip(&offsets)
        .filter(|(c, _)| **c > 0)
        .map(|(_, o)| *o)
        .collect();
    let range = body.range();
    Ok(FuncCode {
        index,
        name: format!("#{index}"),
        blocks,
        params: params.len().min(MAX_DEBUG_LOCALS),
        locals,
        body: u32::try_from(range.start).unwrap_or(u32::MAX)
            ..u32::try_from(range.end).unwrap_or(u32::MAX),
    })
}

/// Function names from the `name` section of `wasm`.
fn function_names(wasm: &[u8]) -> Result<BTreeMap<u32, String>, DevError> {
    let mut out = BTreeMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CustomSection(c) = payload?
            && let KnownCustom::Name(reader) = c.as_known()
        {
            for name in reader {
                if let Name::Function(map) = name? {
                    for n in map {
                        let n = n?;
                        out.insert(n.index, n.name.to_owned());
                    }
                }
            }
        }
    }
    Ok(out)
}
