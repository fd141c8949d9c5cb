//! The deterministic replay debugger behind `keel debug`.
//!
//! - [`replay`] — re-executes one transaction from the state before it, on a VM built for
//!   debugging ([`keel_vm::Vm::for_debugging`]: same gas, writes, return and traps as a node);
//! - [`session`] — the hook: records the [`trace::Trace`] and stops at breakpoints;
//! - [`code`], [`breakpoint`] — metering blocks, names and DWARF lines of a contract;
//! - [`stop`] — what a stopped run shows and how a [`stop::Frontend`] resumes it;
//! - [`console`] — the line-oriented front end (`keel debug replay --break …`);
//! - [`dap`] — the Debug Adapter Protocol front end (`keel debug dap`).

pub mod breakpoint;
pub mod code;
pub mod console;
pub mod dap;
pub mod replay;
pub mod session;
pub mod stop;
pub mod trace;

pub use breakpoint::Breakpoint;
pub use session::{Session, SessionConfig};
pub use stop::{Frontend, Resume, Stop};
pub use trace::Trace;
