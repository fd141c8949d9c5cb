//! Concolic exploration of Keel contracts (`keel analyze concolic`).
//!
//! The admitted, instrumented module (Keel's metering pass, so gas is exactly the VM's) runs in
//! this crate's own interpreter, plugged into the real [`keel_vm::Vm`] as an engine tier
//! ([`engine`]): concrete results, traps and gas equal the wasmi tier's (a differential test
//! checks it). Alongside each value that depends on the call input the interpreter carries a
//! bit-vector expression ([`expr`]) through the i32/i64 instructions, locals, globals and a
//! byte-granular shadow of linear memory, and at every branch and trapping check it records the
//! fact that held ([`trace`]). The explorer ([`explore`]) negates those facts with z3
//! ([`solver`]) to get inputs for new paths, in a deterministic order within a budget of paths
//! and solver time, and reports every input that traps, aborts, runs out of gas, fails a user
//! assertion or uses the most gas ([`report`]).

pub mod engine;
pub mod explore;
pub mod expr;
mod host_model;
mod machine;
mod memory;
pub mod module;
mod numeric;
pub mod ops;
pub mod report;
pub mod solver;
pub mod trace;

pub use engine::{ConcolicEngine, TraceSlot};
pub use explore::{Config, ExploreError, Run, explore, explore_observed, limits};
pub use report::{Case, Finding, FindingKind, Report};
