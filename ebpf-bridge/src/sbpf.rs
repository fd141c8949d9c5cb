//! Execution on solana-sbpf (SBPF v0): interpreter and JIT over the same verified executable.
//!
//! Guest address space of one run — nothing else is mapped:
//!
//! | region            | vm address            | access     |
//! |-------------------|-----------------------|------------|
//! | constants         | [`CONSTANTS_VADDR`]   | read-only  |
//! | code              | `MM_BYTECODE_START`   | read-only  |
//! | stack (one frame) | `MM_STACK_START`      | read-write |
//! | input             | [`INPUT_VADDR`]       | read-only  |
//! | output            | [`OUTPUT_VADDR`]      | read-write |
//!
//! Calling convention: r1 = input address, r2 = input length, r3 = output address, r4 = output
//! length; r0 on exit is the routine status (0 = success).

// Loader and metering of untrusted routines: no unchecked arithmetic or indexing.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::error::BridgeError;
use crate::link::LinkedImage;
use crate::manifest::RoutineId;
use solana_sbpf::{
    aligned_memory::AlignedMemory,
    ebpf,
    elf::Executable,
    error::{EbpfError, ProgramResult},
    memory_region::{MemoryMapping, MemoryRegion},
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    verifier::RequisiteVerifier,
    vm::{CallFrame, Config, ContextObject, EbpfVm, ExecutionMode},
};
use std::ptr::NonNull;
use std::sync::Arc;

/// Where the routine's `.rodata` is mapped: the slot SBPF gives the heap, which routines lack.
pub const CONSTANTS_VADDR: u64 = ebpf::MM_HEAP_START;
/// Where the input is mapped (r1).
pub const INPUT_VADDR: u64 = ebpf::MM_INPUT_START;
/// Where the output is mapped (r3).
pub const OUTPUT_VADDR: u64 = ebpf::MM_INPUT_START + ebpf::MM_REGION_SIZE;
/// Stack available to a routine: one frame, no calls.
pub const STACK_BYTES: usize = 4096;

/// The instruction meter and the memory mapping of one run.
pub(crate) struct Meter {
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

/// Which solana-sbpf engine runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbpfMode {
    /// The interpreter.
    Interpreter,
    /// The x86-64 JIT.
    Jit,
}

/// Whether loading a routine compiles it for the JIT. A node-local choice: a routine whose
/// JIT is unavailable runs on the interpreter, with the same output, count and gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JitCompile {
    /// Compile where solana-sbpf has a JIT (x86-64); a failure leaves the interpreter.
    #[default]
    Attempt,
    /// Never compile, exactly as if compilation had failed: forces the interpreter (a node
    /// setting, and the hook that tests the fallback path).
    Refuse,
}

/// What one run of a linked image returned: the status in r0 and the executed instruction
/// count (as metered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// r0 at `exit`.
    pub status: u64,
    /// Instructions executed.
    pub instructions: u64,
}

/// Loads `image` exactly as the registry loads a routine (solana-sbpf's verifier, same
/// configuration and memory map) and runs it once on `input`, with `output` as the output
/// region and `budget` instructions. For tools that check the loader and the PCC checker
/// against each other; the registry itself never runs unregistered images.
///
/// Errors: `Load` if the loader refuses the text, `BudgetExhausted`, `Fault`, or
/// `EngineUnavailable` for the JIT off x86-64. A non-zero status is not an error here.
/// Deterministic.
pub fn run_linked(
    image: LinkedImage,
    mode: SbpfMode,
    input: &[u8],
    output: &mut [u8],
    budget: u64,
) -> Result<Execution, BridgeError> {
    SbpfProgram::new(0, image)?.execute(mode, input, output, budget)
}

/// A verified (and, where supported, JIT-compiled) routine program.
pub(crate) struct SbpfProgram {
    routine: RoutineId,
    loader: Arc<BuiltinProgram<Meter>>,
    executable: Executable<Meter>,
    constants: Vec<u8>,
    jit_error: Option<String>,
}

/// The VM configuration of every routine: SBPF v0 only, one stack frame, metering on.
///
/// Every memory access stays bounds-checked against the five regions and the meter stays exact
/// (both engines count the same instructions). Routines are objects that passed the PCC checker
/// and a governance vote — not arbitrary bytecode, but not trusted code either: the settings
/// below trade JIT-spraying defences for speed and change no result or count.
fn config() -> Config {
    Config {
        max_call_depth: 1,
        stack_frame_size: STACK_BYTES,
        enable_stack_frame_gaps: false,
        enable_instruction_meter: true,
        reject_broken_elfs: true,
        enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V0,
        // Every region starts on a 4 GiB boundary (see the map above), so a region is found by
        // `vm_addr >> 32` instead of a cached binary search; bounds are checked the same way.
        // Memory accesses dominate JIT time, so this is worth ~15% on sha256.
        aligned_memory_mapping: true,
        // Random no-ops and immediate blinding defend a JIT against spraying by untrusted
        // bytecode; they change neither results nor instruction counts, only cost time here.
        noop_instruction_rate: 0,
        sanitize_user_provided_values: false,
        ..Config::default()
    }
}

impl SbpfProgram {
    /// Verifies `image` and JIT-compiles it. A JIT failure is kept and reported when the JIT
    /// is asked for; a verifier failure is an error.
    pub(crate) fn new(routine: RoutineId, image: LinkedImage) -> Result<Self, BridgeError> {
        Self::with_jit(routine, image, JitCompile::Attempt)
    }

    /// [`SbpfProgram::new`], compiling for the JIT only if `jit` says so. A refused
    /// compilation leaves the program exactly as a failed one does.
    pub(crate) fn with_jit(
        routine: RoutineId,
        image: LinkedImage,
        jit: JitCompile,
    ) -> Result<Self, BridgeError> {
        let load_err = |reason: String| BridgeError::Load { routine, reason };
        let loader = Arc::new(BuiltinProgram::new_loader(config()));
        let executable = Executable::from_text_bytes(
            &image.text,
            Arc::clone(&loader),
            SBPFVersion::V0,
            FunctionRegistry::default(),
        )
        .map_err(|e| load_err(format!("sbpf: {e}")))?;
        executable
            .verify::<RequisiteVerifier>()
            .map_err(|e| load_err(format!("sbpf verifier: {e}")))?;
        let jit_error = match jit {
            JitCompile::Attempt => compile_jit(&executable),
            JitCompile::Refuse => Some("JIT compilation refused by the node's settings".into()),
        };
        Ok(Self {
            routine,
            loader,
            executable,
            constants: image.rodata,
            jit_error,
        })
    }

    /// Runs the program once. `output` must already have the requested length. Where the JIT
    /// is asked for but unavailable (not compiled, or compilation failed or was refused), the
    /// interpreter runs instead: the engine is a node-local choice and never changes a result.
    ///
    /// Returns the instruction count; `Err` on budget exhaustion, fault or non-zero status.
    /// Deterministic: the interpreter and the JIT return the same result and count.
    pub(crate) fn run(
        &self,
        mode: SbpfMode,
        input: &[u8],
        output: &mut [u8],
        budget: u64,
    ) -> Result<u64, BridgeError> {
        let routine = self.routine;
        let mode = self.effective_mode(mode);
        let execution = match self.execute(mode, input, output, budget) {
            // The JIT refused to start (nothing ran): the interpreter, the reference, runs.
            Err(BridgeError::EngineUnavailable(reason)) if mode == SbpfMode::Jit => {
                tracing::debug!(routine, %reason, "JIT unavailable; running on the interpreter");
                output.fill(0);
                self.execute(SbpfMode::Interpreter, input, output, budget)?
            }
            other => other?,
        };
        match execution {
            Execution {
                status: 0,
                instructions,
            } => Ok(instructions),
            Execution { status, .. } => Err(BridgeError::Rejected { routine, status }),
        }
    }

    /// Runs the program once; any status is a result. Errors: budget exhaustion or fault.
    fn execute(
        &self,
        mode: SbpfMode,
        input: &[u8],
        output: &mut [u8],
        budget: u64,
    ) -> Result<Execution, BridgeError> {
        let routine = self.routine;
        if mode == SbpfMode::Jit
            && let Some(reason) = &self.jit_error
        {
            return Err(BridgeError::EngineUnavailable(format!("JIT: {reason}")));
        }
        let config = self.executable.get_config();
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
        let stack_len = stack.len();
        let regions = vec![
            MemoryRegion::new(self.constants.as_slice() as *const [u8], CONSTANTS_VADDR),
            self.executable.get_ro_region(),
            MemoryRegion::new(stack.as_slice_mut() as *mut [u8], ebpf::MM_STACK_START),
            MemoryRegion::new(input as *const [u8], INPUT_VADDR),
            MemoryRegion::new(&raw mut *output, OUTPUT_VADDR),
        ];
        // SAFETY: every region's host memory (constants, code, stack, input, output) outlives
        // `meter`, which is dropped at the end of this function; the writable regions (stack,
        // output) are plain bytes with no invariants the guest could break.
        let mapping =
            unsafe { MemoryMapping::new(regions, config, SBPFVersion::V0) }.map_err(|e| {
                BridgeError::Load {
                    routine,
                    reason: format!("memory mapping: {e}"),
                }
            })?;
        let mut meter = Meter {
            remaining: budget,
            mapping,
        };
        let mut vm = EbpfVm::new(
            Arc::clone(&self.loader),
            SBPFVersion::V0,
            &mut meter,
            stack_len,
        );
        vm.registers[1] = INPUT_VADDR;
        vm.registers[2] = input.len() as u64;
        vm.registers[3] = OUTPUT_VADDR;
        vm.registers[4] = output.len() as u64;
        let mut call_frames = vec![CallFrame::default(); config.max_call_depth];
        let mut exec_mode = match mode {
            SbpfMode::Interpreter => ExecutionMode::Interpreted,
            SbpfMode::Jit => ExecutionMode::Jit,
        };
        let (instructions, result) =
            vm.execute_program(&self.executable, &mut exec_mode, &mut call_frames);
        match result {
            ProgramResult::Ok(status) => Ok(Execution {
                status,
                instructions,
            }),
            ProgramResult::Err(EbpfError::ExceededMaxInstructions) => {
                Err(BridgeError::BudgetExhausted { routine, budget })
            }
            ProgramResult::Err(EbpfError::JitNotCompiled) => Err(BridgeError::EngineUnavailable(
                "JIT: program not compiled".into(),
            )),
            ProgramResult::Err(e) => Err(BridgeError::Fault {
                routine,
                instructions,
                reason: e.to_string(),
            }),
        }
    }

    /// Whether [`SbpfMode::Jit`] is available for this program.
    pub(crate) fn jit_available(&self) -> bool {
        self.jit_error.is_none()
    }

    /// The mode [`SbpfProgram::run`] uses when asked for `mode`: the JIT only if compiled.
    pub(crate) fn effective_mode(&self, mode: SbpfMode) -> SbpfMode {
        match mode {
            SbpfMode::Jit if !self.jit_available() => SbpfMode::Interpreter,
            other => other,
        }
    }
}

#[cfg(all(target_arch = "x86_64", not(target_os = "windows")))]
fn compile_jit(executable: &Executable<Meter>) -> Option<String> {
    executable.jit_compile().err().map(|e| e.to_string())
}

#[cfg(not(all(target_arch = "x86_64", not(target_os = "windows"))))]
fn compile_jit(_executable: &Executable<Meter>) -> Option<String> {
    Some("solana-sbpf has no JIT for this architecture".into())
}
