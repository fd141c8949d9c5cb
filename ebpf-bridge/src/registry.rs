//! The registry of native routines and the `run` entry point.

// Loader and metering of untrusted routines: no unchecked arithmetic or indexing.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::builtin::{self, BuiltinObject};
use crate::error::BridgeError;
use crate::kernel::KernelProgram;
use crate::link;
use crate::manifest::{GAS_PER_INSTRUCTION, Manifest, RoutineId, gas_for_instructions};
use crate::sbpf::{CONSTANTS_VADDR, JitCompile, SbpfMode, SbpfProgram};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// Which engine executes a routine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// solana-sbpf's interpreter. Metered; the reference engine.
    Interpreter,
    /// solana-sbpf's x86-64 JIT. Metered; same results and counts as the interpreter.
    Jit,
    /// The Linux kernel (BPF_PROG_TEST_RUN). Not metered: cross-checks only.
    Kernel,
}

impl Engine {
    /// All engines, in the order of the CLI's `--engine` help.
    pub const ALL: [Engine; 3] = [Engine::Interpreter, Engine::Jit, Engine::Kernel];

    /// The CLI spelling (`interp`, `jit`, `kernel`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Interpreter => "interp",
            Self::Jit => "jit",
            Self::Kernel => "kernel",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Engine {
    type Err = String;

    /// Parses `interp`/`interpreter`, `jit`, `kernel`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "interp" | "interpreter" => Ok(Self::Interpreter),
            "jit" => Ok(Self::Jit),
            "kernel" => Ok(Self::Kernel),
            other => Err(format!(
                "unknown engine {other:?} (expected interp, jit or kernel)"
            )),
        }
    }
}

/// Instruction budgets are clamped to this: solana-sbpf's JIT compares the meter as a signed
/// 64-bit value, so a budget near `u64::MAX` would exhaust at once on the JIT but not on the
/// interpreter. 2^62 instructions is far beyond any real budget.
pub const MAX_INSTRUCTION_BUDGET: u64 = 1 << 62;

/// The result of a successful routine run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// Exactly `out_len` bytes written by the routine.
    pub output: Vec<u8>,
    /// sBPF instructions executed; identical for `Interpreter` and `Jit`. 0 for `Kernel`.
    pub instructions: u64,
    /// `instructions * GAS_PER_INSTRUCTION`. 0 for `Kernel`.
    pub gas: u64,
}

/// A routine's kernel build (see `routines/keel_entry.h` for its convention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelObject {
    /// Relocatable BPF object with one `syscall` program.
    pub elf: Vec<u8>,
    /// Largest input the kernel build accepts (it may be compiled with a lower cap than the
    /// manifest's, to fit the kernel verifier's complexity limit).
    pub max_input: usize,
}

/// One routine: its manifest, its verified sBPF program and (lazily) its kernel program.
pub struct Routine {
    manifest: Manifest,
    program: SbpfProgram,
    kernel_object: Option<KernelObject>,
    kernel: OnceLock<Result<KernelProgram, BridgeError>>,
}

impl fmt::Debug for Routine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routine")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

impl Routine {
    /// Builds a routine from relocatable BPF objects (`clang -target bpf -mcpu=v1 -c`): the
    /// sBPF one (entry `entrypoint`, no calls, no mutable globals) and optionally the kernel one
    /// (a `syscall` program using the `keel_io` convention of `routines/keel_entry.h`).
    ///
    /// Errors: `Load` if the object cannot be linked, fails the sBPF verifier, or declares
    /// syscalls (none are supported).
    pub fn from_objects(
        manifest: Manifest,
        sbpf_object: &[u8],
        kernel_object: Option<KernelObject>,
    ) -> Result<Self, BridgeError> {
        Self::from_objects_with_jit(manifest, sbpf_object, kernel_object, JitCompile::Attempt)
    }

    /// [`Routine::from_objects`], compiling for the JIT only if `jit` says so. A routine
    /// without a compiled JIT runs [`Engine::Jit`] requests on the interpreter, with identical
    /// results and gas.
    pub fn from_objects_with_jit(
        manifest: Manifest,
        sbpf_object: &[u8],
        kernel_object: Option<KernelObject>,
        jit: JitCompile,
    ) -> Result<Self, BridgeError> {
        let routine = manifest.id;
        if !manifest.syscalls.is_empty() {
            return Err(BridgeError::Load {
                routine,
                reason: format!(
                    "syscalls {:?} requested; routines may use none",
                    manifest.syscalls
                ),
            });
        }
        let image = link::link(sbpf_object, CONSTANTS_VADDR, link::Calls::Refuse)
            .map_err(|reason| BridgeError::Load { routine, reason })?;
        let program = SbpfProgram::with_jit(routine, image, jit)?;
        Ok(Self {
            manifest,
            program,
            kernel_object,
            kernel: OnceLock::new(),
        })
    }

    fn from_builtin(object: BuiltinObject) -> Result<Self, BridgeError> {
        Self::from_objects(
            object.manifest,
            object.sbpf,
            object.kernel.map(|(elf, max_input)| KernelObject {
                elf: elf.to_vec(),
                max_input,
            }),
        )
    }

    /// Largest input the kernel engine accepts for this routine; `None` without a kernel build.
    pub fn kernel_max_input(&self) -> Option<usize> {
        self.kernel_object.as_ref().map(|k| k.max_input)
    }

    /// The routine's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The engine that runs a request for `engine`: `Jit` falls back to `Interpreter` where
    /// the JIT is not compiled (same output, count and gas).
    pub fn effective_engine(&self, engine: Engine) -> Engine {
        match engine {
            Engine::Jit if !self.program.jit_available() => Engine::Interpreter,
            other => other,
        }
    }

    /// Whether `engine` itself can run this routine here (a `Jit` request still runs, on the
    /// interpreter, when this says no). For `Kernel` this loads the program into the kernel on
    /// first use; `Err` says why it cannot run (e.g. no permission, verifier refusal).
    pub fn engine_available(&self, engine: Engine) -> Result<(), BridgeError> {
        match engine {
            Engine::Interpreter => Ok(()),
            Engine::Jit if self.program.jit_available() => Ok(()),
            Engine::Jit => Err(BridgeError::EngineUnavailable("JIT not compiled".into())),
            Engine::Kernel => self.kernel_program().map(|_| ()),
        }
    }

    fn kernel_program(&self) -> Result<&KernelProgram, BridgeError> {
        self.kernel
            .get_or_init(|| match &self.kernel_object {
                Some(kernel) => KernelProgram::load(self.manifest.name, &kernel.elf),
                None => Err(BridgeError::EngineUnavailable(format!(
                    "{} has no kernel build",
                    self.manifest.name
                ))),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Runs the routine on `input`, producing `out_len` bytes, with at most `gas_budget` gas.
    ///
    /// Errors: `InputSize`/`OutputSize` if the manifest rejects the lengths (checked before
    /// running), `BudgetExhausted`, `Fault`, `Rejected` (non-zero status), `EngineUnavailable`
    /// (`Kernel` only: a `Jit` request without a compiled JIT runs on the interpreter).
    /// Deterministic for `Interpreter` and `Jit` (same output, count, gas or error);
    /// `Kernel` ignores the budget and reports no count.
    pub fn run(
        &self,
        input: &[u8],
        out_len: usize,
        engine: Engine,
        gas_budget: u64,
    ) -> Result<RunResult, BridgeError> {
        let routine = self.manifest.id;
        if !self.manifest.input.admits(input.len()) {
            return Err(BridgeError::InputSize {
                routine,
                len: input.len(),
                rule: self.manifest.input.to_string(),
            });
        }
        if out_len != self.manifest.output_len {
            return Err(BridgeError::OutputSize {
                routine,
                requested: out_len,
                expected: self.manifest.output_len,
            });
        }
        let mut output = vec![0u8; out_len];
        let mode = match engine {
            Engine::Interpreter => SbpfMode::Interpreter,
            Engine::Jit => SbpfMode::Jit,
            Engine::Kernel => {
                if let Some(max) = self.kernel_max_input()
                    && input.len() > max
                {
                    return Err(BridgeError::EngineUnavailable(format!(
                        "kernel build of {} takes at most {max} input bytes",
                        self.manifest.name
                    )));
                }
                let status = self.kernel_program()?.run(input, &mut output)?;
                if status != 0 {
                    return Err(BridgeError::Rejected { routine, status });
                }
                return Ok(RunResult {
                    output,
                    instructions: 0,
                    gas: 0,
                });
            }
        };
        let budget = (gas_budget / GAS_PER_INSTRUCTION).min(MAX_INSTRUCTION_BUDGET);
        let instructions = self.program.run(mode, input, &mut output, budget)?;
        tracing::trace!(routine, %engine, instructions, "native routine ran");
        Ok(RunResult {
            output,
            instructions,
            gas: gas_for_instructions(instructions),
        })
    }
}

/// The routines a host may call, by id: a catalogue, not a policy. Which routines a chain may
/// call, and which version, is decided by governance in the chain state (keel-chain's
/// `routines.rs`); tools and tests use a registry directly.
/// Iteration is in id order (a `BTreeMap`), so listings are deterministic.
#[derive(Default)]
pub struct Registry {
    routines: BTreeMap<RoutineId, Arc<Routine>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.routines.iter().map(|(id, r)| (*id, r.manifest.name)))
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with every built-in production routine.
    ///
    /// Errors: `Load` if a built-in object fails to link or verify (a build defect).
    pub fn builtin() -> Result<Self, BridgeError> {
        let mut registry = Self::new();
        for object in builtin::production() {
            registry.register(Routine::from_builtin(object)?)?;
        }
        Ok(registry)
    }

    /// Registers the test-only fault routines (`FAULT_SPIN`, `FAULT_OOB`). For tests and
    /// conformance runs; production registries never contain them.
    pub fn register_fault_fixtures(&mut self) -> Result<(), BridgeError> {
        for object in builtin::fault_fixtures() {
            self.register(Routine::from_builtin(object)?)?;
        }
        Ok(())
    }

    /// Adds a routine. Errors: `DuplicateRoutine` if the id is taken.
    pub fn register(&mut self, routine: Routine) -> Result<(), BridgeError> {
        let id = routine.manifest.id;
        if self.routines.contains_key(&id) {
            return Err(BridgeError::DuplicateRoutine(id));
        }
        self.routines.insert(id, Arc::new(routine));
        Ok(())
    }

    /// The routine with this id. Errors: `UnknownRoutine`.
    pub fn get(&self, id: RoutineId) -> Result<&Arc<Routine>, BridgeError> {
        self.routines
            .get(&id)
            .ok_or(BridgeError::UnknownRoutine(id))
    }

    /// The routine named `name` (CLI convenience); `None` if there is none.
    pub fn find_by_name(&self, name: &str) -> Option<&Arc<Routine>> {
        self.routines.values().find(|r| r.manifest.name == name)
    }

    /// Every registered routine's manifest, in id order.
    pub fn list(&self) -> Vec<&Manifest> {
        self.routines.values().map(|r| &r.manifest).collect()
    }

    /// Runs routine `id`; see [`Routine::run`] for the contract.
    /// Additional error: `UnknownRoutine`.
    pub fn run(
        &self,
        id: RoutineId,
        input: &[u8],
        out_len: usize,
        engine: Engine,
        gas_budget: u64,
    ) -> Result<RunResult, BridgeError> {
        self.get(id)?.run(input, out_len, engine, gas_budget)
    }
}
