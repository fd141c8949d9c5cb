//! The acceleration paths hwtest qualifies. Each produces a [`PathResult`]: a conformance phase
//! (the path against a reference) and a performance phase (metrics and curves), with verdicts.

pub mod bls;
pub mod ebpf;
pub mod kernel;
pub mod sockets;
pub mod vm;

use serde::{Deserialize, Serialize};

/// At most this many failure descriptions are kept per phase (the count is exact).
pub const MAX_FAILURES_KEPT: usize = 20;

/// The outcome of a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// At least one check failed (or the path broke).
    Fail,
    /// The path cannot run here (missing capability, hardware or kernel feature); `note` says why.
    Skipped,
}

/// One phase: checks run, failures seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The verdict.
    pub verdict: Verdict,
    /// Checks performed.
    pub checks: u64,
    /// Checks that failed.
    pub failed: u64,
    /// The first [`MAX_FAILURES_KEPT`] failures, described.
    pub failures: Vec<String>,
    /// Why skipped, or what was not covered.
    pub note: Option<String>,
}

impl Phase {
    /// An empty phase that passes until a check fails.
    pub fn new() -> Self {
        Self {
            verdict: Verdict::Pass,
            checks: 0,
            failed: 0,
            failures: Vec::new(),
            note: None,
        }
    }

    /// A skipped phase.
    pub fn skipped(why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skipped,
            note: Some(why.into()),
            ..Self::new()
        }
    }

    /// Records one check; `Err(description)` fails the phase.
    pub fn check(&mut self, outcome: Result<(), String>) {
        self.checks = self.checks.saturating_add(1);
        if let Err(what) = outcome {
            self.fail(what);
        }
    }

    /// Records a failure.
    pub fn fail(&mut self, what: impl Into<String>) {
        self.failed = self.failed.saturating_add(1);
        self.verdict = Verdict::Fail;
        if self.failures.len() < MAX_FAILURES_KEPT {
            self.failures.push(what.into());
        }
    }
}

impl Default for Phase {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a larger value of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughput-like.
    Higher,
    /// Latency-like.
    Lower,
}

/// One measured number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Stable name within its path (`compare` matches on it), e.g. `cpu.w4.batch256.sigs_per_s`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Unit (`sig/s`, `µs`, `insn/s`, `req/s`, `ns`).
    pub unit: String,
    /// Direction of improvement.
    pub better: Better,
}

impl Metric {
    /// A metric.
    pub fn new(name: impl Into<String>, value: f64, unit: &str, better: Better) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            better,
        }
    }
}

/// One line of a plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend.
    pub label: String,
    /// `(x, y)` points, ascending in x.
    pub points: Vec<(f64, f64)>,
}

/// A plot: throughput vs batch size, latency percentiles, a soak timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis (batch sizes).
    pub log_x: bool,
    /// The lines.
    pub series: Vec<Series>,
}

/// The result of one path (or one subject of a path, e.g. one BLS backend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathResult {
    /// `bls`, `ebpf`, `vm`, `sockets`, `kernel`.
    pub path: String,
    /// What was qualified (`cpu-pool`, `plugin:libkeel_blst.so`, `jit`, …).
    pub subject: String,
    /// Against the reference.
    pub conformance: Phase,
    /// Measurements ran to completion and were sane.
    pub performance: Phase,
    /// Numbers `compare` looks at.
    pub metrics: Vec<Metric>,
    /// Plots for the HTML report.
    pub curves: Vec<Curve>,
    /// SHA-256 (hex) of the file qualified, for plug-ins: what `keel serve` checks before
    /// using one.
    #[serde(default)]
    pub artifact_sha256: Option<String>,
}

impl PathResult {
    /// A result with empty phases.
    pub fn new(path: &str, subject: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            subject: subject.into(),
            conformance: Phase::new(),
            performance: Phase::new(),
            metrics: Vec::new(),
            curves: Vec::new(),
            artifact_sha256: None,
        }
    }

    /// Whether either phase failed.
    pub fn failed(&self) -> bool {
        self.conformance.verdict == Verdict::Fail || self.performance.verdict == Verdict::Fail
    }
}

/// Percentile `p` (0..=100) of sorted samples; 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
