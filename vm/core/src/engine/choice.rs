//! Which engine tier a node runs contracts on: a node-local choice (`KEEL_VM_ENGINE`) that
//! never changes a result.

use super::Engine;
use super::tiered::{JitMode, TierConfig, TieredEngine};
use super::wasmi_tier::WasmiEngine;
use crate::error::VmError;
use crate::profile::Profile;
use std::path::Path;

/// Environment variable choosing the contract engine of a node: `wasmi`, `wasmtime` or
/// `tiered` (see [`EngineChoice`]).
pub const VM_ENGINE_ENV: &str = "KEEL_VM_ENGINE";

/// A contract engine tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// The wasmi interpreter only (the reference).
    Wasmi,
    /// wasmtime for every module it can compile within budget, compiled before the first
    /// call; wasmi for the rest.
    Wasmtime,
    /// wasmi at once, wasmtime once a background compilation is ready: a node's default.
    /// Every tier gives the same results (`keel replay --vm-engine` shows it on a chain), and
    /// a module wasmtime cannot compile within budget, or a node without wasmtime, stays on
    /// wasmi; the tiers differ only in speed.
    #[default]
    Tiered,
}

impl EngineChoice {
    /// Every choice, with its name.
    pub const ALL: [(EngineChoice, &'static str); 3] = [
        (EngineChoice::Wasmi, "wasmi"),
        (EngineChoice::Wasmtime, "wasmtime"),
        (EngineChoice::Tiered, "tiered"),
    ];

    /// The stable name (`wasmi`, `wasmtime`, `tiered`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("wasmi", |(_, n)| n)
    }

    /// The choice named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The choice in [`VM_ENGINE_ENV`]; the default (tiered) when unset. An unknown value is
    /// an error rather than a silent default.
    pub fn from_env() -> Result<Self, VmError> {
        match std::env::var(VM_ENGINE_ENV) {
            Ok(v) => Self::parse(&v).ok_or_else(|| VmError::Engine {
                engine: "choice",
                message: format!("{VM_ENGINE_ENV}={v}: expected wasmi, wasmtime or tiered"),
            }),
            Err(_) => Ok(Self::default()),
        }
    }

    /// Builds the engine; the JIT tiers keep compiled artifacts in `data_dir/vm-cache` when
    /// a data directory is given.
    pub fn build(
        self,
        profile: &Profile,
        reuse: bool,
        data_dir: Option<&Path>,
    ) -> Result<Box<dyn Engine>, VmError> {
        let mode = match self {
            EngineChoice::Wasmi => return Ok(Box::new(WasmiEngine::new(profile, reuse)?)),
            EngineChoice::Wasmtime => JitMode::Eager,
            EngineChoice::Tiered => JitMode::Background,
        };
        let config = TierConfig::new(mode, data_dir.map(Path::to_path_buf));
        Ok(Box::new(TieredEngine::new(profile, reuse, config)?))
    }
}
