//! Keel's benchmark suite and peer comparisons, as a library the `keel` binary and the
//! `keel-bench` binary share: the workload table ([`workloads`], also used by gas
//! calibration), runners for Keel's engine tiers ([`vm_run`]), revm ([`evm`]) and the
//! contracts on fuel-metered wasmtime as wasm chains run them ([`fuel`]), counters and
//! statistics, and the `keel bench suite` report ([`suite`]).

pub mod calibrate;
pub mod counters;
pub mod evm;
pub mod evm_ports;
pub mod fuel;
pub mod keel;
pub mod measure;
pub mod peers;
pub mod stats;
pub mod suite;
pub mod vm_run;
pub mod workloads;
