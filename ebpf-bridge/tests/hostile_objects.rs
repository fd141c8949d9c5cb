//! Hostile objects: a real routine object with its ELF headers patched is refused by the linker
//! with an error, before any large allocation and without a panic.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests unwrap and index: a failure is the assertion

use keel_ebpf_bridge::link::{Calls, MAX_RODATA, MAX_TEXT, link};
use keel_ebpf_bridge::sbpf::CONSTANTS_VADDR;
use keel_ebpf_bridge::{BridgeError, KECCAK256, Registry, Routine, sbpf_object};

/// Section header fields (ELF64): byte offset within a header.
const SH_TYPE: usize = 4;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SH_INFO: usize = 44;
const SH_ADDRALIGN: usize = 48;

fn u16_at(elf: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()))
}

fn u64_at(elf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(elf[at..at + 8].try_into().unwrap())
}

fn put_u64(elf: &mut [u8], at: usize, v: u64) {
    elf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(elf: &mut [u8], at: usize, v: u32) {
    elf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// File offset of the header of the section called `name`.
fn header(elf: &[u8], name: &str) -> usize {
    let (shoff, shentsize, shnum) = (
        u64_at(elf, 0x28) as usize,
        u16_at(elf, 0x3a),
        u16_at(elf, 0x3c),
    );
    let names = u64_at(elf, shoff + u16_at(elf, 0x3e) * shentsize + SH_OFFSET) as usize;
    (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|&h| {
            let at = names + u32::from_le_bytes(elf[h..h + 4].try_into().unwrap()) as usize;
            elf[at..].split(|&b| b == 0).next() == Some(name.as_bytes())
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// Sets a 64-bit field of the header of section `name`.
fn set_u64(elf: &mut [u8], name: &str, field: usize, v: u64) {
    let h = header(elf, name);
    put_u64(elf, h + field, v);
}

/// Sets a 32-bit field of the header of section `name`.
fn set_u32(elf: &mut [u8], name: &str, field: usize, v: u32) {
    let h = header(elf, name);
    put_u32(elf, h + field, v);
}

fn keccak() -> Vec<u8> {
    sbpf_object("keccak256").unwrap().to_vec()
}

fn sha256() -> Vec<u8> {
    sbpf_object("sha256").unwrap().to_vec()
}

fn refused(elf: &[u8], expect: &str) {
    match link(elf, CONSTANTS_VADDR, Calls::Refuse) {
        Ok(_) => panic!("linked; expected a refusal mentioning {expect:?}"),
        Err(e) => assert!(e.contains(expect), "{e:?} does not mention {expect:?}"),
    }
}

/// Points section `name` at `len` zero bytes appended to the file.
fn grow(elf: &mut Vec<u8>, name: &str, len: usize) {
    let h = header(elf, name);
    let end = elf.len() as u64;
    put_u64(elf, h + SH_OFFSET, end);
    put_u64(elf, h + SH_SIZE, len as u64);
    elf.resize(elf.len() + len, 0);
}

#[test]
fn the_unpatched_objects_link() {
    for elf in [keccak(), sha256()] {
        link(&elf, CONSTANTS_VADDR, Calls::Refuse).unwrap();
    }
}

#[test]
fn a_constants_alignment_of_2_pow_40_is_refused_before_any_allocation() {
    let mut elf = keccak();
    set_u64(&mut elf, ".rodata", SH_ADDRALIGN, 1 << 40);
    refused(&elf, "alignment");
    // The bridge's loader reports it as a typed load error.
    let manifest = Registry::builtin()
        .unwrap()
        .get(KECCAK256)
        .unwrap()
        .manifest()
        .clone();
    assert!(matches!(
        Routine::from_objects(manifest, &elf, None),
        Err(BridgeError::Load { .. })
    ));
}

#[test]
fn a_constants_alignment_that_is_not_a_power_of_two_is_refused() {
    let mut elf = keccak();
    set_u64(&mut elf, ".rodata", SH_ADDRALIGN, 24);
    refused(&elf, "alignment");
}

#[test]
fn an_unreadable_text_relocation_section_is_an_error_not_no_relocations() {
    let mut elf = keccak();
    set_u64(&mut elf, ".rel.text", SH_OFFSET, 0xffff_ffff_0000);
    refused(&elf, "unreadable .text relocations");
}

#[test]
fn a_text_relocation_section_with_a_partial_entry_is_refused() {
    let mut elf = keccak();
    set_u64(&mut elf, ".rel.text", SH_SIZE, 0x18);
    refused(&elf, "unreadable .text relocations");
}

#[test]
fn relocations_with_explicit_addends_are_refused() {
    let mut elf = keccak();
    set_u32(&mut elf, ".rel.text", SH_TYPE, 4); // SHT_RELA
    refused(&elf, "SHT_REL");
}

#[test]
fn relocations_of_the_constants_are_refused_not_ignored() {
    let mut elf = keccak();
    let rodata_index = (header(&elf, ".rodata") - u64_at(&elf, 0x28) as usize) / u16_at(&elf, 0x3a);
    set_u32(&mut elf, ".rel.text", SH_INFO, rodata_index as u32);
    refused(&elf, "relocations of constants");
}

#[test]
fn a_relocation_offset_at_the_end_of_the_address_space_is_refused_without_overflow() {
    for offset in [u64::MAX - 7, u64::MAX, 0x10b4] {
        let mut elf = keccak();
        let rel = u64_at(&elf, header(&elf, ".rel.text") + SH_OFFSET) as usize;
        put_u64(&mut elf, rel, offset);
        refused(&elf, "not on an lddw");
    }
}

#[test]
fn code_over_the_size_bound_is_refused() {
    let mut elf = sha256();
    grow(&mut elf, ".text", MAX_TEXT + 8);
    refused(&elf, ".text is");
    let mut elf = sha256();
    grow(&mut elf, ".text", MAX_TEXT);
    link(&elf, CONSTANTS_VADDR, Calls::Keep).unwrap();
}

#[test]
fn constants_over_the_size_bound_are_refused() {
    let mut elf = keccak();
    grow(&mut elf, ".rodata", MAX_RODATA + 1);
    refused(&elf, "constants exceed");
}
