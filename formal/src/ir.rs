//! The translated program: the instrumented module as a tree of the Coq model's constructors
//! (`formal/coq/Keel/Semantics.v`), one Rust variant per Coq constructor.

/// A value: `VI32`/`VI64` holding the unsigned representative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    I32(u32),
    I64(u64),
}

/// `T32` / `T64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    T32,
    T64,
}

/// Traps the metering helpers raise (`TrapWith`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperTrap {
    StackOverflow,
    Killed(i32),
}

/// One instruction of the model; names as in `Semantics.v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instr {
    Const(Val),
    Unop(Ty, &'static str),
    Binop(Ty, &'static str),
    Eqz(Ty),
    Relop(Ty, &'static str),
    Cvt(&'static str),
    Drop,
    Select,
    Nop,
    LocalGet(u32),
    LocalSet(u32),
    LocalTee(u32),
    GlobalGet(u32),
    GlobalSet(u32),
    Load {
        ty: Ty,
        bytes: u8,
        signed: bool,
        offset: u64,
    },
    Store {
        ty: Ty,
        bytes: u8,
        offset: u64,
    },
    MemorySize,
    MemoryGrow,
    Unreachable,
    TrapWith(HelperTrap),
    /// One metering block's charge, as the metering pass emitted it.
    Charge(u64),
    Block {
        params: u32,
        results: u32,
        body: Vec<Instr>,
    },
    Loop {
        params: u32,
        results: u32,
        body: Vec<Instr>,
    },
    If {
        params: u32,
        results: u32,
        then: Vec<Instr>,
        els: Vec<Instr>,
    },
    Br(u32),
    BrIf(u32),
    BrTable(Vec<u32>, u32),
    Return,
    /// A defined function, by its index among defined functions.
    Call(u32),
    /// Canonical signature index (the first structurally equal type).
    CallIndirect(u32),
    /// A host function (`HostFn as u32`), its parameter and result counts.
    HostCall {
        host: u32,
        params: u32,
        results: u32,
    },
}

/// One defined function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    pub sig: u32,
    pub params: u32,
    pub results: u32,
    /// Declared locals (parameters excluded, the metering scratch local included), zeroed.
    pub locals: Vec<Ty>,
    pub body: Vec<Instr>,
}

/// The whole instrumented module as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub funcs: Vec<Func>,
    /// Table elements: the defined function each holds, if initialised.
    pub table: Vec<Option<u32>>,
    /// Initial values of every global, the metering globals included.
    pub globals: Vec<Val>,
    /// Index of the stack-height global (set to the entry frame before a call).
    pub stack_global: u32,
    /// Memory: initial and maximum pages, and the active data segments (offset, bytes).
    pub memory_pages: u64,
    pub memory_max_pages: u64,
    pub data: Vec<(u64, Vec<u8>)>,
}

impl Instr {
    /// Whether this instruction or one nested in it is a loop.
    pub fn has_loop(&self) -> bool {
        match self {
            Instr::Loop { .. } => true,
            Instr::Block { body, .. } => body.iter().any(Instr::has_loop),
            Instr::If { then, els, .. } => then.iter().chain(els).any(Instr::has_loop),
            _ => false,
        }
    }

    /// Calls `f` on this instruction and every nested one, in order.
    pub fn walk(&self, f: &mut dyn FnMut(&Instr)) {
        f(self);
        match self {
            Instr::Block { body, .. } | Instr::Loop { body, .. } => {
                body.iter().for_each(|i| i.walk(f))
            }
            Instr::If { then, els, .. } => then.iter().chain(els).for_each(|i| i.walk(f)),
            _ => {}
        }
    }
}
