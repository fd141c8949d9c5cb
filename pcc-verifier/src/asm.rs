//! A minimal SBPF v0 assembler for hand-written test programs (the safe and unsafe corpora).

/// Encodes one 8-byte instruction.
pub fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = op;
    b[1] = (src << 4) | (dst & 0x0f);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// `dst = imm` (64-bit, sign-extended).
pub fn mov_imm(dst: u8, imm: i32) -> [u8; 8] {
    insn(0xb7, dst, 0, 0, imm)
}

/// `dst = src`.
pub fn mov_reg(dst: u8, src: u8) -> [u8; 8] {
    insn(0xbf, dst, src, 0, 0)
}

/// `dst += imm`.
pub fn add_imm(dst: u8, imm: i32) -> [u8; 8] {
    insn(0x07, dst, 0, 0, imm)
}

/// `dst += src`.
pub fn add_reg(dst: u8, src: u8) -> [u8; 8] {
    insn(0x0f, dst, src, 0, 0)
}

/// `dst ^= src`.
pub fn xor_reg(dst: u8, src: u8) -> [u8; 8] {
    insn(0xaf, dst, src, 0, 0)
}

/// `dst /= src` (unsigned).
pub fn div_reg(dst: u8, src: u8) -> [u8; 8] {
    insn(0x3f, dst, src, 0, 0)
}

/// `dst = *(u8 *)(src + off)`.
pub fn ldxb(dst: u8, src: u8, off: i16) -> [u8; 8] {
    insn(0x71, dst, src, off, 0)
}

/// `dst = *(u64 *)(src + off)`.
pub fn ldxdw(dst: u8, src: u8, off: i16) -> [u8; 8] {
    insn(0x79, dst, src, off, 0)
}

/// `*(u8 *)(dst + off) = src`.
pub fn stxb(dst: u8, off: i16, src: u8) -> [u8; 8] {
    insn(0x73, dst, src, off, 0)
}

/// `*(u64 *)(dst + off) = src`.
pub fn stxdw(dst: u8, off: i16, src: u8) -> [u8; 8] {
    insn(0x7b, dst, src, off, 0)
}

/// `if dst >= src goto +off`.
pub fn jge_reg(dst: u8, src: u8, off: i16) -> [u8; 8] {
    insn(0x3d, dst, src, off, 0)
}

/// `if dst == imm goto +off`.
pub fn jeq_imm(dst: u8, imm: i32, off: i16) -> [u8; 8] {
    insn(0x15, dst, 0, off, imm)
}

/// `goto +off`.
pub fn ja(off: i16) -> [u8; 8] {
    insn(0x05, 0, 0, off, 0)
}

/// `call imm` (a syscall; never admitted).
pub fn call(imm: i32) -> [u8; 8] {
    insn(0x85, 0, 0, 0, imm)
}

/// `exit`.
pub fn exit() -> [u8; 8] {
    insn(0x95, 0, 0, 0, 0)
}

/// Concatenates instructions into text.
pub fn text(insns: &[[u8; 8]]) -> Vec<u8> {
    insns.concat()
}
