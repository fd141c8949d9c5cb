//! Linking a relocatable BPF object into the text and constants solana-sbpf runs, exactly as
//! `keel-ebpf-bridge` does (`link.rs` there): one `.text` with `entrypoint` at 0, `.rodata*`
//! sections concatenated at 8-byte alignment and mapped at the bridge's constants address,
//! `R_BPF_64_64` relocations on `lddw` only, no mutable globals.

use keel_ebpf_bridge::sbpf::CONSTANTS_VADDR;
use object::{
    Architecture, Object, ObjectKind, ObjectSection, ObjectSymbol, RelocationFlags,
    RelocationTarget, SectionKind,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const R_BPF_64_64: u32 = 1;
const OP_LDDW: u8 = 0x18;

/// A linked routine: what the checker reasons about and solana-sbpf executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Instructions, entry at pc 0.
    pub text: Vec<u8>,
    /// Constants, mapped at [`CONSTANTS_VADDR`].
    pub rodata: Vec<u8>,
}

impl Image {
    /// sha256(text || rodata), the program identity a certificate is bound to.
    pub fn sha256(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.text.len() as u64).to_le_bytes());
        h.update(&self.text);
        h.update(&self.rodata);
        h.finalize().into()
    }
}

/// Links `elf`. Errors: a string naming the unsupported construct.
pub fn link(elf: &[u8]) -> Result<Image, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF object: {e}"))?;
    if file.architecture() != Architecture::Bpf || !file.is_little_endian() {
        return Err("not a little-endian BPF object".into());
    }
    if file.kind() != ObjectKind::Relocatable {
        return Err("not a relocatable object".into());
    }
    let mut text_section = None;
    let mut bases: BTreeMap<usize, u64> = BTreeMap::new();
    let mut rodata = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        match section.kind() {
            SectionKind::Text if section.size() > 0 => {
                if name != ".text" || text_section.is_some() {
                    return Err(format!("unexpected code section {name:?}"));
                }
                text_section = Some(section);
            }
            SectionKind::ReadOnlyData | SectionKind::ReadOnlyString
                if name.starts_with(".rodata") =>
            {
                let base = (rodata.len() as u64).next_multiple_of(section.align().max(8));
                rodata.resize(base as usize, 0);
                rodata.extend_from_slice(section.data().map_err(|e| format!("{name}: {e}"))?);
                bases.insert(section.index().0, base);
            }
            SectionKind::Data | SectionKind::UninitializedData if section.size() > 0 => {
                return Err(format!("mutable global data in {name:?}"));
            }
            _ => {}
        }
    }
    let text_section = text_section.ok_or("no .text section")?;
    let mut text = text_section.data().map_err(|e| e.to_string())?.to_vec();
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
        let RelocationTarget::Symbol(index) = reloc.target() else {
            return Err(format!("relocation at {offset:#x} has no symbol"));
        };
        let symbol = file.symbol_by_index(index).map_err(|e| e.to_string())?;
        let base = symbol
            .section_index()
            .and_then(|i| bases.get(&i.0))
            .filter(|_| r_type == R_BPF_64_64)
            .ok_or_else(|| format!("unsupported relocation at {offset:#x}"))?;
        let at = offset as usize;
        let slot = text
            .get_mut(at..at + 16)
            .filter(|s| s[0] == OP_LDDW)
            .ok_or_else(|| format!("relocation at {offset:#x} is not on an lddw"))?;
        let lo = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
        let hi = u32::from_le_bytes([slot[12], slot[13], slot[14], slot[15]]);
        let addend = u64::from(lo) | (u64::from(hi) << 32);
        let value = (CONSTANTS_VADDR + base + symbol.address()).wrapping_add(addend);
        slot[4..8].copy_from_slice(&(value as u32).to_le_bytes());
        slot[12..16].copy_from_slice(&((value >> 32) as u32).to_le_bytes());
    }
    Ok(Image { text, rodata })
}
