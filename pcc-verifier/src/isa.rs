//! The instruction set the checker admits: SBPF v0 without calls, decoded from linked text.
//!
//! One table ([`allowed`]) says which opcodes a routine may use; everything else (calls,
//! `callx`, 32-bit jumps, SBPF v2 encodings) is refused before any analysis.

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;

/// Opcode of `lddw` (occupies two slots).
pub const OP_LDDW: u8 = 0x18;
/// Opcode of `call imm` (helpers / syscalls).
pub const OP_CALL: u8 = 0x85;
/// Opcode of `exit`.
pub const OP_EXIT: u8 = 0x95;
/// Opcode of `ja` (unconditional jump).
pub const OP_JA: u8 = 0x05;

/// One decoded instruction. `imm` is sign-extended to 64 bits, as solana-sbpf does; for
/// `lddw` it is the full 64-bit immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Raw opcode byte.
    pub op: u8,
    /// Destination register (0..=10 once validated).
    pub dst: u8,
    /// Source register (0..=10 once validated).
    pub src: u8,
    /// Signed 16-bit offset (memory displacement or jump distance).
    pub off: i16,
    /// Immediate, sign-extended.
    pub imm: i64,
}

impl Insn {
    /// Instruction class (low three bits).
    pub fn class(&self) -> u8 {
        self.op & 0x07
    }

    /// Whether the source operand is a register (`BPF_X`) rather than the immediate.
    pub fn uses_src_reg(&self) -> bool {
        self.op & 0x08 != 0
    }
}

/// A decoded program: one entry per 8-byte slot; the second slot of an `lddw` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// `slots[pc]` is the instruction starting at `pc`, `None` for an `lddw` tail.
    pub slots: Vec<Option<Insn>>,
}

/// Why text does not decode to an admissible program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The text is empty or not a whole number of slots.
    #[error("text of {0} bytes is not a non-empty whole number of 8-byte instructions")]
    BadLength(usize),
    /// An `lddw` in the last slot.
    #[error("pc {0}: lddw without its second slot")]
    TruncatedLddw(usize),
    /// The second slot of an `lddw` does not have opcode 0 (solana-sbpf refuses it).
    #[error("pc {0}: lddw whose second slot has a non-zero opcode")]
    IncompleteLddw(usize),
}

/// The slot a jump at `pc` with offset `off` lands on, `None` if before the start.
pub fn jump_target(pc: usize, off: i16) -> Option<usize> {
    let t = i64::try_from(pc)
        .ok()?
        .checked_add(1)?
        .checked_add(i64::from(off))?;
    usize::try_from(t).ok()
}

/// Decodes `text` slot by slot. Does not judge opcodes; [`allowed`] does.
pub fn decode(text: &[u8]) -> Result<Program, DecodeError> {
    if text.is_empty() || !text.len().is_multiple_of(INSN_SIZE) {
        return Err(DecodeError::BadLength(text.len()));
    }
    let (raw, _) = text.as_chunks::<INSN_SIZE>();
    let mut slots = Vec::with_capacity(raw.len());
    let mut slots_iter = raw.iter().enumerate();
    while let Some((pc, b)) = slots_iter.next() {
        let imm32 = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let mut insn = Insn {
            op: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i64::from(imm32),
        };
        if insn.op == OP_LDDW {
            let (_, next) = slots_iter.next().ok_or(DecodeError::TruncatedLddw(pc))?;
            if next[0] != 0 {
                return Err(DecodeError::IncompleteLddw(pc));
            }
            let lo = u64::from(u32::from_le_bytes([b[4], b[5], b[6], b[7]]));
            let hi = u64::from(u32::from_le_bytes([next[4], next[5], next[6], next[7]]));
            insn.imm = (lo | hi.wrapping_shl(32)) as i64;
            slots.push(Some(insn));
            slots.push(None);
        } else {
            slots.push(Some(insn));
        }
    }
    Ok(Program { slots })
}

/// What an admissible opcode does, for the transfer function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// 64-bit ALU (`class 0x07`).
    Alu64,
    /// 32-bit ALU (`class 0x04`).
    Alu32,
    /// `ldx` of the given byte width.
    Load(u8),
    /// `st` (immediate) of the given byte width.
    StoreImm(u8),
    /// `stx` (register) of the given byte width.
    StoreReg(u8),
    /// `lddw`.
    Lddw,
    /// `ja`.
    Ja,
    /// A 64-bit conditional jump.
    Jump,
    /// `exit`.
    Exit,
}

/// The admitted opcodes of SBPF v0 (no calls, no 32-bit jumps); `None` means forbidden.
pub fn allowed(op: u8) -> Option<OpKind> {
    let width = |size_bits: u8| match size_bits {
        0x00 => Some(4),
        0x08 => Some(2),
        0x10 => Some(1),
        0x18 => Some(8),
        _ => None,
    };
    match op & 0x07 {
        0x07 | 0x04 => {
            let code = op & 0xf0;
            let alu = if op & 0x07 == 0x07 {
                OpKind::Alu64
            } else {
                OpKind::Alu32
            };
            match code {
                // add sub mul div or and lsh rsh neg mod xor mov arsh
                0x00 | 0x10 | 0x20 | 0x30 | 0x40 | 0x50 | 0x60 | 0x70 | 0x90 | 0xa0 | 0xb0
                | 0xc0 => Some(alu),
                0x80 if op & 0x08 == 0 => Some(alu), // neg has no register form
                0xd0 if op == 0xd4 || op == 0xdc => Some(OpKind::Alu32), // le / be
                _ => None,
            }
        }
        0x01 if op & 0xe0 == 0x60 => width(op & 0x18).map(OpKind::Load),
        0x02 if op & 0xe0 == 0x60 => width(op & 0x18).map(OpKind::StoreImm),
        0x03 if op & 0xe0 == 0x60 => width(op & 0x18).map(OpKind::StoreReg),
        0x00 if op == OP_LDDW => Some(OpKind::Lddw),
        0x05 => match op {
            OP_JA => Some(OpKind::Ja),
            OP_EXIT => Some(OpKind::Exit),
            // jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle, imm and reg forms
            _ => match op & 0xf0 {
                0x10 | 0x20 | 0x30 | 0x40 | 0x50 | 0x60 | 0x70 | 0xa0 | 0xb0 | 0xc0 | 0xd0 => {
                    Some(OpKind::Jump)
                }
                _ => None,
            },
        },
        _ => None,
    }
}

/// Why an instruction fails solana-sbpf's load-time `RequisiteVerifier` (SBPF v0) or the
/// allowed set: the checker refuses every program the bridge's loader would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inadmissible {
    /// A `call` (syscall, helper or `callx`).
    Call,
    /// An opcode outside [`allowed`], or operands sbpf's verifier rejects (registers, shift
    /// amounts, zero immediate divisors, byte-swap widths).
    Encoding(String),
    /// A jump outside the program or into the second slot of an `lddw`.
    Jump(String),
}

/// Checks one instruction the way solana-sbpf's `RequisiteVerifier` does for SBPF v0 (see
/// `verifier.rs` of solana-sbpf 0.26), plus the allowed set. Applies to every instruction,
/// reachable or not, because the loader verifies them all.
pub fn admissible(prog: &Program, pc: usize, insn: &Insn) -> Result<OpKind, Inadmissible> {
    let kind = allowed(insn.op).ok_or_else(|| {
        if insn.op == OP_CALL || insn.op == 0x8d {
            Inadmissible::Call
        } else {
            Inadmissible::Encoding(format!("opcode {:#04x} (imm {})", insn.op, insn.imm))
        }
    })?;
    let store = matches!(kind, OpKind::StoreImm(_) | OpKind::StoreReg(_));
    if insn.src > 10 || insn.dst > 10 || (insn.dst == 10 && !store) {
        return Err(Inadmissible::Encoding(format!(
            "opcode {:#04x} with dst r{} / src r{} (r10 may only be a store base)",
            insn.op, insn.dst, insn.src
        )));
    }
    let alu = matches!(kind, OpKind::Alu64 | OpKind::Alu32);
    let bits = if kind == OpKind::Alu64 { 64 } else { 32 };
    let code = insn.op & 0xf0;
    // le/be carry their width in the immediate whatever their source bit says.
    let bad_imm = alu
        && match code {
            0xd0 => !matches!(insn.imm, 16 | 32 | 64),
            _ if insn.uses_src_reg() => false,
            0x60 | 0x70 | 0xc0 => !(0..bits).contains(&insn.imm),
            0x30 | 0x90 => insn.imm == 0,
            _ => false,
        };
    if bad_imm {
        return Err(Inadmissible::Encoding(format!(
            "opcode {:#04x} with immediate {}",
            insn.op, insn.imm
        )));
    }
    if matches!(kind, OpKind::Ja | OpKind::Jump) {
        let t = jump_target(pc, insn.off);
        if !t.is_some_and(|t| matches!(prog.slots.get(t), Some(Some(_)))) {
            return Err(Inadmissible::Jump(format!(
                "jump by {} from {pc} is outside the program or inside an lddw",
                insn.off
            )));
        }
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)] // tests index: a failure is the assertion
    use super::*;

    #[test]
    fn calls_and_32_bit_jumps_are_not_in_the_allowed_set() {
        assert_eq!(allowed(OP_CALL), None);
        assert_eq!(allowed(0x8d), None); // callx
        assert_eq!(allowed(0x16), None); // jeq32 imm
        assert_eq!(allowed(0x87), Some(OpKind::Alu64)); // neg64
        assert_eq!(allowed(0x8f), None); // neg with a register operand does not exist
        assert_eq!(allowed(0x71), Some(OpKind::Load(1)));
        assert_eq!(allowed(0x7b), Some(OpKind::StoreReg(8)));
        assert_eq!(allowed(OP_EXIT), Some(OpKind::Exit));
    }

    #[test]
    fn lddw_takes_two_slots_and_a_64_bit_immediate() {
        let mut text = vec![0x18, 0x01, 0, 0, 0x78, 0x56, 0x34, 0x12];
        text.extend_from_slice(&[0, 0, 0, 0, 0x01, 0, 0, 0]);
        text.extend_from_slice(&[OP_EXIT, 0, 0, 0, 0, 0, 0, 0]);
        let p = decode(&text).unwrap();
        assert_eq!(p.slots.len(), 3);
        assert_eq!(p.slots[0].unwrap().imm, 0x1_1234_5678);
        assert!(p.slots[1].is_none());
    }

    fn one(insn: [u8; 8]) -> Result<OpKind, Inadmissible> {
        let mut text = insn.to_vec();
        text.extend_from_slice(&[OP_EXIT, 0, 0, 0, 0, 0, 0, 0]);
        let p = decode(&text).unwrap();
        admissible(&p, 0, &p.slots[0].unwrap())
    }

    #[test]
    fn encodings_sbpf_refuses_are_inadmissible() {
        use crate::asm::insn;
        // exit / jumps / loads naming r10 as destination (soundness campaign seed 0x6b65656c).
        assert!(one(insn(OP_EXIT, 10, 0, 0, 0)).is_err());
        assert!(one(insn(0x15, 10, 0, 0, 0)).is_err());
        assert!(one(insn(0x79, 10, 1, 0, 0)).is_err());
        assert!(one(insn(0x7b, 10, 1, -8, 0)).is_ok()); // a store through r10 is fine
        assert!(one(insn(0x67, 1, 0, 0, 64)).is_err()); // lsh64 by 64
        assert!(one(insn(0x64, 1, 0, 0, 32)).is_err()); // lsh32 by 32
        assert!(one(insn(0xc7, 1, 0, 0, -1)).is_err()); // arsh64 by -1
        assert!(one(insn(0x37, 1, 0, 0, 0)).is_err()); // div64 by immediate 0
        assert!(one(insn(0x94, 1, 0, 0, 0)).is_err()); // mod32 by immediate 0
        assert!(one(insn(0xdc, 1, 0, 0, 8)).is_err()); // be8
        assert!(one(insn(0x05, 0, 0, 5, 0)).is_err()); // ja out of the program
        assert!(one(insn(0x8d, 0, 0, 0, 1)).is_err()); // callx
        assert!(one(insn(0x67, 1, 0, 0, 63)).is_ok());
    }

    #[test]
    fn an_lddw_tail_with_an_opcode_does_not_decode() {
        let mut text = vec![0x18, 0x01, 0, 0, 0, 0, 0, 0];
        text.extend_from_slice(&[0x07, 0, 0, 0, 0, 0, 0, 0]);
        text.extend_from_slice(&[OP_EXIT, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode(&text), Err(DecodeError::IncompleteLddw(0)));
    }
}
