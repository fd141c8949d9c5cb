//! The benchmark report: serde for `--json`, `Display` for a human table.

use std::fmt;

use serde::Serialize;

use crate::pool::WorkerInfo;
use crate::topology::Topology;

/// Which kind of set a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetKind {
    /// Every signature on its own message.
    Distinct,
    /// Every key signs the same message.
    SameMessage,
}

impl SetKind {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Distinct => "distinct",
            Self::SameMessage => "same-message",
        }
    }
}

/// One set's timings, per signature, in nanoseconds (medians over `reps` runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// Set name, e.g. `distinct-256`.
    pub set: String,
    /// Kind of set.
    pub kind: SetKind,
    /// Signatures in the set.
    pub n: usize,
    /// Repetitions per path.
    pub reps: usize,
    /// Naive loop: one full blst verification per signature, one thread.
    pub naive_ns_per_sig: f64,
    /// Keel's pinned workers (batch verification, grouping, subgroup checks).
    pub keel_ns_per_sig: f64,
    /// blst's pooled `verify_multiple_aggregate_signatures`; `None` when skipped.
    pub pooled_ns_per_sig: Option<f64>,
    /// naive / keel: how many times faster Keel is than the naive loop.
    pub keel_speedup_vs_naive: f64,
    /// pooled / keel: above 1 means Keel is faster than blst's pool.
    pub keel_speedup_vs_pooled: Option<f64>,
}

fn per_sig(total_ns: u64, n: usize) -> f64 {
    total_ns as f64 / n.max(1) as f64
}

impl BenchRow {
    pub(super) fn new(
        set: &str,
        kind: SetKind,
        n: usize,
        reps: usize,
        naive_ns: u64,
        keel_ns: u64,
    ) -> Self {
        let naive = per_sig(naive_ns, n);
        let keel = per_sig(keel_ns, n);
        Self {
            set: set.to_owned(),
            kind,
            n,
            reps,
            naive_ns_per_sig: naive,
            keel_ns_per_sig: keel,
            pooled_ns_per_sig: None,
            keel_speedup_vs_naive: naive / keel.max(1.0),
            keel_speedup_vs_pooled: None,
        }
    }

    pub(super) fn set_pooled(&mut self, pooled_ns: u64) {
        let pooled = per_sig(pooled_ns, self.n);
        self.pooled_ns_per_sig = Some(pooled);
        self.keel_speedup_vs_pooled = Some(pooled / self.keel_ns_per_sig.max(1.0));
    }
}

/// Same-message against distinct-message cost on Keel's path at equal `n`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SameMessageGain {
    /// Signatures in both sets.
    pub n: usize,
    /// Keel distinct ns/sig divided by Keel same-message ns/sig.
    pub vs_keel_distinct: f64,
    /// Naive distinct ns/sig divided by Keel same-message ns/sig.
    pub vs_naive_distinct: f64,
}

/// The whole report of `keel bench bls`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlsBenchReport {
    /// The machine's topology.
    pub topology: Topology,
    /// Keel's workers (CPU, node, pinned).
    pub keel_workers: Vec<WorkerInfo>,
    /// Threads in blst's pool (one per logical CPU); `None` when the baseline was skipped.
    pub pooled_threads: Option<usize>,
    /// One row per set.
    pub rows: Vec<BenchRow>,
    /// Same-message gain for each same-message size that also has a distinct set.
    pub same_message_gain: Vec<SameMessageGain>,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run ended: other work on the machine skews
    /// wall-clock numbers, pinned workers most of all.
    pub load_average: Option<[f64; 3]>,
}

/// Reads `/proc/loadavg`; `None` where it does not exist.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

impl BlsBenchReport {
    pub(super) fn new(
        topology: Topology,
        keel_workers: Vec<WorkerInfo>,
        pooled_threads: Option<usize>,
        rows: Vec<BenchRow>,
    ) -> Self {
        let same_message_gain = rows
            .iter()
            .filter(|r| r.kind == SetKind::SameMessage)
            .filter_map(|same| {
                let distinct = rows
                    .iter()
                    .find(|r| r.kind == SetKind::Distinct && r.n == same.n)?;
                Some(SameMessageGain {
                    n: same.n,
                    vs_keel_distinct: distinct.keel_ns_per_sig / same.keel_ns_per_sig.max(1.0),
                    vs_naive_distinct: distinct.naive_ns_per_sig / same.keel_ns_per_sig.max(1.0),
                })
            })
            .collect();
        Self {
            topology,
            keel_workers,
            pooled_threads,
            rows,
            same_message_gain,
            load_average: load_average(),
        }
    }
}

impl fmt::Display for BlsBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pinned = self.keel_workers.iter().filter(|w| w.pinned).count();
        writeln!(
            f,
            "keel workers: {} ({} pinned); blst pool threads: {}",
            self.keel_workers.len(),
            pinned,
            self.pooled_threads
                .map_or_else(|| "skipped".to_owned(), |t| t.to_string())
        )?;
        writeln!(
            f,
            "{:<18} {:>5} {:>13} {:>12} {:>13} {:>11} {:>11}",
            "set", "n", "naive us/sig", "keel us/sig", "blst-pool us", "keel/naive", "keel/pool"
        )?;
        for r in &self.rows {
            let pooled = r
                .pooled_ns_per_sig
                .map_or_else(|| "-".to_owned(), |p| format!("{:.1}", p / 1e3));
            let vs_pooled = r
                .keel_speedup_vs_pooled
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}x"));
            writeln!(
                f,
                "{:<18} {:>5} {:>13.1} {:>12.1} {:>13} {:>10.2}x {:>11}",
                r.set,
                r.n,
                r.naive_ns_per_sig / 1e3,
                r.keel_ns_per_sig / 1e3,
                pooled,
                r.keel_speedup_vs_naive,
                vs_pooled
            )?;
        }
        if let Some([one, five, fifteen]) = self.load_average {
            writeln!(
                f,
                "load average at the end: {one:.2} {five:.2} {fifteen:.2}"
            )?;
        }
        for g in &self.same_message_gain {
            writeln!(
                f,
                "same-message n={}: {:.1}x cheaper per signature than keel distinct, {:.1}x than naive distinct",
                g.n, g.vs_keel_distinct, g.vs_naive_distinct
            )?;
        }
        Ok(())
    }
}
