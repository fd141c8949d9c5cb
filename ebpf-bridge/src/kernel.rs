//! In-kernel backend for cross-checks: the same routine source, built with the kernel entry
//! wrapper (`routines/keel_entry.h`), loaded as a `BPF_PROG_TYPE_SYSCALL` program through
//! libbpf-rs and run with `BPF_PROG_TEST_RUN`.
//!
//! Kernel calling convention: the object's `.bss` map holds `struct keel_io { u64 in_len;
//! u64 out_len; u8 in[8192]; u8 out[64]; }`; we write it, run the program (no context) and read
//! the output back. The program's return value is the routine status.
//!
//! Not metered (the kernel verifier proves termination at load time instead) and not used on
//! any consensus path: it exists to show the kernel JIT computes what solana-sbpf computes.

use crate::error::BridgeError;
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, ProgramInput, ProgramType};
use std::sync::Mutex;

/// Byte capacity of `keel_io.in` (KEEL_KERNEL_MAX_IN in keel_entry.h).
pub const KERNEL_MAX_INPUT: usize = 8192;
/// Byte capacity of `keel_io.out` (KEEL_KERNEL_MAX_OUT in keel_entry.h).
pub const KERNEL_MAX_OUTPUT: usize = 64;
const HEADER: usize = 16;
const IO_SIZE: usize = HEADER + KERNEL_MAX_INPUT + KERNEL_MAX_OUTPUT;

/// Whether this host can run the kernel engine at all: it needs the permission to load BPF
/// programs (root / CAP_BPF) and a kernel with `BPF_PROG_TYPE_SYSCALL` (Linux 5.14+).
///
/// `Ok` means a routine the kernel then refuses was refused by its verifier, not for want of a
/// feature. Errors: `EngineUnavailable` saying what is missing.
pub fn kernel_support() -> Result<(), BridgeError> {
    route_libbpf_logs();
    match ProgramType::Syscall.is_supported() {
        Ok(true) => Ok(()),
        Ok(false) => Err(BridgeError::EngineUnavailable(
            "kernel: this kernel has no BPF_PROG_TYPE_SYSCALL programs".into(),
        )),
        Err(e) => Err(BridgeError::EngineUnavailable(format!(
            "kernel: cannot probe for BPF_PROG_TYPE_SYSCALL (not root / no CAP_BPF?): {e}"
        ))),
    }
}

/// A routine loaded into the kernel; runs are serialised because they share the `.bss` map.
pub(crate) struct KernelProgram {
    object: Mutex<Object>,
}

impl KernelProgram {
    /// Opens and loads `elf` (requires CAP_BPF / root and a kernel with BPF_PROG_TYPE_SYSCALL).
    /// Any refusal — no permission, verifier rejection — is `EngineUnavailable` with libbpf's
    /// reason.
    pub(crate) fn load(name: &str, elf: &[u8]) -> Result<Self, BridgeError> {
        route_libbpf_logs();
        let unavailable = |what: &str, e: libbpf_rs::Error| {
            // E2BIG from BPF_PROG_LOAD means the verifier hit its complexity budget, which
            // libbpf reports as "Argument list too long".
            let why = if e.to_string().contains("os error 7") {
                format!("the kernel verifier gave up: program too complex to verify ({e})")
            } else {
                e.to_string()
            };
            BridgeError::EngineUnavailable(format!("kernel: {what} {name}: {why}"))
        };
        let mut builder = ObjectBuilder::default();
        builder.name(name).map_err(|e| unavailable("naming", e))?;
        let open = builder
            .open_memory(elf)
            .map_err(|e| unavailable("opening", e))?;
        let object = open.load().map_err(|e| unavailable("loading", e))?;
        Ok(Self {
            object: Mutex::new(object),
        })
    }

    /// Runs the program on `input`, filling `output`. `Ok(status)` is the routine's return value.
    pub(crate) fn run(&self, input: &[u8], output: &mut [u8]) -> Result<u64, BridgeError> {
        if input.len() > KERNEL_MAX_INPUT || output.len() > KERNEL_MAX_OUTPUT {
            return Err(BridgeError::Kernel(format!(
                "buffers of {} / {} bytes exceed the kernel I/O area ({KERNEL_MAX_INPUT} / \
                 {KERNEL_MAX_OUTPUT})",
                input.len(),
                output.len()
            )));
        }
        let object = self.object.lock().unwrap_or_else(|e| e.into_inner());
        let map = object
            .maps()
            .find(|m| m.name().to_string_lossy().ends_with(".bss"))
            .ok_or_else(|| BridgeError::Kernel("object has no .bss map".into()))?;
        if map.value_size() as usize != IO_SIZE {
            return Err(BridgeError::Kernel(format!(
                ".bss is {} bytes, expected {IO_SIZE}",
                map.value_size()
            )));
        }
        let mut io = vec![0u8; IO_SIZE];
        io[0..8].copy_from_slice(&(input.len() as u64).to_le_bytes());
        io[8..16].copy_from_slice(&(output.len() as u64).to_le_bytes());
        io[HEADER..HEADER + input.len()].copy_from_slice(input);
        let key = 0u32.to_ne_bytes();
        map.update(&key, &io, MapFlags::ANY)
            .map_err(|e| BridgeError::Kernel(format!("writing input: {e}")))?;
        let prog = object
            .progs_mut()
            .next()
            .ok_or_else(|| BridgeError::Kernel("object has no program".into()))?;
        let result = prog
            .test_run(ProgramInput::default())
            .map_err(|e| BridgeError::Kernel(format!("BPF_PROG_TEST_RUN: {e}")))?;
        let io = map
            .lookup(&key, MapFlags::ANY)
            .map_err(|e| BridgeError::Kernel(format!("reading output: {e}")))?
            .ok_or_else(|| BridgeError::Kernel(".bss map is empty".into()))?;
        let out_start = HEADER + KERNEL_MAX_INPUT;
        let produced = io
            .get(out_start..out_start + output.len())
            .ok_or_else(|| BridgeError::Kernel(".bss map value too short".into()))?;
        output.copy_from_slice(produced);
        Ok(u64::from(result.return_value))
    }
}

/// libbpf prints to stderr by default, including the kernel verifier's whole log when a load is
/// refused (100 000+ lines for the hash routines). Route it to `tracing` at debug level: the
/// typed error already says why the kernel refused.
fn route_libbpf_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        fn log(_level: libbpf_rs::PrintLevel, msg: String) {
            tracing::debug!(target: "libbpf", "{}", msg.trim_end());
        }
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Debug, log)));
    });
}
