//! `keel bench exec`: the parallel block executor against the sequential reference, side by
//! side in one process, on four workloads and a conflict sweep.
//!
//! Workloads: native transfers; token transfers through `contracts/c/token.c`; AMM swaps
//! through `contracts/c/amm.c` (the hot pool is the one every conflicting swap uses); a
//! storage-heavy game (`contracts/c/game.c`, 8 records rewritten per move; conflicting moves
//! also raise one shared high score). At conflict `p` %, that share of the transactions touches
//! the hot record; the others touch records of their own. Every sender sends one transaction.
//!
//! Signatures are pre-verified (the verifier answers "valid" without pairing), so the numbers
//! are execution. Each round runs the sequential executor and then the parallel one on every
//! thread count on the same pre-state (cloned outside the timing); the median round is
//! reported. Every parallel result is checked equal to the sequential one.

use super::bench::BenchExecArgs;
use super::bench_state::sign_parallel;
use anyhow::{Context, bail, ensure};
use keel_chain::genesis::{self, demo_key};
use keel_chain::routines::RoutineCache;
use keel_chain::{
    Address, Amount, BlockHeader, BlockResult, CallData, ExecMode, ExecStats, Executor, SignedTx,
    Transaction, TxKind, TxStatus, address_of, contract_address, genesis_writes,
};
use keel_crypto::{EncodedItem, KeyCache, SecretKey, SignatureVerifier, Verdict, VerifyItem};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

type Base = BTreeMap<Vec<u8>, Vec<u8>>;

/// Signatures were checked when the transactions were made: this run measures execution.
struct PreVerified;

impl SignatureVerifier for PreVerified {
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        vec![Verdict::Valid; items.len()]
    }

    /// Without decoding the signatures first (the default's work, ~40 µs a transaction on
    /// the executing thread, which would make a run mostly signature decoding).
    fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
        vec![Verdict::Valid; items.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecWorkload {
    Native,
    Token,
    Amm,
    Game,
}

/// One row: a workload at a conflict rate on a thread count, against the sequential executor.
#[derive(Serialize)]
struct Row {
    workload: ExecWorkload,
    conflict_pct: u8,
    txs: usize,
    threads: usize,
    sequential_ms: f64,
    parallel_ms: f64,
    sequential_tx_per_s: f64,
    tx_per_s: f64,
    /// Sequential time ÷ parallel time (> 1: the parallel executor is faster).
    speedup: f64,
    /// The slowest and the fastest parallel round's speedup (against the sequential median):
    /// on a shared machine the spread says how far the median can be trusted.
    speedup_range: [f64; 2],
    aborts_per_tx: f64,
    incarnations_per_tx: f64,
    /// Runs the committer made itself on the committed state, per transaction (of the last
    /// round; included in `incarnations_per_tx`).
    committer_runs_per_tx: f64,
    estimate_waits: u64,
    /// The transaction at which speculation stopped for the rest of the block (of the last
    /// round), if it did: conflicts were too dense for it to pay.
    speculation_stopped_at: Option<u64>,
}

struct Setup {
    base: Base,
    keys: Vec<SecretKey>,
    addrs: Vec<Address>,
    token: Address,
    amm: Address,
    game: Address,
}

const HEIGHT: u64 = 3;

fn header(height: u64, proposer: Address) -> BlockHeader {
    BlockHeader {
        height,
        parent_root: [0; 32],
        timestamp: height,
        proposer,
        // Executed directly (no header check): the VRF and beacon fields are not verified.
        vrf: Default::default(),
        beacon: None,
    }
}

fn tx(key: &SecretKey, nonce: u64, kind: TxKind) -> SignedTx {
    Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [2_000_000, 10_000, 4, 10_000],
        max_fee_per_unit: [1_000, 1_000, 1_000, 1_000],
        priority_fee: 1,
        kind,
    }
    .sign(key)
}

fn call(contract: Address, entry: &str, args: Vec<u8>) -> TxKind {
    TxKind::Call {
        contract,
        call: CallData {
            entry: entry.into(),
            args,
        },
        value: Amount::ZERO,
    }
}

fn u256(v: u64) -> Vec<u8> {
    let mut a = vec![0u8; 32];
    a[..8].copy_from_slice(&v.to_le_bytes());
    a
}

/// A fresh address per index (cold recipients), none of them a genesis account.
fn cold(i: usize) -> Address {
    let mut a = [0xc0; 32];
    a[24..].copy_from_slice(&(i as u64).to_be_bytes());
    a
}

const HOT: Address = [0x77; 32];

struct Runner {
    vm: keel_vm::Vm,
    routines: RoutineCache,
    keys: Mutex<keel_chain::SenderKeys>,
}

impl Runner {
    fn exec(&self) -> Executor<'_> {
        Executor {
            vm: &self.vm,
            verifier: &PreVerified,
            routines: &self.routines,
            keys: &self.keys,
        }
    }

    /// Executes and returns (result, time, stats, state after).
    fn run(
        &self,
        base: &Base,
        height: u64,
        proposer: Address,
        txs: &[SignedTx],
        mode: ExecMode,
    ) -> anyhow::Result<(BlockResult, Duration, ExecStats, Base)> {
        let pre = base.clone();
        let done = self
            .exec()
            .execute_with(mode, pre, &header(height, proposer), txs)?;
        let mut after = base.clone();
        for (k, v) in done.writes {
            match v {
                Some(v) => after.insert(k, v),
                None => after.remove(&k),
            };
        }
        Ok((done.result, done.timings.execute, done.timings.exec, after))
    }

    /// A setup block, run by the reference executor; every transaction must succeed.
    fn setup(&self, base: &mut Base, height: u64, txs: &[SignedTx]) -> anyhow::Result<()> {
        let (r, _, _, after) = self.run(base, height, [0; 32], txs, ExecMode::Sequential)?;
        for (i, rc) in r.receipts.iter().enumerate() {
            ensure!(
                matches!(rc.status, TxStatus::Success { .. }),
                "setup block {height}, transaction {i}: {:?}",
                rc.status
            );
        }
        *base = after;
        Ok(())
    }
}

/// Genesis with `n` senders (+ account 0, the deployer) and every contract's state ready:
/// token balances for every sender, cold recipient and the hot one; a pool per sender plus the
/// hot pool 0; every player's records and the high score created.
fn setup(r: &Runner, n: usize) -> anyhow::Result<Setup> {
    let accounts = u32::try_from(n + 1).context("too many transactions")?;
    let g = genesis::demo(accounts, Amount::from_u128(10u128.pow(30)))?;
    let mut base: Base = genesis_writes(&g)?
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let keys: Vec<SecretKey> = (0..accounts).map(demo_key).collect();
    let addrs: Vec<Address> = keys
        .iter()
        .map(|k| address_of(&k.public_key().to_bytes()))
        .collect();
    let owner = &keys[0];
    let (token, amm, game) = (
        contract_address(&addrs[0], 0),
        contract_address(&addrs[0], 1),
        contract_address(&addrs[0], 2),
    );
    let deploy = |code: &[u8], constructor: Option<CallData>| TxKind::Deploy {
        code: code.to_vec(),
        constructor,
    };
    let mut block1 = vec![
        tx(
            owner,
            0,
            deploy(
                keel_contracts::TOKEN.wasm,
                Some(CallData {
                    entry: "init".into(),
                    args: u256(u64::MAX),
                }),
            ),
        ),
        tx(owner, 1, deploy(keel_contracts::AMM.wasm, None)),
        tx(owner, 2, deploy(keel_contracts::GAME.wasm, None)),
    ];
    let mut nonce = 3u64;
    let mut owner_tx = |kind: TxKind| {
        let t = tx(owner, nonce, kind);
        nonce += 1;
        t
    };
    let pool = |id: u64| {
        let mut args = id.to_le_bytes().to_vec();
        args.extend_from_slice(&1_000_000_000u64.to_le_bytes());
        args.extend_from_slice(&1_000_000_000u64.to_le_bytes());
        args
    };
    let to_token = |to: &Address| {
        let mut args = to.to_vec();
        args.extend_from_slice(&u256(1_000_000));
        args
    };
    block1.push(owner_tx(call(token, "transfer", to_token(&HOT))));
    block1.push(owner_tx(call(amm, "init", pool(0))));
    for (i, sender) in addrs.iter().skip(1).enumerate() {
        block1.push(owner_tx(call(token, "transfer", to_token(sender))));
        block1.push(owner_tx(call(token, "transfer", to_token(&cold(i)))));
        block1.push(owner_tx(call(amm, "init", pool(i as u64 + 1))));
    }
    block1.push(owner_tx(call(
        game,
        "play",
        vec![0, 0, 0, 0, 0, 0, 0, 0, 1],
    )));
    r.setup(&mut base, 1, &block1)?;
    // Block 2: every sender swaps once and plays once (their records exist from then on).
    let block2: Vec<SignedTx> = sign_parallel(u32::try_from(2 * n)?, |j| {
        let j = j as usize;
        let i = j / 2;
        let key = &keys[i + 1];
        if j.is_multiple_of(2) {
            let mut args = (i as u64 + 1).to_le_bytes().to_vec();
            args.extend_from_slice(&1_000u64.to_le_bytes());
            args.extend_from_slice(&0u64.to_le_bytes());
            tx(key, 0, call(amm, "swap", args))
        } else {
            tx(key, 1, call(game, "play", vec![1, 2, 3, 4, 5, 6, 7, 8, 0]))
        }
    });
    r.setup(&mut base, 2, &block2)?;
    Ok(Setup {
        base,
        keys,
        addrs,
        token,
        amm,
        game,
    })
}

/// The measured block: sender i's one transaction, hot for the first `conflict` % of a
/// deterministic shuffle of the indices.
fn workload(s: &Setup, w: ExecWorkload, conflict: u8, n: usize) -> anyhow::Result<Vec<SignedTx>> {
    let hot = |i: usize| (i.wrapping_mul(7919) % 100) < usize::from(conflict);
    let txs = sign_parallel(u32::try_from(n)?, |i| {
        let i = i as usize;
        let key = &s.keys[i + 1];
        let kind = match w {
            ExecWorkload::Native => TxKind::Transfer {
                to: if hot(i) { HOT } else { cold(i) },
                amount: Amount::from_u128(1),
            },
            ExecWorkload::Token => {
                let mut args = if hot(i) { HOT } else { cold(i) }.to_vec();
                args.extend_from_slice(&u256(1));
                call(s.token, "transfer", args)
            }
            ExecWorkload::Amm => {
                let pool = if hot(i) { 0 } else { i as u64 + 1 };
                let mut args = pool.to_le_bytes().to_vec();
                args.extend_from_slice(&1_000u64.to_le_bytes());
                args.extend_from_slice(&0u64.to_le_bytes());
                call(s.amm, "swap", args)
            }
            ExecWorkload::Game => {
                let mut args = (i as u64).to_le_bytes().to_vec();
                args.push(u8::from(hot(i)));
                call(s.game, "play", args)
            }
        };
        tx(key, 2, kind)
    });
    Ok(txs)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Measures one workload at one conflict rate: sequential and every thread count, interleaved.
fn measure(
    r: &Runner,
    s: &Setup,
    w: ExecWorkload,
    conflict: u8,
    a: &BenchExecArgs,
) -> anyhow::Result<Vec<Row>> {
    let n = a.txs;
    let txs = workload(s, w, conflict, n)?;
    let proposer = s.addrs[0];
    // Warm-up: compile caches, and the reference result every parallel run must equal.
    let (want, _, _, want_state) = r.run(&s.base, HEIGHT, proposer, &txs, ExecMode::Sequential)?;
    if let Some((i, rc)) = want
        .receipts
        .iter()
        .enumerate()
        .find(|(_, rc)| !matches!(rc.status, TxStatus::Success { .. }))
    {
        bail!("{w:?} transaction {i}: {:?}", rc.status);
    }
    let mut seq = Vec::new();
    let mut par: Vec<(Vec<Duration>, ExecStats)> =
        vec![(Vec::new(), ExecStats::default()); a.threads.len()];
    for _ in 0..a.rounds {
        seq.push(
            r.run(&s.base, HEIGHT, proposer, &txs, ExecMode::Sequential)?
                .1,
        );
        for (k, &t) in a.threads.iter().enumerate() {
            let mode = ExecMode::Parallel(NonZeroUsize::new(t).context("threads must be ≥ 1")?);
            let (got, time, stats, state) = r.run(&s.base, HEIGHT, proposer, &txs, mode)?;
            ensure!(
                got == want && state == want_state,
                "{w:?} at {conflict} % on {t} threads differs from the sequential executor"
            );
            par[k].0.push(time);
            par[k].1 = stats;
        }
    }
    let seq = median(seq);
    Ok(a.threads
        .iter()
        .zip(par)
        .map(|(&threads, (times, stats))| {
            let speedup = |t: Duration| seq.as_secs_f64() / t.as_secs_f64().max(1e-9);
            let slowest = times.iter().max().copied().unwrap_or_default();
            let fastest = times.iter().min().copied().unwrap_or_default();
            let p = median(times);
            let per = |x: u64| x as f64 / n.max(1) as f64;
            Row {
                workload: w,
                conflict_pct: conflict,
                txs: n,
                threads,
                sequential_ms: ms(seq),
                parallel_ms: ms(p),
                sequential_tx_per_s: n as f64 / seq.as_secs_f64().max(1e-9),
                tx_per_s: n as f64 / p.as_secs_f64().max(1e-9),
                speedup: speedup(p),
                speedup_range: [speedup(slowest), speedup(fastest)],
                aborts_per_tx: per(stats.aborts()),
                incarnations_per_tx: per(stats.incarnations),
                committer_runs_per_tx: per(stats.committer_runs),
                estimate_waits: stats.estimate_waits,
                speculation_stopped_at: stats.speculation_stopped_at,
            }
        })
        .collect())
}

pub fn run(a: BenchExecArgs) -> anyhow::Result<ExitCode> {
    ensure!(a.txs >= 1 && a.txs <= 10_000, "--txs must be in 1..=10000");
    ensure!(a.rounds >= 1, "--rounds must be ≥ 1");
    ensure!(
        a.threads
            .iter()
            .all(|&t| (1..=keel_chain::parallel::MAX_THREADS).contains(&t)),
        "--threads values must be in 1..={}",
        keel_chain::parallel::MAX_THREADS
    );
    ensure!(
        a.conflict.iter().all(|&c| c <= 100),
        "--conflict values are percentages"
    );
    let runner = Runner {
        vm: keel_vm::Vm::new(keel_vm::VmConfig::default())?,
        routines: RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter)?,
        keys: Mutex::new(KeyCache::default()),
    };
    if !a.json {
        eprintln!("setting up {} senders and the contracts' state…", a.txs);
    }
    let load_before = load();
    let s = setup(&runner, a.txs)?;
    let mut rows = Vec::new();
    for &w in &a.workloads {
        for &c in &a.conflict {
            if !a.json {
                eprintln!("{w:?} at {c} % conflict…");
            }
            rows.extend(measure(&runner, &s, w, c, &a)?);
        }
    }
    let load_after = load();
    if a.json {
        println!(
            "{}",
            json!({
                "cores": std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
                "loadavg_before": load_before,
                "loadavg_after": load_after,
                "rounds": a.rounds,
                "rows": rows,
            })
        );
    } else {
        println!(
            "{:<7} {:>8} {:>7} {:>10} {:>10} {:>9} {:>13} {:>8} {:>7} {:>8}",
            "work",
            "conflict",
            "threads",
            "seq tx/s",
            "par tx/s",
            "speedup",
            "rounds",
            "aborts",
            "waits",
            "stopped"
        );
        for r in &rows {
            println!(
                "{:<7} {:>7}% {:>7} {:>10.0} {:>10.0} {:>8.2}× {:>13} {:>8.3} {:>7} {:>8}",
                format!("{:?}", r.workload).to_lowercase(),
                r.conflict_pct,
                r.threads,
                r.sequential_tx_per_s,
                r.tx_per_s,
                r.speedup,
                format!("{:.2}–{:.2}×", r.speedup_range[0], r.speedup_range[1]),
                r.aborts_per_tx,
                r.estimate_waits,
                r.speculation_stopped_at
                    .map_or_else(|| "-".to_string(), |tx| format!("tx {tx}"))
            );
        }
        println!(
            "speedup = sequential time ÷ parallel time (median round; rounds: slowest–fastest); \
             aborts per transaction; stopped: where dense conflicts stopped speculation (last \
             round); load average {load_before} before, {load_after} after"
        );
    }
    Ok(ExitCode::SUCCESS)
}
