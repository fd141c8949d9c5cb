//! Kill switches: opcode classes and host functions that governance has switched off.
//!
//! A [`KillSet`] has two effects, from the height governance activates it:
//!
//! * **Admission** of new code ([`KillSet::first_use`], called by the chain on deploy) rejects a
//!   module that contains a killed opcode or imports a killed host function.
//! * **Execution** of code already deployed: the metering pass replaces every killed operator
//!   and every call to a killed import with a call to the `keel_meter.killed` helper followed by
//!   `unreachable`, so a contract traps with [`crate::Trap::Killed`] exactly when it *reaches*
//!   the killed item, at that item's offset, and runs unchanged otherwise. The replacement is
//!   part of the compiled module, whose cache key includes [`KillSet::digest`], so an empty kill
//!   set costs nothing at run time.

use crate::abi::HostFn;
use crate::admission::AdmittedModule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use wasmparser::Operator;

/// Groups of WebAssembly operators that can be switched off together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpcodeClass {
    /// Integer division and remainder (`i32/i64.div_s/div_u/rem_s/rem_u`).
    Division,
    /// `call_indirect`.
    CallIndirect,
    /// `memory.grow`.
    MemoryGrow,
    /// `br_table`.
    BrTable,
    /// The sign-extension operators (`i32.extend8_s` …).
    SignExtension,
    /// Integer multiplication (`i32.mul`, `i64.mul`).
    Multiplication,
}

impl OpcodeClass {
    /// Every class, in code order.
    pub const ALL: [OpcodeClass; 6] = [
        OpcodeClass::Division,
        OpcodeClass::CallIndirect,
        OpcodeClass::MemoryGrow,
        OpcodeClass::BrTable,
        OpcodeClass::SignExtension,
        OpcodeClass::Multiplication,
    ];

    /// The name used on the command line and in proposals.
    pub fn name(self) -> &'static str {
        match self {
            OpcodeClass::Division => "division",
            OpcodeClass::CallIndirect => "call_indirect",
            OpcodeClass::MemoryGrow => "memory_grow",
            OpcodeClass::BrTable => "br_table",
            OpcodeClass::SignExtension => "sign_extension",
            OpcodeClass::Multiplication => "multiplication",
        }
    }

    /// Looks a class up by [`OpcodeClass::name`].
    pub fn by_name(name: &str) -> Option<OpcodeClass> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The class of an operator, if it belongs to one.
    pub fn of(op: &Operator<'_>) -> Option<OpcodeClass> {
        use Operator as O;
        Some(match op {
            O::I32DivS
            | O::I32DivU
            | O::I32RemS
            | O::I32RemU
            | O::I64DivS
            | O::I64DivU
            | O::I64RemS
            | O::I64RemU => OpcodeClass::Division,
            O::CallIndirect { .. } => OpcodeClass::CallIndirect,
            O::MemoryGrow { .. } => OpcodeClass::MemoryGrow,
            O::BrTable { .. } => OpcodeClass::BrTable,
            O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S => OpcodeClass::SignExtension,
            O::I32Mul | O::I64Mul => OpcodeClass::Multiplication,
            _ => return None,
        })
    }
}

/// One killed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Killed {
    Opcode(OpcodeClass),
    HostFn(HostFn),
}

impl fmt::Display for Killed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Killed::Opcode(c) => write!(f, "opcode class {}", c.name()),
            Killed::HostFn(h) => write!(f, "host function keel.{}", h.name()),
        }
    }
}

/// Code passed to `keel_meter.killed` for host functions: `HOST_CODE_BASE + HostFn index`.
const HOST_CODE_BASE: i32 = 0x100;

impl Killed {
    /// The `i32` the instrumentation passes to `keel_meter.killed`.
    pub fn code(self) -> i32 {
        match self {
            Killed::Opcode(c) => c as i32,
            // Fewer than 2^16 host functions: never saturates.
            Killed::HostFn(h) => HOST_CODE_BASE.saturating_add(h as i32),
        }
    }

    /// The inverse of [`Killed::code`].
    pub fn from_code(code: i32) -> Option<Killed> {
        if code >= HOST_CODE_BASE {
            let i = usize::try_from(code.checked_sub(HOST_CODE_BASE)?).ok()?;
            return crate::abi::HOST_FUNCTIONS
                .get(i)
                .map(|s| Killed::HostFn(s.func));
        }
        let i = usize::try_from(code).ok()?;
        OpcodeClass::ALL.get(i).map(|c| Killed::Opcode(*c))
    }
}

/// The opcode classes and host functions switched off at some height.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSet {
    pub opcodes: BTreeSet<OpcodeClass>,
    pub host_fns: BTreeSet<HostFn>,
}

impl KillSet {
    pub fn is_empty(&self) -> bool {
        self.opcodes.is_empty() && self.host_fns.is_empty()
    }

    pub fn insert(&mut self, item: Killed) {
        match item {
            Killed::Opcode(c) => self.opcodes.insert(c),
            Killed::HostFn(h) => self.host_fns.insert(h),
        };
    }

    pub fn remove(&mut self, item: Killed) {
        match item {
            Killed::Opcode(c) => self.opcodes.remove(&c),
            Killed::HostFn(h) => self.host_fns.remove(&h),
        };
    }

    /// Whether `op` is killed.
    pub fn kills_op(&self, op: &Operator<'_>) -> Option<Killed> {
        OpcodeClass::of(op)
            .filter(|c| self.opcodes.contains(c))
            .map(Killed::Opcode)
    }

    /// Whether host function `f` is killed.
    pub fn kills_host(&self, f: HostFn) -> Option<Killed> {
        self.host_fns.contains(&f).then_some(Killed::HostFn(f))
    }

    /// A 64-bit digest for compilation-cache keys: 0 for the empty set, otherwise the first
    /// 8 bytes of SHA-256 over the sorted codes.
    pub fn digest(&self) -> u64 {
        use sha2::Digest;
        if self.is_empty() {
            return 0;
        }
        let mut h = sha2::Sha256::new();
        for c in &self.opcodes {
            h.update((Killed::Opcode(*c).code()).to_le_bytes());
        }
        for f in &self.host_fns {
            h.update((Killed::HostFn(*f).code()).to_le_bytes());
        }
        let d: [u8; 32] = h.finalize().into();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_le_bytes(b).max(1)
    }

    /// The first killed item `module` uses (imports first, then operators in code order), with
    /// the byte offset of the operator (`None` for an import). Admission of new code fails on it.
    pub fn first_use(&self, module: &AdmittedModule) -> Option<(Killed, Option<usize>)> {
        if self.is_empty() {
            return None;
        }
        if let Some(k) = module.imports.iter().find_map(|(f, _)| self.kills_host(*f)) {
            return Some((k, None));
        }
        if self.opcodes.is_empty() {
            return None;
        }
        for payload in wasmparser::Parser::new(0).parse_all(&module.bytes) {
            let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload else {
                continue;
            };
            let Ok(mut reader) = body.get_operators_reader() else {
                continue;
            };
            while !reader.eof() {
                let Ok((op, offset)) = reader.read_with_offset() else {
                    break;
                };
                if let Some(k) = self.kills_op(&op) {
                    return Some((k, Some(offset as usize)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_for_every_item() {
        for c in OpcodeClass::ALL {
            let k = Killed::Opcode(c);
            assert_eq!(Killed::from_code(k.code()), Some(k));
            assert_eq!(OpcodeClass::by_name(c.name()), Some(c));
        }
        for s in crate::abi::HOST_FUNCTIONS {
            let k = Killed::HostFn(s.func);
            assert_eq!(Killed::from_code(k.code()), Some(k));
        }
        assert_eq!(Killed::from_code(-1), None);
        assert_eq!(Killed::from_code(0x100 + 10_000), None);
    }

    #[test]
    fn digests_separate_sets_and_the_empty_set_is_zero() {
        let mut a = KillSet::default();
        assert_eq!(a.digest(), 0);
        a.insert(Killed::Opcode(OpcodeClass::Division));
        let mut b = KillSet::default();
        b.insert(Killed::HostFn(HostFn::NativeCall));
        assert_ne!(a.digest(), 0);
        assert_ne!(a.digest(), b.digest());
    }
}
