//! Turns a relocatable BPF object (what `clang -target bpf -c` emits) into the two byte images
//! solana-sbpf needs: the text for `Executable::from_text_bytes` and the read-only constants.
//!
//! The only relocation admitted is `R_BPF_64_64` (a 64-bit `lddw` of a `.rodata*` address),
//! patched to point into the constants region. Calls of any kind (bpf-to-bpf or helpers) are
//! refused, which is how "routines use no syscalls" is enforced, as are mutable globals.

use object::{
    Architecture, Object, ObjectKind, ObjectSection, ObjectSymbol, RelocationFlags,
    RelocationTarget, SectionKind,
};
use std::collections::BTreeMap;

/// ELF relocation type of a 64-bit immediate load (`lddw`).
const R_BPF_64_64: u32 = 1;
/// Opcode of `call` (helpers and bpf-to-bpf calls).
const OP_CALL: u8 = 0x85;
/// Opcode of `lddw` (two instruction slots).
const OP_LDDW: u8 = 0x18;
const INSN: usize = 8;

/// What the linker does with `call` instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Refuse them: how the bridge enforces "routines use no syscalls".
    Refuse,
    /// Keep them, so the PCC checker can reject them itself and name the instruction.
    Keep,
}

/// A routine's program, ready for `Executable::from_text_bytes`. The bridge and the PCC
/// checker both use this one linker, so a certificate is checked against exactly the image
/// that runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedImage {
    /// Instructions, entry point at pc 0.
    pub text: Vec<u8>,
    /// Read-only constants, to be mapped at the `constants_vaddr` passed to [`link`].
    pub rodata: Vec<u8>,
}

/// Links `elf` with its constants placed at `constants_vaddr`; `Err` says what is unsupported.
pub fn link(elf: &[u8], constants_vaddr: u64, calls: Calls) -> Result<LinkedImage, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF object: {e}"))?;
    if file.architecture() != Architecture::Bpf || !file.is_little_endian() {
        return Err("not a little-endian BPF object".into());
    }
    if file.kind() != ObjectKind::Relocatable {
        return Err("not a relocatable object (compile with -c)".into());
    }

    let mut text_section = None;
    let mut rodata_bases: BTreeMap<usize, u64> = BTreeMap::new();
    let mut rodata = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        match section.kind() {
            SectionKind::Text if section.size() > 0 => {
                if name != ".text" || text_section.is_some() {
                    return Err(format!("unexpected code section {name:?}: one .text only"));
                }
                text_section = Some(section);
            }
            SectionKind::ReadOnlyData | SectionKind::ReadOnlyString
                if name.starts_with(".rodata") =>
            {
                let align = section.align().max(8);
                let base = (rodata.len() as u64).next_multiple_of(align);
                rodata.resize(base as usize, 0);
                let data = section.data().map_err(|e| format!("{name}: {e}"))?;
                rodata.extend_from_slice(data);
                rodata_bases.insert(section.index().0, base);
            }
            SectionKind::Data | SectionKind::UninitializedData if section.size() > 0 => {
                return Err(format!(
                    "mutable global data in {name:?}: routines must be pure"
                ));
            }
            _ => {}
        }
    }
    let text_section = text_section.ok_or("no .text section")?;
    let mut text = text_section
        .data()
        .map_err(|e| format!(".text: {e}"))?
        .to_vec();
    if text.is_empty() || text.len() % INSN != 0 {
        return Err(".text is not a whole number of instructions".into());
    }

    let entry = file
        .symbols()
        .find(|s| s.name() == Ok("entrypoint"))
        .ok_or("no `entrypoint` symbol")?;
    if entry.section_index() != Some(text_section.index()) || entry.address() != 0 {
        return Err("`entrypoint` must be the first function of .text".into());
    }

    for (offset, reloc) in text_section.relocations() {
        let RelocationFlags::Elf { r_type } = reloc.flags() else {
            return Err("non-ELF relocation".into());
        };
        if r_type != R_BPF_64_64 {
            return Err(format!(
                "unsupported relocation type {r_type} at {offset:#x}"
            ));
        }
        let RelocationTarget::Symbol(sym_index) = reloc.target() else {
            return Err(format!("relocation at {offset:#x} has no symbol"));
        };
        let symbol = file.symbol_by_index(sym_index).map_err(|e| e.to_string())?;
        let base = symbol
            .section_index()
            .and_then(|i| rodata_bases.get(&i.0))
            .ok_or_else(|| format!("relocation at {offset:#x} targets a non-constant section"))?;
        patch_lddw(
            &mut text,
            offset as usize,
            constants_vaddr + base + symbol.address(),
        )?;
    }

    for (pc, insn) in text.chunks_exact(INSN).enumerate() {
        if calls == Calls::Refuse && insn[0] == OP_CALL {
            return Err(format!(
                "call instruction at pc {pc}: routines may not call"
            ));
        }
    }
    Ok(LinkedImage { text, rodata })
}

/// Adds `target` to the 64-bit immediate of the `lddw` at `offset` (the implicit addend is the
/// offset within the section).
fn patch_lddw(text: &mut [u8], offset: usize, target: u64) -> Result<(), String> {
    let slot = text
        .get_mut(offset..offset + 2 * INSN)
        .ok_or_else(|| format!("relocation at {offset:#x} outside .text"))?;
    if slot[0] != OP_LDDW {
        return Err(format!("relocation at {offset:#x} is not on an lddw"));
    }
    let lo = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
    let hi = u32::from_le_bytes([slot[12], slot[13], slot[14], slot[15]]);
    let addend = u64::from(lo) | (u64::from(hi) << 32);
    let value = target.wrapping_add(addend);
    slot[4..8].copy_from_slice(&(value as u32).to_le_bytes());
    slot[12..16].copy_from_slice(&((value >> 32) as u32).to_le_bytes());
    Ok(())
}
