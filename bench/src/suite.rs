//! `keel bench suite`: every workload of [`crate::workloads`] on both Keel engine tiers (wasmi,
//! wasmtime), each transaction committed before the next. Per row: throughput, p50/p99 latency
//! per transaction, mean gas per dimension, ns per unit of compute gas and the thread's
//! hardware counters; per tier: gas-cost accuracy, the coefficient of variation of ns/gas across
//! workloads (a perfect schedule makes gas proportional to time, CV 0). Every workload's
//! invariant is checked after its run, so a row is only reported for a correct execution.

use crate::counters::{CounterSet, Counters};
use crate::stats;
use crate::vm_run::{Deployed, RunError};
use crate::workloads::{self, Domain, Workload};
use keel_vm::engine::choice::EngineChoice;
use serde::Serialize;

/// The Keel engine tiers the suite measures, with their report names.
pub const TIERS: [(EngineChoice, &str); 2] = [
    (EngineChoice::Wasmi, "wasmi"),
    (EngineChoice::Wasmtime, "wasmtime"),
];

#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    /// Measured transactions per workload and tier.
    #[arg(long, default_value_t = 2_000)]
    pub txs: u32,
    /// Unmeasured transactions run first (caches, branch predictors, JIT code paging in).
    #[arg(long, default_value_t = 100)]
    pub warmup: u32,
    /// Only these workloads (default: all); names as in the report.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Mean gas of one transaction, per dimension.
#[derive(Debug, Clone, Serialize)]
pub struct GasPerTx {
    pub compute: f64,
    pub storage_bytes: f64,
    pub memory_pages: f64,
    pub bandwidth: f64,
}

/// One workload on one tier.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: &'static str,
    pub domain: Domain,
    pub about: &'static str,
    pub tier: &'static str,
    /// Whether the calls ran on JIT code (false on wasmi; false on wasmtime only if the
    /// module could not be compiled within budget and fell back to wasmi).
    pub on_jit: bool,
    pub txs: u32,
    pub tx_per_s: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub gas: GasPerTx,
    /// Mean time ÷ mean compute gas.
    pub ns_per_compute_gas: f64,
    pub counters: Counters,
}

/// Gas-cost accuracy of one tier: how far ns per compute gas varies across workloads.
#[derive(Debug, Clone, Serialize)]
pub struct Accuracy {
    pub tier: &'static str,
    pub workloads: usize,
    pub mean_ns_per_gas: f64,
    pub min_ns_per_gas: f64,
    pub max_ns_per_gas: f64,
    /// Coefficient of variation of ns/gas across the workloads.
    pub cv: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub txs: u32,
    pub warmup: u32,
    pub rows: Vec<Row>,
    pub accuracy: Vec<Accuracy>,
}

/// The workloads `names` selects (all for an empty list). Errors on an unknown name.
pub fn select(names: &[String]) -> Result<Vec<&'static Workload>, String> {
    if names.is_empty() {
        return Ok(workloads::all());
    }
    names
        .iter()
        .map(|n| {
            workloads::get(n).ok_or_else(|| {
                let known: Vec<_> = workloads::all().iter().map(|w| w.name).collect();
                format!("unknown workload {n:?} (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// Runs `workload` on `tier`: warm-up, then `txs` measured transactions, then the invariant.
pub fn measure(
    workload: &'static Workload,
    tier: (EngineChoice, &'static str),
    txs: u32,
    warmup: u32,
    counters: &mut CounterSet,
) -> Result<Row, RunError> {
    let mut d = Deployed::new(workload, tier.0)?;
    let total = warmup.saturating_add(txs);
    let mut outputs = Vec::with_capacity(total as usize);
    for i in 0..warmup {
        outputs.push(d.tx(i)?.output);
    }
    let mut micros = Vec::with_capacity(txs as usize);
    let mut gas = [0f64; 4];
    counters.start();
    for i in warmup..total {
        let s = d.tx(i)?;
        micros.push(s.elapsed.as_secs_f64() * 1e6);
        for (sum, g) in gas.iter_mut().zip([
            s.gas.compute,
            s.gas.storage_bytes,
            s.gas.memory_pages,
            s.gas.bandwidth,
        ]) {
            *sum += g as f64;
        }
        outputs.push(s.output);
    }
    let counted = counters.stop(txs);
    d.check(&outputs)?;
    let n = f64::from(txs.max(1));
    let total_s = micros.iter().sum::<f64>() / 1e6;
    let mean_us = stats::mean(&micros);
    micros.sort_by(f64::total_cmp);
    let gas = GasPerTx {
        compute: gas[0] / n,
        storage_bytes: gas[1] / n,
        memory_pages: gas[2] / n,
        bandwidth: gas[3] / n,
    };
    Ok(Row {
        workload: workload.name,
        domain: workload.domain,
        about: workload.about,
        tier: tier.1,
        on_jit: d.on_jit(),
        txs,
        tx_per_s: if total_s > 0.0 { n / total_s } else { 0.0 },
        mean_us,
        p50_us: stats::quantile(&micros, 0.5),
        p99_us: stats::quantile(&micros, 0.99),
        ns_per_compute_gas: if gas.compute > 0.0 {
            mean_us * 1e3 / gas.compute
        } else {
            0.0
        },
        gas,
        counters: counted,
    })
}

/// Gas-cost accuracy per tier over `rows`.
pub fn accuracy(rows: &[Row]) -> Vec<Accuracy> {
    TIERS
        .iter()
        .filter_map(|&(_, tier)| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r.tier == tier && r.ns_per_compute_gas > 0.0)
                .map(|r| r.ns_per_compute_gas)
                .collect();
            (!v.is_empty()).then(|| Accuracy {
                tier,
                workloads: v.len(),
                mean_ns_per_gas: stats::mean(&v),
                min_ns_per_gas: v.iter().copied().fold(f64::INFINITY, f64::min),
                max_ns_per_gas: v.iter().copied().fold(0.0, f64::max),
                cv: stats::cv(&v),
            })
        })
        .collect()
}

/// Runs the selected workloads on every tier, in workload order (wasmi then wasmtime for
/// each workload, so load on a shared machine skews the two tiers of a row alike).
pub fn run(a: &SuiteArgs) -> anyhow::Result<SuiteReport> {
    let selected = select(&a.workloads).map_err(anyhow::Error::msg)?;
    let mut counters = CounterSet::open();
    let mut rows = Vec::new();
    for w in selected {
        for tier in TIERS {
            if !a.json {
                eprintln!("{} on {}…", w.name, tier.1);
            }
            rows.push(measure(w, tier, a.txs, a.warmup, &mut counters)?);
        }
    }
    Ok(SuiteReport {
        txs: a.txs,
        warmup: a.warmup,
        accuracy: accuracy(&rows),
        rows,
    })
}

/// The report as a table for people.
pub fn print_table(r: &SuiteReport) {
    println!(
        "{} measured transactions per row (after {} warm-up), each committed before the next",
        r.txs, r.warmup
    );
    println!(
        "{:<18} {:<9} {:>10} {:>9} {:>9} {:>11} {:>8} {:>7} {:>9}",
        "workload", "tier", "tx/s", "p50 µs", "p99 µs", "gas/tx", "ns/gas", "IPC", "cyc/tx"
    );
    let opt = |v: Option<f64>, p: usize| v.map_or("n/a".into(), |v| format!("{v:.p$}"));
    for row in &r.rows {
        println!(
            "{:<18} {:<9} {:>10.0} {:>9.2} {:>9.2} {:>11.0} {:>8.3} {:>7} {:>9}",
            row.workload,
            row.tier,
            row.tx_per_s,
            row.p50_us,
            row.p99_us,
            row.gas.compute,
            row.ns_per_compute_gas,
            opt(row.counters.ipc.value(), 2),
            opt(row.counters.cycles.value(), 0),
        );
    }
    for a in &r.accuracy {
        println!(
            "gas accuracy {:<9} ns/compute gas over {} workloads: mean {:.3}, range {:.3}–{:.3}, CV {:.3}",
            a.tier, a.workloads, a.mean_ns_per_gas, a.min_ns_per_gas, a.max_ns_per_gas, a.cv
        );
    }
    if let Some(row) = r.rows.first()
        && let crate::counters::Metric::Unavailable { unavailable } = &row.counters.cycles
    {
        println!("hardware counters unavailable: {unavailable}");
    }
}
