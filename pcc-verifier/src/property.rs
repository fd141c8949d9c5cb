//! The safety properties the checker proves, named in every error.

use std::fmt;

/// A property a program or certificate failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Property {
    /// An opcode outside SBPF v0 without calls, or a non-existent register.
    ForbiddenInstruction,
    /// A `call` (syscall / helper); none is whitelisted.
    ForbiddenSyscall,
    /// A register read before it is written.
    UninitRegister,
    /// A stack byte read before it is written.
    UninitStack,
    /// A memory access that may leave its region.
    OutOfBounds,
    /// A store into the input or the constants.
    ReadOnlyWrite,
    /// A load or store through something that is not a pointer.
    NonPointerAccess,
    /// A division or remainder whose divisor may be zero.
    DivisionByZero,
    /// A jump outside the program or into the middle of an `lddw`, or falling off the end.
    BadJump,
    /// The certificate's entry state does not cover the calling convention.
    EntryState,
    /// A successor state is not included in the certificate's stated invariant.
    InvariantNotInductive,
    /// A backward edge into an instruction that declares no loop bound.
    UnboundedLoop,
    /// A loop's counter does not make the declared progress, or its declared iteration bound is
    /// below what its invariant proves.
    LoopBound,
    /// The worst-case instruction count exceeds the declared bound.
    InstructionBound,
    /// The certificate does not match the program (length, hash, malformed tables).
    CertificateMismatch,
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::ForbiddenInstruction => "forbidden instruction",
            Self::ForbiddenSyscall => "forbidden syscall",
            Self::UninitRegister => "uninitialised register read",
            Self::UninitStack => "uninitialised stack read",
            Self::OutOfBounds => "out-of-bounds memory access",
            Self::ReadOnlyWrite => "store into read-only memory",
            Self::NonPointerAccess => "memory access through a non-pointer",
            Self::DivisionByZero => "possible division by zero",
            Self::BadJump => "bad control flow",
            Self::EntryState => "entry state not covered",
            Self::InvariantNotInductive => "invariant not inductive",
            Self::UnboundedLoop => "unbounded loop",
            Self::LoopBound => "loop bound not justified",
            Self::InstructionBound => "instruction bound exceeded",
            Self::CertificateMismatch => "certificate does not match the program",
        };
        f.write_str(s)
    }
}

/// A failed obligation at one instruction (the pc is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// The abstract values involved.
    pub detail: String,
}
