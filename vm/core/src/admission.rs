//! Admission: parse and validate a module and accept it only inside the deterministic profile.
//!
//! Admission is consensus: the same bytes and the same [`Profile`] give the same verdict on every
//! machine. It also records what metering and the static analysis need (function types, frame
//! sizes, exports), so that later passes never re-validate.

use crate::abi::{self, HostFn, Ty};
pub use crate::floats::is_float_op;
use crate::manifest::{Capability, MANIFEST_SECTION, Manifest, ManifestError};
use crate::profile::Profile;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;
use wasmparser::{
    ExternalKind, FuncValidatorAllocations, Operator, Parser, Payload, TypeRef, ValType, Validator,
};

/// Why a module was not admitted. Every variant says where and what, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    #[error("uses {item}, killed by governance{}", offset.map(|o| format!(" (at offset {o})")).unwrap_or_default())]
    Killed { item: String, offset: Option<usize> },
    #[error("invalid wasm at offset {offset}: {message}")]
    Invalid { offset: usize, message: String },
    #[error("function {func} uses float instruction `{op}` at offset {offset}")]
    FloatInstruction {
        func: u32,
        offset: usize,
        op: String,
    },
    #[error("float type in {place}")]
    FloatType { place: String },
    #[error("{what}: {found} exceeds the profile v{version} limit of {limit}")]
    LimitExceeded {
        what: &'static str,
        found: u64,
        limit: u64,
        version: u32,
    },
    #[error("unknown import `{module}.{name}` (only the `keel` ABI v1 functions may be imported)")]
    UnknownImport { module: String, name: String },
    #[error("import `{module}.{name}` has the wrong signature: expected {expected}, found {found}")]
    ImportSignature {
        module: String,
        name: String,
        expected: String,
        found: String,
    },
    #[error("import `{module}.{name}` is a {kind}; only functions may be imported")]
    ImportKind {
        module: String,
        name: String,
        kind: &'static str,
    },
    #[error("export `{0}` uses the reserved prefix `keel$`")]
    ReservedExport(String),
    #[error("start functions are not allowed: call an explicit entry point instead")]
    StartFunction,
    #[error("{0}")]
    Unsupported(String),
    #[error("bad `keel.manifest` section: {0}")]
    Manifest(#[from] ManifestError),
    #[error(
        "import `keel.{import}` needs the `{capability}` capability, which the manifest does not grant"
    )]
    CapabilityMissing {
        import: String,
        capability: Capability,
    },
}

impl From<wasmparser::BinaryReaderError> for AdmissionError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        AdmissionError::Invalid {
            offset: e.offset() as usize,
            message: e.message().to_string(),
        }
    }
}

/// A function signature of the profile (only `i32`/`i64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncSig {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl FuncSig {
    /// Whether this is `() -> ()`, the type of every contract entry point.
    pub fn is_entry(&self) -> bool {
        self.params.is_empty() && self.results.is_empty()
    }
}

/// What admission learned about one defined function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    /// Index into [`AdmittedModule::types`].
    pub type_index: u32,
    /// Parameters plus declared locals.
    pub locals: u32,
    /// Highest operand-stack height reached anywhere in the body.
    pub max_operand_height: u32,
    /// Byte offset of the body in the module, for error reports.
    pub body_offset: usize,
}

/// Fixed per-frame overhead in stack slots (return address and frame link).
pub const FRAME_OVERHEAD_SLOTS: u32 = 2;

impl FuncInfo {
    /// Static frame size in value slots, as charged by stack metering.
    pub fn frame_slots(&self) -> u32 {
        self.locals
            .saturating_add(self.max_operand_height)
            .saturating_add(FRAME_OVERHEAD_SLOTS)
    }
}

/// An exported function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    pub name: String,
    /// Function index in the module's function index space (imports first).
    pub func_index: u32,
}

/// A module that passed admission, with the facts later passes need.
#[derive(Debug, Clone)]
pub struct AdmittedModule {
    /// SHA-256 of the original bytes: the code hash.
    pub code_hash: [u8; 32],
    /// Version of the profile it was admitted under.
    pub profile_version: u32,
    /// The original bytes.
    pub bytes: Vec<u8>,
    pub types: Vec<FuncSig>,
    /// Imported host functions, in import order (function indices `0..imports.len()`).
    pub imports: Vec<(HostFn, u32)>,
    /// Number of imported globals (always 0 in the profile; kept for index arithmetic).
    pub imported_globals: u32,
    /// Number of globals the module defines.
    pub defined_globals: u32,
    /// Defined functions, in order (function index = `imports.len() + i`).
    pub functions: Vec<FuncInfo>,
    /// Exported functions.
    pub exports: Vec<ExportInfo>,
    /// Declared memory limits in pages (`initial`, `maximum`), if the module has a memory.
    pub memory: Option<(u64, Option<u64>)>,
    /// Function indices that may be called indirectly (present in an element segment).
    pub table_functions: BTreeSet<u32>,
    /// The capability manifest (the `keel.manifest` section, or the documented default).
    pub manifest: Arc<Manifest>,
    /// Whether the module carries its own manifest section.
    pub has_manifest: bool,
}

impl AdmittedModule {
    /// The signature of any function (imported or defined) by index.
    pub fn func_sig(&self, func_index: u32) -> Option<&FuncSig> {
        let imported = self.imports.len() as u32;
        let ty = if func_index < imported {
            self.imports.get(func_index as usize)?.1
        } else {
            self.functions
                .get(func_index.checked_sub(imported)? as usize)?
                .type_index
        };
        self.types.get(ty as usize)
    }

    /// The exported function called `name`, if any.
    pub fn export(&self, name: &str) -> Option<&ExportInfo> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// The defined-function info for a function index, or `None` for imports.
    pub fn defined(&self, func_index: u32) -> Option<&FuncInfo> {
        let imported = self.imports.len() as u32;
        func_index
            .checked_sub(imported)
            .and_then(|i| self.functions.get(i as usize))
    }
}

fn limit(what: &'static str, found: u64, limit: u32, p: &Profile) -> Result<(), AdmissionError> {
    if found > u64::from(limit) {
        return Err(AdmissionError::LimitExceeded {
            what,
            found,
            limit: u64::from(limit),
            version: p.version,
        });
    }
    Ok(())
}

fn check_val(ty: ValType, place: impl FnOnce() -> String) -> Result<(), AdmissionError> {
    match ty {
        ValType::I32 | ValType::I64 => Ok(()),
        ValType::F32 | ValType::F64 => Err(AdmissionError::FloatType { place: place() }),
        other => Err(AdmissionError::Unsupported(format!(
            "value type {other} is not in the deterministic profile ({})",
            place()
        ))),
    }
}

fn sig_string(params: &[ValType], results: &[ValType]) -> String {
    let join = |v: &[ValType]| {
        v.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", join(params), join(results))
}

fn abi_types(tys: &[Ty]) -> Vec<ValType> {
    tys.iter()
        .map(|t| match t {
            Ty::I32 => ValType::I32,
            Ty::I64 => ValType::I64,
        })
        .collect()
}

/// Admits `bytes` under `profile`: validates, enforces every profile rule, and returns the
/// facts metering needs. Deterministic; never panics on any input.
pub fn admit(bytes: &[u8], profile: &Profile) -> Result<AdmittedModule, AdmissionError> {
    limit(
        "module size in bytes",
        bytes.len() as u64,
        profile.max_code_bytes,
        profile,
    )?;
    let mut validator = Validator::new_with_features(Profile::wasm_features());
    let mut m = AdmittedModule {
        code_hash: Sha256::digest(bytes).into(),
        profile_version: profile.version,
        bytes: bytes.to_vec(),
        types: Vec::new(),
        imports: Vec::new(),
        imported_globals: 0,
        defined_globals: 0,
        functions: Vec::new(),
        exports: Vec::new(),
        memory: None,
        table_functions: BTreeSet::new(),
        manifest: Arc::new(Manifest::legacy_default()),
        has_manifest: false,
    };
    let mut declared_funcs: Vec<u32> = Vec::new();
    let mut allocs = FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        // Profile checks come first so that the error names the rule, not a validator detail.
        match &payload {
            Payload::TypeSection(reader) => {
                limit(
                    "types",
                    u64::from(reader.count()),
                    profile.max_types,
                    profile,
                )?;
                for (i, ty) in reader.clone().into_iter_err_on_gc_types().enumerate() {
                    let ft = ty?;
                    for p in ft.params() {
                        check_val(*p, || format!("parameter of type {i}"))?;
                    }
                    for r in ft.results() {
                        check_val(*r, || format!("result of type {i}"))?;
                    }
                    m.types.push(FuncSig {
                        params: ft.params().to_vec(),
                        results: ft.results().to_vec(),
                    });
                }
            }
            Payload::ImportSection(reader) => {
                limit(
                    "imports",
                    u64::from(reader.count()),
                    profile.max_imports,
                    profile,
                )?;
                for imp in reader.clone().into_imports() {
                    let imp = imp?;
                    check_import(&imp, &m.types, &mut m.imports)?;
                }
            }
            Payload::FunctionSection(reader) => {
                limit(
                    "functions",
                    u64::from(reader.count()),
                    profile.max_functions,
                    profile,
                )?;
                for ty in reader.clone() {
                    declared_funcs.push(ty?);
                }
            }
            Payload::TableSection(reader) => {
                for t in reader.clone() {
                    let t = t?;
                    limit(
                        "table elements",
                        t.ty.initial,
                        profile.max_table_elements,
                        profile,
                    )?;
                    if let Some(max) = t.ty.maximum {
                        limit("table maximum", max, profile.max_table_elements, profile)?;
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader.clone() {
                    let mem = mem?;
                    if mem.memory64 || mem.shared {
                        return Err(AdmissionError::Unsupported(
                            "memory64 and shared memories are not in the deterministic profile"
                                .into(),
                        ));
                    }
                    let p = profile;
                    limit(
                        "initial memory pages",
                        mem.initial,
                        p.max_initial_memory_pages,
                        p,
                    )?;
                    if let Some(max) = mem.maximum {
                        limit("maximum memory pages", max, p.max_memory_pages, p)?;
                    }
                    m.memory = Some((mem.initial, mem.maximum));
                }
            }
            Payload::GlobalSection(reader) => {
                limit(
                    "globals",
                    u64::from(reader.count()),
                    profile.max_globals,
                    profile,
                )?;
                for (i, g) in reader.clone().into_iter().enumerate() {
                    let g = g?;
                    check_val(g.ty.content_type, || format!("global {i}"))?;
                }
                m.defined_globals = reader.count();
            }
            Payload::ExportSection(reader) => {
                limit(
                    "exports",
                    u64::from(reader.count()),
                    profile.max_exports,
                    profile,
                )?;
                for e in reader.clone() {
                    let e = e?;
                    if e.name.starts_with(abi::RESERVED_EXPORT_PREFIX) {
                        return Err(AdmissionError::ReservedExport(e.name.to_string()));
                    }
                    if e.kind == ExternalKind::Func {
                        m.exports.push(ExportInfo {
                            name: e.name.to_string(),
                            func_index: e.index,
                        });
                    }
                }
            }
            Payload::StartSection { .. } => return Err(AdmissionError::StartFunction),
            Payload::CustomSection(c) if c.name() == MANIFEST_SECTION => {
                if m.has_manifest {
                    return Err(ManifestError::Duplicate.into());
                }
                m.manifest = Arc::new(Manifest::decode(c.data())?);
                m.has_manifest = true;
            }
            Payload::ElementSection(reader) => {
                let p = profile;
                limit(
                    "element segments",
                    u64::from(reader.count()),
                    p.max_element_segments,
                    p,
                )?;
                for el in reader.clone() {
                    if let wasmparser::ElementItems::Functions(funcs) = el?.items {
                        for f in funcs {
                            m.table_functions.insert(f?);
                        }
                    }
                }
            }
            Payload::DataSection(reader) => {
                let p = profile;
                limit(
                    "data segments",
                    u64::from(reader.count()),
                    p.max_data_segments,
                    p,
                )?;
            }
            _ => {}
        }
        match validator.payload(&payload)? {
            wasmparser::ValidPayload::Func(func, body) => {
                // Both counts are capped by the profile: far below u32::MAX.
                let index = (m.imports.len() as u32).saturating_add(m.functions.len() as u32);
                let type_index =
                    declared_funcs
                        .get(m.functions.len())
                        .copied()
                        .ok_or_else(|| AdmissionError::Invalid {
                            offset: body.range().start as usize,
                            message: "code entry without a function declaration".into(),
                        })?;
                let mut fv = func.into_validator(std::mem::take(&mut allocs));
                let info = admit_body(index, type_index, &body, &mut fv, &m.types, profile)?;
                allocs = fv.into_allocations();
                m.functions.push(info);
            }
            wasmparser::ValidPayload::End(_) => break,
            _ => {}
        }
    }
    check_capabilities(&m)?;
    Ok(m)
}

/// Every import must be covered by the manifest. Custom sections may follow the code, so this
/// runs once the whole module has been read.
fn check_capabilities(m: &AdmittedModule) -> Result<(), AdmissionError> {
    for (f, _) in &m.imports {
        if let Some(c) = Manifest::required_for(*f)
            && !m.manifest.grants(c)
        {
            return Err(AdmissionError::CapabilityMissing {
                import: f.name().to_string(),
                capability: c,
            });
        }
    }
    Ok(())
}

fn check_import(
    imp: &wasmparser::Import<'_>,
    types: &[FuncSig],
    out: &mut Vec<(HostFn, u32)>,
) -> Result<(), AdmissionError> {
    let (module, name) = (imp.module.to_string(), imp.name.to_string());
    let kind = match imp.ty {
        TypeRef::Func(t) => t,
        TypeRef::Memory(_) => {
            return Err(AdmissionError::ImportKind {
                module,
                name,
                kind: "memory",
            });
        }
        TypeRef::Table(_) => {
            return Err(AdmissionError::ImportKind {
                module,
                name,
                kind: "table",
            });
        }
        TypeRef::Global(_) => {
            return Err(AdmissionError::ImportKind {
                module,
                name,
                kind: "global",
            });
        }
        _ => {
            return Err(AdmissionError::ImportKind {
                module,
                name,
                kind: "non-function",
            });
        }
    };
    let host = (imp.module == abi::HOST_MODULE)
        .then(|| HostFn::by_name(imp.name))
        .flatten()
        .ok_or_else(|| AdmissionError::UnknownImport {
            module: module.clone(),
            name: name.clone(),
        })?;
    let spec = host.spec();
    let (ep, er) = (abi_types(spec.params), abi_types(spec.results));
    let found = types
        .get(kind as usize)
        .ok_or_else(|| AdmissionError::Invalid {
            offset: 0,
            message: format!("import `{module}.{name}` refers to missing type {kind}"),
        })?;
    if found.params != ep || found.results != er {
        return Err(AdmissionError::ImportSignature {
            expected: sig_string(&ep, &er),
            found: sig_string(&found.params, &found.results),
            module,
            name,
        });
    }
    out.push((host, kind));
    Ok(())
}

fn admit_body(
    index: u32,
    type_index: u32,
    body: &wasmparser::FunctionBody<'_>,
    fv: &mut wasmparser::FuncValidator<wasmparser::ValidatorResources>,
    types: &[FuncSig],
    profile: &Profile,
) -> Result<FuncInfo, AdmissionError> {
    let range = body.range();
    limit(
        "function body bytes",
        range.end.saturating_sub(range.start),
        profile.max_function_body_bytes,
        profile,
    )?;
    let params = types
        .get(type_index as usize)
        .map_or(0, |t| t.params.len() as u64);
    let mut locals = params;
    let mut reader = body.get_locals_reader()?;
    for _ in 0..reader.get_count() {
        let offset = reader.original_position();
        let (count, ty) = reader.read()?;
        check_val(ty, || format!("locals of function {index}"))?;
        locals = locals.saturating_add(u64::from(count));
        limit(
            "locals in one function",
            locals,
            profile.max_locals_per_function,
            profile,
        )?;
        fv.define_locals(offset, count, ty)?;
    }
    let mut ops = body.get_operators_reader()?;
    let mut max_height = 0u32;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset()?;
        if is_float_op(&op) {
            return Err(AdmissionError::FloatInstruction {
                func: index,
                offset: offset as usize,
                op: op_name(&op),
            });
        }
        if let Operator::Block { blockty } | Operator::Loop { blockty } | Operator::If { blockty } =
            &op
            && let wasmparser::BlockType::Type(t) = blockty
        {
            check_val(*t, || {
                format!("block type in function {index} at offset {offset}")
            })?;
        }
        fv.op(offset, &op)?;
        max_height = max_height.max(fv.operand_stack_height());
    }
    ops.finish()?;
    Ok(FuncInfo {
        type_index,
        // Bounded by max_locals_per_function above.
        locals: u32::try_from(locals).unwrap_or(u32::MAX),
        max_operand_height: max_height,
        body_offset: range.start as usize,
    })
}

/// The operator's name as in the text format's Rust spelling (`F32Add`), for messages.
fn op_name(op: &Operator<'_>) -> String {
    let s = format!("{op:?}");
    s.split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}
