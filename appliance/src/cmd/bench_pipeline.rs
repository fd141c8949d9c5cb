//! `keel bench pipeline`: transactions per second from submission to committed block, through
//! a real daemon's mempool (`SubmitTx` → `BuildBlock` → `SubmitBlock`), with the signature
//! verdict cache against the same daemon with the cache off (every block verifies every
//! signature again), in one run: two child `keel serve` on identical fresh demo chains, rounds
//! interleaved, the same signed transactions sent to both.

use anyhow::{Context, bail};
use clap::Args;
use keel_chain::genesis::demo_key;
use keel_chain::{Amount, SignedTx, Transaction, TxKind, address_of};
use keel_client::{Client, Endpoint};
use keel_protocol::{BuildRequest, Request, Response};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchPipelineArgs {
    /// Transactions per round (native transfers).
    #[arg(long, default_value_t = 4_000)]
    pub txs: usize,
    /// Distinct senders (demo accounts; each sends txs / senders per round, in nonce order).
    #[arg(long, default_value_t = 64)]
    pub senders: usize,
    /// Most transactions per built block.
    #[arg(long, default_value_t = 1_000)]
    pub block_txs: u32,
    /// `SubmitTx` requests in flight on the connection.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// The daemons' request workers (`[server] workers`). A `SubmitTx` holds its worker while
    /// its signature waits in the batching service, so more workers than cores let concurrent
    /// submissions share a batch; the verifying itself stays on the pinned BLS workers.
    #[arg(long, default_value_t = 32)]
    pub workers: usize,
    /// Rounds per daemon (interleaved; the median is reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[arg(long)]
    pub json: bool,
}

/// One round on one daemon.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Round {
    submit_ms: f64,
    build_ms: f64,
    commit_ms: f64,
    total_ms: f64,
    blocks: u64,
    /// Block signatures answered from the verdict cache / verified again, this round.
    cache_hits: u64,
    cache_misses: u64,
}

#[derive(Debug, Serialize)]
struct Series {
    cache: bool,
    median: Round,
    tx_per_s: f64,
    rounds: Vec<Round>,
}

#[derive(Debug, Serialize)]
struct Report {
    txs: usize,
    senders: usize,
    block_txs: u32,
    with_cache: Series,
    without_cache: Series,
    /// Total time without the cache ÷ with it (medians): > 1 means the cache is faster.
    speedup: f64,
}

struct Daemon {
    child: Child,
    endpoint: Endpoint,
    metrics: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Daemon {
    fn start(dir: &std::path::Path, a: &BenchPipelineArgs, cache: bool) -> anyhow::Result<Self> {
        let (port, metrics) = (free_port()?, format!("127.0.0.1:{}", free_port()?));
        let per_sender = a.txs.div_ceil(a.senders.max(1)).max(64);
        let toml = format!(
            "data_dir = {data:?}\ndemo_accounts = {accounts}\n[mempool]\nmax_per_sender = \
             {per_sender}\nmax_nonce_gap = {per_sender}\nsubmit_rate = 0\nverdict_cache = {vc}\n\
             [server]\ntcp = \"127.0.0.1:{port}\"\nmetrics = {metrics:?}\nunix_socket = \
             {sock:?}\nworkers = {workers}\npriority_workers = {priority}\n\
             [kernel]\nenabled = false\n",
            workers = a.workers.max(2),
            priority = a.workers.max(2) - 1,
            data = dir.join("data"),
            accounts = a.senders + 4,
            vc = if cache { 1_000_000 } else { 0 },
            sock = dir.join("keel.sock"),
        );
        let config = dir.join("keel.toml");
        std::fs::write(&config, toml)?;
        let exe = std::env::current_exe().context("cannot find the keel binary")?;
        let mut child = Command::new(exe)
            .args(["serve", "--no-kernel", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the daemon")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("keel serving") => break,
                Some(Ok(_)) => {}
                _ => {
                    let _ = child.kill();
                    bail!("the daemon exited before serving");
                }
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        let endpoint = Endpoint::Tcp(format!("127.0.0.1:{port}").parse()?);
        Ok(Daemon {
            child,
            endpoint,
            metrics,
        })
    }

    fn metric(&self, name: &str) -> anyhow::Result<u64> {
        let mut s = std::net::TcpStream::connect(&self.metrics)?;
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
        let mut page = String::new();
        s.read_to_string(&mut page)?;
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .with_context(|| format!("no {name} on /metrics"))
    }
}

/// `per_sender` transfers from each of `senders` demo accounts, from nonce `first`.
fn workload(senders: usize, per_sender: usize, first: u64) -> Vec<SignedTx> {
    let to = address_of(&demo_key(1).public_key().to_bytes());
    let mut txs = Vec::with_capacity(senders * per_sender);
    for s in 0..senders {
        let key = demo_key(4 + s as u32);
        for n in 0..per_sender {
            txs.push(
                Transaction {
                    chain_id: keel_chain::ChainConfig::demo().chain_id,
                    sender: key.public_key().to_bytes(),
                    nonce: first + n as u64,
                    // Bandwidth covers the ~300 encoded bytes; storage and memory a transfer.
                    gas_limits: [100_000, 10_000, 16, 1_000],
                    max_fee_per_unit: [1_000; 4],
                    // Spread the fees so the packer has something to order.
                    priority_fee: 1 + (s as u64 * 7 + n as u64) % 13,
                    kind: TxKind::Transfer {
                        to,
                        amount: Amount::from_u128(1),
                    },
                }
                .sign(&key),
            );
        }
    }
    txs
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Submits every transaction, then builds and commits blocks until all are committed.
fn round(d: &Daemon, txs: &[SignedTx], a: &BenchPipelineArgs) -> anyhow::Result<Round> {
    let mut c = Client::connect(&d.endpoint)?;
    c.handshake(&demo_key(0), None)?;
    let (hits, misses) = (
        d.metric("keel_signature_cache_hits_total")?,
        d.metric("keel_signature_cache_misses_total")?,
    );
    let requests: Vec<Request> = txs
        .iter()
        .map(|t| Request::SubmitTx {
            tx: keel_chain::encode(t),
        })
        .collect();
    let started = Instant::now();
    for r in c.pipeline(&requests, a.window)? {
        if let Response::Error { code, message } = r {
            bail!("SubmitTx refused: {}: {message}", code.name());
        }
    }
    let submitted = started.elapsed();
    let mut out = Round {
        submit_ms: ms(submitted),
        ..Round::default()
    };
    let proposer = address_of(&demo_key(0).public_key().to_bytes());
    let mut committed = 0usize;
    while committed < txs.len() {
        let t = Instant::now();
        let block = match c.call(&Request::BuildBlock(BuildRequest {
            proposer,
            max_txs: a.block_txs,
            ..BuildRequest::default()
        }))? {
            Response::BlockBuilt { block, .. } => block,
            other => bail!("unexpected answer to BuildBlock: {:?}", other.kind()),
        };
        out.build_ms += ms(t.elapsed());
        let t = Instant::now();
        let result: keel_chain::BlockResult = match c.call(&Request::SubmitBlock { block })? {
            Response::BlockOutcome { output } => serde_json::from_slice(&output)?,
            other => bail!("unexpected answer to SubmitBlock: {:?}", other.kind()),
        };
        out.commit_ms += ms(t.elapsed());
        if result.receipts.is_empty() {
            bail!(
                "the mempool built an empty block with {committed} of {} committed",
                txs.len()
            );
        }
        committed += result.receipts.len();
        out.blocks += 1;
    }
    out.total_ms = ms(started.elapsed());
    out.cache_hits = d.metric("keel_signature_cache_hits_total")? - hits;
    out.cache_misses = d.metric("keel_signature_cache_misses_total")? - misses;
    Ok(out)
}

fn series(cache: bool, rounds: Vec<Round>, txs: usize) -> Series {
    let mut sorted = rounds.clone();
    sorted.sort_by(|a, b| a.total_ms.total_cmp(&b.total_ms));
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    Series {
        cache,
        tx_per_s: txs as f64 / (median.total_ms / 1e3).max(1e-9),
        median,
        rounds,
    }
}

pub fn run(a: BenchPipelineArgs) -> anyhow::Result<ExitCode> {
    if a.senders == 0 || a.txs == 0 || a.rounds == 0 {
        bail!("--txs, --senders and --rounds must be positive");
    }
    let per_sender = a.txs.div_ceil(a.senders);
    let tmp = tempfile::tempdir()?;
    let (on_dir, off_dir) = (tmp.path().join("cache"), tmp.path().join("nocache"));
    std::fs::create_dir_all(&on_dir)?;
    std::fs::create_dir_all(&off_dir)?;
    let on = Daemon::start(&on_dir, &a, true)?;
    let off = Daemon::start(&off_dir, &a, false)?;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for r in 0..a.rounds {
        eprintln!(
            "round {}/{}: signing {} transactions",
            r + 1,
            a.rounds,
            per_sender * a.senders
        );
        let txs = workload(a.senders, per_sender, (r * per_sender) as u64);
        // Alternate which daemon goes first, so neither always runs on a warmer machine.
        if r % 2 == 0 {
            with.push(round(&on, &txs, &a)?);
            without.push(round(&off, &txs, &a)?);
        } else {
            without.push(round(&off, &txs, &a)?);
            with.push(round(&on, &txs, &a)?);
        }
    }
    let n = per_sender * a.senders;
    let report = Report {
        txs: n,
        senders: a.senders,
        block_txs: a.block_txs,
        with_cache: series(true, with, n),
        without_cache: series(false, without, n),
        speedup: 0.0,
    };
    let report = Report {
        speedup: report.without_cache.median.total_ms / report.with_cache.median.total_ms.max(1e-9),
        ..report
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report) {
    println!(
        "pipeline: {} transfers from {} senders per round, SubmitTx → BuildBlock (≤ {} txs) → \
         SubmitBlock through a real daemon; median of rounds; higher tx/s is better",
        r.txs, r.senders, r.block_txs
    );
    println!(
        "{:<22} {:>9} {:>10} {:>10} {:>10} {:>7} {:>11} {:>11}",
        "daemon",
        "tx/s",
        "submit ms",
        "build ms",
        "commit ms",
        "blocks",
        "sig cached",
        "sig verified"
    );
    for (name, s) in [
        ("verdict cache on", &r.with_cache),
        ("verdict cache off", &r.without_cache),
    ] {
        let m = &s.median;
        println!(
            "{name:<22} {:>9.0} {:>10.1} {:>10.1} {:>10.1} {:>7} {:>11} {:>11}",
            s.tx_per_s,
            m.submit_ms,
            m.build_ms,
            m.commit_ms,
            m.blocks,
            m.cache_hits,
            m.cache_misses
        );
    }
    println!(
        "speedup of the cache, submission to commit (off time ÷ on time): {:.2}×",
        r.speedup
    );
}
