//! Keel's contract developer tools, behind `keel contract …`:
//!
//! - [`project`] — the `keel.toml` project and [`scaffold`] for `keel contract new`;
//! - [`toolchain`] — clang + wasm-ld with the contracts' own flags, DWARF kept in a side file,
//!   the manifest embedded;
//! - [`passes`] — admission, effect typing, loop bounds and handle linearity on any module,
//!   located by source line through [`dwarf`];
//! - [`harness`] — `test_*` and `prop_*` exports run as unit and property tests;
//! - [`debug`] — the deterministic replay debugger (`keel debug replay`, `keel debug dap`).

pub mod debug;
pub mod dwarf;
pub mod error;
pub mod facts;
pub mod findings;
pub mod harness;
pub mod passes;
pub mod project;
pub mod scaffold;
pub mod toolchain;

pub use error::DevError;
pub use findings::{Finding, Pass, Severity};
pub use passes::{CheckInput, Report, check};
