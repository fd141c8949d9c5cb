//! The instrumented module, decoded once into what the interpreter needs: types, imports
//! (host functions and metering helpers), function bodies as [`Op`]s with their control
//! targets resolved, globals, the table, memory and segments.

use crate::ops::{Op, decode_body};
use keel_vm::HostFn;
use keel_vm::abi::{
    GAS_GLOBAL_EXPORT, HOST_GAS_MODULE, HOST_MODULE, METER_MODULE, SITE_GLOBAL_EXPORT,
    STACK_GLOBAL_EXPORT,
};
use std::collections::BTreeMap;
use wasmparser::{
    ConstExpr, DataKind, ElementItems, ElementKind, ExternalKind, Operator, Parser, Payload,
    TypeRef, ValType,
};

/// Why a module could not be decoded for concolic execution. Admitted, instrumented modules
/// never fail; this guards against misuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed module: {0}")]
    Malformed(String),
    #[error("unsupported in Keel's profile: {0}")]
    Unsupported(String),
}

impl From<wasmparser::BinaryReaderError> for DecodeError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        DecodeError::Malformed(e.to_string())
    }
}

/// A function type: parameter and result types (`true` = i64, `false` = i32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncType {
    pub params: Vec<bool>,
    pub results: Vec<bool>,
}

/// What an imported function is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    Host(HostFn),
    /// A host function with the gas threaded through its signature: one more `i64` parameter
    /// (the remaining gas) and result (the gas left).
    HostGas(HostFn),
    OutOfGas,
    StackOverflow,
    Killed,
}

/// A defined function.
#[derive(Debug, Clone)]
pub struct Body {
    pub type_index: u32,
    /// Types of the declared locals (parameters excluded), `true` = i64.
    pub locals: Vec<bool>,
    pub ops: Vec<Op>,
}

/// A decoded module.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub types: Vec<FuncType>,
    /// Type index of every function, imports first.
    pub func_types: Vec<u32>,
    pub imports: Vec<Import>,
    pub bodies: Vec<Body>,
    /// Initial value of every global (i32 values zero-extended).
    pub globals: Vec<u64>,
    pub global_is_i64: Vec<bool>,
    pub gas_global: Option<u32>,
    pub stack_global: Option<u32>,
    pub site_global: Option<u32>,
    pub exports: BTreeMap<String, u32>,
    pub table_size: u32,
    /// Active element segments: offset and function indices.
    pub elements: Vec<(u32, Vec<u32>)>,
    /// Memory: initial and declared maximum pages.
    pub memory: Option<(u64, Option<u64>)>,
    /// Active data segments: offset and bytes.
    pub data: Vec<(u32, Vec<u8>)>,
}

impl Decoded {
    /// Decodes an instrumented module.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let mut d = Decoded::default();
        let mut global_exports = BTreeMap::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::TypeSection(r) => {
                    for t in r.into_iter_err_on_gc_types() {
                        let t = t?;
                        d.types.push(FuncType {
                            params: val_types(t.params())?,
                            results: val_types(t.results())?,
                        });
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        let imp = imp?;
                        let TypeRef::Func(ty) = imp.ty else {
                            return Err(DecodeError::Unsupported(format!(
                                "non-function import {}.{}",
                                imp.module, imp.name
                            )));
                        };
                        d.imports.push(import_kind(imp.module, imp.name)?);
                        d.func_types.push(ty);
                    }
                }
                Payload::FunctionSection(r) => {
                    for ty in r {
                        d.func_types.push(ty?);
                    }
                }
                Payload::TableSection(r) => {
                    for t in r {
                        d.table_size = u32::try_from(t?.ty.initial).unwrap_or(u32::MAX);
                    }
                }
                Payload::MemorySection(r) => {
                    for m in r {
                        let m = m?;
                        d.memory = Some((m.initial, m.maximum));
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        let g = g?;
                        d.global_is_i64.push(g.ty.content_type == ValType::I64);
                        let v = const_value(&g.init_expr, &d.globals)?;
                        d.globals.push(v);
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e?;
                        match e.kind {
                            ExternalKind::Func => {
                                d.exports.insert(e.name.to_string(), e.index);
                            }
                            ExternalKind::Global => {
                                global_exports.insert(e.name.to_string(), e.index);
                            }
                            _ => {}
                        }
                    }
                }
                Payload::ElementSection(r) => {
                    for el in r {
                        d.push_element(el?)?;
                    }
                }
                Payload::DataSection(r) => {
                    for seg in r {
                        let seg = seg?;
                        if let DataKind::Active { offset_expr, .. } = seg.kind {
                            let off = const_value(&offset_expr, &d.globals)? as u32;
                            d.data.push((off, seg.data.to_vec()));
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => d.push_body(body)?,
                _ => {}
            }
        }
        d.gas_global = global_exports.get(GAS_GLOBAL_EXPORT).copied();
        d.stack_global = global_exports.get(STACK_GLOBAL_EXPORT).copied();
        d.site_global = global_exports.get(SITE_GLOBAL_EXPORT).copied();
        Ok(d)
    }

    fn push_element(&mut self, el: wasmparser::Element<'_>) -> Result<(), DecodeError> {
        let ElementKind::Active { offset_expr, .. } = el.kind else {
            return Ok(());
        };
        let off = const_value(&offset_expr, &self.globals)? as u32;
        let ElementItems::Functions(funcs) = el.items else {
            return Err(DecodeError::Unsupported("element expressions".into()));
        };
        let funcs = funcs.into_iter().collect::<Result<Vec<u32>, _>>()?;
        self.elements.push((off, funcs));
        Ok(())
    }

    fn push_body(&mut self, body: wasmparser::FunctionBody<'_>) -> Result<(), DecodeError> {
        let index = self.imports.len().saturating_add(self.bodies.len());
        let type_index = *self
            .func_types
            .get(index)
            .ok_or_else(|| DecodeError::Malformed("body without a function".into()))?;
        let mut locals = Vec::new();
        for l in body.get_locals_reader()? {
            let (n, ty) = l?;
            let is64 = val_type(ty)?;
            for _ in 0..n {
                locals.push(is64);
            }
        }
        let ops = decode_body(&body, &self.types)?;
        self.bodies.push(Body {
            type_index,
            locals,
            ops,
        });
        Ok(())
    }

    /// The type of function `index`.
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        let t = self.func_types.get(index as usize)?;
        self.types.get(*t as usize)
    }
}

fn import_kind(module: &str, name: &str) -> Result<Import, DecodeError> {
    match (module, name) {
        (HOST_MODULE, _) => HostFn::by_name(name)
            .map(Import::Host)
            .ok_or_else(|| DecodeError::Unsupported(format!("unknown host function {name}"))),
        (HOST_GAS_MODULE, _) => HostFn::by_name(name)
            .map(Import::HostGas)
            .ok_or_else(|| DecodeError::Unsupported(format!("unknown host function {name}"))),
        (METER_MODULE, "out_of_gas") => Ok(Import::OutOfGas),
        (METER_MODULE, "stack_overflow") => Ok(Import::StackOverflow),
        (METER_MODULE, "killed") => Ok(Import::Killed),
        _ => Err(DecodeError::Unsupported(format!("import {module}.{name}"))),
    }
}

/// `true` for i64, `false` for i32; anything else is outside the integer profile.
pub fn val_type(t: ValType) -> Result<bool, DecodeError> {
    match t {
        ValType::I32 => Ok(false),
        ValType::I64 => Ok(true),
        other => Err(DecodeError::Unsupported(format!("value type {other:?}"))),
    }
}

fn val_types(ts: &[ValType]) -> Result<Vec<bool>, DecodeError> {
    ts.iter().map(|t| val_type(*t)).collect()
}

fn const_value(e: &ConstExpr<'_>, globals: &[u64]) -> Result<u64, DecodeError> {
    let mut r = e.get_operators_reader();
    let v = match r.read()? {
        Operator::I32Const { value } => u64::from(value as u32),
        Operator::I64Const { value } => value as u64,
        Operator::GlobalGet { global_index } => *globals
            .get(global_index as usize)
            .ok_or_else(|| DecodeError::Malformed("constant reads an unknown global".into()))?,
        other => {
            return Err(DecodeError::Unsupported(format!(
                "constant expression {other:?}"
            )));
        }
    };
    Ok(v)
}
