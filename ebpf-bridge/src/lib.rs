//! Keel's eBPF bridge: native routines written in C, compiled to BPF, run metered on
//! solana-sbpf (interpreter or JIT), with the Linux kernel as a cross-check backend.
//!
//! A contract calls a routine by id (`keel.native_call`); the host looks up the routine
//! governance activated (keel-chain; tools use a [`Registry`] of the built-ins), charges at most
//! the manifest's [`CostModel::max_gas`], and calls [`Routine::run`]. Every failure is a
//! [`BridgeError`].
//!
//! Invariants:
//! - a routine sees only its input (read-only), its output (writable), one 4 KiB stack frame
//!   and its own constants and code (read-only); see [`sbpf`](crate::sbpf) for the map;
//! - routines make no calls (no syscalls, no helpers): the loader refuses `call` instructions;
//! - the instruction count, gas and result are identical on the interpreter and the JIT, and a
//!   JIT that is unavailable (no x86-64, compilation failed or refused) falls back to the
//!   interpreter: the engine is a node-local choice that never changes a result.

mod builtin;
pub mod differential;
mod error;
mod kernel;
pub mod link;
mod manifest;
mod registry;
pub mod sbpf;

pub use builtin::{
    FAULT_OOB, FAULT_SPIN, KECCAK256, MERKLE_SHA256, MODMUL_BLS12_381_FR, SHA256, sbpf_object,
};
pub use error::BridgeError;
pub use kernel::{KERNEL_MAX_INPUT, KERNEL_MAX_OUTPUT, kernel_support};
pub use manifest::{
    CostModel, GAS_PER_INSTRUCTION, InputRule, Manifest, RoutineId, gas_for_instructions,
};
pub use registry::{Engine, KernelObject, MAX_INSTRUCTION_BUDGET, Registry, Routine, RunResult};
pub use sbpf::JitCompile;
