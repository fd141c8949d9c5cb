//! Log2 histograms as the kernel programs keep them (per-CPU arrays of `HIST_SLOTS` u64, see
//! `bpf/observe.h`), summed over CPUs and rendered as Prometheus histograms in seconds.

use libbpf_rs::MapHandle;
use serde::{Deserialize, Serialize};

use crate::admission::maps::sum_percpu;
use crate::error::KernelError;

/// Number of log2 buckets: bucket `i` counts values `v` (ns) with `floor(log2(v)) == i`.
pub const BUCKETS: usize = 64;
/// Slot of the value sum, after the buckets.
const SUM_SLOT: u32 = 64;

/// A latency distribution in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// `buckets[i]`: observations in `[2^i, 2^(i+1))` ns (`0` ns lands in bucket 0). Always
    /// [`BUCKETS`] long.
    pub buckets: Vec<u64>,
    /// Sum of all observations, ns (wraps after ~584 years of accumulated latency).
    pub sum_ns: u64,
}

impl Histogram {
    /// Reads a histogram map, summing every CPU's slots.
    ///
    /// # Errors
    /// [`KernelError::Bpf`] or [`KernelError::MapLayout`] when the map cannot be read.
    pub(crate) fn read(map: &MapHandle, name: &'static str) -> Result<Self, KernelError> {
        let mut buckets = Vec::with_capacity(BUCKETS);
        for slot in 0..SUM_SLOT {
            buckets.push(sum_percpu(map, name, slot)?);
        }
        Ok(Self {
            buckets,
            sum_ns: sum_percpu(map, name, SUM_SLOT)?,
        })
    }

    /// Total number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, b| a.wrapping_add(*b))
    }

    /// Appends this histogram as Prometheus text (`_bucket` with cumulative counts up to the
    /// highest non-empty bucket, `+Inf`, `_sum` and `_count`, in seconds). Output depends only
    /// on the histogram's contents.
    pub fn render_prometheus(&self, out: &mut String, name: &str, help: &str) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let last = self.buckets.iter().rposition(|c| *c > 0).unwrap_or(0);
        let mut cumulative = 0u64;
        for (i, c) in self.buckets.iter().enumerate().take(last + 1) {
            cumulative = cumulative.wrapping_add(*c);
            // Every value of bucket i is below 2^(i+1) ns.
            let le = ns_as_seconds(1u128 << (i + 1));
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let _ = writeln!(out, "{name}_sum {}", ns_as_seconds(u128::from(self.sum_ns)));
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

/// Exact decimal seconds of a nanosecond count, without trailing zeros ("0.000000512", "3").
pub fn ns_as_seconds(ns: u128) -> String {
    let whole = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_rendered_exactly_without_floats() {
        assert_eq!(ns_as_seconds(2), "0.000000002");
        assert_eq!(ns_as_seconds(1_500_000_000), "1.5");
        assert_eq!(ns_as_seconds(3_000_000_000), "3");
        assert_eq!(ns_as_seconds(1u128 << 64), "18446744073.709551616");
    }

    #[test]
    fn prometheus_buckets_are_cumulative_and_end_with_inf() {
        let mut h = Histogram {
            buckets: vec![0; BUCKETS],
            sum_ns: 3_000,
        };
        h.buckets[1] = 2;
        h.buckets[3] = 1;
        let mut out = String::new();
        h.render_prometheus(&mut out, "x_seconds", "test");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# HELP x_seconds test");
        assert_eq!(lines[1], "# TYPE x_seconds histogram");
        assert_eq!(lines[2], "x_seconds_bucket{le=\"0.000000002\"} 0");
        assert_eq!(lines[3], "x_seconds_bucket{le=\"0.000000004\"} 2");
        assert_eq!(lines[5], "x_seconds_bucket{le=\"0.000000016\"} 3");
        assert_eq!(lines[6], "x_seconds_bucket{le=\"+Inf\"} 3");
        assert_eq!(lines[7], "x_seconds_sum 0.000003");
        assert_eq!(lines[8], "x_seconds_count 3");
    }
}
