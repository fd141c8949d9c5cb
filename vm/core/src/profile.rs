//! The admission profile: which WebAssembly a contract may contain.
//!
//! The profile is WebAssembly 1.0 with mutable globals, sign extension and multi-value, minus
//! everything non-deterministic or costly to meter (floats, SIMD, threads, bulk memory, reference
//! types, memory64, multiple memories, tail calls, exceptions) — plus explicit size limits. A
//! profile is versioned: changing any field is a governance act and bumps the version, because
//! admission decisions are consensus.

use serde::{Deserialize, Serialize};
use wasmparser::WasmFeatures;

/// Limits and features applied to every module before it may run. Every field is a hard limit;
/// a module exceeding one is rejected with [`crate::AdmissionError::LimitExceeded`] naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Version of this profile; part of the compilation-cache key.
    pub version: u32,
    /// Size of the module binary in bytes.
    pub max_code_bytes: u32,
    /// Number of functions defined by the module (imports excluded).
    pub max_functions: u32,
    /// Size of one function body in bytes.
    pub max_function_body_bytes: u32,
    /// Locals of one function, parameters included.
    pub max_locals_per_function: u32,
    /// Number of function types in the type section.
    pub max_types: u32,
    /// Number of globals defined by the module.
    pub max_globals: u32,
    /// Elements of the (single) table, initial and maximum.
    pub max_table_elements: u32,
    /// Initial size of the (single) memory, in 64 KiB pages.
    pub max_initial_memory_pages: u32,
    /// Maximum size the memory may ever grow to, in pages. A module without a declared maximum
    /// gets this one.
    pub max_memory_pages: u32,
    /// Number of data segments.
    pub max_data_segments: u32,
    /// Number of element segments.
    pub max_element_segments: u32,
    /// Number of imports.
    pub max_imports: u32,
    /// Number of exports.
    pub max_exports: u32,
    /// Deterministic call-stack budget in value slots: the sum of the static frame sizes of all
    /// active wasm frames may not exceed it (see `metering`).
    pub max_stack_slots: u32,
}

impl Profile {
    /// Profile version 1, the default.
    pub const V1: Profile = Profile {
        version: 1,
        max_code_bytes: 512 * 1024,
        max_functions: 4096,
        max_function_body_bytes: 64 * 1024,
        max_locals_per_function: 1024,
        max_types: 512,
        max_globals: 256,
        max_table_elements: 4096,
        max_initial_memory_pages: 64,
        max_memory_pages: 256,
        max_data_segments: 256,
        max_element_segments: 64,
        max_imports: 128,
        max_exports: 128,
        max_stack_slots: 64 * 1024,
    };

    /// Every profile this build implements, oldest first. A chain selects one by version (its
    /// `isa.wasm` feature gate); old versions stay so old blocks replay under their rules.
    pub const SUPPORTED: &'static [Profile] = &[Profile::V1];

    /// The versions of [`Profile::SUPPORTED`].
    pub const SUPPORTED_VERSIONS: &'static [u32] = &[1];

    /// The profile of `version`; `None` if this build does not implement it.
    pub fn by_version(version: u32) -> Option<Profile> {
        Self::SUPPORTED
            .iter()
            .find(|p| p.version == version)
            .cloned()
    }

    /// The WebAssembly features the validator is allowed to accept. Floats are off here and are
    /// also rejected earlier with a precise message by admission.
    pub fn wasm_features() -> WasmFeatures {
        // GC_TYPES only enables the ordinary function-reference encoding that every module
        // uses; it does not admit any GC instruction (GC itself stays off).
        WasmFeatures::GC_TYPES
            | WasmFeatures::MUTABLE_GLOBAL
            | WasmFeatures::SIGN_EXTENSION
            | WasmFeatures::MULTI_VALUE
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::V1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_version_names_exactly_one_profile() {
        let versions: Vec<u32> = Profile::SUPPORTED.iter().map(|p| p.version).collect();
        assert_eq!(versions, Profile::SUPPORTED_VERSIONS);
        assert_eq!(Profile::by_version(1), Some(Profile::V1));
        assert_eq!(Profile::by_version(2), None);
    }
}
