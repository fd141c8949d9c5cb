//! Keel's hardware qualification: probe a machine, run every acceleration path through a
//! conformance phase (against a reference) and a performance phase, write signed reports
//! (schema-versioned JSON and self-contained HTML with SVG plots) and compare reports.
//!
//! - [`probe`]: CPU, memory, NUMA, kernel, io_uring, NICs, accelerators, capabilities, and what
//!   Keel will use on them, from procfs/sysfs under an injectable root.
//! - [`paths`]: the acceleration paths (BLS backends, eBPF engines, VM tiers, sockets, kernel
//!   programs), each a conformance and a performance phase with verdicts.
//! - [`report`]: the result file, its signature, and the HTML rendering.
//! - [`compare`]: regressions between two reports beyond thresholds.
//! - [`plugin`]: BLS accelerator plug-ins behind the C ABI of `offload/include/keel_offload.h`,
//!   each run in a separate host process.

pub mod compare;
pub mod error;
pub mod paths;
pub mod plugin;
pub mod probe;
pub mod report;
pub mod run;
pub mod soak;
pub mod vectors;

pub use error::HwtestError;
