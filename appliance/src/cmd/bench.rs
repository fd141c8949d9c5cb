//! `keel bench …`: fast paths against their baselines, measured side by side in one process.
//!
//! Runs are interleaved (baseline, candidate, baseline, …) and the minimum of each series is
//! reported, so background load on a shared machine skews both sides alike.

use clap::{Args, Subcommand, ValueEnum};
use keel_vm::engine::choice::EngineChoice;
use keel_vm::{CallRequest, GasVector, MemoryState, Vm, VmConfig};
use serde::Serialize;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Each benchmark contract unmetered (plain wasmi) and metered (Keel), same process.
    Vm(BenchVmArgs),
    /// A block of signed token transfers: signature verification, execution and commit.
    State(BenchStateArgs),
    /// Native routines: in-contract wasm vs native_call (interpreter, JIT) vs native Rust.
    Bridge(super::bridge::BenchBridgeArgs),
    /// The daemon's transport: 1, 16 and 64 pipelining clients, io_uring against the epoll
    /// fallback, in one run. With --attack: a real daemon's validator latency quiet and under
    /// that attack, in one run.
    Serve(BenchServeArgs),
    /// Proof-carrying code: certify and check time per routine, against the kernel verifier.
    Pcc(super::module::BenchPccArgs),
    /// Kernel admission path per packet, against no program.
    Kernel(super::kernel::BenchKernelArgs),
    /// BLS verification: naive loop, blst's own pooled batch verify, Keel's pinned workers.
    Bls(BenchBlsArgs),
    /// Cryptographic host functions (poseidon, groth16, bls, randomness): per-call time, gas,
    /// gas/µs; and the beacon's VRF and VDF (block validation, node-local: time only).
    Crypto(super::bench_crypto::BenchCryptoArgs),
    /// Block execution: the parallel executor against the sequential reference, per workload
    /// (native, token, amm, game), conflict rate and thread count, in one run. Signatures are
    /// pre-verified, so the numbers are execution; every parallel result is checked equal.
    Exec(BenchExecArgs),
    /// The mempool end to end: transactions per second from SubmitTx to committed block
    /// (SubmitTx → BuildBlock → SubmitBlock) on a real daemon, with the signature verdict
    /// cache against a daemon with it off, in one run.
    Pipeline(super::bench_pipeline::BenchPipelineArgs),
    /// The benchmark suite: micro rows (storage, Q64.64, wasm SHA-256, every crypto host
    /// function, native routines on wasm vs sBPF vs Rust) and macro workloads (token, AMM,
    /// lending, game, NFT) on the wasmi and wasmtime tiers, with p50/p99 latency, gas per
    /// dimension, hardware counters and gas-cost accuracy (CV of ns per compute gas).
    Suite(super::bench_suite::BenchSuiteArgs),
    /// The macro workloads on Keel's tiers beside peer systems (revm running Solidity,
    /// wasmtime with fuel): throughput, p50/p99 latency, gas vs time, lines of contract code.
    Peers(keel_bench::peers::PeersArgs),
}

#[derive(Args)]
pub struct BenchExecArgs {
    /// Transactions per block (one per sender).
    #[arg(long, default_value_t = 1_000)]
    pub txs: usize,
    /// Parallel thread counts, each measured against the sequential executor.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Conflict rates (% of transactions touching the hot record).
    #[arg(long, value_delimiter = ',', default_value = "0,10,50,100")]
    pub conflict: Vec<u8>,
    /// Workloads to run.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "native,token,amm,game"
    )]
    pub workloads: Vec<super::bench_exec::ExecWorkload>,
    /// Rounds (sequential, then each thread count); the median round is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchStateArgs {
    /// Transfers in the block.
    #[arg(long, default_value_t = 10_000)]
    pub txs: u32,
    /// Distinct sending accounts.
    #[arg(long, default_value_t = 200)]
    pub senders: u32,
    /// Transactions sampled for the one-by-one verification baseline.
    #[arg(long, default_value_t = 512)]
    pub single_sample: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchServeArgs {
    /// Concurrent client counts.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub clients: Vec<usize>,
    /// Requests per client.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Requests in flight per client.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Rounds per backend and client count (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Use the Unix socket instead of TCP.
    #[arg(long)]
    pub unix: bool,
    /// Server network threads (rings, or tokio workers for epoll); 0 = automatic (one ring per
    /// two cores, one tokio worker per core).
    #[arg(long, default_value_t = 0)]
    pub io_threads: usize,
    /// Threads of the load generator.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// The request the clients send.
    #[arg(long, value_enum, default_value_t = ServeRequest::Ping)]
    pub request: ServeRequest,
    /// Instead of the transport benchmark: start a `keel serve` on a fresh demo chain, measure
    /// an allowlisted validator's Status and block-commit latency (p50/p99) quiet, then under
    /// this attack, and the daemon's peak RSS.
    #[arg(long, value_enum)]
    pub attack: Option<super::attacks::Attack>,
    /// With --attack: milliseconds each phase (quiet, under attack) measures.
    #[arg(long, default_value_t = 5_000)]
    pub duration_ms: u64,
    /// With --attack: attacking connections (idle: all at once; bigframes: at most 64;
    /// simulate and bls: at most 8, each pipelining 16 requests).
    #[arg(long, default_value_t = 1_100)]
    pub attackers: usize,
    /// With --attack: the daemon's max_connections.
    #[arg(long, default_value_t = 1_024)]
    pub max_connections: usize,
    /// With --attack simulate: compute gas each simulated transaction asks for (at most the
    /// daemon's simulate_compute_limit, 15 000 000 by default).
    #[arg(long, default_value_t = 15_000_000)]
    pub sim_compute: u64,
    /// With --attack: serve through the epoll fallback instead of io_uring.
    #[arg(long)]
    pub no_io_uring: bool,
    /// With --attack: the `keel` binary to run as the daemon (default: this one), e.g. an
    /// older release, to compare its behaviour under the same attack.
    #[arg(long)]
    pub daemon: Option<std::path::PathBuf>,
    /// With --attack: print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Machine load during the measured phases: quiet, contended (a CPU hog on every core, as
    /// on a host shared with other validators and builds; bounded in time), or both in one run.
    #[arg(long, value_enum, default_value_t = Contention::Quiet)]
    pub contention: Contention,
    /// Measure twice in one run: first as is, then with the server's threads confined as in
    /// `keel serve` (each thread class's seccomp filter and Landlock; `--sandbox=enforce`),
    /// and print the ratios. Confinement cannot be undone, so the unconfined run comes first.
    #[arg(long)]
    pub compare_sandbox: bool,
}

/// `--contention` of `keel bench serve`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Contention {
    Quiet,
    Contended,
    Both,
}

/// `--request` of `keel bench serve`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ServeRequest {
    /// Answered on the network thread: the transport's cost alone.
    Ping,
    /// Goes through the worker pool: adds the dispatch hop and its wake-ups.
    Status,
}

#[derive(Args)]
pub struct BenchBlsArgs {
    #[arg(long)]
    pub json: bool,
    /// Skip blst's pooled baseline (it is built as a separate binary on first use).
    #[arg(long)]
    pub skip_pooled: bool,
    /// Workers for Keel and threads for blst's pool (default: every CPU).
    #[arg(long)]
    pub workers: Option<usize>,
}

#[derive(Args)]
pub struct BenchVmArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measured rounds per workload (each round runs both sides once).
    #[arg(long, default_value_t = 7)]
    pub rounds: u32,
    /// Scale the workloads' sizes (1 = default, ~0.1–0.5 s per run on one core).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

/// One row of `keel bench vm`.
#[derive(Debug, Serialize)]
pub struct VmBenchRow {
    pub workload: String,
    /// `None` for a workload that only ends when its gas does.
    pub unmetered_ms: Option<f64>,
    pub metered_ms: f64,
    /// unmetered time ÷ metered time: below 1 by the cost of metering.
    pub speedup: Option<f64>,
    pub gas_compute: u64,
    /// The same calls on the wasmtime tier (same instrumented module, same gas).
    pub wasmtime_metered_ms: f64,
    pub wasmtime_unmetered_ms: Option<f64>,
    /// wasmi metered time ÷ wasmtime metered time (> 1: the JIT is faster).
    pub wasmtime_speedup: f64,
    /// wasmtime metered time ÷ wasmtime unmetered time (the JIT's metering overhead).
    pub wasmtime_metering_ratio: Option<f64>,
    /// For reference: the unmetered module on wasmtime with wasmtime's own fuel metering
    /// (`consume_fuel`, one unit per operator, checked at loop heads and function entries), ÷
    /// wasmtime unmetered: what the engine's built-in metering costs on the same code.
    pub wasmtime_fuel_ratio: Option<f64>,
    /// Cranelift compilation of the instrumented module.
    pub compile_ms: f64,
    /// Loading the cached artifact: reading the file, MAC check, deserialization and linking.
    pub cached_load_ms: f64,
    /// The part of `cached_load_ms` that reads the file and checks its MAC.
    pub cached_read_ms: f64,
    /// Instantiating the linked module and running an empty call on it.
    pub instantiate_ms: f64,
    /// (cached load + instantiation) ÷ compilation, in percent: what a cached module costs to
    /// start (after a restart) against compiling it again.
    pub cached_start_pct: f64,
    /// Compute gas per second of metered execution, in millions: what a wall-time budget
    /// allows (the slowest workload sets the block and transaction limits, see
    /// vm/chain/ENCODING.md "Block and transaction limits").
    pub mgas_per_s: f64,
}

/// The first line of every `keel bench` text report: what is compared, which direction is
/// better, and how ratios are written (speedup = baseline time ÷ Keel time; > 1: Keel faster).
pub fn compared(keel: &str, baseline: &str, better: &str) {
    println!(
        "compared: {keel} (Keel) against {baseline} (baseline); {better}; \
         speedup = baseline time ÷ Keel time (> 1: Keel faster)"
    );
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Vm(a) => bench_vm(a),
        BenchCmd::State(a) => super::bench_state::run(a),
        BenchCmd::Bls(a) => bench_bls(a),
        BenchCmd::Crypto(a) => super::bench_crypto::run(a),
        BenchCmd::Bridge(a) => super::bridge::bench(a),
        BenchCmd::Kernel(a) => super::kernel::bench(a),
        BenchCmd::Serve(a) => bench_serve(a),
        BenchCmd::Pcc(a) => super::module::bench(a),
        BenchCmd::Exec(a) => super::bench_exec::run(a),
        BenchCmd::Pipeline(a) => super::bench_pipeline::run(a),
        BenchCmd::Suite(a) => super::bench_suite::run(a),
        BenchCmd::Peers(a) => super::bench_suite::peers(a),
    }
}

struct Workload {
    name: &'static str,
    code: std::borrow::Cow<'static, [u8]>,
    entry: &'static str,
    input: Vec<u8>,
    /// Runs until this much compute gas is spent (an out-of-gas trap is its expected end).
    until_gas: Option<u64>,
}

/// The cheapest loop a transaction can write (one branch per iteration): the most metered
/// work per gas, so the fewest gas per second: it sets the block's compute limit (ENCODING.md,
/// "Block and transaction limits"). At the old 4e9 limit it held a block for 93 s.
const SPIN: &str = r#"(module (memory 1 1) (func (export "spin") (loop (br 0))))"#;

fn workloads(scale: f64) -> Vec<Workload> {
    let n = |base: f64| ((base * scale).max(1.0)) as u32;
    vec![
        Workload {
            name: "integer loop (coremark)",
            code: keel_contracts::COREMARK.wasm.into(),
            entry: "coremark",
            input: n(400.0).to_le_bytes().to_vec(),
            until_gas: None,
        },
        Workload {
            name: "sha256 (in-contract, 32 B x N)",
            code: keel_contracts::SHA256.wasm.into(),
            entry: "sha256_iter",
            input: n(20_000.0).to_le_bytes().to_vec(),
            until_gas: None,
        },
        Workload {
            name: "fib (iterative)",
            code: keel_contracts::FIB.wasm.into(),
            entry: "fib",
            input: n(3_000_000.0).to_le_bytes().to_vec(),
            until_gas: None,
        },
        Workload {
            name: "empty loop until out of gas",
            // A constant module: parsing it cannot fail.
            code: wat::parse_str(SPIN).unwrap_or_default().into(),
            entry: "spin",
            input: Vec::new(),
            until_gas: Some(u64::from(n(20_000_000.0))),
        },
    ]
}

fn time_call(vm: &Vm, w: &Workload) -> anyhow::Result<(Duration, u64)> {
    let prepared = vm.prepare(&w.code)?;
    let req = CallRequest {
        entry: w.entry.into(),
        input: w.input.clone(),
        limits: GasVector {
            compute: w.until_gas.unwrap_or(u64::MAX / 4),
            storage_bytes: 1 << 20,
            memory_pages: 256,
            bandwidth: 1 << 20,
        },
        ..CallRequest::default()
    };
    let start = Instant::now();
    let out = vm.call_prepared(&prepared, req, Box::new(MemoryState::default()))?;
    let elapsed = start.elapsed();
    // Unmetered, the spin has no end but the gas: it is timed metered only.
    if let (Err(trap), None) = (out.result, w.until_gas) {
        anyhow::bail!("workload {} trapped: {trap}", w.name);
    }
    Ok((elapsed, out.gas_used.compute))
}

fn bench_vm(a: BenchVmArgs) -> anyhow::Result<ExitCode> {
    let metered = Vm::new(VmConfig::default())?;
    let plain_config = VmConfig {
        metering: false,
        ..VmConfig::default()
    };
    let plain = Vm::new(plain_config.clone())?;
    let jit = EngineChoice::Wasmtime;
    let jit_metered = Vm::with_choice(VmConfig::default(), jit, None)?;
    let jit_plain = Vm::with_choice(plain_config.clone(), jit, None)?;
    let fuel = keel_vm::engine::wasmtime_tier::WasmtimeEngine::with_fuel(
        keel_vm::engine::wasmtime_tier::FuelMetering { host_call_fuel: 0 },
    )?;
    let jit_fuel = Vm::with_engine(plain_config, Box::new(fuel));
    let mut rows = Vec::new();
    for w in workloads(a.scale) {
        if !a.json {
            eprintln!("running {} ({} rounds)…", w.name, a.rounds);
        }
        // Unmetered, a workload that ends only when its gas does would never end.
        let plain = w.until_gas.is_none().then_some(&plain);
        // Warm-up compiles both and touches the code once.
        if let Some(plain) = plain {
            time_call(plain, &w)?;
        }
        let (_, gas) = time_call(&metered, &w)?;
        let (_, jit_gas) = time_call(&jit_metered, &w)?;
        let jit_plain = w.until_gas.is_none().then_some(&jit_plain);
        let jit_fuel = w.until_gas.is_none().then_some(&jit_fuel);
        for vm in [jit_plain, jit_fuel].into_iter().flatten() {
            time_call(vm, &w)?;
        }
        anyhow::ensure!(
            gas == jit_gas,
            "{}: wasmtime charged {jit_gas}, wasmi {gas}",
            w.name
        );
        let vms = [
            plain,
            Some(&metered),
            jit_plain,
            Some(&jit_metered),
            jit_fuel,
        ];
        let mut best = [Duration::MAX; 5];
        for _ in 0..a.rounds.max(1) {
            for (b, vm) in best.iter_mut().zip(vms) {
                if let Some(vm) = vm {
                    *b = (*b).min(time_call(vm, &w)?.0);
                }
            }
        }
        let [
            best_plain,
            best_metered,
            jit_plain_t,
            jit_metered_t,
            jit_fuel_t,
        ] = best;
        let phases = super::bench_jit::phases(&w.code)?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-12);
        let metered_s = best_metered.as_secs_f64().max(1e-12);
        rows.push(VmBenchRow {
            workload: w.name.to_string(),
            unmetered_ms: plain.map(|_| ms(best_plain)),
            metered_ms: ms(best_metered),
            speedup: plain.map(|_| ratio(best_plain, best_metered)),
            gas_compute: gas,
            mgas_per_s: gas as f64 / metered_s / 1e6,
            wasmtime_metered_ms: ms(jit_metered_t),
            wasmtime_unmetered_ms: jit_plain.map(|_| ms(jit_plain_t)),
            wasmtime_speedup: ratio(best_metered, jit_metered_t),
            wasmtime_metering_ratio: jit_plain.map(|_| ratio(jit_metered_t, jit_plain_t)),
            wasmtime_fuel_ratio: jit_fuel.map(|_| ratio(jit_fuel_t, jit_plain_t)),
            compile_ms: ms(phases.compile),
            cached_load_ms: ms(phases.cached_load),
            cached_read_ms: ms(phases.cached_read),
            instantiate_ms: ms(phases.instantiate),
            cached_start_pct: 100.0
                * ratio(phases.cached_load + phases.instantiate, phases.compile),
        });
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "bench": "vm", "rows": rows }))?
        );
    } else {
        compared(
            "gas-metered execution",
            "the same module unmetered",
            "lower ms is better; the speedup is below 1 by metering's cost",
        );
        println!(
            "{:<32} {:>14} {:>12} {:>10} {:>16} {:>10}",
            "workload", "unmetered ms", "metered ms", "speedup", "gas (compute)", "Mgas/s"
        );
        for r in &rows {
            let unmetered = r.unmetered_ms.map_or("-".into(), |m| format!("{m:.2}"));
            let speedup = r.speedup.map_or("-".into(), |x| format!("{x:.3}x"));
            println!(
                "{:<32} {:>14} {:>12.2} {:>10} {:>16} {:>10.1}",
                r.workload, unmetered, r.metered_ms, speedup, r.gas_compute, r.mgas_per_s
            );
        }
        println!(
            "\nwasmtime tier (speedup = wasmi metered ÷ wasmtime metered; ratio = metered ÷ unmetered; \
             fuel = wasmtime's own fuel metering ÷ unmetered, for reference; cached = loading the \
             compiled artifact after a restart, of which read = the file and its MAC check; \
             % compile = (cached + inst) ÷ compile)"
        );
        println!(
            "{:<32} {:>10} {:>10} {:>9} {:>7} {:>7} {:>11} {:>10} {:>9} {:>8} {:>10}",
            "workload",
            "metered ms",
            "unmetered",
            "speedup",
            "ratio",
            "fuel",
            "compile ms",
            "cached ms",
            "(read ms)",
            "inst ms",
            "% compile"
        );
        for r in &rows {
            let unmetered = r
                .wasmtime_unmetered_ms
                .map_or("-".into(), |m| format!("{m:.2}"));
            let ratio = r
                .wasmtime_metering_ratio
                .map_or("-".into(), |x| format!("{x:.3}"));
            let fuel = r
                .wasmtime_fuel_ratio
                .map_or("-".into(), |x| format!("{x:.3}"));
            println!(
                "{:<32} {:>10.2} {:>10} {:>8.2}x {:>7} {:>7} {:>11.2} {:>10.3} {:>9.3} {:>8.3} {:>9.1}%",
                r.workload,
                r.wasmtime_metered_ms,
                unmetered,
                r.wasmtime_speedup,
                ratio,
                fuel,
                r.compile_ms,
                r.cached_load_ms,
                r.cached_read_ms,
                r.instantiate_ms,
                r.cached_start_pct
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_bls(a: BenchBlsArgs) -> anyhow::Result<ExitCode> {
    if !a.skip_pooled {
        eprintln!(
            "bench bls: the pooled-blst baseline is a separate build (offload/bench-pooled): the \
             first run compiles it in release mode (minutes on a small machine; cargo's progress \
             follows), later runs reuse it"
        );
    }
    let mut opts = keel_offload::bench::BenchOptions::default();
    if let Some(w) = a.workers {
        opts.pool.max_workers = Some(w);
    }
    if a.skip_pooled {
        opts.pooled = keel_offload::bench::PooledBaseline::Skip;
    }
    let report = keel_offload::bench::bench_bls(&opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        compared(
            "batch verification on pinned workers",
            "one-by-one verification and blst's pooled batch verify",
            "lower ns per signature is better",
        );
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_serve(a: BenchServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(attack) = a.attack {
        let report = super::bench_attack::run(&super::bench_attack::AttackConfig {
            attack,
            duration: Duration::from_millis(a.duration_ms),
            attackers: a.attackers,
            max_connections: a.max_connections,
            sim_compute: a.sim_compute,
            io_uring: !a.no_io_uring,
            daemon: a.daemon,
        })?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.render());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = keel_server::bench::BenchConfig {
        clients: a.clients,
        requests_per_client: a.requests,
        window: a.window,
        rounds: a.rounds,
        unix: a.unix,
        io_threads: a.io_threads,
        client_threads: a.client_threads,
        request: match a.request {
            ServeRequest::Ping => keel_server::bench::BenchRequest::Ping,
            ServeRequest::Status => keel_server::bench::BenchRequest::Status,
        },
        contended: false,
    };
    eprintln!(
        "load test: every response is matched to its request; a lost or mismatched one fails the run"
    );
    let modes: &[bool] = match a.contention {
        Contention::Quiet => &[false],
        Contention::Contended => &[true],
        Contention::Both => &[false, true],
    };
    if a.compare_sandbox {
        return compare_sandbox(&cfg);
    }
    for &contended in modes {
        println!(
            "== {} ==",
            if contended {
                "contended: a CPU hog on every core during each measured phase"
            } else {
                "quiet"
            }
        );
        let report = keel_server::bench::run_serve_bench(&keel_server::bench::BenchConfig {
            contended,
            ..cfg.clone()
        })?;
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// `keel bench serve --compare-sandbox`: the transport benchmark without, then with, the
/// server threads' sandbox, side by side.
fn compare_sandbox(cfg: &keel_server::bench::BenchConfig) -> anyhow::Result<ExitCode> {
    println!("== without the sandbox ==");
    let open = keel_server::bench::run_serve_bench(cfg)?;
    print!("{}", open.render());
    let scratch = tempfile::tempdir()?;
    keel_sandbox::arm(keel_sandbox::Settings {
        mode: keel_sandbox::Mode::Enforce,
        user: None,
        writable: vec![scratch.path().to_path_buf()],
    })?;
    println!("== with the sandbox (seccomp per thread class, Landlock) ==");
    let closed = keel_server::bench::run_serve_bench(cfg)?;
    print!("{}", closed.render());
    println!("== sandboxed / unsandboxed (throughput; server CPU per request) ==");
    for (o, c) in open.results.iter().zip(&closed.results) {
        let cpu = match (o.server_cpu_ns, c.server_cpu_ns) {
            (Some(o), Some(c)) if o > 0 => format!("{:.3}", c as f64 / o as f64),
            _ => "n/a".into(),
        };
        println!(
            "{:>8} {:>3} clients: throughput {:.3}, server cpu/request {cpu}",
            o.backend.name(),
            o.clients,
            c.throughput as f64 / o.throughput.max(1) as f64,
        );
    }
    Ok(ExitCode::SUCCESS)
}
