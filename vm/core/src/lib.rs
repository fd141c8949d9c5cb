//! Keel's deterministic WebAssembly VM.
//!
//! Contracts are ordinary WebAssembly that passes the deterministic [`Profile`] and imports only
//! the `keel` host ABI ([`abi`]). A call goes through four stages, each its own module:
//!
//! 1. [`admission`] — parse, validate and enforce the profile (no floats, no SIMD, limits…);
//! 2. [`metering`] — rewrite the input Wasm to charge compute gas per metering block and a
//!    deterministic stack budget per call, from the versioned [`GasSchedule`];
//! 3. [`engine`] — compile on an engine tier (the wasmi interpreter, or wasmtime with Cranelift:
//!    `engine::tiered`) behind the [`Engine`] trait, cached in memory by code hash + schedule
//!    version + profile version + kill set, and JIT artifacts on disk (`engine::artifact_cache`);
//! 4. [`host`] — run with the host ABI, multi-dimensional gas ([`GasVector`]) and typed traps.
//!
//! [`analysis`] gives static gas bounds per export. [`Vm`] ties the stages together.

// Consensus code: every overflow is a typed outcome or a documented saturation, never a wrap.
#![deny(clippy::arithmetic_side_effects)]

pub mod abi;
pub mod admission;
pub mod analysis;
pub mod calls;
pub mod debug;
pub mod engine;
pub mod error;
pub mod fault;
mod floats;
pub mod gas;
pub mod handles;
pub mod host;
pub mod host_randomness;
pub mod host_zk;
mod intrinsics;
pub mod kills;
pub mod manifest;
pub mod metering;
pub mod profile;
pub mod schedule;
pub mod vm;

pub use abi::HostFn;
pub use admission::{AdmissionError, AdmittedModule, admit};
pub use analysis::GasBound;
pub use calls::{CallState, ContractEnv, MAX_CALL_DEPTH, NestedRunner, Writes};
pub use engine::Engine;
pub use error::{HandleFault, StateError, Trap, VmError, WasmTrap};
pub use fault::{CallRecord, Fault, FaultKind, FaultLocation};
pub use gas::{Dimension, GasLimits, GasUsed, GasVector};
pub use host::{Address, CallContext, Event, MemoryState, NativeError, NativeRoutines, StateView};
pub use kills::{KillSet, Killed, OpcodeClass};
pub use manifest::{Capability, MANIFEST_SECTION, Manifest, ManifestError};
pub use profile::Profile;
pub use schedule::{GasSchedule, ScheduleError};
pub use vm::{CacheStats, CallOutcome, CallRequest, Prepared, Vm, VmConfig};
