//! `keel bench serve --attack …`: a real daemon (a child `keel serve` on a fresh demo chain)
//! with an allowlisted validator measuring its `Status` and block-commit latency, first quiet,
//! then while an attacker (`attacks.rs`) works on the same daemon, in one run. The daemon's
//! peak RSS during the attack is sampled from `/proc`.

use super::attacks::{Attack, AttackSetup};
use anyhow::{Context, bail};
use keel_chain::genesis::demo_key;
use keel_chain::{Amount, Block, SignedTx, Transaction, TxKind, address_of, encode};
use keel_client::{Client, Endpoint};
use keel_protocol::{Request, Response};
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one attack run is asked to do.
#[derive(Debug, Clone)]
pub struct AttackConfig {
    pub attack: Attack,
    /// How long each phase (quiet, under attack) measures.
    pub duration: Duration,
    /// Attacking connections.
    pub attackers: usize,
    /// The daemon's `max_connections`.
    pub max_connections: usize,
    /// Compute gas each simulated transaction asks for (the `simulate` attack).
    pub sim_compute: u64,
    /// Serve through io_uring (else the epoll fallback).
    pub io_uring: bool,
    /// The `keel` binary to run as the daemon; `None`: this one.
    pub daemon: Option<std::path::PathBuf>,
}

/// Latencies of one phase, in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    pub status_samples: usize,
    pub status_p50_us: u64,
    pub status_p99_us: u64,
    pub commit_samples: usize,
    pub commit_p50_us: u64,
    pub commit_p99_us: u64,
    /// Time to connect and authenticate a fresh validator connection.
    pub connect_us: u64,
    /// Requests that got an error or no answer.
    pub failures: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    pub attack: &'static str,
    pub backend: &'static str,
    pub quiet: Phase,
    pub under_attack: Phase,
    /// The attacker's completed actions (connections opened, frames or requests sent).
    pub attacker_actions: u64,
    pub rss_quiet_bytes: u64,
    pub rss_peak_bytes: u64,
}

impl AttackReport {
    pub fn render(&self) -> String {
        let row = |name: &str, p: &Phase| {
            format!(
                "{name:<13} {:>9} {:>10} {:>9} {:>10} {:>10} {:>8}\n",
                p.status_p50_us,
                p.status_p99_us,
                p.commit_p50_us,
                p.commit_p99_us,
                p.connect_us,
                p.failures
            )
        };
        let mut out = format!(
            "attack {} on {} ({} attacker actions); victim latencies in µs\n\
             {:<13} {:>9} {:>10} {:>9} {:>10} {:>10} {:>8}\n",
            self.attack,
            self.backend,
            self.attacker_actions,
            "phase",
            "status50",
            "status99",
            "commit50",
            "commit99",
            "connect",
            "failed"
        );
        out.push_str(&row("quiet", &self.quiet));
        out.push_str(&row("under attack", &self.under_attack));
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        out.push_str(&format!(
            "status p99 ×{:.2}, commit p99 ×{:.2}; daemon RSS {} MiB quiet, {} MiB peak\n",
            ratio(self.under_attack.status_p99_us, self.quiet.status_p99_us),
            ratio(self.under_attack.commit_p99_us, self.quiet.commit_p99_us),
            self.rss_quiet_bytes >> 20,
            self.rss_peak_bytes >> 20
        ));
        out
    }
}

/// Runs one attack against a fresh daemon and reports the victim's latencies beside the quiet
/// baseline.
pub fn run(cfg: &AttackConfig) -> anyhow::Result<AttackReport> {
    raise_fd_limit();
    let dir = tempfile::tempdir()?;
    let mut daemon = Daemon::start(dir.path(), cfg)?;
    let result = measure_both(&daemon, cfg);
    daemon.stop();
    result
}

fn measure_both(daemon: &Daemon, cfg: &AttackConfig) -> anyhow::Result<AttackReport> {
    let mut victim = Victim::connect(&daemon.endpoint)?;
    let setup = AttackSetup::prepare(cfg, &mut |txs| victim.commit(txs).map(|_| ()))?;
    let quiet = victim.phase(cfg.duration)?;
    let rss_quiet_bytes = rss(daemon.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let actions = Arc::new(AtomicU64::new(0));
    let attackers = cfg.attack.launch(&daemon.endpoint, &setup, &stop, &actions);
    // Let the attack take hold before measuring, then sample RSS throughout.
    std::thread::sleep(Duration::from_millis(300));
    let peak = Arc::new(AtomicU64::new(rss_quiet_bytes));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), daemon.pid());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let under_attack = Victim::connect(&daemon.endpoint).and_then(|mut v| {
        v.next_nonce = victim.next_nonce;
        v.phase(cfg.duration)
    });
    stop.store(true, Ordering::Release);
    let _ = sampler.join();
    for a in attackers {
        let _ = a.join();
    }
    Ok(AttackReport {
        attack: cfg.attack.name(),
        backend: if cfg.io_uring { "io_uring" } else { "epoll" },
        quiet,
        under_attack: under_attack.unwrap_or_else(|e| {
            eprintln!("the validator could not connect under attack: {e:#}");
            Phase {
                failures: 1,
                connect_us: u64::MAX,
                ..Phase::default()
            }
        }),
        attacker_actions: actions.load(Ordering::Relaxed),
        rss_quiet_bytes,
        rss_peak_bytes: peak.load(Ordering::Relaxed),
    })
}

/// The daemon under test: a child `keel serve` on a fresh demo chain.
struct Daemon {
    child: Child,
    endpoint: Endpoint,
}

impl Daemon {
    fn start(dir: &std::path::Path, cfg: &AttackConfig) -> anyhow::Result<Daemon> {
        let port = free_port()?;
        let reader = hex::encode(demo_key(super::attacks::READER).public_key().to_bytes());
        let toml = format!(
            "data_dir = {data:?}\n[server]\ntcp = \"127.0.0.1:{port}\"\nmetrics = \
             \"127.0.0.1:{metrics}\"\nunix_socket = {sock:?}\nio_uring = {uring}\n\
             max_connections = {max}\nreaders = [{reader:?}]\n[kernel]\nenabled = false\n",
            data = dir.join("data"),
            metrics = free_port()?,
            sock = dir.join("keel.sock"),
            uring = cfg.io_uring,
            max = cfg.max_connections,
        );
        let config = dir.join("keel.toml");
        std::fs::write(&config, toml)?;
        let exe = match &cfg.daemon {
            Some(path) => path.clone(),
            None => std::env::current_exe().context("cannot find the keel binary")?,
        };
        let mut child = Command::new(exe)
            .args(["serve", "--no-kernel", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the daemon")?;
        let stdout = child.stdout.take().context("no daemon stdout")?;
        let mut lines = BufReader::new(stdout).lines();
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
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let endpoint = Endpoint::Tcp(format!("127.0.0.1:{port}").parse()?);
        Ok(Daemon { child, endpoint })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        // In-flight simulations may hold a graceful stop for long: the chain is throwaway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident set size of `pid` in bytes (0 if unreadable).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// The attacker holds many sockets: lift the soft descriptor limit to the hard one.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit read or write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// How long the validator keeps retrying a refused connection.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// The allowlisted validator (demo key 0) whose latency is measured.
struct Victim {
    client: Client,
    connect_us: u64,
    /// Nonce of the next transfer from demo key 1.
    next_nonce: u64,
}

impl Victim {
    /// Connects and authenticates as a validator client does: retrying a refused connection
    /// for up to [`CONNECT_PATIENCE`]; the time includes the retries.
    fn connect(endpoint: &Endpoint) -> anyhow::Result<Victim> {
        let begun = Instant::now();
        let client = loop {
            let attempt = Client::connect(endpoint).and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(60)))?;
                c.handshake(&demo_key(0), None)
                    .map(|read_only| (c, read_only))
            });
            match attempt {
                Ok((_, true)) => bail!("the validator key was accepted read-only"),
                Ok((c, false)) => break c,
                Err(e) if begun.elapsed() > CONNECT_PATIENCE => return Err(e.into()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        Ok(Victim {
            client,
            connect_us: micros(begun.elapsed()),
            next_nonce: 0,
        })
    }

    /// Status every 10 ms and a one-transfer block every fifth round, for `duration`.
    fn phase(&mut self, duration: Duration) -> anyhow::Result<Phase> {
        let (mut status, mut commit, mut failures) = (Vec::new(), Vec::new(), 0u64);
        let begun = Instant::now();
        let mut round = 0u64;
        while begun.elapsed() < duration {
            let t = Instant::now();
            match self.client.call(&Request::Status) {
                Ok(Response::Status(_)) => status.push(micros(t.elapsed())),
                _ => failures += 1,
            }
            if round.is_multiple_of(5) {
                let tx = self.transfer();
                let t = Instant::now();
                match self.commit(vec![tx]) {
                    Ok(()) => commit.push(micros(t.elapsed())),
                    Err(_) => failures += 1,
                }
            }
            round += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        status.sort_unstable();
        commit.sort_unstable();
        Ok(Phase {
            status_samples: status.len(),
            status_p50_us: percentile(&status, 50),
            status_p99_us: percentile(&status, 99),
            commit_samples: commit.len(),
            commit_p50_us: percentile(&commit, 50),
            commit_p99_us: percentile(&commit, 99),
            connect_us: self.connect_us,
            failures,
        })
    }

    fn transfer(&mut self) -> SignedTx {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        signed(
            1,
            nonce,
            TxKind::Transfer {
                to: address_of(&demo_key(2).public_key().to_bytes()),
                amount: Amount::from_u128(1),
            },
            20_000_000,
        )
    }

    /// Submits `txs` as the next block (its header made by the daemon's `BuildBlock`).
    fn commit(&mut self, txs: Vec<SignedTx>) -> anyhow::Result<()> {
        // The daemon makes the header (VRF proof, due VDF output) for demo validator 0.
        let request = keel_protocol::BuildRequest {
            proposer: address_of(&demo_key(0).public_key().to_bytes()),
            ..keel_protocol::BuildRequest::default()
        };
        let header = match self.client.call(&Request::BuildBlock(request)) {
            Ok(Response::BlockBuilt { block, .. }) => {
                keel_chain::decode::<Block>("block", &block)?.header
            }
            other => anyhow::bail!("unexpected answer to BuildBlock: {other:?}"),
        };
        let block = Block { header, txs };
        match self.client.call(&Request::SubmitBlock {
            block: encode(&block),
        })? {
            Response::BlockOutcome { .. } => Ok(()),
            other => bail!("block refused: {other:?}"),
        }
    }
}

/// A demo-chain transaction from demo key `from`, asking for `compute` compute gas.
pub fn signed(from: u32, nonce: u64, kind: TxKind, compute: u64) -> SignedTx {
    let key = demo_key(from);
    Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [compute, 100_000, 16, 100_000],
        max_fee_per_unit: [1_000; 4],
        priority_fee: 1,
        kind,
    }
    .sign(&key)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)]
}
