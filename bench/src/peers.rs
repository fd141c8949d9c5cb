//! `keel bench peers`: the suite's macro workloads on Keel's two tiers beside peer systems,
//! per workload: throughput, p50/p99 latency per transaction, each system's own gas against
//! time (ns per gas and its CV across workloads), and lines of contract code.
//!
//! Peers: revm (EVM, in-memory database, state committed per transaction) on the Solidity
//! ports in `evm/` compiled by the pinned solc ([`crate::evm_ports`]); each revm run passes the
//! workload's own invariant check, like Keel's. The "WASM-based chains" baseline: Keel's
//! contracts without Keel's metering on wasmtime with its own fuel, one unit per operator plus
//! a flat price per host call ([`crate::fuel`]), invariant checked too. MoveVM: its crates are
//! not published on the registries this project can reach, so it has no row.

use crate::counters::CounterSet;
use crate::evm_ports::{self, EvmDeployed};
use crate::fuel;
use crate::stats;
use crate::suite::{self, TIERS};
use crate::workloads::{self, Workload};
use serde::Serialize;

#[derive(Debug, Clone, clap::Args)]
pub struct PeersArgs {
    /// Measured transactions per workload and system.
    #[arg(long, default_value_t = 2_000)]
    pub txs: u32,
    /// Unmeasured transactions run first on every system.
    #[arg(long, default_value_t = 100)]
    pub warmup: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What one system measured on one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub tx_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// The system's own gas per transaction (Keel: compute gas; revm: EVM gas;
    /// wasmtime-fuel: fuel).
    pub gas_per_tx: f64,
    pub ns_per_gas: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Measured(Measured),
    Unavailable { unavailable: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerRow {
    pub workload: &'static str,
    pub system: &'static str,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Non-blank, non-comment lines of the contract source (imports not counted).
    pub contract_lines: Option<usize>,
}

/// Gas-vs-time accuracy of one system across the workloads it ran.
#[derive(Debug, Clone, Serialize)]
pub struct SystemAccuracy {
    pub system: &'static str,
    pub workloads: usize,
    pub cv: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeersReport {
    pub txs: u32,
    pub rows: Vec<PeerRow>,
    pub accuracy: Vec<SystemAccuracy>,
    pub notes: Vec<&'static str>,
}

pub const MOVEVM_NOTE: &str = "MoveVM: not measured; its crates are not published on the \
    package registries this project can reach (crates.io), so no row is reported rather than \
    a faked one";

/// Lines that are neither blank nor only a comment (`//`, `/*`, `*` continuation).
pub fn code_lines(source: &str) -> usize {
    source
        .lines()
        .map(str::trim)
        .filter(|l| {
            !(l.is_empty() || l.starts_with("//") || l.starts_with("/*") || l.starts_with('*'))
        })
        .count()
}

/// The C source of a Keel contract, from the repository (for line counts).
fn keel_source(w: &Workload) -> Option<&'static str> {
    Some(match w.contract.name {
        "token" => include_str!("../../contracts/c/token.c"),
        "amm" => include_str!("../../contracts/c/amm.c"),
        "lending" => include_str!("../../contracts/c/lending.c"),
        "game" => include_str!("../../contracts/c/game.c"),
        "nft" => include_str!("../../contracts/c/nft.c"),
        _ => return None,
    })
}

/// Throughput, latency quantiles and gas per transaction of `n` timed transactions.
pub(crate) fn summarise(mut micros: Vec<f64>, gas_sum: f64, n: u32) -> Measured {
    let total_s = micros.iter().sum::<f64>() / 1e6;
    let mean_us = stats::mean(&micros);
    micros.sort_by(f64::total_cmp);
    let gas_per_tx = gas_sum / f64::from(n.max(1));
    Measured {
        tx_per_s: if total_s > 0.0 {
            f64::from(n) / total_s
        } else {
            0.0
        },
        p50_us: stats::quantile(&micros, 0.5),
        p99_us: stats::quantile(&micros, 0.99),
        gas_per_tx,
        ns_per_gas: if gas_per_tx > 0.0 {
            mean_us * 1e3 / gas_per_tx
        } else {
            0.0
        },
    }
}

/// `w`'s Solidity port on revm: warm-up, `txs` measured transactions, then the invariant.
pub fn revm_measure(w: &'static Workload, txs: u32, warmup: u32) -> anyhow::Result<Measured> {
    let mut d = EvmDeployed::new(w)?;
    let mut outputs = Vec::new();
    for i in 0..warmup {
        outputs.push(d.run_tx(i)?.output);
    }
    let mut micros = Vec::with_capacity(txs as usize);
    let mut gas = 0f64;
    for i in warmup..warmup.saturating_add(txs) {
        let s = d.run_tx(i)?;
        micros.push(s.elapsed.as_secs_f64() * 1e6);
        gas += s.gas as f64;
        outputs.push(s.output);
    }
    d.check(&outputs)
        .map_err(|e| anyhow::anyhow!("{} on revm: invariant: {e}", w.name))?;
    Ok(summarise(micros, gas, txs))
}

fn unavailable(reason: impl Into<String>) -> Outcome {
    Outcome::Unavailable {
        unavailable: reason.into(),
    }
}

/// Rows of one workload: Keel's tiers, revm, wasmtime with fuel.
fn workload_rows(w: &'static Workload, a: &PeersArgs) -> anyhow::Result<Vec<PeerRow>> {
    let mut counters = CounterSet::open();
    let keel_lines = keel_source(w).map(code_lines);
    let mut rows = Vec::new();
    for tier in TIERS {
        let r = suite::measure(w, tier, a.txs, a.warmup, &mut counters)?;
        let system = if tier.1 == "wasmi" {
            "keel-wasmi"
        } else {
            "keel-wasmtime"
        };
        rows.push(PeerRow {
            workload: w.name,
            system,
            outcome: Outcome::Measured(Measured {
                tx_per_s: r.tx_per_s,
                p50_us: r.p50_us,
                p99_us: r.p99_us,
                gas_per_tx: r.gas.compute,
                ns_per_gas: r.ns_per_compute_gas,
            }),
            contract_lines: keel_lines,
        });
    }
    let (revm, sol_lines) = match evm_ports::port(w.name) {
        Some(p) => (
            Outcome::Measured(revm_measure(w, a.txs, a.warmup)?),
            Some(code_lines(p.source)),
        ),
        None => (
            unavailable("no Solidity port of this workload in bench/evm"),
            None,
        ),
    };
    rows.push(PeerRow {
        workload: w.name,
        system: "revm",
        outcome: revm,
        contract_lines: sol_lines,
    });
    rows.push(PeerRow {
        workload: w.name,
        system: fuel::SYSTEM,
        outcome: Outcome::Measured(fuel::measure(w, a.txs, a.warmup)?),
        contract_lines: keel_lines,
    });
    Ok(rows)
}

fn accuracy(rows: &[PeerRow]) -> Vec<SystemAccuracy> {
    let mut systems: Vec<&'static str> = rows.iter().map(|r| r.system).collect();
    systems.dedup();
    systems.sort_unstable();
    systems.dedup();
    systems
        .into_iter()
        .filter_map(|system| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r.system == system)
                .filter_map(|r| match &r.outcome {
                    Outcome::Measured(m) if m.ns_per_gas > 0.0 => Some(m.ns_per_gas),
                    _ => None,
                })
                .collect();
            (!v.is_empty()).then(|| SystemAccuracy {
                system,
                workloads: v.len(),
                cv: stats::cv(&v),
            })
        })
        .collect()
}

pub fn run(a: &PeersArgs) -> anyhow::Result<PeersReport> {
    let mut rows = Vec::new();
    for w in workloads::macros() {
        if !a.json {
            eprintln!("{}…", w.name);
        }
        rows.extend(workload_rows(w, a)?);
    }
    Ok(PeersReport {
        txs: a.txs,
        accuracy: accuracy(&rows),
        rows,
        notes: vec![MOVEVM_NOTE],
    })
}

pub fn print_table(r: &PeersReport) {
    println!(
        "{} measured transactions per workload and system, committed one by one",
        r.txs
    );
    println!(
        "{:<18} {:<14} {:>10} {:>9} {:>9} {:>10} {:>8} {:>6}",
        "workload", "system", "tx/s", "p50 µs", "p99 µs", "gas/tx", "ns/gas", "lines"
    );
    for row in &r.rows {
        let lines = row.contract_lines.map_or("-".into(), |l| l.to_string());
        match &row.outcome {
            Outcome::Measured(m) => println!(
                "{:<18} {:<14} {:>10.0} {:>9.2} {:>9.2} {:>10.0} {:>8.3} {:>6}",
                row.workload,
                row.system,
                m.tx_per_s,
                m.p50_us,
                m.p99_us,
                m.gas_per_tx,
                m.ns_per_gas,
                lines
            ),
            Outcome::Unavailable { unavailable } => println!(
                "{:<18} {:<14} unavailable: {unavailable}",
                row.workload, row.system
            ),
        }
    }
    for a in &r.accuracy {
        println!(
            "gas vs time {:<14} CV of ns/gas over {} workloads: {:.3}",
            a.system, a.workloads, a.cv
        );
    }
    for n in &r.notes {
        println!("{n}");
    }
}
