//! Host imports that take and return the remaining gas.
//!
//! A host function charges compute gas, so it needs the caller's remaining gas and must hand
//! back what is left. Through the gas global that costs a write-back before the call, a global
//! read and a global write inside the host (type-checked on every access by wasmtime's embedder
//! API) and a reload after it: about a tenth of a token transfer on the JIT tier. A metered
//! module therefore imports each host function it only ever calls directly from
//! [`HOST_GAS_MODULE`] instead, with the gas *threaded* through its signature:
//!
//! * `(params…) -> (results…)` becomes `(params…, i64 gas) -> (results…, i64 gas left)`;
//! * at a call site the gas local is pushed as the last argument (no write-back: the host does
//!   not read the global) and the last result is popped into it; the local is then ahead of the
//!   global (dirty) until the next observation point writes it back (`gas_local.rs`);
//! * a host function that faults still leaves the gas it charged in the global, as the engine
//!   reads the global when a call ends (the tiers' linkers do that on the fault path only).
//!
//! The host sees exactly the value the global would have held and the code continues from
//! exactly the value the host would have written, so charges, traps and gas used are those of
//! the global protocol (the replay fixture pins them). An import that may be called
//! indirectly (it sits in an element segment) or from outside (it is exported) keeps its
//! signature and the global protocol: a table or the host calls it with the original type.

use crate::abi::{HOST_GAS_MODULE, HOST_MODULE};
use crate::admission::AdmittedModule;
use std::collections::BTreeMap;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ImportSection, TypeSection, ValType};

/// Which imports are threaded, and the types their threaded signatures add.
pub(super) struct ThreadedImports {
    /// The threaded type index of each import, `None` for one that keeps its signature.
    by_import: Vec<Option<u32>>,
    /// Added types in index order: the original type's parameters and results, each plus i64.
    added: Vec<(Vec<ValType>, Vec<ValType>)>,
}

impl ThreadedImports {
    /// None threaded (`enabled` false: unmetered and debugger modules keep the global
    /// protocol), or every import only called directly, with the added types from index `first`.
    pub(super) fn new(
        module: &AdmittedModule,
        first: u32,
        enabled: bool,
    ) -> Result<Self, super::MeteringError> {
        let mut by_type: BTreeMap<u32, u32> = BTreeMap::new();
        let mut added = Vec::new();
        let mut by_import = Vec::with_capacity(module.imports.len());
        for (i, &(_, type_index)) in module.imports.iter().enumerate() {
            let func = u32::try_from(i).unwrap_or(u32::MAX);
            let direct_only = !module.table_functions.contains(&func)
                && !module.exports.iter().any(|e| e.func_index == func);
            if !enabled || !direct_only {
                by_import.push(None);
                continue;
            }
            let threaded = match by_type.get(&type_index) {
                Some(&t) => t,
                None => {
                    let sig = module.types.get(type_index as usize).ok_or_else(|| {
                        super::MeteringError::Reencode("an import's type is missing".into())
                    })?;
                    let with_gas = |ts: &[wasmparser::ValType]| {
                        let mut out = ts
                            .iter()
                            .map(|t| RoundtripReencoder.val_type(*t))
                            .collect::<Result<Vec<_>, _>>()?;
                        out.push(ValType::I64);
                        Ok::<_, super::MeteringError>(out)
                    };
                    let t = first.saturating_add(added.len() as u32); // bounded by the imports
                    added.push((with_gas(&sig.params)?, with_gas(&sig.results)?));
                    by_type.insert(type_index, t);
                    t
                }
            };
            by_import.push(Some(threaded));
        }
        Ok(ThreadedImports { by_import, added })
    }

    /// Whether a call to function `func` passes the gas (a threaded import).
    pub(super) fn is_threaded(&self, func: u32) -> bool {
        matches!(self.by_import.get(func as usize), Some(Some(_)))
    }

    /// Appends the threaded types.
    pub(super) fn add_types(&self, s: &mut TypeSection) {
        for (params, results) in &self.added {
            s.ty()
                .function(params.iter().copied(), results.iter().copied());
        }
    }

    /// Re-encodes the module's imports, threaded ones under [`HOST_GAS_MODULE`].
    pub(super) fn add_imports(
        &self,
        re: &mut impl Reencode<Error = std::convert::Infallible>,
        s: &mut ImportSection,
        r: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), super::MeteringError> {
        for (i, import) in r.into_imports().enumerate() {
            let import = import?;
            match (self.by_import.get(i).copied().flatten(), import.ty) {
                (Some(t), wasmparser::TypeRef::Func(_)) if import.module == HOST_MODULE => {
                    s.import(
                        HOST_GAS_MODULE,
                        import.name,
                        wasm_encoder::EntityType::Function(t),
                    );
                }
                _ => {
                    let ty = re.entity_type(import.ty)?;
                    s.import(import.module, import.name, ty);
                }
            }
        }
        Ok(())
    }
}
