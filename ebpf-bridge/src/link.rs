//! Turns a relocatable BPF object (what `clang -target bpf -c` emits) into the two byte images
//! solana-sbpf needs: the text for `Executable::from_text_bytes` and the read-only constants.
//!
//! The only relocation admitted is `R_BPF_64_64` (a 64-bit `lddw` of a `.rodata*` address),
//! patched to point into the constants region. Calls of any kind (bpf-to-bpf or helpers) are
//! refused, which is how "routines use no syscalls" is enforced, as are mutable globals.
//!
//! The object is untrusted (a governance proposal carries one): `.text` and the constants are
//! capped ([`MAX_TEXT`], [`MAX_RODATA`]), section alignments must be powers of two up to a page,
//! and every offset is checked before memory is reserved or a byte is patched.

// An object is untrusted input (a governance proposal carries one): no unchecked arithmetic or
// indexing on what it declares.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use object::elf::{SHT_CREL, SHT_REL, SHT_RELA};
use object::read::elf::{ElfFile64, SectionHeader};
use object::{
    Architecture, LittleEndian, Object, ObjectKind, ObjectSection, ObjectSymbol, RelocationFlags,
    RelocationTarget, SectionIndex, SectionKind,
};
use std::collections::BTreeMap;

/// ELF relocation type of a 64-bit immediate load (`lddw`).
const R_BPF_64_64: u32 = 1;
/// Opcode of `call` (helpers and bpf-to-bpf calls).
const OP_CALL: u8 = 0x85;
/// Opcode of `lddw` (two instruction slots).
const OP_LDDW: u8 = 0x18;
const INSN: usize = 8;

/// Largest `.text` accepted, in bytes: 64 Ki instruction slots, over 5x the largest built-in
/// routine (sha256, 11.6 Ki slots). It also bounds the PCC checker's work per routine.
pub const MAX_TEXT: usize = 512 * 1024;
/// Largest total size of the constants (all `.rodata*` sections with their padding), in bytes.
pub const MAX_RODATA: usize = 256 * 1024;
/// Largest section alignment accepted (a page); alignments must be powers of two (0 = 1).
pub const MAX_ALIGN: u64 = 4096;

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

/// Links `elf` with its constants placed at `constants_vaddr`. Deterministic; work and memory
/// are bounded by the object's size and [`MAX_TEXT`]/[`MAX_RODATA`]. Errors: a string naming
/// what is unsupported or malformed (a size over the bounds, an alignment that is not a power
/// of two up to [`MAX_ALIGN`], a relocation section this linker cannot read, a call when
/// `calls` refuses them, ...).
pub fn link(elf: &[u8], constants_vaddr: u64, calls: Calls) -> Result<LinkedImage, String> {
    let file = ElfFile64::<LittleEndian>::parse(elf)
        .map_err(|e| format!("not a 64-bit little-endian ELF object: {e}"))?;
    if file.architecture() != Architecture::Bpf {
        return Err("not a BPF object".into());
    }
    if file.kind() != ObjectKind::Relocatable {
        return Err("not a relocatable object (compile with -c)".into());
    }
    let (text_section, constants) = sections(&file)?;
    let mut text = text_section
        .data()
        .map_err(|e| format!(".text: {e}"))?
        .to_vec();
    if text.is_empty() || !text.len().is_multiple_of(INSN) {
        return Err(".text is not a whole number of instructions".into());
    }
    if text.len() > MAX_TEXT {
        return Err(format!(
            ".text is {} bytes, more than the {MAX_TEXT} a routine may have",
            text.len()
        ));
    }

    let entry = file
        .symbols()
        .find(|s| s.name() == Ok("entrypoint"))
        .ok_or("no `entrypoint` symbol")?;
    if entry.section_index() != Some(text_section.index()) || entry.address() != 0 {
        return Err("`entrypoint` must be the first function of .text".into());
    }

    check_relocation_sections(&file, text_section.index(), &constants.sections)?;
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
        let &(base, len) = symbol
            .section_index()
            .and_then(|i| constants.sections.get(&i.0))
            .ok_or_else(|| format!("relocation at {offset:#x} targets a non-constant section"))?;
        if symbol.address() > len {
            return Err(format!(
                "relocation at {offset:#x} targets past the end of its constants"
            ));
        }
        let target = constants_vaddr
            .checked_add(base)
            .and_then(|a| a.checked_add(symbol.address()))
            .ok_or_else(|| format!("relocation at {offset:#x}: address overflows"))?;
        patch_lddw(&mut text, offset, target)?;
    }

    for (pc, insn) in text.chunks_exact(INSN).enumerate() {
        if calls == Calls::Refuse && insn.first() == Some(&OP_CALL) {
            return Err(format!(
                "call instruction at pc {pc}: routines may not call"
            ));
        }
    }
    Ok(LinkedImage {
        text,
        rodata: constants.bytes,
    })
}

type Elf<'a> = ElfFile64<'a, LittleEndian>;
type Section<'a, 'f> = object::read::elf::ElfSection64<'a, 'f, LittleEndian>;

/// The constants: the `.rodata*` sections laid out in section order, each aligned.
struct Constants {
    bytes: Vec<u8>,
    /// Section index -> (offset in `bytes`, length).
    sections: BTreeMap<usize, (u64, u64)>,
}

/// Finds the one `.text` section and lays out the constants. Errors: a second code section,
/// mutable data, a bad alignment, constants over [`MAX_RODATA`], no `.text`.
fn sections<'a, 'f>(file: &'f Elf<'a>) -> Result<(Section<'a, 'f>, Constants), String> {
    let mut text_section = None;
    let mut constants = Constants {
        bytes: Vec::new(),
        sections: BTreeMap::new(),
    };
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
                let data = section.data().map_err(|e| format!("{name}: {e}"))?;
                let base = constants.place(name, section.align(), data)?;
                constants.sections.insert(section.index().0, base);
            }
            SectionKind::Data | SectionKind::UninitializedData if section.size() > 0 => {
                return Err(format!(
                    "mutable global data in {name:?}: routines must be pure"
                ));
            }
            _ => {}
        }
    }
    Ok((text_section.ok_or("no .text section")?, constants))
}

impl Constants {
    /// Appends `data` at the next multiple of `align` (at least 8); returns (offset, length).
    /// The alignment and the total are checked before any byte is reserved.
    fn place(&mut self, name: &str, align: u64, data: &[u8]) -> Result<(u64, u64), String> {
        let align = align.max(1);
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(format!(
                "{name}: alignment {align} is not a power of two up to {MAX_ALIGN}"
            ));
        }
        let too_big = || format!("constants exceed {MAX_RODATA} bytes (at {name})");
        let base = self
            .bytes
            .len()
            .checked_next_multiple_of(usize::try_from(align.max(8)).map_err(|_| too_big())?)
            .ok_or_else(too_big)?;
        let end = base.checked_add(data.len()).ok_or_else(too_big)?;
        if end > MAX_RODATA {
            return Err(too_big());
        }
        self.bytes.resize(base, 0);
        self.bytes.extend_from_slice(data);
        Ok((base as u64, data.len() as u64))
    }
}

/// Every relocation section that applies to the code or the constants must be one this linker
/// reads: `.text`'s are well-formed `SHT_REL` (implicit addends, what clang emits for BPF);
/// constants take none (a relocated constant would keep an unpatched address). Sections that
/// relocate anything else (debug info, BTF) do not reach the image and are ignored.
fn check_relocation_sections(
    file: &Elf<'_>,
    text: SectionIndex,
    constants: &BTreeMap<usize, (u64, u64)>,
) -> Result<(), String> {
    let endian = file.endian();
    for (i, header) in file.elf_section_table().iter().enumerate() {
        let kind = header.sh_type(endian);
        if ![SHT_REL, SHT_RELA, SHT_CREL].contains(&kind) {
            continue;
        }
        let target = usize::try_from(header.sh_info(endian)).unwrap_or(usize::MAX);
        if constants.contains_key(&target) {
            return Err(format!(
                "section {i}: relocations of constants are not supported"
            ));
        }
        if target != text.0 {
            continue;
        }
        if kind != SHT_REL {
            return Err(format!(
                "section {i}: .text relocations must be SHT_REL (type {kind:#x})"
            ));
        }
        header
            .rel(endian, file.data())
            .map_err(|e| format!("section {i}: unreadable .text relocations: {e}"))?;
    }
    Ok(())
}

/// Adds `target` to the 64-bit immediate of the `lddw` at `offset` (the implicit addend is the
/// offset within the section). Errors: `offset` is not the start of an `lddw` inside `text`.
fn patch_lddw(text: &mut [u8], offset: u64, target: u64) -> Result<(), String> {
    let not_lddw = || format!("relocation at {offset:#x} is not on an lddw of .text");
    let at = usize::try_from(offset)
        .ok()
        .filter(|o| o.is_multiple_of(INSN))
        .ok_or_else(not_lddw)?;
    let slot: &mut [u8; LDDW] = text
        .get_mut(at..)
        .and_then(|rest| rest.first_chunk_mut())
        .ok_or_else(not_lddw)?;
    let [op, _, _, _, a0, a1, a2, a3, _, _, _, _, b0, b1, b2, b3] = *slot;
    if op != OP_LDDW {
        return Err(not_lddw());
    }
    let addend = u64::from_le_bytes([a0, a1, a2, a3, b0, b1, b2, b3]);
    // Two's complement: a negative implicit addend is a wrapped one.
    let [v0, v1, v2, v3, v4, v5, v6, v7] = target.wrapping_add(addend).to_le_bytes();
    let [_, _, _, _, a0, a1, a2, a3, _, _, _, _, b0, b1, b2, b3] = slot;
    (*a0, *a1, *a2, *a3, *b0, *b1, *b2, *b3) = (v0, v1, v2, v3, v4, v5, v6, v7);
    Ok(())
}

/// Bytes of an `lddw` (two instruction slots).
const LDDW: usize = 16;
