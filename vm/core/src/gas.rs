//! Multi-dimensional gas: what a call consumed and what it may consume.
//!
//! Each dimension is measured in its own unit; the fee market prices them separately.
//! All arithmetic here saturates, so no input can overflow a counter.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The resource dimensions Keel meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Instructions and host-call work, in gas units from the [`crate::GasSchedule`].
    Compute,
    /// Bytes of storage written (keys and values).
    StorageBytes,
    /// Peak linear-memory size, in 64 KiB pages.
    MemoryPages,
    /// Bytes moved in and out of the VM: input, return data and events.
    Bandwidth,
}

impl Dimension {
    /// Every dimension, in the canonical order used by encodings and fee vectors.
    pub const ALL: [Dimension; 4] = [
        Dimension::Compute,
        Dimension::StorageBytes,
        Dimension::MemoryPages,
        Dimension::Bandwidth,
    ];

    /// Stable lowercase name, as printed by the CLI and used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Compute => "compute",
            Dimension::StorageBytes => "storage_bytes",
            Dimension::MemoryPages => "memory_pages",
            Dimension::Bandwidth => "bandwidth",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An amount per dimension: used both for consumption ([`GasUsed`]) and limits ([`GasLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GasVector {
    pub compute: u64,
    pub storage_bytes: u64,
    pub memory_pages: u64,
    pub bandwidth: u64,
}

/// What a call consumed.
pub type GasUsed = GasVector;
/// What a call may consume; exceeding any dimension is a deterministic trap.
pub type GasLimits = GasVector;

impl GasVector {
    /// A vector with the same amount in every dimension.
    pub const fn splat(v: u64) -> Self {
        GasVector {
            compute: v,
            storage_bytes: v,
            memory_pages: v,
            bandwidth: v,
        }
    }

    /// The amount in one dimension.
    pub fn get(&self, d: Dimension) -> u64 {
        match d {
            Dimension::Compute => self.compute,
            Dimension::StorageBytes => self.storage_bytes,
            Dimension::MemoryPages => self.memory_pages,
            Dimension::Bandwidth => self.bandwidth,
        }
    }

    /// A mutable reference to one dimension.
    pub fn get_mut(&mut self, d: Dimension) -> &mut u64 {
        match d {
            Dimension::Compute => &mut self.compute,
            Dimension::StorageBytes => &mut self.storage_bytes,
            Dimension::MemoryPages => &mut self.memory_pages,
            Dimension::Bandwidth => &mut self.bandwidth,
        }
    }

    /// Component-wise saturating sum.
    pub fn saturating_add(&self, other: &GasVector) -> GasVector {
        let mut out = *self;
        for d in Dimension::ALL {
            *out.get_mut(d) = self.get(d).saturating_add(other.get(d));
        }
        out
    }

    /// Component-wise saturating difference.
    pub fn saturating_sub(&self, other: &GasVector) -> GasVector {
        let mut out = *self;
        for d in Dimension::ALL {
            *out.get_mut(d) = self.get(d).saturating_sub(other.get(d));
        }
        out
    }

    /// The first dimension in which `self` exceeds `limits`, if any.
    pub fn exceeds(&self, limits: &GasVector) -> Option<Dimension> {
        Dimension::ALL
            .into_iter()
            .find(|&d| self.get(d) > limits.get(d))
    }
}

impl fmt::Display for GasVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "compute={} storage_bytes={} memory_pages={} bandwidth={}",
            self.compute, self.storage_bytes, self.memory_pages, self.bandwidth
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceeds_names_the_first_dimension_over_its_limit() {
        let limits = GasVector {
            compute: 10,
            storage_bytes: 5,
            memory_pages: 1,
            bandwidth: 100,
        };
        let used = GasVector {
            compute: 10,
            storage_bytes: 6,
            memory_pages: 2,
            bandwidth: 0,
        };
        assert_eq!(used.exceeds(&limits), Some(Dimension::StorageBytes));
        assert_eq!(GasVector::default().exceeds(&limits), None);
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let big = GasVector::splat(u64::MAX);
        assert_eq!(big.saturating_add(&GasVector::splat(1)), big);
        assert_eq!(
            GasVector::default().saturating_sub(&big),
            GasVector::default()
        );
    }
}
