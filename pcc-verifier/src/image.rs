//! The linked image a certificate is about: produced by the bridge's own linker
//! (`keel_ebpf_bridge::link`), so what is checked is byte for byte what the bridge runs.

use keel_ebpf_bridge::sbpf::CONSTANTS_VADDR;
use sha2::{Digest, Sha256};

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

    /// Its instruction slots (`.text` length / 8): what a certificate for it must cover.
    pub fn slots(&self) -> usize {
        self.text.len() / crate::isa::INSN_SIZE
    }
}

/// Links `elf` with the bridge's own linker (calls kept, so the checker can refuse them with
/// the instruction index). Errors: a string naming the unsupported construct.
pub fn link(elf: &[u8]) -> Result<Image, String> {
    let linked =
        keel_ebpf_bridge::link::link(elf, CONSTANTS_VADDR, keel_ebpf_bridge::link::Calls::Keep)?;
    Ok(Image {
        text: linked.text,
        rodata: linked.rodata,
    })
}
