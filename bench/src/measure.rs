//! The interleaved rounds of `keel-bench erc20` and their report.

use crate::evm::{self, EvmToken};
use crate::keel::{self, KeelToken};
use anyhow::ensure;
use keel_vm::VmConfig;
use keel_vm::engine::choice::EngineChoice;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Erc20Args {
    /// Transactions (and calls) per round and side.
    #[arg(long, default_value_t = 2_000)]
    pub txs: u32,
    /// Measured rounds; each runs every workload on both sides once.
    #[arg(long, default_value_t = 7)]
    pub rounds: u32,
    /// Distinct recipients the transfers cycle through.
    #[arg(long, default_value_t = 100)]
    pub recipients: u32,
    /// Keel's contract engine tier: `tiered` (a node's default: wasmi until the token's
    /// background compilation lands, wasmtime after; the best round is on wasmtime), `wasmi`
    /// (the interpreter alone, `KEEL_VM_ENGINE=wasmi` on a node) or `wasmtime` (compiled
    /// before the first call).
    #[arg(long, default_value = "tiered", value_parser = parse_engine)]
    pub engine: EngineChoice,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_engine(s: &str) -> Result<EngineChoice, String> {
    EngineChoice::parse(s).ok_or_else(|| format!("{s:?}: expected wasmi, wasmtime or tiered"))
}

/// One workload's result: best round of each side, µs per transaction.
#[derive(Debug, Serialize)]
pub struct Row {
    pub workload: &'static str,
    pub keel_us: f64,
    /// `None` where the peer has no such phase (revm takes an already recovered sender).
    pub revm_us: Option<f64>,
    /// keel_us / revm_us.
    pub ratio: Option<f64>,
    /// Smallest and largest per-round ratio.
    pub ratio_range: Option<(f64, f64)>,
}

/// Per-round µs/tx of one workload on both sides.
#[derive(Default)]
struct Series {
    keel: Vec<f64>,
    revm: Vec<f64>,
}

impl Series {
    fn row(&self, workload: &'static str) -> Row {
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let keel_us = min(&self.keel);
        let revm_us = (!self.revm.is_empty()).then(|| min(&self.revm));
        let ratios: Vec<f64> = self
            .keel
            .iter()
            .zip(&self.revm)
            .map(|(k, r)| k / r.max(1e-12))
            .collect();
        let ratio_range = (!ratios.is_empty()).then(|| {
            let lo = min(&ratios);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            (lo, hi)
        });
        Row {
            workload,
            keel_us,
            revm_us,
            ratio: revm_us.map(|r| keel_us / r.max(1e-12)),
            ratio_range,
        }
    }
}

fn per_tx(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(n.max(1))
}

fn time<T>(n: u32, mut f: impl FnMut(u32) -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let started = Instant::now();
    for i in 0..n {
        std::hint::black_box(f(i)?);
    }
    Ok(per_tx(started.elapsed(), n))
}

struct Sides {
    keel: KeelToken,
    /// The same chain with every call on a fresh instance: the reference path of the reuse.
    fresh: KeelToken,
    fresh_prepared: std::sync::Arc<keel_vm::Prepared>,
    evm: EvmToken,
    txs: Vec<keel_chain::SignedTx>,
    prepared: std::sync::Arc<keel_vm::Prepared>,
}

/// Runs one round of every workload; pushes µs/tx into the series.
fn round(s: &mut Sides, a: &Erc20Args, series: &mut [Series; 8]) -> anyhow::Result<()> {
    let n = a.txs;
    let r = a.recipients.max(1);
    let [full, raw, read, sigs, sigs_ref, decode, full_ref, raw_ref] = series;
    let block = s.keel.run_block(&s.txs, true)?;
    full.keel.push(per_tx(block.execute, n));
    let block = s.fresh.run_block(&s.txs, true)?;
    full_ref.keel.push(per_tx(block.execute, n));
    let states: Vec<_> = (0..n).map(|_| s.fresh.memory_state()).collect();
    let mut states = states.into_iter();
    raw_ref.keel.push(time(n, |i| {
        let st = states.next().unwrap_or_default();
        s.fresh
            .raw_transfer(&s.fresh_prepared, st, &keel::recipient(i % r))
    })?);
    sigs.keel.push(per_tx(block.signatures, n));
    let block = s.keel.run_block(&s.txs, false)?;
    sigs_ref.keel.push(per_tx(block.signatures, n));
    let started = Instant::now();
    let decoded = KeelToken::decode_signatures(&s.txs);
    decode.keel.push(per_tx(started.elapsed(), n));
    ensure!(
        decoded == s.txs.len(),
        "a benchmark signature does not decode"
    );
    full.revm
        .push(time(n, |i| s.evm.transfer_commit(&evm::recipient(i % r)))?);

    let states: Vec<_> = (0..n).map(|_| s.keel.memory_state()).collect();
    let mut states = states.into_iter();
    raw.keel.push(time(n, |i| {
        let st = states.next().unwrap_or_default();
        s.keel
            .raw_transfer(&s.prepared, st, &keel::recipient(i % r))
    })?);
    raw.revm.push(time(n, |i| {
        s.evm.transfer_uncommitted(&evm::recipient(i % r))
    })?);

    let states: Vec<_> = (0..n).map(|_| s.keel.memory_state()).collect();
    let mut states = states.into_iter();
    read.keel.push(time(n, |_| {
        s.keel.balance_of(states.next().unwrap_or_default())
    })?);
    let owner = evm::recipient(0);
    read.revm.push(time(n, |_| s.evm.balance_of(&owner))?);
    Ok(())
}

pub fn erc20(a: &Erc20Args) -> anyhow::Result<()> {
    let supply = 10u128.pow(27);
    let keel = KeelToken::deploy(supply, VmConfig::default(), a.engine)?;
    let evm = EvmToken::deploy(supply)?;
    if !a.json {
        eprintln!("signing {} transfers…", a.txs);
    }
    let txs = keel.transfers(a.txs, a.recipients)?;
    let prepared = keel.prepared()?;
    let fresh = KeelToken::deploy(
        supply,
        VmConfig {
            reuse_instances: false,
            ..VmConfig::default()
        },
        a.engine,
    )?;
    let fresh_prepared = fresh.prepared()?;
    let mut s = Sides {
        keel,
        fresh,
        fresh_prepared,
        evm,
        txs,
        prepared,
    };
    // Warm-up: compile caches, allocator, branch predictors; also checks both sides agree.
    let block = s.keel.run_block(&s.txs, true)?;
    let evm_gas = s.evm.transfer_commit(&evm::recipient(0))?;
    let balance = s.keel.balance_of(s.keel.memory_state())?;
    ensure!(
        balance.get(..16) == Some(&supply.to_le_bytes()[..]),
        "keel balance_of disagrees with the minted supply"
    );
    let mut series: [Series; 8] = Default::default();
    for i in 0..a.rounds.max(1) {
        if !a.json {
            eprintln!("round {}/{}…", i + 1, a.rounds.max(1));
        }
        round(&mut s, a, &mut series)?;
    }
    // The reference-path rows compare against the same revm rounds as their fast-path rows.
    series[6].revm = series[0].revm.clone();
    series[7].revm = series[1].revm.clone();
    // Everything the executing thread spends on a transaction: the signature phase's share
    // (keys, signing message, transaction hash) plus its execution, round by round.
    let with_sigs = Series {
        keel: series[0]
            .keel
            .iter()
            .zip(&series[3].keel)
            .map(|(full, sigs)| full + sigs)
            .collect(),
        revm: series[0].revm.clone(),
    };
    let rows = [
        series[0].row("full transaction (transfer)"),
        with_sigs.row("  + signature phase, exec. thread"),
        series[1].row("raw VM call (transfer)"),
        series[2].row("read-only call (balance_of)"),
        series[3].row("signatures, executing thread"),
        series[4].row("  same, key cache off"),
        series[5].row("  signature decode (workers)"),
        series[6].row("full tx, fresh instances"),
        series[7].row("raw call, fresh instances"),
    ];
    report(a, &rows, block.compute_gas, evm_gas)
}

fn report(a: &Erc20Args, rows: &[Row], keel_gas: u64, evm_gas: u64) -> anyhow::Result<()> {
    if a.json {
        let v = serde_json::json!({
            "bench": "erc20",
            "engine": a.engine.name(),
            "txs_per_round": a.txs,
            "rounds": a.rounds,
            "keel_transfer_compute_gas": keel_gas,
            "revm_transfer_gas": evm_gas,
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} transfers per round, {} rounds, best round per side, Keel on {} (Keel gas {keel_gas}, revm gas {evm_gas})",
        a.txs,
        a.rounds,
        a.engine.name()
    );
    println!(
        "{:<32} {:>10} {:>10} {:>8} {:>15}",
        "workload", "keel µs", "revm µs", "ratio", "round range"
    );
    for r in rows {
        let opt = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
        println!(
            "{:<32} {:>10.2} {:>10} {:>8} {:>15}",
            r.workload,
            r.keel_us,
            opt(r.revm_us, 2),
            opt(r.ratio, 2),
            r.ratio_range
                .map_or("-".into(), |(lo, hi)| format!("{lo:.2}–{hi:.2}")),
        );
    }
    Ok(())
}
