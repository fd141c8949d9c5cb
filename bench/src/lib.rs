//! Keel's benchmark library: peer comparisons and gas calibration. Benchmark code lives here,
//! never inside the library crates it measures.

pub mod calibrate;
