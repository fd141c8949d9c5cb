//! Runs a linked image on solana-sbpf's interpreter with the bridge's memory layout.

#![allow(clippy::unwrap_used)] // test helpers may unwrap
#![allow(dead_code)]

use keel_ebpf_bridge::sbpf::{CONSTANTS_VADDR, INPUT_VADDR, OUTPUT_VADDR, STACK_BYTES};
use keel_pcc::Image;
use solana_sbpf::{
    aligned_memory::AlignedMemory,
    ebpf,
    elf::Executable,
    error::ProgramResult,
    memory_region::{MemoryMapping, MemoryRegion},
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    vm::{CallFrame, Config, ContextObject, EbpfVm, ExecutionMode},
};
use std::ptr::NonNull;
use std::sync::Arc;

struct Meter {
    remaining: u64,
    mapping: MemoryMapping,
}

impl ContextObject for Meter {
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }
    fn get_remaining(&self) -> u64 {
        self.remaining
    }
    fn active_mapping_ptr(&mut self) -> NonNull<MemoryMapping> {
        NonNull::from_mut(&mut self.mapping)
    }
}

fn config() -> Config {
    Config {
        max_call_depth: 1,
        stack_frame_size: STACK_BYTES,
        enable_stack_frame_gaps: false,
        enable_instruction_meter: true,
        reject_broken_elfs: true,
        enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V0,
        ..Config::default()
    }
}

/// Outcome of one run: `Ok((status, instructions))` or the VM error's text.
pub type Outcome = Result<(u64, u64), String>;

/// Runs `image` on `input` with an output of `out_len` bytes and `budget` instructions.
/// `Err` if the program does not load (solana-sbpf refuses its text).
pub fn run(image: &Image, input: &[u8], out_len: usize, budget: u64) -> Result<Outcome, String> {
    let loader = Arc::new(BuiltinProgram::<Meter>::new_loader(config()));
    let exe = Executable::from_text_bytes(
        &image.text,
        Arc::clone(&loader),
        SBPFVersion::V0,
        FunctionRegistry::default(),
    )
    .map_err(|e| e.to_string())?;
    let cfg = exe.get_config();
    let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(cfg.stack_size());
    let stack_len = stack.len();
    let mut output = vec![0u8; out_len];
    let regions = vec![
        MemoryRegion::new(image.rodata.as_slice() as *const [u8], CONSTANTS_VADDR),
        exe.get_ro_region(),
        MemoryRegion::new(stack.as_slice_mut() as *mut [u8], ebpf::MM_STACK_START),
        MemoryRegion::new(input as *const [u8], INPUT_VADDR),
        MemoryRegion::new(output.as_mut_slice() as *mut [u8], OUTPUT_VADDR),
    ];
    // SAFETY: every region's memory outlives `meter`, dropped at the end of this function.
    let mapping =
        unsafe { MemoryMapping::new(regions, cfg, SBPFVersion::V0) }.map_err(|e| e.to_string())?;
    let mut meter = Meter {
        remaining: budget,
        mapping,
    };
    let mut vm = EbpfVm::new(Arc::clone(&loader), SBPFVersion::V0, &mut meter, stack_len);
    vm.registers[1] = INPUT_VADDR;
    vm.registers[2] = input.len() as u64;
    vm.registers[3] = OUTPUT_VADDR;
    vm.registers[4] = out_len as u64;
    let mut frames = vec![CallFrame::default(); cfg.max_call_depth];
    let (count, result) = vm.execute_program(&exe, &mut ExecutionMode::Interpreted, &mut frames);
    Ok(match result {
        ProgramResult::Ok(status) => Ok((status, count)),
        ProgramResult::Err(e) => Err(format!("{e} after {count} instructions")),
    })
}
